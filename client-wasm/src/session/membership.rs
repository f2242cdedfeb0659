//! Membership: hellos, answers and hand-outs, who is accepted, and what happens when a member departs.

use std::collections::BTreeMap;

use sanctum_protocol::{ClientFrame, Descriptor, MemberId, Payload};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::items::Rejected;
use super::{EndReason, Event, LeaveReason, MemberInfo, Peer, Phase, Session, SessionError};
use crate::chain::{ChainKey, RecvChain, SendChain};
use crate::label;
use crate::message::{
    Announce, AnswerBody, Cause, ConfirmBody, Content, DescriptorBody, HandoutBody, HelloBody, Message,
    SESSION_NONCE_LEN,
};
use crate::pairwise::{self, PeerKeys};
use crate::seal::{self, Header, Kind, NOBODY};
use crate::sign::{self, CheckedKey, SessionKey};
use crate::text::{AliasForms, Skeleton};

/// Most session keys a session remembers as accepted, present or departed; once full it accepts no one new.
/// Each of them proved liveness by signing a fresh challenge, so reaching it takes that many real sessions.
pub const MAX_KNOWN_SESSIONS: usize = 65_536;
/// Most hellos answered and waiting for their confirm; the oldest is forgotten first.
pub const MAX_PENDING_HELLOS: usize = 64;

/// A hello this session answered, waiting for the newcomer to sign back the challenge.
pub(super) struct PendingHello {
    pub(super) announce: Announce,
    /// The hello's signer, `announce.session`, as checked when its signature was.
    pub(super) key: CheckedKey,
    pub(super) challenge: [u8; SESSION_NONCE_LEN],
    /// The hello's verified claim that it continues a session this client accepted, as an ownership-chain link.
    pub(super) continues: Option<Cause>,
    /// Whether this session answered it under the room secrets before the last lock: its confirm is sealed under the
    /// old room key, and the newcomer salted its channel with the old channel salt.
    pub(super) before_lock: bool,
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

pub(super) fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

impl Session {
    /// The members this session accepts, in member-id order; exactly the sessions that receive its keys.
    pub fn members(&self) -> Vec<MemberInfo> {
        let forms = self.alias_forms();
        self.peers
            .values()
            .filter(|peer| peer.accepted)
            .map(|peer| self.info_with(peer, &forms))
            .collect()
    }

    /// Compares aliases by `skeleton` from now on: the UTS #39 confusable skeleton, whose tables the core does not
    /// link (`sanctum_lookalike::skeleton` natively; the browser's look-alike module, loaded once the room is joined).
    /// Until then, aliases equal but for case are the only ones flagged.
    pub fn set_skeleton(&mut self, skeleton: Skeleton) {
        self.skeleton = skeleton;
    }

    /// Whether an accepted member's alias looks like this session's own, by the rule of [`MemberInfo::duplicate_alias`].
    pub fn own_alias_looks_alike(&self) -> bool {
        let own = AliasForms::new(&self.alias, self.skeleton);
        self.peers
            .values()
            .filter(|peer| peer.accepted)
            .any(|peer| own.looks_like(&AliasForms::new(&peer.alias, self.skeleton)))
    }

    /// This session's alias forms and every peer's, each computed once for a comparison of the whole list.
    fn alias_forms(&self) -> (AliasForms, BTreeMap<MemberId, AliasForms>) {
        let own = AliasForms::new(&self.alias, self.skeleton);
        let peers = self
            .peers
            .values()
            .map(|peer| (peer.member, AliasForms::new(&peer.alias, self.skeleton)))
            .collect();
        (own, peers)
    }

    fn info(&self, peer: &Peer) -> MemberInfo {
        self.info_with(peer, &self.alias_forms())
    }

    /// What the app shows about `peer`, flagged when its alias looks like this session's or another peer's.
    fn info_with(&self, peer: &Peer, (own, peers): &(AliasForms, BTreeMap<MemberId, AliasForms>)) -> MemberInfo {
        // The peer may not be listed yet: it is compared as it is, against every other listed peer.
        let form = match peers.get(&peer.member) {
            Some(form) => form,
            None => &AliasForms::new(&peer.alias, self.skeleton),
        };
        let duplicate = own.looks_like(form)
            || peers
                .iter()
                .any(|(&member, other)| member != peer.member && other.looks_like(form));
        MemberInfo {
            member: peer.member,
            alias: peer.alias.clone(),
            fingerprint: peer.fingerprint.clone(),
            duplicate_alias: duplicate,
            owner: self.roles.owner == Some(peer.session),
            kickable: self.phase == super::Phase::Active && self.roles.may_kick(&self.session_key, &peer.session),
        }
    }

    pub(super) fn on_joined(
        &mut self,
        member: MemberId,
        relay_expiry: u64,
        descriptor: &Descriptor,
        events: &mut Vec<Event>,
    ) {
        let Some(body) = self.open_descriptor(descriptor.as_bytes()) else {
            self.end(EndReason::Unverifiable, true, events);
            return;
        };
        self.roles = super::roles::Roles::from_descriptor(body.owner, body.policy, body.sequence);
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

    /// Opens a descriptor under the room key and checks that the owner it names signed it.
    pub(super) fn open_descriptor(&self, item: &[u8]) -> Option<DescriptorBody> {
        let binding = self.binding(&NOBODY, &NOBODY);
        let opened = seal::open(self.secrets.room_key().expose(), item, &binding).ok()?;
        if opened.header != Header::new(Kind::Descriptor, 0, 0) {
            return None;
        }
        let body = DescriptorBody::decode(opened.body()).ok()?;
        opened.verify(&body.owner, &binding).ok()?;
        Some(body)
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
        let body = HelloBody {
            announce: self.announce(),
            continuity: self.hello_continuity(),
        }
        .encode()
        .map_err(|_| SessionError::BadAlias(crate::AliasError::TooLong))?;
        self.seal_room_item(Kind::Hello, &NOBODY, &body)
    }

    /// Answers a hello with a fresh challenge; the newcomer is accepted only once it signs that challenge back.
    ///
    /// Nothing in the hello itself is fresh to this session, so a hello proves nothing: the relay could replay one
    /// recorded from a session that left long ago, under any member id it likes.
    pub(super) fn on_hello(&mut self, from: MemberId, item: &[u8], _events: &mut Vec<Event>) -> Result<(), Rejected> {
        let opened = self.open_room_item(item, Kind::Hello, &NOBODY)?;
        let HelloBody {
            announce: hello,
            continuity,
        } = HelloBody::decode(opened.body())?;
        let key = self.verify_room_item(&opened, &hello.session, &NOBODY)?;
        let continues = match &continuity {
            Some(claim) => self.check_continuity(claim, &hello.session, &hello.nonce)?,
            None => None,
        };
        if hello.member != from
            || hello.session == self.session_key
            || self.peers.contains_key(&from)
            || self.seen.contains_key(&hello.session)
        {
            return Err(Rejected::Forged);
        }
        check_alias(&hello.alias)?;
        let mut challenge = [0u8; SESSION_NONCE_LEN];
        self.rng.fill_bytes(&mut challenge);
        let answer = AnswerBody {
            announce: self.announce(),
            in_reply_to: hello.nonce,
            challenge,
            transfers: self.roles.transfers.clone(),
        };
        let body = answer.encode().map_err(|_| Rejected::Forged)?;
        let payload = self
            .seal_room_item(Kind::Answer, &hello.session, &body)
            .map_err(|_| Rejected::Forged)?;
        self.outgoing.push(ClientFrame::Direct { to: from, payload });
        self.hellos.retain(|p| p.announce.session != hello.session);
        if self.hellos.len() >= MAX_PENDING_HELLOS {
            self.hellos.pop_front();
        }
        self.hellos.push_back(PendingHello {
            announce: hello,
            key,
            challenge,
            continues,
            before_lock: false,
        });
        self.forget_previous_when_done();
        Ok(())
    }

    /// Accepts an answerer, which signed this session's own fresh nonce, and signs its challenge back.
    pub(super) fn on_answer(&mut self, from: MemberId, item: &[u8], events: &mut Vec<Event>) -> Result<(), Rejected> {
        let my_key = self.session_key;
        let opened = self.open_room_item(item, Kind::Answer, &my_key)?;
        let answer = AnswerBody::decode(opened.body())?;
        let key = self.verify_room_item(&opened, &answer.announce.session, &my_key)?;
        let fresh: bool = answer.in_reply_to.ct_eq(&self.nonce).into();
        if !fresh
            || answer.announce.member != from
            || Some(from) == self.me
            || self.peers.contains_key(&from)
            || self.seen.contains_key(&answer.announce.session)
        {
            return Err(Rejected::Forged);
        }
        let answerer = answer.announce.session;
        // A hello of the answerer that this session answered too (both joined at the same moment) stays pending: its
        // confirm, still on its way, then finds the answerer accepted and is dropped without a report.
        // The answerer proved it is live, but it accepts this session only on the confirm: until its hand-out shows
        // it did, it is neither shown nor handed this session's chain, so nothing either side sends is lost between.
        self.accept(answer.announce, key, false, false, events)?;
        self.learn_transfers(&answer.transfers, events);
        self.continue_ownership(events);
        let confirm = ConfirmBody {
            in_reply_to: answer.challenge,
        };
        if let Ok(payload) = self.seal_room_item(Kind::Confirm, &answerer, &confirm.encode()) {
            self.outgoing.push(ClientFrame::Direct { to: from, payload });
        }
        Ok(())
    }

    /// Accepts a newcomer whose confirm signs the challenge this session put in its answer.
    pub(super) fn on_confirm(&mut self, from: MemberId, item: &[u8], events: &mut Vec<Event>) -> Result<(), Rejected> {
        let confirmed = self.confirm(from, item, events);
        self.forget_previous_when_done();
        confirmed
    }

    fn confirm(&mut self, from: MemberId, item: &[u8], events: &mut Vec<Event>) -> Result<(), Rejected> {
        let my_key = self.session_key;
        let (opened, before_lock) = match self.open_room_item(item, Kind::Confirm, &my_key) {
            Ok(opened) => (opened, false),
            Err(rejected) => (self.open_confirm_before_lock(item).ok_or(rejected)?, true),
        };
        let confirm = ConfirmBody::decode(opened.body())?;
        let at = self
            .hellos
            .iter()
            .position(|p| {
                p.announce.member == from
                    && p.before_lock == before_lock
                    && bool::from(p.challenge.ct_eq(&confirm.in_reply_to))
                    && opened.verify_checked(&p.key, &self.binding(&NOBODY, &my_key)).is_ok()
            })
            .ok_or(Rejected::Forged)?;
        let Some(pending) = self.hellos.remove(at) else {
            return Err(Rejected::Forged);
        };
        // Two members that joined at the same moment each answer the other's hello and take the other in from its
        // answer; the confirm that follows then admits that peer.
        if let Some(peer) = self.peers.get(&from) {
            if peer.session != pending.announce.session {
                return Err(Rejected::Forged);
            }
            if peer.accepted {
                return Err(Rejected::Ignored);
            }
            self.admit(from, events);
            return Ok(());
        }
        if self.seen.contains_key(&pending.announce.session) {
            return Err(Rejected::Forged);
        }
        match pending.continues {
            Some(cause) => {
                // Shown as the member reconnecting, not as a stranger joining.
                self.accept(pending.announce, pending.key, true, before_lock, &mut Vec::new())?;
                self.send_handout(from, None);
                self.on_continued(from, &cause, events);
            }
            None => {
                self.accept(pending.announce, pending.key, true, before_lock, events)?;
                self.send_handout(from, None);
            }
        }
        if before_lock {
            // The newcomer still holds the old secrets: the owner that locked hands it the lock after the hand-out.
            self.hand_lock(from);
        }
        self.flush_pending(from, events);
        Ok(())
    }

    /// Admits a peer this session took in from its answer: it is shown, and handed this session's chain.
    fn admit(&mut self, member: MemberId, events: &mut Vec<Event>) {
        let Some(peer) = self.peers.get_mut(&member) else {
            return;
        };
        peer.accepted = true;
        self.acceptances += 1;
        peer.since = self.acceptances;
        let info = self.peers.get(&member).map(|peer| self.info(peer));
        if let Some(info) = info {
            // A resumed session's answerers were in the room before the refresh: present, not joining.
            events.push(if self.resumed {
                Event::MemberPresent(info)
            } else {
                Event::MemberAccepted(info)
            });
        }
        self.send_handout(member, None);
    }

    /// Takes in the session `announce` names, whose key `key` is, as checked when its hello or answer was verified,
    /// with a pairwise channel salted with the current channel salt, or with the one before the last lock for a hello
    /// answered before it.
    fn accept(
        &mut self,
        announce: Announce,
        key: CheckedKey,
        accepted: bool,
        before_lock: bool,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejected> {
        if self.seen.len() >= MAX_KNOWN_SESSIONS || key.bytes() != &announce.session {
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
        let salt = match (&self.previous, before_lock) {
            (Some(previous), true) => previous.channel_salt(),
            _ => self.secrets.channel_salt(),
        };
        let channel = pairwise::channel(salt, &self.dh_secret, me, them).map_err(|_| Rejected::Forged)?;
        let alias = check_alias(&announce.alias)?;
        if accepted {
            self.acceptances += 1;
        }
        let peer = Peer {
            member: announce.member,
            session: *key.bytes(),
            key,
            fingerprint: fingerprint(&announce.session, &announce.dh),
            alias,
            channel,
            group: None,
            incoming: None,
            incoming_whisper: false,
            incoming_progress: 0,
            accepted,
            since: self.acceptances,
        };
        self.seen.insert(peer.session, peer.member);
        self.fingerprints.insert(peer.session, peer.fingerprint.clone());
        let info = self.info(&peer);
        self.peers.insert(peer.member, peer);
        if accepted {
            events.push(Event::MemberAccepted(info));
        }
        Ok(())
    }

    /// Hands this session's current sender-chain position to one peer over their pairwise channel, with the signed
    /// item that started this generation when there is one.
    fn send_handout(&mut self, to: MemberId, cause: Option<&Cause>) {
        let (counter, key) = self.chain.position();
        let body = HandoutBody {
            generation: self.chain.generation(),
            counter,
            chain_key: Zeroizing::new(*key.expose()),
            cause: cause.cloned(),
        };
        let Ok(body) = body.encode() else { return };
        if let Ok(payload) = self.seal_pairwise(to, Kind::Handout, &body) {
            self.outgoing.push(ClientFrame::Direct { to, payload });
        }
    }

    pub(super) fn on_handout(&mut self, from: MemberId, item: &[u8], events: &mut Vec<Event>) -> Result<(), Rejected> {
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
        // A peer taken in from its answer hands out its chain once it accepted this session: now both sides have.
        if !peer.accepted {
            self.admit(from, events);
        }
        if let Some(cause) = handout.cause {
            self.apply_cause(cause, events);
        }
        if self.phase == Phase::Active {
            self.flush_pending(from, events);
        }
        Ok(())
    }

    /// Honours the signed goodbye or kick a hand-out carried, if this session missed it: the relay may have withheld
    /// it from this member alone. A cause that does not verify under a session this room accepted is ignored.
    fn apply_cause(&mut self, cause: Cause, events: &mut Vec<Event>) {
        let Some(&signer) = self.seen.get(&cause.signer) else {
            return;
        };
        let Ok(header) = Header::parse_fields(&cause.header) else {
            return;
        };
        if header.kind != Kind::Group
            || sign::verify(
                &cause.signer,
                &cause.header,
                self.secrets.link().room_id_bytes(),
                &NOBODY,
                &cause.body,
                &cause.signature,
            )
            .is_err()
        {
            return;
        }
        let Ok(message) = Message::decode(&cause.body) else {
            return;
        };
        match message.content {
            Content::Goodbye(farewell) if self.peers.contains_key(&signer) => {
                self.remove_peer(signer, LeaveReason::Left { farewell }, Some(cause), events);
            }
            // A kick its signer had no right to make is refused as a cause; the hand-out itself still counts.
            Content::Kick(target) if !self.kick_allowed(&cause.signer, &target) => {}
            Content::Kick(target) if target == self.session_key => {
                self.end(EndReason::Kicked { by: signer }, true, events);
            }
            Content::Kick(target) => {
                if let Some(member) = self.peers.values().find(|p| p.session == target).map(|p| p.member) {
                    self.remove_peer(member, LeaveReason::Kicked { by: signer }, Some(cause), events);
                }
            }
            _ => {}
        }
    }

    /// Drops a member: it never receives another key, and this session starts a new generation for those who remain,
    /// handing each of them `cause`, the signed goodbye or kick behind it (none when only the relay reported it).
    pub(super) fn remove_peer(
        &mut self,
        member: MemberId,
        reason: LeaveReason,
        cause: Option<Cause>,
        events: &mut Vec<Event>,
    ) {
        let Some(peer) = self.peers.remove(&member) else {
            return;
        };
        self.gone.insert(member);
        self.pending.retain(|(from, _)| *from != member);
        if !peer.accepted {
            // Never shown and never handed a key: nothing to tell, nothing to replace.
            return;
        }
        events.push(Event::MemberLeft {
            member,
            alias: peer.alias.clone(),
            reason,
        });
        self.owner_departed(&peer.session, events);
        self.rekey(cause.as_ref());
    }

    /// Ends a peer's session in this view because a new session of the same member continues it: it receives no more
    /// keys and the rest get a new generation, as on a goodbye, but the app shows the reconnect, not a departure.
    pub(super) fn supersede(&mut self, member: MemberId) {
        let Some(peer) = self.peers.remove(&member) else {
            return;
        };
        self.gone.insert(member);
        self.pending.retain(|(from, _)| *from != member);
        if peer.accepted {
            self.rekey(None);
        }
    }

    /// Forgets an answered hello from a session a signed kick named, so a confirm can no longer get it accepted.
    pub(super) fn forget_hello(&mut self, session: &SessionKey) {
        self.hellos.retain(|p| p.announce.session != *session);
        self.forget_previous_when_done();
    }

    /// Opens a confirm sealed under the room key before the last lock, while hellos answered under it still wait.
    fn open_confirm_before_lock(&self, item: &[u8]) -> Option<seal::Opened> {
        let previous = self.previous.as_ref()?;
        let binding = self.binding(&NOBODY, &self.session_key);
        let opened = seal::open(previous.room_key().expose(), item, &binding).ok()?;
        (opened.header == Header::new(Kind::Confirm, 0, 0)).then_some(opened)
    }

    /// Drops the secrets from before the last lock once no hello answered under them waits any more.
    pub(super) fn forget_previous_when_done(&mut self) {
        if !self.hellos.iter().any(|p| p.before_lock) {
            self.previous = None;
        }
    }

    /// Starts a new sender-chain generation and hands it to every member this session still accepts.
    pub(super) fn rekey(&mut self, cause: Option<&Cause>) {
        let Some(generation) = self.chain.generation().checked_add(1) else {
            return;
        };
        self.chain = SendChain::new(generation, ChainKey::random(&mut *self.rng));
        let members: Vec<MemberId> = self.peers.values().filter(|p| p.accepted).map(|p| p.member).collect();
        for member in members {
            self.send_handout(member, cause);
        }
    }
}

/// An alias as members show it: refused by the same rule this session's own alias follows.
fn check_alias(alias: &str) -> Result<String, Rejected> {
    crate::text::check_alias(alias)
        .map(str::to_owned)
        .map_err(|_| Rejected::Forged)
}

#[cfg(test)]
mod tests;
