//! The public vocabulary of a session: what the app shows (events and member details) and why actions fail.

use sanctum_protocol::{ErrorCode, MemberId};

use crate::attachment::AttachmentError;

/// What the app shows about one accepted member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// The relay's id for the member's session.
    pub member: MemberId,
    /// The alias the member announced.
    pub alias: String,
    /// A short fingerprint of the member's session keys, to compare out of band.
    pub fingerprint: String,
    /// Whether another member (or this session) uses the same alias.
    pub duplicate_alias: bool,
}

/// Why a member is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveReason {
    /// It said goodbye (signed, in-band), or the relay said it left.
    Left {
        /// Its farewell, empty when it gave none or the relay reported the leave.
        farewell: String,
    },
    /// A member kicked it (the signed kick names the kicker; the relay's notice may not).
    Kicked {
        /// The kicker, when known.
        by: Option<MemberId>,
    },
    /// Its connection dropped.
    Dropped,
}

/// Why this session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// This session left.
    Left,
    /// This session was kicked.
    Kicked {
        /// The kicker, when known.
        by: Option<MemberId>,
    },
    /// The room was purged: by a member's signed purge (`by` is set) or by the relay.
    Purged {
        /// The member whose signed purge arrived, if any.
        by: Option<MemberId>,
    },
    /// The room reached its expiry (by the client's own clock or the relay's word).
    Expired,
    /// The relay refused to create or join the room.
    Refused {
        /// The relay's code.
        code: ErrorCode,
    },
    /// The room's descriptor did not open under the room key: the relay is not serving this room faithfully.
    Unverifiable,
}

/// Something the app should show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// This session is in the room.
    Joined {
        /// Its member id.
        member: MemberId,
        /// The room's expiry, seconds since the Unix epoch.
        expires_at: u64,
        /// The room's name from the sealed descriptor.
        room_name: String,
    },
    /// A member's session was verified and now receives this session's keys.
    MemberAccepted(MemberInfo),
    /// A member is gone and no longer receives keys.
    MemberLeft {
        /// Its member id.
        member: MemberId,
        /// Its alias.
        alias: String,
        /// Why.
        reason: LeaveReason,
    },
    /// A text message or whisper.
    Message {
        /// The sender's member id.
        from: MemberId,
        /// The sender's alias.
        alias: String,
        /// The text, untrusted: the app sanitizes it.
        text: String,
        /// When the sender says it sent it, milliseconds since the Unix epoch.
        sent_at: u64,
        /// Whether only this session received it.
        whisper: bool,
    },
    /// A complete attachment whose digest matched.
    Attachment {
        /// The sender's member id.
        from: MemberId,
        /// The sender's alias.
        alias: String,
        /// File name, untrusted.
        name: String,
        /// Media type, untrusted.
        mime: String,
        /// The bytes.
        bytes: Vec<u8>,
        /// When the sender says it started sending it.
        sent_at: u64,
        /// Whether only this session received it.
        whisper: bool,
    },
    /// The relay warns that the room expires soon.
    Expiring {
        /// Seconds left.
        seconds: u32,
    },
    /// An item relayed as from this member did not open or verify, or was a replay; it was dropped.
    CouldNotVerify {
        /// The member the relay named as sender.
        from: MemberId,
    },
    /// The relay refused a frame.
    RelayError {
        /// The stable code.
        code: ErrorCode,
        /// The relay's explanation.
        message: String,
    },
    /// The session is over; the app wipes the room from the screen.
    Ended {
        /// Why.
        reason: EndReason,
    },
}

/// Why an action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The session has ended.
    #[error("the session has ended")]
    Ended,
    /// The action needs a joined room, or create/join was already sent.
    #[error("not in a room")]
    NotJoined,
    /// The room's expiry has passed.
    #[error("the room has expired")]
    Expired,
    /// No accepted member has that id.
    #[error("no such member")]
    UnknownMember,
    /// The alias is empty, too long or holds control characters.
    #[error("the alias must be 1 to 64 bytes of printable text")]
    BadAlias,
    /// The room name is too long or holds control characters.
    #[error("the room name must be at most 128 bytes of printable text")]
    BadRoomName,
    /// The text is longer than the protocol allows.
    #[error("the message is too long")]
    TooLong,
    /// The attachment was refused.
    #[error(transparent)]
    Attachment(#[from] AttachmentError),
    /// A chain ran out of counters; leaving and rejoining starts fresh ones.
    #[error("too many messages in this session")]
    Exhausted,
}
