//! Long-running soak test of the relay (`cargo xtask soak --minutes N`); replaced by the real implementation when it lands.

use crate::NotBuiltYet;

/// Entry point called by the dispatcher with the arguments after `soak`.
pub(crate) fn main(_args: Vec<String>) -> anyhow::Result<()> {
    Err(NotBuiltYet("soak").into())
}
