//! Sanctum client core (placeholder until the core lands).
