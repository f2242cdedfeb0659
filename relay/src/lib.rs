//! Sanctum relay (placeholder until the relay lands).
