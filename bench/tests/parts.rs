//! Small checks of the benchmark's parts: the payload's size, the number format, and
//! how rounds become a ratio.

use std::time::Duration;

use sessionkit_bench::load::Measurement;
use sessionkit_bench::payload;
use sessionkit_bench::report::{thousands, Ratio};

/// A cell measured in rounds of one second with these request counts.
fn rounds(requests: &[u64]) -> Measurement {
    let mut total = Measurement::default();
    for &r in requests {
        total.merge(Measurement {
            requests: r,
            window: Duration::from_secs(1),
            ..Measurement::default()
        });
    }
    total
}

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

#[test]
fn a_ratio_is_the_median_of_the_rounds_ratios_with_their_range() {
    // The second round ran in a slow stretch of the machine for both servers; one
    // server had an outlier round of its own.
    let ours = rounds(&[90, 45, 95, 20]);
    let theirs = rounds(&[100, 50, 100, 100]);
    assert_eq!(ours.rounds, [90.0, 45.0, 95.0, 20.0]);
    let r = Ratio::between(&ours, &theirs).unwrap();
    assert!((r.value - 0.9).abs() < 1e-9, "{r:?}");
    assert!(
        (r.low - 0.2).abs() < 1e-9 && (r.high - 0.95).abs() < 1e-9,
        "{r:?}"
    );
    assert_eq!(r.with_range(), "0.90× (0.20–0.95)");
}

#[test]
fn cells_without_matching_rounds_compare_their_totals() {
    let r = Ratio::between(&rounds(&[50, 70]), &rounds(&[100])).unwrap();
    assert!((r.value - 0.6).abs() < 1e-9, "{r:?}");
    assert_eq!(r.with_range(), "0.60×");
    assert!(Ratio::between(&rounds(&[50]), &rounds(&[0])).is_none());
}
