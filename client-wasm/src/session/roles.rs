//! Roles: who owns the room, who may kick, how ownership passes on, and how a newcomer learns the current owner.
//!
//! The descriptor names the owner it was sealed by; every later owner is named by a signed transfer of the owner
//! before it, with a sequence number one above the last. A session keeps the transfers since the descriptor and puts
//! them in its answers, so a newcomer can follow them link by link from the descriptor's owner: no member and no relay
//! can make up or roll forward ownership, and withholding transfers can only show an older owner.

use sanctum_protocol::MemberId;

use super::{Attempt, Event, Phase, Session, SessionError};
use crate::message::{Cause, Content, KickPolicy, MAX_OWNERSHIP_TRANSFERS, Message, continuity_header};
use crate::seal::{Header, Kind, NOBODY};
use crate::sign::{self, SessionKey};

/// The room's roles as this session sees them.
#[derive(Debug, Clone, Default)]
pub(super) struct Roles {
    /// The owner the descriptor names; `None` before this session has a descriptor.
    pub(super) origin: Option<SessionKey>,
    /// Who may kick, from the descriptor.
    pub(super) policy: KickPolicy,
    /// The transfer count the descriptor carries.
    pub(super) base: u32,
    /// The signed transfers since the descriptor, oldest first, each checked against the owner before it.
    pub(super) transfers: Vec<Cause>,
    /// The current owner's session key: the descriptor's, or the last transfer's. It may name a session that is gone,
    /// and then nobody holds the owner's rights.
    pub(super) owner: Option<SessionKey>,
}

impl Roles {
    /// Roles from a descriptor's owner, policy and sequence, with no transfer since.
    pub(super) fn from_descriptor(owner: SessionKey, policy: KickPolicy, base: u32) -> Self {
        Self {
            origin: Some(owner),
            policy,
            base,
            transfers: Vec::new(),
            owner: Some(owner),
        }
    }

    /// The sequence number the next transfer must carry.
    fn next_sequence(&self) -> Option<u32> {
        let len = u32::try_from(self.transfers.len()).ok()?;
        self.base.checked_add(len)?.checked_add(1)
    }

    /// Whether another transfer fits in the answers.
    pub(super) fn can_transfer(&self) -> bool {
        self.transfers.len() < MAX_OWNERSHIP_TRANSFERS && self.next_sequence().is_some()
    }

    /// Whether a signed kick of `target` by `signer` is honoured: the owner may kick anyone; under
    /// [`KickPolicy::Everyone`] any member may kick anyone but the owner.
    pub(super) fn may_kick(&self, signer: &SessionKey, target: &SessionKey) -> bool {
        let is_owner = |key: &SessionKey| self.owner.as_ref() == Some(key);
        is_owner(signer) || (self.policy == KickPolicy::Everyone && !is_owner(target))
    }

    /// Appends one transfer if it is the next link: signed, in this room, by the current owner, with the next sequence
    /// number. Returns the new owner.
    pub(super) fn extend(&mut self, room_id: &[u8; 16], cause: &Cause) -> Option<SessionKey> {
        if !self.can_transfer() {
            return None;
        }
        let to = check_link(room_id, self.owner.as_ref()?, self.next_sequence()?, cause)?;
        self.transfers.push(cause.clone());
        self.owner = Some(to);
        Some(to)
    }

    /// Follows `transfers` from the descriptor's owner and adopts them if their valid prefix is longer than the chain
    /// held now; returns whether the owner changed.
    ///
    /// Every link is signed by the owner before it, so a longer valid chain is a later state of the same room; a chain
    /// broken anywhere counts only up to the break.
    pub(super) fn adopt_longer(&mut self, room_id: &[u8; 16], transfers: &[Cause]) -> bool {
        if transfers.len() <= self.transfers.len() {
            return false;
        }
        let Some(origin) = self.origin else {
            return false;
        };
        let mut candidate = Self::from_descriptor(origin, self.policy, self.base);
        for cause in transfers {
            if candidate.extend(room_id, cause).is_none() {
                break;
            }
        }
        if candidate.transfers.len() <= self.transfers.len() {
            return false;
        }
        let changed = candidate.owner != self.owner;
        *self = candidate;
        changed
    }
}

/// Checks one link: a transfer (a group item's header, signed by `owner` over its body, a transfer with `sequence`),
/// or the continuity of the owner's session into a resumed one (signed by `owner` over the new session key and nonce
/// under the continuity header). Returns the session it names.
fn check_link(room_id: &[u8; 16], owner: &SessionKey, sequence: u32, cause: &Cause) -> Option<SessionKey> {
    if cause.signer != *owner {
        return None;
    }
    if cause.header == continuity_header() {
        let to: SessionKey = cause.body.get(..32)?.try_into().ok()?;
        if cause.body.len() != 64 {
            return None;
        }
        sign::verify(owner, &cause.header, room_id, &NOBODY, &cause.body, &cause.signature).ok()?;
        return Some(to);
    }
    let header = Header::parse_fields(&cause.header).ok()?;
    if header.kind != Kind::Group {
        return None;
    }
    sign::verify(owner, &cause.header, room_id, &NOBODY, &cause.body, &cause.signature).ok()?;
    match Message::decode(&cause.body).ok()?.content {
        Content::Transfer { to, sequence: s } if s == sequence => Some(to),
        _ => None,
    }
}

impl Session {
    /// Sets who may kick in a room this session is about to create; the default is the owner alone.
    pub fn set_kick_policy(&mut self, policy: KickPolicy) -> Result<(), SessionError> {
        if self.phase != Phase::Fresh {
            return Err(SessionError::NotJoined);
        }
        self.roles.policy = policy;
        Ok(())
    }

    /// Who may kick in this room.
    pub fn kick_policy(&self) -> KickPolicy {
        self.roles.policy
    }

    /// Whether this session owns the room.
    pub fn is_owner(&self) -> bool {
        self.roles.owner == Some(self.session_key)
    }

    /// The owner's member id, when the owner is this session or a member it accepts; `None` when the owner is gone.
    pub fn owner(&self) -> Option<MemberId> {
        let owner = self.roles.owner?;
        self.member_of_key(&owner)
    }

    /// The member id of this session or an accepted peer with `key`.
    pub(super) fn member_of_key(&self, key: &SessionKey) -> Option<MemberId> {
        if *key == self.session_key {
            return self.me;
        }
        self.peers
            .values()
            .find(|peer| peer.accepted && peer.session == *key)
            .map(|peer| peer.member)
    }

    /// Whether this session may kick `member`, an accepted member.
    pub fn may_kick(&self, member: MemberId) -> bool {
        self.phase == Phase::Active
            && self
                .peers
                .get(&member)
                .is_some_and(|peer| peer.accepted && self.roles.may_kick(&self.session_key, &peer.session))
    }

    /// Hands ownership to `member`, an accepted member: a signed transfer every client checks against the current
    /// owner. Only the owner may, at most [`MAX_OWNERSHIP_TRANSFERS`] times since the descriptor.
    pub fn transfer(&mut self, member: MemberId, now_ms: u64) -> Result<Vec<Event>, SessionError> {
        self.require_active(now_ms)?;
        let to = self
            .peers
            .get(&member)
            .filter(|peer| peer.accepted)
            .ok_or(SessionError::UnknownMember)?
            .session;
        let mut events = Vec::new();
        self.hand_ownership(to, now_ms, &mut events)?;
        Ok(events)
    }

    /// Broadcasts a signed transfer to `to` and records it.
    pub(super) fn hand_ownership(
        &mut self,
        to: SessionKey,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), SessionError> {
        if !self.is_owner() || !self.roles.can_transfer() {
            return Err(SessionError::NotAllowed);
        }
        let sequence = self.roles.next_sequence().ok_or(SessionError::NotAllowed)?;
        let cause = self.broadcast_cause(now_ms, Content::Transfer { to, sequence })?;
        let room_id = *self.secrets.link().room_id_bytes();
        if self.roles.extend(&room_id, &cause).is_some() {
            events.push(Event::OwnerChanged {
                owner: self.member_of_key(&to),
                by: self.me,
            });
        }
        Ok(())
    }

    /// The earliest-accepted member this session still accepts: the successor an owner names when it leaves.
    pub(super) fn successor(&self) -> Option<SessionKey> {
        self.peers
            .values()
            .filter(|peer| peer.accepted)
            .min_by_key(|peer| peer.since)
            .map(|peer| peer.session)
    }

    /// Acts on a transfer that arrived as a group message from `from`: honoured only as the next link from the
    /// current owner, else refused and shown as an attempt.
    pub(super) fn on_transfer(&mut self, from: MemberId, alias: String, cause: Option<Cause>, events: &mut Vec<Event>) {
        let room_id = *self.secrets.link().room_id_bytes();
        match cause.and_then(|cause| self.roles.extend(&room_id, &cause)) {
            Some(to) => events.push(Event::OwnerChanged {
                owner: self.member_of_key(&to),
                by: Some(from),
            }),
            None => events.push(Event::NotAllowed {
                from,
                alias,
                attempt: Attempt::Transfer,
            }),
        }
    }

    /// Learns the transfers an accepted answer carried, if they make a longer valid chain than this session holds.
    pub(super) fn learn_transfers(&mut self, transfers: &[Cause], events: &mut Vec<Event>) {
        let room_id = *self.secrets.link().room_id_bytes();
        if self.roles.adopt_longer(&room_id, transfers) {
            let owner = self.roles.owner.and_then(|key| self.member_of_key(&key));
            events.push(Event::OwnerChanged { owner, by: None });
        }
    }

    /// Whether a signed kick of `target` by `signer` is honoured.
    pub(super) fn kick_allowed(&self, signer: &SessionKey, target: &SessionKey) -> bool {
        self.roles.may_kick(signer, target)
    }

    /// Tells the app that the owner is no longer among the members when `departed` was the owner's session.
    pub(super) fn owner_departed(&self, departed: &SessionKey, events: &mut Vec<Event>) {
        if self.roles.owner.as_ref() == Some(departed) {
            events.push(Event::OwnerChanged { owner: None, by: None });
        }
    }
}

#[cfg(test)]
mod tests;
