//! The public vocabulary of a session: what the app shows (events and member details) and why actions fail.

use sanctum_protocol::{ErrorCode, LeftReason, MemberId};

use crate::attachment::AttachmentError;
use crate::text::AliasError;

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
    /// Whether this member owns the room.
    pub owner: bool,
    /// Whether this session may kick this member (it is the owner, or every member may kick and this one is not the
    /// owner).
    pub kickable: bool,
}

/// What a member tried without the right to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// A signed kick: of this session, of a member it accepts (`target`), or of a session it does not show (`None`).
    Kick {
        /// The member it named, when this session shows it (this session's own id when it named this session).
        target: Option<MemberId>,
    },
    /// A signed ownership transfer that was not the next link from the current owner.
    Transfer,
    /// A lock (new room secrets) from a member that is not the owner; this session keeps the secrets it had.
    Lock,
}

/// Why a member is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveReason {
    /// Its own signed goodbye.
    Left {
        /// Its farewell, empty when it gave none.
        farewell: String,
    },
    /// A member's signed kick named it (this session's own kick included).
    Kicked {
        /// The kicker.
        by: MemberId,
    },
    /// The relay alone says so: this session stops handing it keys, but the claim stays local (it is never passed on
    /// to other members as a departure) and the app shows it as the relay's report.
    RelayReported {
        /// What the relay said.
        reason: LeftReason,
    },
}

/// Why this session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// This session left.
    Left,
    /// A member's signed kick named this session.
    Kicked {
        /// The kicker.
        by: MemberId,
    },
    /// The relay alone says this session was removed (its `kicked` frame); it names no member, since the relay could
    /// name anyone.
    RemovedByRelay,
    /// The room was purged: by a member's signed purge (`by` is set) or, on the relay's word alone, `by` is `None`.
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

/// When a message was sent, as far as this session can tell.
///
/// The sender's clock is untrusted: `sent_at` is never later than `received_at`, and `clock_differs` says the sender's
/// own time was more than [`CLOCK_TOLERANCE_MS`] away from the receive time (a skewed clock or a backdated message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// When this session received it, milliseconds since the Unix epoch (the caller's clock).
    pub received_at: u64,
    /// The sender's time, clamped to at most `received_at`.
    pub sent_at: u64,
    /// Whether the sender's time differs from the receive time by more than [`CLOCK_TOLERANCE_MS`].
    pub clock_differs: bool,
}

/// How far a sender's time may be from the receive time before the app marks it.
pub const CLOCK_TOLERANCE_MS: u64 = 60_000;

impl Timing {
    /// The timing of something the sender says it sent at `sent_at` and that arrived at `received_at`.
    pub fn new(sent_at: u64, received_at: u64) -> Self {
        Self {
            received_at,
            sent_at: sent_at.min(received_at),
            clock_differs: sent_at.abs_diff(received_at) > CLOCK_TOLERANCE_MS,
        }
    }
}

/// Why an incoming attachment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentDrop {
    /// Too many unfinished attachments were arriving at once; the one whose sender had made the least recent progress
    /// was dropped to make room.
    Crowded,
    /// Its file name holds characters that could disguise it (bidirectional controls, invisible characters).
    BadName,
    /// Its sender stopped sending it, by a signed cancel.
    Cancelled,
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
    /// A member that was already in the room when this session (resumed after a refresh) joined again: shown as
    /// present, not as joining. It receives this session's keys like an accepted member.
    MemberPresent(MemberInfo),
    /// A member this session had accepted reconnected as a new session with new keys (its hello was also signed by the
    /// previous session's key): the app shows it like a safety-number notice. The previous session no longer receives
    /// keys, and the owner's role, if it held it, moved to the new one.
    Reconnected {
        /// The new session's member id.
        member: MemberId,
        /// The previous session's member id.
        previous: Option<MemberId>,
        /// The alias the new session announced.
        alias: String,
        /// The previous session's fingerprint.
        old_fingerprint: String,
        /// The new session's fingerprint.
        new_fingerprint: String,
    },
    /// The room's owner changed in this session's view: a signed transfer (`by` the previous owner), transfers learned
    /// from the answers this session got (`by` is `None`), or the owner's session left the room (`owner` is `None`:
    /// nobody holds the owner's rights, so nobody can kick unless every member may).
    OwnerChanged {
        /// The new owner's member id (this session's own when it is now the owner), or `None` when the owner is not a
        /// member this session accepts.
        owner: Option<MemberId>,
        /// The member whose signed transfer made the change.
        by: Option<MemberId>,
    },
    /// A member tried something only the owner may do (or the room's policy forbids); every client refuses it.
    NotAllowed {
        /// The member whose signed item it was.
        from: MemberId,
        /// Its alias.
        alias: String,
        /// What it tried.
        attempt: Attempt,
    },
    /// The room was locked: by the owner's signed lock (`by`; this session's own id when it locked it). This
    /// session moved to the new room secrets: the app takes a new resume blob, and the old link and password no
    /// longer open the room once the relay took the new verifier.
    Locked {
        /// The owner that locked it.
        by: Option<MemberId>,
    },
    /// The relay took this session's lock: the old link and password no longer open the room there.
    LockConfirmed,
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
        /// When it was sent and received.
        timing: Timing,
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
        /// Text shown with it, untrusted like a message's (the app sanitizes it); empty when there is none.
        caption: String,
        /// The bytes.
        bytes: Vec<u8>,
        /// When the sender started sending it, and when its last chunk arrived.
        timing: Timing,
        /// Whether only this session received it.
        whisper: bool,
    },
    /// One more chunk of an attachment from this member arrived: `received` of `size` bytes so far. Raised once for
    /// every chunk but the last (whose arrival raises [`Event::Attachment`] once the digest matched, or nothing), so
    /// the app can show progress; no byte of the file comes with it.
    AttachmentProgress {
        /// The sender's member id; a sender has at most one attachment arriving at a time.
        from: MemberId,
        /// The sender's alias.
        alias: String,
        /// File name, untrusted.
        name: String,
        /// Bytes received so far.
        received: u64,
        /// The size the start announced.
        size: u64,
        /// Whether only this session receives it.
        whisper: bool,
    },
    /// Items from this member never arrived: their counters were skipped (withheld by the relay, or lost in a full
    /// buffer). The app says "`count` messages from `alias` did not reach you".
    Missed {
        /// The sender's member id.
        from: MemberId,
        /// The sender's alias.
        alias: String,
        /// How many items are missing.
        count: u32,
    },
    /// An attachment from this member was dropped before it was complete.
    AttachmentDropped {
        /// The sender's member id.
        from: MemberId,
        /// The sender's alias.
        alias: String,
        /// Why.
        reason: AttachmentDrop,
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
    /// The alias breaks the alias rule ([`crate::check_alias`]).
    #[error(transparent)]
    BadAlias(#[from] AliasError),
    /// The file name holds characters that could disguise it.
    #[error("the file name holds invisible or direction-changing characters")]
    BadFileName,
    /// The room name is too long or holds control characters.
    #[error("the room name must be at most 128 bytes of printable text")]
    BadRoomName,
    /// The text is longer than the protocol allows.
    #[error("the message is too long")]
    TooLong,
    /// The attachment was refused.
    #[error(transparent)]
    Attachment(#[from] AttachmentError),
    /// Only the room's owner may do this (kick, unless every member may; hand ownership on), or the room has handed
    /// ownership on as often as it can.
    #[error("only the room's owner may do that")]
    NotAllowed,
    /// The new secrets of a lock do not belong to this room (another room id or expiry) or keep its link secret.
    #[error("the new link must keep the room and its expiry and change its secret")]
    BadLock,
    /// A chain ran out of counters; leaving and rejoining starts fresh ones.
    #[error("too many messages in this session")]
    Exhausted,
}
