//! Sanctum's wire envelope: the frames a client and the relay exchange over `/ws`.
//!
//! Every frame is one WebSocket text message holding one JSON object whose `type` field names the frame.
//! Byte fields are base64url without padding (RFC 4648 §5).
//! Payloads are opaque to the relay: they are sealed by the clients and only their length is checked here.
//! `docs/protocol.md`, section "Wire envelope", is the normative description of these types.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod bytes;
mod code;
mod frame;
mod limits;

pub use bytes::{AuthToken, Descriptor, Payload, RoomId, Verifier};
pub use code::{CloseCode, ErrorCode};
pub use frame::{ClientFrame, DecodeError, LeftReason, MemberId, PurgeReason, RelayFrame, RoomState, Welcome};
pub use limits::{
    AUTH_TOKEN_LEN, MAX_DESCRIPTOR_LEN, MAX_PAYLOAD_LEN, MIN_FRAME_LIMIT, PROTOCOL_VERSION, ROOM_ID_LEN, VERIFIER_LEN,
};
