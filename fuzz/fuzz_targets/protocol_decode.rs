//! Fuzzes the wire envelope's decoders: any text decodes to a frame or to an error, never a panic,
//! and a decoded frame re-encodes to text that decodes to the same frame.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sanctum_protocol::{ClientFrame, RelayFrame};

fuzz_target!(|text: &str| {
    if let Ok(frame) = ClientFrame::decode(text) {
        assert_eq!(ClientFrame::decode(&frame.encode()), Ok(frame));
    }
    if let Ok(frame) = RelayFrame::decode(text) {
        assert_eq!(RelayFrame::decode(&frame.encode()), Ok(frame));
    }
});
