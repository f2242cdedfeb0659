//! Fuzzing of the wire decoders (`cargo xtask fuzz [--seconds N]`); replaced by the real implementation when it lands.

use crate::NotBuiltYet;

/// Entry point called by the dispatcher with the arguments after `fuzz`.
pub(crate) fn main(_args: Vec<String>) -> anyhow::Result<()> {
    Err(NotBuiltYet("fuzz").into())
}
