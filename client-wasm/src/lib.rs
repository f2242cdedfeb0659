//! Sanctum client core: key schedule, membership, sender chains, sealing, signatures and padding, without any I/O.
//!
//! The core consumes the relay's frames and produces the client's frames and events; the caller owns the socket,
//! the clock (passing the current time in milliseconds since the Unix epoch) and the random number generator.
//! `docs/protocol.md` describes every byte this crate produces.

#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod attachment;
mod chain;
mod codec;
pub mod contract;
/// Entry points for the cargo-fuzz targets in `fuzz/`; not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod label;
mod link;
mod message;
mod padding;
mod pairwise;
mod resume;
mod schedule;
mod seal;
mod secret;
mod session;
mod sign;
mod text;
#[cfg(test)]
mod vectors;
#[cfg(target_arch = "wasm32")]
mod wasm;

/// The RNG traits a [`Session`] takes, and `OsRng` for callers that use the system's randomness.
pub use rand_core;

pub use attachment::{AttachmentError, CHUNK_LEN, MAX_ATTACHMENT_LEN, MAX_INCOMING_BYTES, Upload};
pub use chain::{ChainError, MAX_SKIP};
pub use codec::CodecError;
pub use link::{LINK_SECRET_LEN, LINK_VERSION, LinkError, MAX_LINK_LEN, RoomLink};
pub use message::{
    KickPolicy, MAX_ALIAS_LEN, MAX_CAPTION_LEN, MAX_FAREWELL_LEN, MAX_FILE_NAME_LEN, MAX_MIME_LEN,
    MAX_OWNERSHIP_TRANSFERS, MAX_ROOM_NAME_LEN, MAX_TEXT_LEN, SESSION_NONCE_LEN,
};
pub use padding::{BUCKETS, MAX_INNER_LEN, PaddingError};
pub use pairwise::PairwiseError;
pub use resume::{RESUME_VERSION, ResumeError, Resumed, decode_resume, decode_resumed, encode_resume};
pub use schedule::{
    ARGON2_M_COST_KIB, ARGON2_P_COST, ARGON2_T_COST, KEY_LEN, MAX_PASSWORD_LEN, RoomSecrets, ScheduleError,
};
pub use seal::{HEADER_LEN, ITEM_VERSION, Kind, MAX_ITEM_LEN, NONCE_LEN, OpenError, SealError, TAG_LEN};
pub use session::{
    AttachmentDrop, Attempt, CLOCK_TOLERANCE_MS, EndReason, Event, LeaveReason, MAX_KNOWN_SESSIONS, MAX_PENDING_HELLOS,
    MAX_PENDING_ITEMS, MAX_PENDING_PER_MEMBER, MemberInfo, Session, SessionError, Timing, fingerprint,
};
pub use sign::{SIGNATURE_LEN, SignatureError};
pub use text::{AliasError, MAX_ALIAS_CHARS, Skeleton, check_alias, is_safe_file_name, look_alike};
