//! Sanctum's load generator and the bare fan-out server it is compared against.
//!
//! The load generator speaks the real protocol: it creates rooms with a verifier, joins with the token,
//! and broadcasts opaque random payloads of padded sizes whose first bytes carry a sequence number and a send time.
//! Every receiver counts deliveries, latency, loss and reordering per sender.
//! The ceiling server relays the same frames with no rooms logic beyond grouping, no limits and no checks,
//! so that its figures are the practical limit of the machine the bench runs on.
//! `cargo xtask bench` starts each server as its own process and drives it with the `sanctum-loadgen` binary.

pub mod ceiling;
pub mod member;
pub mod payload;
mod run;
mod stats;

pub use run::{Event, Load, RunConfig, RunError, Session};
pub use stats::{Latency, Report};
