//! A member's session: membership, pairwise channels, sender chains, and the events the app shows.
//!
//! The session is sans-IO: [`Session::handle`] takes one relay frame and the current time, returns events, and
//! leaves frames to send in a queue that [`Session::take_outgoing`] drains in order.
//! The pieces live beside this file: [`event`] is the public vocabulary, `membership` the handshake and departures,
//! `items` sealing and routing, `content` what group messages do.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use ed25519_dalek::SigningKey;
use rand_core::CryptoRngCore;
use sanctum_protocol::{ClientFrame, MemberId, PROTOCOL_VERSION, Payload, PurgeReason, RelayFrame};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::attachment::{self, Incoming, Upload};
use crate::chain::{ChainKey, RecvChain, SendChain};
use crate::message::{Content, MAX_FAREWELL_LEN, MAX_ROOM_NAME_LEN, MAX_TEXT_LEN, SESSION_NONCE_LEN};
use crate::pairwise::Channel;
use crate::resume::{ResumeError, encode_resume_with};
use crate::schedule::RoomSecrets;
use crate::sign::{CheckedKey, SessionKey};

mod content;
mod continuity;
mod event;
mod items;
mod lock;
mod membership;
mod roles;
#[cfg(test)]
mod testing;

pub use event::{
    AttachmentDrop, Attempt, CLOCK_TOLERANCE_MS, EndReason, Event, LeaveReason, MemberInfo, SessionError, Timing,
};
use items::Rejected;
pub use items::{MAX_PENDING_ITEMS, MAX_PENDING_PER_MEMBER};
use membership::printable;
pub use membership::{MAX_KNOWN_SESSIONS, MAX_PENDING_HELLOS, fingerprint};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Fresh,
    Creating,
    Joining,
    Active,
    Ended,
}

struct Peer {
    member: MemberId,
    session: SessionKey,
    /// `session`, checked once when the peer was accepted: every item from the peer is verified with it.
    key: CheckedKey,
    alias: String,
    fingerprint: String,
    channel: Channel,
    group: Option<RecvChain>,
    incoming: Option<Incoming>,
    /// Whether `incoming` arrives as a whisper (chunks must then come the same way).
    incoming_whisper: bool,
    /// The arrival count of `incoming`'s latest start or chunk.
    incoming_progress: u64,
    /// Whether both sides accepted each other: the peer is shown, handed this session's chain and every new generation.
    accepted: bool,
    /// When this session accepted the peer, as a count of acceptances: the earliest-accepted member succeeds an owner
    /// that leaves.
    since: u64,
}

/// One tab's membership in one room: in memory only, and wiped when dropped or ended.
pub struct Session {
    secrets: RoomSecrets,
    alias: String,
    rng: Box<dyn CryptoRngCore + Send>,
    signing: SigningKey,
    session_key: SessionKey,
    dh_secret: StaticSecret,
    dh_public: [u8; 32],
    nonce: [u8; SESSION_NONCE_LEN],
    phase: Phase,
    me: Option<MemberId>,
    expires_at: u64,
    room_name: String,
    chain: SendChain,
    peers: BTreeMap<MemberId, Peer>,
    /// Every session key this session ever accepted, with its member id: none is accepted twice, and a signed cause
    /// is checked against these keys. Only sessions that proved liveness get here, so no one can fill it with made-up keys.
    seen: HashMap<SessionKey, MemberId>,
    /// Hellos answered but not yet confirmed, each with the challenge this session chose for it.
    hellos: VecDeque<membership::PendingHello>,
    /// The room secrets before the last lock, kept only while hellos answered under them wait for their confirms.
    previous: Option<RoomSecrets>,
    /// The room's owner and kick policy, with the transfers since the descriptor.
    roles: roles::Roles,
    /// How many peers this session accepted so far, to order them by when.
    acceptances: u64,
    /// The fingerprint of every session key in `seen`, to name an earlier session that reconnects.
    fingerprints: HashMap<SessionKey, String>,
    /// For a session resumed from a blob: the previous session's signed claim that this one continues it.
    continuity: Option<crate::message::Cause>,
    /// Whether this session was resumed from a blob that held the previous session's key: the members that answer
    /// it were there already, and are shown as present rather than as joining.
    resumed: bool,
    /// The caller's clock at the frame being handled, for receive times.
    now_ms: u64,
    /// Counts items as they arrive, to tell which unfinished attachment progressed least recently.
    arrivals: u64,
    /// Member ids of accepted peers this session dropped; whatever the relay still forwards as from them is ignored.
    gone: HashSet<MemberId>,
    pending: VecDeque<(MemberId, Payload)>,
    outgoing: Vec<ClientFrame>,
    /// The confusable skeleton aliases are compared by, once a front end supplies it ([`Session::set_skeleton`]).
    skeleton: crate::text::Skeleton,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("member", &self.me)
            .field("phase", &self.phase)
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Starts a session for the room with fresh keys; `rng` supplies every random byte the session uses.
    pub fn new(
        secrets: &RoomSecrets,
        alias: &str,
        mut rng: impl CryptoRngCore + Send + 'static,
    ) -> Result<Self, SessionError> {
        let alias = crate::text::check_alias(alias).map_err(SessionError::BadAlias)?;
        let signing = SigningKey::generate(&mut rng);
        let dh_secret = StaticSecret::random_from_rng(&mut rng);
        let dh_public = PublicKey::from(&dh_secret).to_bytes();
        let mut nonce = [0u8; SESSION_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let chain = SendChain::new(0, ChainKey::random(&mut rng));
        let rng: Box<dyn CryptoRngCore + Send> = Box::new(rng);
        Ok(Self {
            session_key: signing.verifying_key().to_bytes(),
            expires_at: secrets.link().expires_at(),
            secrets: secrets.duplicate(),
            alias: alias.to_owned(),
            rng,
            signing,
            dh_secret,
            dh_public,
            nonce,
            phase: Phase::Fresh,
            me: None,
            room_name: String::new(),
            chain,
            peers: BTreeMap::new(),
            seen: HashMap::new(),
            hellos: VecDeque::new(),
            previous: None,
            roles: roles::Roles::default(),
            acceptances: 0,
            fingerprints: HashMap::new(),
            continuity: None,
            resumed: false,
            now_ms: 0,
            arrivals: 0,
            gone: HashSet::new(),
            pending: VecDeque::new(),
            outgoing: Vec::new(),
            skeleton: crate::text::no_skeleton,
        })
    }

    /// The `create` frame for a new room named `room_name`, living until the link's expiry.
    pub fn create_frame(&mut self, room_name: &str, now_ms: u64) -> Result<ClientFrame, SessionError> {
        self.ready_to_enter(now_ms)?;
        if room_name.len() > MAX_ROOM_NAME_LEN || !printable(room_name) {
            return Err(SessionError::BadRoomName);
        }
        let expires_at = self.secrets.link().expires_at();
        let lifetime = u32::try_from(expires_at - now_ms / 1000).unwrap_or(u32::MAX);
        self.room_name = room_name.to_owned();
        self.roles = roles::Roles::from_descriptor(self.session_key, self.roles.policy, 0);
        let descriptor = self.seal_descriptor().map_err(|_| SessionError::BadRoomName)?;
        self.phase = Phase::Creating;
        Ok(ClientFrame::Create {
            v: PROTOCOL_VERSION,
            room: self.secrets.room_id(),
            verifier: self.secrets.verifier(),
            lifetime,
            descriptor,
        })
    }

    /// The `join` frame for the room.
    pub fn join_frame(&mut self, now_ms: u64) -> Result<ClientFrame, SessionError> {
        self.ready_to_enter(now_ms)?;
        self.phase = Phase::Joining;
        Ok(ClientFrame::Join {
            v: PROTOCOL_VERSION,
            room: self.secrets.room_id(),
            token: self.secrets.auth_token(),
        })
    }

    fn ready_to_enter(&self, now_ms: u64) -> Result<(), SessionError> {
        match self.phase {
            Phase::Fresh => {}
            Phase::Ended => return Err(SessionError::Ended),
            _ => return Err(SessionError::NotJoined),
        }
        if self.secrets.link().is_expired(now_ms) {
            return Err(SessionError::Expired);
        }
        Ok(())
    }

    /// Frames to send to the relay, in order.
    pub fn take_outgoing(&mut self) -> Vec<ClientFrame> {
        std::mem::take(&mut self.outgoing)
    }

    /// Whether the session has ended.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// This session's member id, once in the room.
    pub fn member_id(&self) -> Option<MemberId> {
        self.me
    }

    /// The room's expiry as this client enforces it: the earliest of the link's, the descriptor's and the relay's.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The room's name from the sealed descriptor (empty until joined).
    pub fn room_name(&self) -> &str {
        &self.room_name
    }

    /// This session's alias.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// This session's fingerprint, to compare with what other members see.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.session_key, &self.dh_public)
    }

    /// The room's secrets, for a reconnect as a new session.
    pub fn secrets(&self) -> &RoomSecrets {
        &self.secrets
    }

    /// The resume blob for this room and alias, with this session's signing key so that the session a refresh starts
    /// can prove it continues this one (never X25519 keys, chains or messages).
    pub fn resume_blob(&self) -> Result<Zeroizing<String>, ResumeError> {
        encode_resume_with(&self.secrets, &self.alias, Some(&self.signing))
    }

    /// Ends the session if the room's expiry has passed; call it on a timer (once a second is plenty).
    pub fn tick(&mut self, now_ms: u64) -> Vec<Event> {
        let mut events = Vec::new();
        self.check_expiry(now_ms, &mut events);
        events
    }

    fn check_expiry(&mut self, now_ms: u64, events: &mut Vec<Event>) -> bool {
        if self.phase != Phase::Ended && now_ms / 1000 >= self.expires_at {
            let was_in_room = self.phase == Phase::Active;
            self.end(EndReason::Expired, was_in_room, events);
            return true;
        }
        self.phase == Phase::Ended
    }

    /// Wipes every session key and peer, queues a `leave` when the relay might still hold this member, and reports why.
    fn end(&mut self, reason: EndReason, send_leave: bool, events: &mut Vec<Event>) {
        if self.phase == Phase::Ended {
            return;
        }
        if send_leave {
            self.outgoing.push(ClientFrame::Leave);
        }
        self.phase = Phase::Ended;
        self.peers.clear();
        self.pending.clear();
        self.chain = SendChain::new(u32::MAX, ChainKey::random(&mut *self.rng));
        // The session's own secrets go too (each is wiped as it is replaced), so an ended session that the app still
        // holds can neither sign nor open anything the relay might keep sending it.
        self.signing = SigningKey::generate(&mut *self.rng);
        self.dh_secret = StaticSecret::random_from_rng(&mut *self.rng);
        events.push(Event::Ended { reason });
    }

    fn require_active(&self, now_ms: u64) -> Result<(), SessionError> {
        match self.phase {
            Phase::Active if now_ms / 1000 < self.expires_at => Ok(()),
            Phase::Active => Err(SessionError::Expired),
            Phase::Ended => Err(SessionError::Ended),
            _ => Err(SessionError::NotJoined),
        }
    }

    /// Handles one frame from the relay at `now_ms`.
    pub fn handle(&mut self, frame: RelayFrame, now_ms: u64) -> Vec<Event> {
        let mut events = Vec::new();
        self.now_ms = now_ms;
        if self.check_expiry(now_ms, &mut events) {
            return events;
        }
        match frame {
            RelayFrame::Created { member, expires_at, .. } if self.phase == Phase::Creating => {
                self.me = Some(member);
                self.expires_at = self.expires_at.min(expires_at);
                self.phase = Phase::Active;
                events.push(Event::Joined {
                    member,
                    expires_at: self.expires_at,
                    room_name: self.room_name.clone(),
                });
            }
            RelayFrame::Joined {
                member,
                expires_at,
                descriptor,
                ..
            } if self.phase == Phase::Joining => {
                self.on_joined(member, expires_at, &descriptor, &mut events);
            }
            RelayFrame::Frame { from, direct, payload } if self.phase == Phase::Active => {
                if let Err(Rejected::Forged | Rejected::Stale) = self.on_item(from, direct, payload, &mut events) {
                    events.push(Event::CouldNotVerify { from });
                }
            }
            RelayFrame::MemberLeft { member, reason } if self.phase == Phase::Active => {
                // The relay's word alone: this session stops handing the member keys, but passes no cause on.
                self.pending.retain(|(from, _)| *from != member);
                self.remove_peer(member, LeaveReason::RelayReported { reason }, None, &mut events);
            }
            // The relay's `by` is not signed, so it names no one: only a signed kick names the kicker.
            RelayFrame::Kicked { .. } => self.end(EndReason::RemovedByRelay, false, &mut events),
            RelayFrame::Purged { reason } => {
                let reason = match reason {
                    PurgeReason::Purged => EndReason::Purged { by: None },
                    PurgeReason::Expired => EndReason::Expired,
                };
                self.end(reason, false, &mut events);
            }
            RelayFrame::Expiring { seconds } if self.phase == Phase::Active => events.push(Event::Expiring { seconds }),
            RelayFrame::Locked if self.phase == Phase::Active => events.push(Event::LockConfirmed),
            RelayFrame::Error { code, message } => {
                events.push(Event::RelayError { code, message });
                if matches!(self.phase, Phase::Creating | Phase::Joining) {
                    self.end(EndReason::Refused { code }, false, &mut events);
                }
            }
            // The welcome carries nothing the core needs, and member-joined is followed by that member's hello;
            // frames that do not fit the current phase are ignored.
            _ => {}
        }
        self.check_expiry(now_ms, &mut events);
        events
    }
}

impl Session {
    /// Sends a text message to the room.
    pub fn send_text(&mut self, text: &str, now_ms: u64) -> Result<(), SessionError> {
        self.require_active(now_ms)?;
        if text.len() > MAX_TEXT_LEN {
            return Err(SessionError::TooLong);
        }
        self.broadcast(now_ms, Content::Text(text.to_owned()))?;
        Ok(())
    }

    /// Sends a text message that only `member` can read.
    pub fn whisper(&mut self, member: MemberId, text: &str, now_ms: u64) -> Result<(), SessionError> {
        self.require_active(now_ms)?;
        if text.len() > MAX_TEXT_LEN {
            return Err(SessionError::TooLong);
        }
        self.send_content(Some(member), now_ms, Content::Text(text.to_owned()))
    }

    /// Sends a whole attachment to the room at once: its start item and every chunk.
    pub fn send_attachment(&mut self, name: &str, mime: &str, bytes: &[u8], now_ms: u64) -> Result<(), SessionError> {
        let mut upload = self.start_attachment(None, name, mime, bytes, now_ms)?;
        while self.send_chunk(&mut upload, now_ms)? {}
        Ok(())
    }

    /// Starts an attachment for the room, or whispered to `to` only: seals and queues its start item.
    ///
    /// Each chunk is then sealed by [`Session::send_chunk`] when the app is ready to send it, so that whatever the
    /// person sends meanwhile takes the next chain position and is not held behind the rest of the file.
    pub fn start_attachment(
        &mut self,
        to: Option<MemberId>,
        name: &str,
        mime: &str,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Upload, SessionError> {
        self.start_attachment_with_caption(to, name, mime, "", bytes, now_ms)
    }

    /// Starts an attachment like [`Session::start_attachment`], with a caption (text with the formatting of a
    /// message, shown with the attachment) of at most [`crate::MAX_CAPTION_LEN`] bytes.
    pub fn start_attachment_with_caption(
        &mut self,
        to: Option<MemberId>,
        name: &str,
        mime: &str,
        caption: &str,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Upload, SessionError> {
        self.require_active(now_ms)?;
        if caption.len() > crate::MAX_CAPTION_LEN {
            return Err(SessionError::TooLong);
        }
        if to.is_some_and(|member| !self.peers.contains_key(&member)) {
            return Err(SessionError::UnknownMember);
        }
        if !crate::text::is_safe_file_name(name) {
            return Err(SessionError::BadFileName);
        }
        let mut id = [0u8; 16];
        self.rng.fill_bytes(&mut id);
        let mut start = attachment::start_for(id, name, mime, bytes)?;
        caption.clone_into(&mut start.caption);
        let upload = Upload::new(&start, to, bytes, now_ms);
        self.send_content(to, now_ms, Content::AttachmentStart(start))?;
        Ok(upload)
    }

    /// Seals and queues the next chunk of `upload`; returns whether chunks remain.
    pub fn send_chunk(&mut self, upload: &mut Upload, now_ms: u64) -> Result<bool, SessionError> {
        self.require_active(now_ms)?;
        let Some((index, data)) = upload.next_chunk() else {
            return Ok(false);
        };
        let content = Content::AttachmentChunk {
            id: upload.id,
            index,
            data: data.to_vec(),
        };
        self.send_content(upload.to, upload.sent_at, content)?;
        upload.advance();
        Ok(!upload.is_done())
    }

    /// Stops `upload` before its last chunk: seals and queues a cancel, by the way its start went (the room, or a
    /// whisper), so that receivers drop what they hold of it. The caller sends no further chunk of it.
    pub fn cancel_attachment(&mut self, upload: &Upload, now_ms: u64) -> Result<(), SessionError> {
        self.require_active(now_ms)?;
        self.send_content(upload.to, now_ms, Content::AttachmentCancel { id: upload.id })
    }

    /// Kicks a member: a signed kick every client honours, the relay's kick, and a new generation without it.
    ///
    /// Only a kick this session may make is sent ([`Session::may_kick`]): the owner's, or any member's but of the owner
    /// when every member may kick.
    pub fn kick(&mut self, member: MemberId, now_ms: u64) -> Result<Vec<Event>, SessionError> {
        self.require_active(now_ms)?;
        let target = self.peers.get(&member).ok_or(SessionError::UnknownMember)?.session;
        if !self.may_kick(member) {
            return Err(SessionError::NotAllowed);
        }
        let cause = self.broadcast_cause(now_ms, Content::Kick(target))?;
        self.outgoing.push(ClientFrame::Kick { member });
        let mut events = Vec::new();
        let by = self.me.unwrap_or_default();
        self.remove_peer(member, LeaveReason::Kicked { by }, Some(cause), &mut events);
        Ok(events)
    }

    /// Purges the room: a signed purge every client honours, then the relay's purge.
    pub fn purge(&mut self, now_ms: u64) -> Result<Vec<Event>, SessionError> {
        self.require_active(now_ms)?;
        self.broadcast(now_ms, Content::Purge)?;
        self.outgoing.push(ClientFrame::Purge);
        // The leave that follows matters only when the relay ignored the purge: this client is out either way.
        let mut events = Vec::new();
        self.end(EndReason::Purged { by: self.me }, true, &mut events);
        Ok(events)
    }

    /// Leaves the room with a signed goodbye carrying `farewell` (which may be empty).
    ///
    /// An owner first hands ownership to its successor, the earliest-accepted member it still accepts, with a signed
    /// transfer just before the goodbye on its chain; with no one left, or no transfer left, the room has no owner.
    pub fn leave(&mut self, farewell: &str, now_ms: u64) -> Result<Vec<Event>, SessionError> {
        self.require_active(now_ms)?;
        if farewell.len() > MAX_FAREWELL_LEN {
            return Err(SessionError::TooLong);
        }
        let mut events = Vec::new();
        if self.is_owner()
            && let Some(successor) = self.successor()
        {
            // A room that has used up its transfers has no owner after this one: the goodbye still goes.
            let _ = self.hand_ownership(successor, now_ms, &mut events);
        }
        self.broadcast(now_ms, Content::Goodbye(farewell.to_owned()))?;
        self.end(EndReason::Left, true, &mut events);
        Ok(events)
    }
}

#[cfg(test)]
mod tests;
