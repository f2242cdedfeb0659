//! Sanctum client core: key schedule, membership, sender chains, sealing, signatures and padding, without any I/O.
//!
//! The core consumes the relay's frames and produces the client's frames and events; the caller owns the socket,
//! the clock (passing the current time in milliseconds since the Unix epoch) and the random number generator.
//! `docs/protocol.md` describes every byte this crate produces.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod chain;
mod codec;
mod label;
mod link;
mod padding;
mod pairwise;
mod schedule;
mod seal;
mod secret;
mod sign;
mod strength;

pub use chain::{ChainError, MAX_SKIP};
pub use codec::CodecError;
pub use link::{LINK_SECRET_LEN, LinkError, RoomLink};
pub use padding::{BUCKETS, PaddingError};
pub use pairwise::PairwiseError;
pub use schedule::{ARGON2_M_COST_KIB, ARGON2_P_COST, ARGON2_T_COST, MAX_PASSWORD_LEN, RoomSecrets, ScheduleError};
pub use seal::{Kind, MAX_ITEM_LEN, OpenError, SealError};
pub use sign::SignatureError;
pub use strength::{MIN_CREATE_SCORE, Strength, password_strength};
