//! Fuzzes room link parsing: any text is a link or an error, never a panic,
//! and a parsed link prints as a fragment that parses back to the same room and expiry.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sanctum_client::RoomLink;

/// A fixed clock, well before any expiry the fuzzer is likely to write, so that expiry does not hide the parser.
const NOW_MS: u64 = 1_700_000_000_000;

fuzz_target!(|text: &str| {
    if let Ok(link) = RoomLink::parse(text, NOW_MS) {
        let fragment = link.to_fragment();
        let again = RoomLink::parse(&fragment, NOW_MS).expect("a printed link parses");
        assert_eq!(again.room_id(), link.room_id());
        assert_eq!(again.expires_at(), link.expires_at());
        assert_eq!(*again.to_fragment(), *fragment);
    }
});
