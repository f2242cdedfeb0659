//! Shared helpers for the cross-crate tests in `tests/tests/`.

pub mod client;
pub mod raw_ws;
pub mod redis_server;
pub mod relay_harness;
