//! Why the relay refuses a frame or fails to run, with the stable wire code each refusal maps to.
//!
//! Messages are fixed text: they never echo a client's input, a room id, a token or an address.

use sanctum_protocol::{ErrorCode, RelayFrame};

use crate::config::ConfigError;

/// A frame the relay refused; the client receives an `error` frame with its code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not valid JSON, an unknown `type`, or a missing or mistyped field.
    #[error("the frame is not a valid Sanctum envelope")]
    BadFrame,
    /// A binary WebSocket message.
    #[error("binary frames are not part of the protocol; send JSON text")]
    BinaryFrame,
    /// A message over the frame limit.
    #[error("the frame exceeds the relay's frame limit")]
    FrameTooLarge,
    /// A protocol version this relay does not speak.
    #[error("this relay speaks another protocol version")]
    UnsupportedVersion,
    /// A well-formed field whose value is not acceptable; the text says which rule.
    #[error("{0}")]
    BadRequest(&'static str),
    /// Create or join on a connection already in a room.
    #[error("this connection is already in a room")]
    AlreadyInRoom,
    /// A room frame before create or join.
    #[error("create or join a room first")]
    NotInRoom,
    /// Create of an id in use or tombstoned.
    #[error("a room with this id exists or was purged")]
    RoomExists,
    /// Join of an unknown id.
    #[error("no such room on this relay")]
    RoomNotFound,
    /// Join of a purged room.
    #[error("this room was purged")]
    RoomGone,
    /// Join with the wrong token.
    #[error("wrong room password")]
    BadToken,
    /// Join of a full room.
    #[error("the room is full")]
    RoomFull,
    /// Create while the relay holds its maximum of rooms.
    #[error("the relay holds too many rooms; try again later")]
    TooManyRooms,
    /// A connection beyond the relay's maximum.
    #[error("the relay has too many connections; try again later")]
    TooManyConnections,
    /// Too many creates, failed joins or frames.
    #[error("too many requests; wait and try again")]
    RateLimited,
    /// Too many joins and departures in the room in the last minute.
    #[error("too many members joined or left this room in the last minute; wait and try again")]
    RoomBusy,
    /// Direct or kick naming someone not in the room.
    #[error("no such member in this room")]
    UnknownMember,
    /// Create or join while the shared room store cannot be reached.
    #[error("the relay cannot reach its room store; try again shortly")]
    Unavailable,
}

impl Refusal {
    /// The stable code sent on the wire and counted in metrics.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::BadFrame => ErrorCode::BadFrame,
            Self::BinaryFrame => ErrorCode::BinaryFrame,
            Self::FrameTooLarge => ErrorCode::FrameTooLarge,
            Self::UnsupportedVersion => ErrorCode::UnsupportedVersion,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::AlreadyInRoom => ErrorCode::AlreadyInRoom,
            Self::NotInRoom => ErrorCode::NotInRoom,
            Self::RoomExists => ErrorCode::RoomExists,
            Self::RoomNotFound => ErrorCode::RoomNotFound,
            Self::RoomGone => ErrorCode::RoomGone,
            Self::BadToken => ErrorCode::BadToken,
            Self::RoomFull => ErrorCode::RoomFull,
            Self::TooManyRooms => ErrorCode::TooManyRooms,
            Self::TooManyConnections => ErrorCode::TooManyConnections,
            Self::RateLimited => ErrorCode::RateLimited,
            Self::RoomBusy => ErrorCode::RoomBusy,
            Self::UnknownMember => ErrorCode::UnknownMember,
            Self::Unavailable => ErrorCode::Unavailable,
        }
    }

    /// The `error` frame telling the client about this refusal.
    pub fn frame(self) -> RelayFrame {
        RelayFrame::Error {
            code: self.code(),
            message: self.to_string(),
        }
    }
}

/// Why [`crate::run`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was refused before listening.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The listener failed.
    #[error("listener failed: {0}")]
    Io(#[from] std::io::Error),
    /// The Redis backplane could not be reached, or would write rooms to disk.
    #[error("backplane: {0}")]
    Backplane(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_distinct_code_and_a_lowercase_message() {
        let all = [
            Refusal::BadFrame,
            Refusal::BinaryFrame,
            Refusal::FrameTooLarge,
            Refusal::UnsupportedVersion,
            Refusal::BadRequest("x"),
            Refusal::AlreadyInRoom,
            Refusal::NotInRoom,
            Refusal::RoomExists,
            Refusal::RoomNotFound,
            Refusal::RoomGone,
            Refusal::BadToken,
            Refusal::RoomFull,
            Refusal::TooManyRooms,
            Refusal::TooManyConnections,
            Refusal::RateLimited,
            Refusal::RoomBusy,
            Refusal::UnknownMember,
            Refusal::Unavailable,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        for refusal in all {
            let message = refusal.to_string();
            assert!(!message.ends_with('.'), "{message}");
            assert!(!message.starts_with(char::is_uppercase), "{message}");
        }
    }
}
