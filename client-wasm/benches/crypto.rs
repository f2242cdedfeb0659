//! Criterion benches of the client core's cryptographic operations, run natively; the browser runs the same `ops`.
//!
//! `cargo xtask bench` reads Criterion's estimates from `target/criterion/client/<op>/new/estimates.json`
//! and prints them beside the same operations timed in headless Chromium.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use sanctum_client as client;

// Kept in a subfolder so that Cargo does not take it for a bench of its own; the wasm build includes it too.
#[path = "crypto/ops.rs"]
mod ops;

/// Operations prepared at once: enough to time precisely, few enough that their inputs stay small.
const CHUNK: u64 = 64;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

fn client_ops(c: &mut Criterion) {
    let now = now_ms();
    let mut group = c.benchmark_group("client");
    for op in ops::OPS {
        let mut fixture = ops::Fixture::new(op, now).unwrap_or_else(|error| panic!("setting up {op}: {error}"));
        if op == "argon2id_v1" {
            // Each run takes a good part of a second; ten samples are plenty for a mean.
            group.sample_size(10).measurement_time(Duration::from_secs(20));
        } else {
            group.sample_size(50).measurement_time(Duration::from_secs(3));
        }
        group.bench_function(op, |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let chunk = left.min(CHUNK);
                    fixture
                        .prepare(chunk as usize)
                        .unwrap_or_else(|error| panic!("preparing {op}: {error}"));
                    let started = Instant::now();
                    let done = fixture.run().unwrap_or_else(|error| panic!("running {op}: {error}"));
                    elapsed += started.elapsed();
                    assert_eq!(done as u64, chunk);
                    left -= chunk;
                }
                elapsed
            });
        });
    }
    group.finish();
}

criterion_group!(benches, client_ops);
criterion_main!(benches);
