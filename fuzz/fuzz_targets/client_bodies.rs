//! Fuzzes every decoder a client runs on plaintext after an item opened: the padding, the item header,
//! and the hello, answer, hand-out, message (text, goodbye, kick, purge, attachment start and chunk) and
//! descriptor bodies. A body that decodes must encode back to the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sanctum_client::fuzzing;

fuzz_target!(|bytes: &[u8]| {
    fuzzing::decode_bodies(bytes);
    fuzzing::unpad_and_header(bytes);
});
