// The client crypto operations the bench times, by the name its results use, in the order its table lists them.
// Included by `ops.rs` (native criterion and the wasm Worker run those) and by `xtask/src/bench/crypto.rs`, which
// prints the table, so that the three never disagree on the list.

/// Every operation, by the name the results use.
pub(crate) const OPS: [&str; 7] = [
    "argon2id_v1",
    "hello",
    "pairwise_setup",
    "seal_1k",
    "open_1k",
    "seal_32k",
    "open_32k",
];
