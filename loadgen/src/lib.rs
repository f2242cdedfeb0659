//! Sanctum load generator (placeholder until the bench lands).
