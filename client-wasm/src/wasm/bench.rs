//! Bench exports, compiled only with the `bench` feature: `cargo xtask bench` times these from a Worker in bench/wasm/.
//!
//! They run `benches/crypto/ops.rs`, the very code the native Criterion benches run, so the two sides compare like for
//! like. The module the web app ships is built without the feature and holds none of this.

use js_sys::Array;
use wasm_bindgen::prelude::*;

use super::Failure;

#[path = "../../benches/crypto/ops.rs"]
mod bench_ops;

/// The name under which `benches/crypto/ops.rs` reaches the crate's public API, as it does in the native bench.
use crate as client;

/// One client operation, prepared in batches outside the timed region and run inside it.
#[wasm_bindgen]
pub struct BenchFixture {
    inner: bench_ops::Fixture,
}

impl std::fmt::Debug for BenchFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BenchFixture")
    }
}

#[wasm_bindgen]
impl BenchFixture {
    /// Sets up `op` (one of `bench_ops()`) at `now_ms`; derives the room's keys once with Argon2id.
    #[wasm_bindgen(constructor)]
    pub fn new(op: &str, now_ms: f64) -> std::result::Result<BenchFixture, JsValue> {
        let inner = bench_ops::Fixture::new(op, now_ms as u64).map_err(bench_failure)?;
        Ok(Self { inner })
    }

    /// Makes the inputs of the next `n` operations.
    pub fn prepare(&mut self, n: u32) -> std::result::Result<(), JsValue> {
        self.inner.prepare(n as usize).map_err(bench_failure)
    }

    /// Runs the prepared operations and returns how many succeeded (all of them, or an error).
    pub fn run(&mut self) -> std::result::Result<u32, JsValue> {
        let done = self.inner.run().map_err(bench_failure)?;
        Ok(u32::try_from(done).unwrap_or(u32::MAX))
    }
}

fn bench_failure(error: String) -> JsValue {
    Failure::new("bench_failed", error).into()
}

/// The names of the operations `BenchFixture` knows.
#[wasm_bindgen]
pub fn bench_ops() -> Array {
    bench_ops::OPS.iter().map(|op| JsValue::from_str(op)).collect()
}
