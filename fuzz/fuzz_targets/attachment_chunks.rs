//! Fuzzes attachment reassembly: a start and a run of chunks, in order or not, whole or cut,
//! through the message codec and the bounded buffer a session keeps per sender.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sanctum_client::fuzzing;

fuzz_target!(|bytes: &[u8]| fuzzing::attachment(bytes));
