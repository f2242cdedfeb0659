//! Relay and client benchmarks (`cargo xtask bench [--quick]`); replaced by the real implementation when it lands.

use crate::NotBuiltYet;

/// Entry point called by the dispatcher with the arguments after `bench`.
pub(crate) fn main(_args: Vec<String>) -> anyhow::Result<()> {
    Err(NotBuiltYet("bench").into())
}
