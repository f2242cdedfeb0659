//! Fuzzes the resume blob a page hands back to a new Worker: any text is a blob or an error, never a panic,
//! and a decoded blob encodes back to the same text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sanctum_client::{decode_resume, encode_resume};

/// A fixed clock; blobs whose room expired before it are refused, as they must be.
const NOW_MS: u64 = 1_700_000_000_000;

fuzz_target!(|text: &str| {
    if let Ok((secrets, alias)) = decode_resume(text, NOW_MS) {
        let encoded = encode_resume(&secrets, &alias).expect("a decoded blob encodes");
        let (again, alias_again) = decode_resume(&encoded, NOW_MS).expect("an encoded blob decodes");
        assert_eq!(alias_again, alias);
        assert_eq!(again.room_id(), secrets.room_id());
        assert_eq!(again.link().to_fragment(), secrets.link().to_fragment());
        assert_eq!(*encode_resume(&again, &alias_again).expect("encodes"), *encoded);
    }
});
