//! Membership: hellos, answers and hand-outs, who is accepted, and what happens when a member departs.

use sanctum_protocol::{ClientFrame, Descriptor, MemberId, Payload};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::items::Rejected;
use super::{EndReason, Event, LeaveReason, MemberInfo, Peer, Phase, Session, SessionError};
use crate::chain::{ChainKey, RecvChain, SendChain};
use crate::label;
use crate::message::{Announce, AnswerBody, DescriptorBody, HandoutBody, MAX_DEPARTED_LISTED};
use crate::pairwise::{self, PeerKeys};
use crate::seal::{self, Header, Kind, NOBODY};
use crate::sign::SessionKey;

/// Most session keys a session remembers, accepted or departed; once full it accepts no one new, so that a hostile
/// relay working with someone who holds the room key cannot grow its memory without bound through answers' departed
/// lists. An honest room stays far below it: each answer lists at most 512 keys, and they are mostly the same ones.
pub const MAX_KNOWN_SESSIONS: usize = 65_536;

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

pub(super) fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

impl Session {
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

    pub(super) fn on_joined(
        &mut self,
        member: MemberId,
        relay_expiry: u64,
        descriptor: &Descriptor,
        events: &mut Vec<Event>,
    ) {
        let opened = seal::open(
            self.secrets.room_key().expose(),
            descriptor.as_bytes(),
            &self.binding(&NOBODY, &NOBODY),
        )
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

    pub(super) fn on_hello(&mut self, from: MemberId, item: &[u8], events: &mut Vec<Event>) -> Result<(), Rejected> {
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

    pub(super) fn on_answer(&mut self, from: MemberId, item: &[u8], events: &mut Vec<Event>) -> Result<(), Rejected> {
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

    pub(super) fn mark_departed(&mut self, key: SessionKey) {
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
        self.flush_pending(from, events);
        Ok(())
    }

    /// Drops a member: it never receives another key, and this session starts a new generation for those who remain.
    pub(super) fn remove_peer(&mut self, member: MemberId, reason: LeaveReason, events: &mut Vec<Event>) {
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
}

#[cfg(test)]
mod tests;
