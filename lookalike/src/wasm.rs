//! Browser binding for the crypto Worker: the skeleton function, which the Worker hands to the client core.

// wasm-bindgen exports what is `pub` in this private module; the items are reachable from JavaScript, not from Rust.
#![allow(unreachable_pub)]

use wasm_bindgen::prelude::*;

/// The UTS #39 skeleton of `text` (see the crate's `skeleton`).
#[wasm_bindgen]
pub fn skeleton(text: &str) -> String {
    crate::skeleton(text)
}
