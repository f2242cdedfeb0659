//! A member's session: membership, pairwise channels, sender chains, and the events the app shows.
//!
//! The session is sans-IO: [`Session::handle`] takes one relay frame and the current time, returns events, and
//! leaves frames to send in a queue that [`Session::take_outgoing`] drains in order.

use std::collections::{BTreeMap, HashSet, VecDeque};

use ed25519_dalek::SigningKey;
use rand_core::CryptoRngCore;
use sanctum_protocol::{
    ClientFrame, Descriptor, ErrorCode, LeftReason, MemberId, PROTOCOL_VERSION, Payload, PurgeReason, RelayFrame,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::attachment::{self, AttachmentError, Incoming, Upload};
use crate::chain::{ChainKey, RecvChain, SendChain};
use crate::label;
use crate::message::{
    Announce, AnswerBody, Content, DescriptorBody, HandoutBody, MAX_ALIAS_LEN, MAX_DEPARTED_LISTED, MAX_ROOM_NAME_LEN,
    MAX_TEXT_LEN, Message, SESSION_NONCE_LEN,
};
use crate::pairwise::{self, Channel, PeerKeys};
use crate::resume::{ResumeError, encode_resume};
use crate::schedule::RoomSecrets;
use crate::seal::{self, Binding, Header, Kind, NOBODY};
use crate::sign::SessionKey;

/// Most relayed items held while waiting for their sender's hello or hand-out, across all senders.
pub const MAX_PENDING_ITEMS: usize = 64;
/// Most relayed items held for one sender.
pub const MAX_PENDING_PER_MEMBER: usize = 32;
/// Most session keys a session remembers, accepted or departed; once full it accepts no one new, so that a hostile
/// relay working with someone who holds the room key cannot grow its memory without bound through answers' departed
/// lists. An honest room stays far below it: each answer lists at most 512 keys, and they are mostly the same ones.
pub const MAX_KNOWN_SESSIONS: usize = 65_536;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Fresh,
    Creating,
    Joining,
    Active,
    Ended,
}

/// Why an incoming item was dropped; stale items from the pending buffer are dropped without a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejected {
    /// Forged, tampered, replayed, or otherwise not acceptable.
    Forged,
    /// Sealed under a chain position this session was never handed (sent before it was accepted).
    Stale,
    /// A hello from a member that joined before this session (either a replay, or the hello of a member that joined
    /// at the same moment and answers this session's own hello instead), or an item from a member this session
    /// dropped. Dropped without a report, since both are normal.
    Ignored,
}

impl From<seal::OpenError> for Rejected {
    fn from(_: seal::OpenError) -> Self {
        Self::Forged
    }
}

impl From<crate::codec::CodecError> for Rejected {
    fn from(_: crate::codec::CodecError) -> Self {
        Self::Forged
    }
}

impl From<crate::chain::ChainError> for Rejected {
    fn from(_: crate::chain::ChainError) -> Self {
        Self::Forged
    }
}

struct Peer {
    member: MemberId,
    session: SessionKey,
    alias: String,
    fingerprint: String,
    channel: Channel,
    group: Option<RecvChain>,
    incoming: Option<Incoming>,
    /// Whether `incoming` arrives as a whisper (chunks must then come the same way).
    incoming_whisper: bool,
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
    seen: HashSet<SessionKey>,
    departed: VecDeque<SessionKey>,
    /// Member ids of accepted peers this session dropped; whatever the relay still forwards as from them is ignored.
    gone: HashSet<MemberId>,
    pending: VecDeque<(MemberId, Payload)>,
    outgoing: Vec<ClientFrame>,
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

/// The fingerprint of a session: the first 10 bytes of `SHA-256("sanctum v1 fingerprint" || session_key || dh_key)`,
/// as five groups of four lowercase hex digits.
pub fn fingerprint(session: &[u8; 32], dh: &[u8; 32]) -> String {
    let digest = Sha256::new()
        .chain_update(label::FINGERPRINT)
        .chain_update(session)
        .chain_update(dh)
        .finalize();
    digest[..10]
        .chunks(2)
        .map(|pair| format!("{:02x}{:02x}", pair[0], pair[1]))
        .collect::<Vec<_>>()
        .join(" ")
}

fn alias_key(alias: &str) -> String {
    alias.trim().to_lowercase()
}

fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

impl Session {
    /// Starts a session for the room with fresh keys; `rng` supplies every random byte the session uses.
    pub fn new(
        secrets: &RoomSecrets,
        alias: &str,
        mut rng: impl CryptoRngCore + Send + 'static,
    ) -> Result<Self, SessionError> {
        let alias = alias.trim();
        if alias.is_empty() || alias.len() > MAX_ALIAS_LEN || !printable(alias) {
            return Err(SessionError::BadAlias);
        }
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
            seen: HashSet::new(),
            departed: VecDeque::new(),
            gone: HashSet::new(),
            pending: VecDeque::new(),
            outgoing: Vec::new(),
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
        let body = DescriptorBody {
            name: room_name.to_owned(),
            expires_at,
        }
        .encode()
        .map_err(|_| SessionError::BadRoomName)?;
        let binding = Binding {
            room_id: self.secrets.link().room_id_bytes(),
            sender: &NOBODY,
            recipient: &NOBODY,
        };
        let sealed = seal::seal(
            self.secrets.room_key().expose(),
            Header::new(Kind::Descriptor, 0, 0),
            &binding,
            &body,
            None,
            &mut *self.rng,
        )
        .map_err(|_| SessionError::BadRoomName)?;
        let descriptor = Descriptor::new(sealed).map_err(|_| SessionError::BadRoomName)?;
        self.room_name = room_name.to_owned();
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

    /// The resume blob for this room and alias (never session keys or messages).
    pub fn resume_blob(&self) -> Result<Zeroizing<String>, ResumeError> {
        encode_resume(&self.secrets, &self.alias)
    }

    /// The members this session accepts, in member-id order; exactly the sessions that receive its keys.
    pub fn members(&self) -> Vec<MemberInfo> {
        self.peers.values().map(|peer| self.info(peer)).collect()
    }

    fn info(&self, peer: &Peer) -> MemberInfo {
        let key = alias_key(&peer.alias);
        let duplicate = alias_key(&self.alias) == key
            || self
                .peers
                .values()
                .any(|other| other.member != peer.member && alias_key(&other.alias) == key);
        MemberInfo {
            member: peer.member,
            alias: peer.alias.clone(),
            fingerprint: peer.fingerprint.clone(),
            duplicate_alias: duplicate,
        }
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
                let reason = match reason {
                    LeftReason::Left => LeaveReason::Left {
                        farewell: String::new(),
                    },
                    LeftReason::Kicked => LeaveReason::Kicked { by: None },
                    LeftReason::Dropped => LeaveReason::Dropped,
                };
                self.pending.retain(|(from, _)| *from != member);
                self.remove_peer(member, reason, &mut events);
            }
            RelayFrame::Kicked { by } => self.end(EndReason::Kicked { by: Some(by) }, false, &mut events),
            RelayFrame::Purged { reason } => {
                let reason = match reason {
                    PurgeReason::Purged => EndReason::Purged { by: None },
                    PurgeReason::Expired => EndReason::Expired,
                };
                self.end(reason, false, &mut events);
            }
            RelayFrame::Expiring { seconds } if self.phase == Phase::Active => events.push(Event::Expiring { seconds }),
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

    fn on_joined(&mut self, member: MemberId, relay_expiry: u64, descriptor: &Descriptor, events: &mut Vec<Event>) {
        let binding = Binding {
            room_id: self.secrets.link().room_id_bytes(),
            sender: &NOBODY,
            recipient: &NOBODY,
        };
        let opened = seal::open(self.secrets.room_key().expose(), descriptor.as_bytes(), &binding)
            .ok()
            .filter(|o| o.header == Header::new(Kind::Descriptor, 0, 0))
            .and_then(|o| DescriptorBody::decode(o.body()).ok());
        let Some(body) = opened else {
            self.end(EndReason::Unverifiable, true, events);
            return;
        };
        self.me = Some(member);
        self.expires_at = self.expires_at.min(body.expires_at).min(relay_expiry);
        self.room_name = body.name;
        self.phase = Phase::Active;
        events.push(Event::Joined {
            member,
            expires_at: self.expires_at,
            room_name: self.room_name.clone(),
        });
        match self.seal_hello() {
            Ok(payload) => self.outgoing.push(ClientFrame::Broadcast { payload }),
            Err(_) => self.end(EndReason::Unverifiable, true, events),
        }
    }

    fn announce(&self) -> Announce {
        Announce {
            member: self.me.unwrap_or_default(),
            session: self.session_key,
            dh: self.dh_public,
            nonce: self.nonce,
            alias: self.alias.clone(),
        }
    }

    fn seal_hello(&mut self) -> Result<Payload, SessionError> {
        let body = self.announce().encode_hello().map_err(|_| SessionError::BadAlias)?;
        self.seal_room_item(Kind::Hello, &NOBODY, &body)
    }

    fn seal_room_item(&mut self, kind: Kind, recipient: &SessionKey, body: &[u8]) -> Result<Payload, SessionError> {
        let binding = Binding {
            room_id: self.secrets.link().room_id_bytes(),
            sender: &NOBODY,
            recipient,
        };
        let item = seal::seal(
            self.secrets.room_key().expose(),
            Header::new(kind, 0, 0),
            &binding,
            body,
            Some(&self.signing),
            &mut *self.rng,
        )
        .map_err(|_| SessionError::TooLong)?;
        Payload::new(item).map_err(|_| SessionError::TooLong)
    }

    fn on_item(
        &mut self,
        from: MemberId,
        direct: bool,
        payload: Payload,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejected> {
        // A member this session dropped stays dropped, even if the relay never acted on its goodbye or kick: its items
        // must neither be shown nor wait in the pre-hand-out buffer, where they would crowd out other members' items.
        // The same holds for this session's own items reflected back by the relay.
        if Some(from) == self.me || self.gone.contains(&from) {
            return Err(Rejected::Ignored);
        }
        let header = Header::parse(payload.as_bytes())?;
        match (header.kind, direct) {
            (Kind::Hello, false) => self.on_hello(from, payload.as_bytes(), events),
            (Kind::Answer, true) => self.on_answer(from, payload.as_bytes(), events),
            (Kind::Handout, true) => self.on_handout(from, payload.as_bytes(), events),
            (Kind::Whisper, true) => self.on_whisper(from, payload.as_bytes(), events),
            (Kind::Group, false) => self.on_group(from, payload, events),
            _ => Err(Rejected::Forged),
        }
    }

    /// Opens a hello or an answer under the room key; such items carry no generation or counter.
    fn open_room_item(&self, item: &[u8], kind: Kind, recipient: &SessionKey) -> Result<seal::Opened, Rejected> {
        let binding = Binding {
            room_id: self.secrets.link().room_id_bytes(),
            sender: &NOBODY,
            recipient,
        };
        let opened = seal::open(self.secrets.room_key().expose(), item, &binding)?;
        if opened.header != Header::new(kind, 0, 0) {
            return Err(Rejected::Forged);
        }
        Ok(opened)
    }

    /// Checks a hello's or an answer's signature against the session key it announces.
    fn verify_room_item(
        &self,
        opened: &seal::Opened,
        signer: &SessionKey,
        recipient: &SessionKey,
    ) -> Result<(), Rejected> {
        let binding = Binding {
            room_id: self.secrets.link().room_id_bytes(),
            sender: &NOBODY,
            recipient,
        };
        Ok(opened.verify(signer, &binding)?)
    }

    fn on_hello(&mut self, from: MemberId, item: &[u8], events: &mut Vec<Event>) -> Result<(), Rejected> {
        let opened = self.open_room_item(item, Kind::Hello, &NOBODY)?;
        let hello = Announce::decode_hello(opened.body())?;
        self.verify_room_item(&opened, &hello.session, &NOBODY)?;
        // The relay assigns member ids in increasing order and never reuses one, so a genuine hello is from a session
        // that joined after this one; an earlier member's hello can only be a replay, and earlier members answer instead.
        if hello.member != from || self.peers.contains_key(&from) || self.seen.contains(&hello.session) {
            return Err(Rejected::Forged);
        }
        if hello.member <= self.me.unwrap_or(MemberId::MAX) {
            return Err(Rejected::Ignored);
        }
        let their_nonce = hello.nonce;
        let session = hello.session;
        self.accept(hello, events)?;
        let answer = AnswerBody {
            announce: self.announce(),
            in_reply_to: their_nonce,
            departed: self.departed.iter().copied().collect(),
        };
        let body = answer.encode().map_err(|_| Rejected::Forged)?;
        if let Ok(payload) = self.seal_room_item(Kind::Answer, &session, &body) {
            self.outgoing.push(ClientFrame::Direct { to: from, payload });
        }
        self.send_handout(from);
        self.flush_pending(from, events);
        Ok(())
    }

    fn on_answer(&mut self, from: MemberId, item: &[u8], events: &mut Vec<Event>) -> Result<(), Rejected> {
        let my_key = self.session_key;
        let opened = self.open_room_item(item, Kind::Answer, &my_key)?;
        let answer = AnswerBody::decode(opened.body())?;
        self.verify_room_item(&opened, &answer.announce.session, &my_key)?;
        let fresh: bool = answer.in_reply_to.ct_eq(&self.nonce).into();
        if !fresh
            || answer.announce.member != from
            || Some(from) == self.me
            || self.peers.contains_key(&from)
            || self.seen.contains(&answer.announce.session)
        {
            return Err(Rejected::Forged);
        }
        let answerer = answer.announce.session;
        self.accept(answer.announce, events)?;
        self.send_handout(from);
        // Sessions the answerer saw leave are never accepted later, whatever the relay replays; one that this session
        // accepted before the answer arrived (a departed member answering again with its old key) is dropped now.
        for key in answer.departed {
            if key == my_key || key == answerer {
                continue;
            }
            match self.peers.values().find(|p| p.session == key).map(|p| p.member) {
                Some(member) => self.remove_peer(
                    member,
                    LeaveReason::Left {
                        farewell: String::new(),
                    },
                    events,
                ),
                None => self.mark_departed(key),
            }
        }
        self.flush_pending(from, events);
        Ok(())
    }

    fn mark_departed(&mut self, key: SessionKey) {
        // When the set is full nothing new is recorded, and nothing new is accepted either (see `accept`).
        if self.seen.len() >= MAX_KNOWN_SESSIONS && !self.seen.contains(&key) {
            return;
        }
        if self.seen.insert(key) || !self.departed.contains(&key) {
            self.departed.push_back(key);
            while self.departed.len() > MAX_DEPARTED_LISTED {
                self.departed.pop_front();
            }
        }
    }

    fn accept(&mut self, announce: Announce, events: &mut Vec<Event>) -> Result<(), Rejected> {
        if self.seen.len() >= MAX_KNOWN_SESSIONS {
            return Err(Rejected::Forged);
        }
        let me = PeerKeys {
            session: &self.session_key,
            dh: &self.dh_public,
        };
        let them = PeerKeys {
            session: &announce.session,
            dh: &announce.dh,
        };
        let channel =
            pairwise::channel(self.secrets.room_key(), &self.dh_secret, me, them).map_err(|_| Rejected::Forged)?;
        let alias = announce.alias.trim().to_owned();
        if alias.is_empty() || !printable(&alias) {
            return Err(Rejected::Forged);
        }
        let peer = Peer {
            member: announce.member,
            session: announce.session,
            fingerprint: fingerprint(&announce.session, &announce.dh),
            alias,
            channel,
            group: None,
            incoming: None,
            incoming_whisper: false,
        };
        self.seen.insert(peer.session);
        let info = self.info(&peer);
        self.peers.insert(peer.member, peer);
        events.push(Event::MemberAccepted(info));
        Ok(())
    }

    /// Hands this session's current sender-chain position to one peer over their pairwise channel.
    fn send_handout(&mut self, to: MemberId) {
        let (counter, key) = self.chain.position();
        let body = HandoutBody {
            generation: self.chain.generation(),
            counter,
            chain_key: Zeroizing::new(*key.expose()),
        };
        if let Ok(payload) = self.seal_pairwise(to, Kind::Handout, &body.encode()) {
            self.outgoing.push(ClientFrame::Direct { to, payload });
        }
    }

    fn seal_pairwise(&mut self, to: MemberId, kind: Kind, body: &[u8]) -> Result<Payload, SessionError> {
        let room_id = *self.secrets.link().room_id_bytes();
        let peer = self.peers.get_mut(&to).ok_or(SessionError::UnknownMember)?;
        let (counter, key) = peer.channel.send.next().map_err(|_| SessionError::Exhausted)?;
        let binding = Binding {
            room_id: &room_id,
            sender: &self.session_key,
            recipient: &peer.session,
        };
        let item = seal::seal(
            key.expose(),
            Header::new(kind, 0, counter),
            &binding,
            body,
            Some(&self.signing),
            &mut *self.rng,
        )
        .map_err(|_| SessionError::TooLong)?;
        Payload::new(item).map_err(|_| SessionError::TooLong)
    }

    fn seal_group(&mut self, message: &Message) -> Result<Payload, SessionError> {
        let body = message.encode().map_err(|_| SessionError::TooLong)?;
        let (counter, key) = self.chain.next().map_err(|_| SessionError::Exhausted)?;
        let binding = Binding {
            room_id: self.secrets.link().room_id_bytes(),
            sender: &self.session_key,
            recipient: &NOBODY,
        };
        let header = Header::new(Kind::Group, self.chain.generation(), counter);
        let item = seal::seal(
            key.expose(),
            header,
            &binding,
            &body,
            Some(&self.signing),
            &mut *self.rng,
        )
        .map_err(|_| SessionError::TooLong)?;
        Payload::new(item).map_err(|_| SessionError::TooLong)
    }

    /// Opens a pairwise item from an accepted peer and moves its receiving chain past it.
    fn open_pairwise(&mut self, from: MemberId, item: &[u8], kind: Kind) -> Result<Zeroizing<Vec<u8>>, Rejected> {
        let room_id = *self.secrets.link().room_id_bytes();
        let my_key = self.session_key;
        let peer = self.peers.get_mut(&from).ok_or(Rejected::Forged)?;
        let header = Header::parse(item)?;
        if header.kind != kind || header.generation != 0 {
            return Err(Rejected::Forged);
        }
        let pending = peer.channel.recv.key_for(header.counter)?;
        let binding = Binding {
            room_id: &room_id,
            sender: &peer.session,
            recipient: &my_key,
        };
        let opened = seal::open(pending.key.expose(), item, &binding)?;
        opened.verify(&peer.session, &binding)?;
        peer.channel.recv.commit(pending);
        Ok(Zeroizing::new(opened.body().to_vec()))
    }

    fn on_handout(&mut self, from: MemberId, item: &[u8], events: &mut Vec<Event>) -> Result<(), Rejected> {
        let body = self.open_pairwise(from, item, Kind::Handout)?;
        let handout = HandoutBody::decode(&body)?;
        let peer = self.peers.get_mut(&from).ok_or(Rejected::Forged)?;
        if peer
            .group
            .as_ref()
            .is_some_and(|g| handout.generation <= g.generation())
        {
            return Err(Rejected::Forged);
        }
        peer.group = Some(RecvChain::new(
            handout.generation,
            handout.counter,
            ChainKey::from_bytes(*handout.chain_key),
        ));
        self.flush_pending(from, events);
        Ok(())
    }

    fn on_whisper(&mut self, from: MemberId, item: &[u8], events: &mut Vec<Event>) -> Result<(), Rejected> {
        let body = self.open_pairwise(from, item, Kind::Whisper)?;
        let message = Message::decode(&body)?;
        let alias = self.peers.get(&from).map(|p| p.alias.clone()).unwrap_or_default();
        match message.content {
            Content::Text(text) => events.push(Event::Message {
                from,
                alias,
                text,
                sent_at: message.sent_at,
                whisper: true,
            }),
            Content::AttachmentStart(start) => self.on_attachment_start(from, start, message.sent_at, true)?,
            Content::AttachmentChunk { id, index, data } => {
                self.on_attachment_chunk(from, alias, (&id, index, &data), true, events)?;
            }
            _ => return Err(Rejected::Forged),
        }
        Ok(())
    }

    fn buffer(&mut self, from: MemberId, payload: Payload) {
        let for_member = self.pending.iter().filter(|(m, _)| *m == from).count();
        if self.pending.len() < MAX_PENDING_ITEMS && for_member < MAX_PENDING_PER_MEMBER {
            self.pending.push_back((from, payload));
        }
    }

    /// Retries the items held for `from`, in arrival order; stale ones are dropped without a report.
    fn flush_pending(&mut self, from: MemberId, events: &mut Vec<Event>) {
        let (mine, rest): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(m, _)| *m == from);
        self.pending = rest;
        for (_, payload) in mine {
            if self.phase != Phase::Active {
                return;
            }
            if let Err(Rejected::Forged) = self.on_group(from, payload, events) {
                events.push(Event::CouldNotVerify { from });
            }
        }
    }

    fn on_group(&mut self, from: MemberId, payload: Payload, events: &mut Vec<Event>) -> Result<(), Rejected> {
        let room_id = *self.secrets.link().room_id_bytes();
        let header = Header::parse(payload.as_bytes())?;
        let Some(peer) = self.peers.get_mut(&from) else {
            self.buffer(from, payload);
            return Ok(());
        };
        let Some(chain) = peer.group.as_ref().filter(|g| header.generation <= g.generation()) else {
            self.buffer(from, payload);
            return Ok(());
        };
        if header.generation < chain.generation() {
            return Err(Rejected::Stale);
        }
        let pending = chain.key_for(header.counter).map_err(|_| Rejected::Stale)?;
        let binding = Binding {
            room_id: &room_id,
            sender: &peer.session,
            recipient: &NOBODY,
        };
        let opened = seal::open(pending.key.expose(), payload.as_bytes(), &binding)?;
        opened.verify(&peer.session, &binding)?;
        let message = Message::decode(opened.body())?;
        if let Some(chain) = peer.group.as_mut() {
            chain.commit(pending);
        }
        let alias = peer.alias.clone();
        self.dispatch(from, alias, message, events)
    }

    fn dispatch(
        &mut self,
        from: MemberId,
        alias: String,
        message: Message,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejected> {
        let sent_at = message.sent_at;
        match message.content {
            Content::Text(text) => events.push(Event::Message {
                from,
                alias,
                text,
                sent_at,
                whisper: false,
            }),
            Content::Goodbye(farewell) => self.remove_peer(from, LeaveReason::Left { farewell }, events),
            Content::Kick(target) => {
                if target == self.session_key {
                    self.end(EndReason::Kicked { by: Some(from) }, true, events);
                } else if let Some(member) = self.peers.values().find(|p| p.session == target).map(|p| p.member) {
                    self.remove_peer(member, LeaveReason::Kicked { by: Some(from) }, events);
                } else {
                    self.mark_departed(target);
                }
            }
            Content::Purge => self.end(EndReason::Purged { by: Some(from) }, true, events),
            Content::AttachmentStart(start) => self.on_attachment_start(from, start, sent_at, false)?,
            Content::AttachmentChunk { id, index, data } => {
                self.on_attachment_chunk(from, alias, (&id, index, &data), false, events)?;
            }
        }
        Ok(())
    }

    /// Starts receiving an attachment from `from`, in the room or as a whisper; it replaces any unfinished one.
    fn on_attachment_start(
        &mut self,
        from: MemberId,
        start: attachment::AttachmentStart,
        sent_at: u64,
        whisper: bool,
    ) -> Result<(), Rejected> {
        let held: usize = self
            .peers
            .values()
            .filter(|p| p.member != from)
            .filter_map(|p| p.incoming.as_ref().map(Incoming::reserved))
            .sum();
        let peer = self.peers.get_mut(&from).ok_or(Rejected::Forged)?;
        peer.incoming = None;
        peer.incoming_whisper = whisper;
        match Incoming::new(start, sent_at, held) {
            Ok(incoming) => peer.incoming = Some(incoming),
            // Too much is in flight from others: this attachment is dropped, through no fault of its sender.
            Err(AttachmentError::Busy) => {}
            Err(_) => return Err(Rejected::Forged),
        }
        Ok(())
    }

    /// Adds one chunk `(id, index, data)`; a chunk that comes another way than its start (room or whisper) is forged.
    fn on_attachment_chunk(
        &mut self,
        from: MemberId,
        alias: String,
        (id, index, data): (&[u8; 16], u32, &[u8]),
        whisper: bool,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejected> {
        let peer = self.peers.get_mut(&from).ok_or(Rejected::Forged)?;
        let Some(incoming) = peer.incoming.as_mut() else {
            return Ok(());
        };
        if peer.incoming_whisper != whisper {
            peer.incoming = None;
            return Err(Rejected::Forged);
        }
        match incoming.push(id, index, data) {
            Ok(None) => {}
            Ok(Some(bytes)) => {
                if let Some(done) = peer.incoming.take() {
                    events.push(Event::Attachment {
                        from,
                        alias,
                        name: done.start.name,
                        mime: done.start.mime,
                        bytes,
                        sent_at: done.sent_at,
                        whisper,
                    });
                }
            }
            Err(_) => {
                peer.incoming = None;
                return Err(Rejected::Forged);
            }
        }
        Ok(())
    }

    /// Drops a member: it never receives another key, and this session starts a new generation for those who remain.
    fn remove_peer(&mut self, member: MemberId, reason: LeaveReason, events: &mut Vec<Event>) {
        let Some(peer) = self.peers.remove(&member) else {
            return;
        };
        self.gone.insert(member);
        self.pending.retain(|(from, _)| *from != member);
        self.mark_departed(peer.session);
        events.push(Event::MemberLeft {
            member,
            alias: peer.alias.clone(),
            reason,
        });
        self.rekey();
    }

    /// Starts a new sender-chain generation and hands it to every member this session still accepts.
    fn rekey(&mut self) {
        let Some(generation) = self.chain.generation().checked_add(1) else {
            return;
        };
        self.chain = SendChain::new(generation, ChainKey::random(&mut *self.rng));
        let members: Vec<MemberId> = self.peers.keys().copied().collect();
        for member in members {
            self.send_handout(member);
        }
    }

    /// Seals one group message and queues it for every member.
    fn broadcast(&mut self, now_ms: u64, content: Content) -> Result<(), SessionError> {
        let payload = self.seal_group(&Message {
            sent_at: now_ms,
            content,
        })?;
        self.outgoing.push(ClientFrame::Broadcast { payload });
        Ok(())
    }

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

    /// Seals one message for the room, or for one member over the pairwise channel, and queues it.
    fn send_content(&mut self, to: Option<MemberId>, sent_at: u64, content: Content) -> Result<(), SessionError> {
        let message = Message { sent_at, content };
        match to {
            None => {
                let payload = self.seal_group(&message)?;
                self.outgoing.push(ClientFrame::Broadcast { payload });
            }
            Some(member) => {
                let body = message.encode().map_err(|_| SessionError::TooLong)?;
                let payload = self.seal_pairwise(member, Kind::Whisper, &body)?;
                self.outgoing.push(ClientFrame::Direct { to: member, payload });
            }
        }
        Ok(())
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
        self.require_active(now_ms)?;
        if to.is_some_and(|member| !self.peers.contains_key(&member)) {
            return Err(SessionError::UnknownMember);
        }
        let mut id = [0u8; 16];
        self.rng.fill_bytes(&mut id);
        let start = attachment::start_for(id, name, mime, bytes)?;
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

    /// Kicks a member: a signed kick every client honours, the relay's kick, and a new generation without it.
    pub fn kick(&mut self, member: MemberId, now_ms: u64) -> Result<Vec<Event>, SessionError> {
        self.require_active(now_ms)?;
        let target = self.peers.get(&member).ok_or(SessionError::UnknownMember)?.session;
        self.broadcast(now_ms, Content::Kick(target))?;
        self.outgoing.push(ClientFrame::Kick { member });
        let mut events = Vec::new();
        self.remove_peer(member, LeaveReason::Kicked { by: self.me }, &mut events);
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
    pub fn leave(&mut self, farewell: &str, now_ms: u64) -> Result<Vec<Event>, SessionError> {
        self.require_active(now_ms)?;
        if farewell.len() > MAX_TEXT_LEN {
            return Err(SessionError::TooLong);
        }
        self.broadcast(now_ms, Content::Goodbye(farewell.to_owned()))?;
        let mut events = Vec::new();
        self.end(EndReason::Left, true, &mut events);
        Ok(events)
    }
}

#[cfg(test)]
mod tests;
