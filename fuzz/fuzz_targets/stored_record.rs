//! Any bytes as a stored record: decoding gives a record or an error, never a panic,
//! and a decoded record encodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionkit::codec;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = codec::decode(data) {
        let again = codec::encode(&record).expect("a decoded record encodes");
        let back = codec::decode(&again).expect("and decodes again");
        assert_eq!(back.data, record.data);
    }
});
