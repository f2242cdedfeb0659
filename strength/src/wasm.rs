//! Browser binding for the create screen's strength Worker: one function, plain JavaScript values out.

// wasm-bindgen exports what is `pub` in this private module; the items are reachable from JavaScript, not from Rust.
#![allow(unreachable_pub)]

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::{app_inputs, password_strength as estimate};

/// The estimate of `password` for a room created by `alias` and called `room_name`, as `{score, acceptable, feedback}`.
#[wasm_bindgen]
pub fn password_strength(password: &str, alias: &str, room_name: &str) -> JsValue {
    let strength = estimate(password, &app_inputs(alias, room_name));
    let mut feedback: Vec<String> = strength.warning.into_iter().collect();
    feedback.extend(strength.suggestions);
    let result = Object::new();
    // Defining data properties on a fresh plain object cannot fail.
    for (key, value) in [
        ("score", JsValue::from(u32::from(strength.score))),
        ("acceptable", JsValue::from(strength.acceptable)),
        ("feedback", JsValue::from(feedback.join(" "))),
    ] {
        let _ = Reflect::set(&result, &key.into(), &value);
    }
    result.into()
}
