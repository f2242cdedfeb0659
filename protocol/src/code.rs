//! Stable error codes carried in `error` frames, and the WebSocket close codes the relay uses.
//!
//! Both are part of the protocol: clients map them to plain words, and they never change meaning.

use serde::{Deserialize, Serialize};

/// Why the relay refused a frame, carried in an `error` frame as a snake_case string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame was not valid JSON, had an unknown `type`, a missing or mistyped field, or bad base64url.
    BadFrame,
    /// The frame was a binary message; the envelope is text only.
    BinaryFrame,
    /// The frame exceeded the relay's frame limit.
    FrameTooLarge,
    /// The client speaks a protocol version this relay does not.
    UnsupportedVersion,
    /// A field was well-formed but its value is not acceptable (a zero lifetime, kicking oneself).
    BadRequest,
    /// Create or join on a connection that is already in a room.
    AlreadyInRoom,
    /// Broadcast, direct, kick, purge or leave before joining a room.
    NotInRoom,
    /// Create with a room id that is in use or was purged and has not yet expired.
    RoomExists,
    /// Join of a room this relay does not know.
    RoomNotFound,
    /// Join of a room that was purged or expired.
    RoomGone,
    /// Join with a token whose hash does not match the room's verifier.
    BadToken,
    /// The room already holds its maximum number of members.
    RoomFull,
    /// The relay already holds its maximum number of rooms (tombstones count).
    TooManyRooms,
    /// The relay already holds its maximum number of connections.
    TooManyConnections,
    /// Too many creates, failed joins or frames from this connection or address; wait and try again.
    RateLimited,
    /// Too many members joined or left this room in the last minute; wait and try again.
    RoomBusy,
    /// Direct or kick naming a member id that is not in the sender's room.
    UnknownMember,
    /// The relay cannot reach the shared room store its rooms live in; try again shortly.
    Unavailable,
}

impl ErrorCode {
    /// Every code, in the order of the table in `docs/protocol.md`.
    pub const ALL: [ErrorCode; 18] = [
        Self::BadFrame,
        Self::BinaryFrame,
        Self::FrameTooLarge,
        Self::UnsupportedVersion,
        Self::BadRequest,
        Self::AlreadyInRoom,
        Self::NotInRoom,
        Self::RoomExists,
        Self::RoomNotFound,
        Self::RoomGone,
        Self::BadToken,
        Self::RoomFull,
        Self::TooManyRooms,
        Self::TooManyConnections,
        Self::RateLimited,
        Self::RoomBusy,
        Self::UnknownMember,
        Self::Unavailable,
    ];

    /// The code as it appears on the wire and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadFrame => "bad_frame",
            Self::BinaryFrame => "binary_frame",
            Self::FrameTooLarge => "frame_too_large",
            Self::UnsupportedVersion => "unsupported_version",
            Self::BadRequest => "bad_request",
            Self::AlreadyInRoom => "already_in_room",
            Self::NotInRoom => "not_in_room",
            Self::RoomExists => "room_exists",
            Self::RoomNotFound => "room_not_found",
            Self::RoomGone => "room_gone",
            Self::BadToken => "bad_token",
            Self::RoomFull => "room_full",
            Self::TooManyRooms => "too_many_rooms",
            Self::TooManyConnections => "too_many_connections",
            Self::RateLimited => "rate_limited",
            Self::RoomBusy => "room_busy",
            Self::UnknownMember => "unknown_member",
            Self::Unavailable => "unavailable",
        }
    }
}

/// WebSocket close codes the relay sends (RFC 6455 §7.4; 4000 to 4999 are Sanctum's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCode {
    /// 1000: the member left, or the room was purged or expired after the `purged` frame.
    Normal,
    /// 1007: a text message that is not valid UTF-8.
    InvalidText,
    /// 1008: the connection broke a rule it cannot recover from (a disallowed frame flood, repeated bad frames).
    PolicyViolation,
    /// 1009: a frame exceeded the relay's frame limit.
    TooLarge,
    /// 1012: the relay is restarting; every room on it is gone.
    Restarting,
    /// 1013: the relay is at its connection limit; try again later.
    TryAgainLater,
    /// 4001: the room was purged by a member.
    Purged,
    /// 4002: this member was kicked.
    Kicked,
    /// 4003: the room reached its expiry.
    Expired,
    /// 4008: the member did not read its frames fast enough and its queue overflowed.
    SlowReader,
    /// 4009: the connection sent more frames per second than allowed, for too long.
    Flooding,
    /// 4010: no pong within the idle timeout, or no create or join within the handshake timeout.
    Timeout,
    /// 4011: the relay lost the shared room store its rooms live in; the room may live on, join again shortly.
    Unavailable,
}

impl CloseCode {
    /// Every close code, in the order of the table in `docs/protocol.md`.
    pub const ALL: [CloseCode; 13] = [
        Self::Normal,
        Self::InvalidText,
        Self::PolicyViolation,
        Self::TooLarge,
        Self::Restarting,
        Self::TryAgainLater,
        Self::Purged,
        Self::Kicked,
        Self::Expired,
        Self::SlowReader,
        Self::Flooding,
        Self::Timeout,
        Self::Unavailable,
    ];

    /// The numeric close code.
    pub fn code(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::InvalidText => 1007,
            Self::PolicyViolation => 1008,
            Self::TooLarge => 1009,
            Self::Restarting => 1012,
            Self::TryAgainLater => 1013,
            Self::Purged => 4001,
            Self::Kicked => 4002,
            Self::Expired => 4003,
            Self::SlowReader => 4008,
            Self::Flooding => 4009,
            Self::Timeout => 4010,
            Self::Unavailable => 4011,
        }
    }

    /// The short reason sent with the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Normal => "bye",
            Self::InvalidText => "invalid utf-8",
            Self::PolicyViolation => "policy violation",
            Self::TooLarge => "frame too large",
            Self::Restarting => "relay restarting",
            Self::TryAgainLater => "relay full, try again later",
            Self::Purged => "room purged",
            Self::Kicked => "kicked",
            Self::Expired => "room expired",
            Self::SlowReader => "too slow to read",
            Self::Flooding => "too many frames",
            Self::Timeout => "timed out",
            Self::Unavailable => "room store unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_is_listed_once() {
        // Exhaustive: a new code does not compile here until it has its place, and then fails until ALL holds it there.
        let place = |code: ErrorCode| match code {
            ErrorCode::BadFrame => 0,
            ErrorCode::BinaryFrame => 1,
            ErrorCode::FrameTooLarge => 2,
            ErrorCode::UnsupportedVersion => 3,
            ErrorCode::BadRequest => 4,
            ErrorCode::AlreadyInRoom => 5,
            ErrorCode::NotInRoom => 6,
            ErrorCode::RoomExists => 7,
            ErrorCode::RoomNotFound => 8,
            ErrorCode::RoomGone => 9,
            ErrorCode::BadToken => 10,
            ErrorCode::RoomFull => 11,
            ErrorCode::TooManyRooms => 12,
            ErrorCode::TooManyConnections => 13,
            ErrorCode::RateLimited => 14,
            ErrorCode::RoomBusy => 15,
            ErrorCode::UnknownMember => 16,
            ErrorCode::Unavailable => 17,
        };
        for (index, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(place(code), index, "{code:?}");
        }
    }

    #[test]
    fn every_close_code_is_listed_once() {
        // Exhaustive: a new code does not compile here until it has its place, and then fails until ALL holds it there.
        let place = |code: CloseCode| match code {
            CloseCode::Normal => 0,
            CloseCode::InvalidText => 1,
            CloseCode::PolicyViolation => 2,
            CloseCode::TooLarge => 3,
            CloseCode::Restarting => 4,
            CloseCode::TryAgainLater => 5,
            CloseCode::Purged => 6,
            CloseCode::Kicked => 7,
            CloseCode::Expired => 8,
            CloseCode::SlowReader => 9,
            CloseCode::Flooding => 10,
            CloseCode::Timeout => 11,
            CloseCode::Unavailable => 12,
        };
        for (index, code) in CloseCode::ALL.into_iter().enumerate() {
            assert_eq!(place(code), index, "{code:?}");
        }
        let mut codes: Vec<u16> = CloseCode::ALL.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CloseCode::ALL.len());
    }

    #[test]
    fn wire_names_match_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
