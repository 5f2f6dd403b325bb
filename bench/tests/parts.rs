//! Small checks of the benchmark's parts: the payload's size and the number format.

use sessionkit_bench::payload;
use sessionkit_bench::report::thousands;

#[test]
fn the_payload_is_about_two_hundred_bytes() {
    for n in [0, 123_456, 999_999] {
        let size = payload::json_size(&payload::entries(n));
        assert!((180..=230).contains(&size), "{n}: {size}");
    }
}

#[test]
fn thousands_are_separated() {
    assert_eq!(thousands(0.0), "0");
    assert_eq!(thousands(999.4), "999");
    assert_eq!(thousands(1_000.0), "1,000");
    assert_eq!(thousands(1_234_567.0), "1,234,567");
}
