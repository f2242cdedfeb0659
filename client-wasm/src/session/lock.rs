//! Remove and lock: the owner moves the remaining members to new room secrets over their pairwise channels and hands
//! the relay the new verifier, so the old link and password stop working.

use sanctum_protocol::{ClientFrame, Descriptor, MemberId};
use zeroize::Zeroizing;

use super::items::{ItemKey, Rejected};
use super::roles::Roles;
use super::{Attempt, Event, Session, SessionError};
use crate::link::{LinkSecret, RoomLink};
use crate::message::{DescriptorBody, LockBody};
use crate::schedule::{AuthTokenSecret, ChannelSalt, RoomKey, RoomSecrets};
use crate::seal::{Header, Kind, NOBODY};

impl Session {
    /// A fresh link for this room, to lock it with: the same room id and expiry, and a new random link secret.
    ///
    /// The app runs the key schedule on it with the new password (the slow Argon2id step) and passes the result to
    /// [`Session::lock`].
    pub fn fresh_link(&mut self) -> RoomLink {
        let mut secret = Zeroizing::new([0u8; 32]);
        self.rng.fill_bytes(&mut secret[..]);
        let link = self.secrets.link();
        RoomLink::from_parts(
            *link.room_id_bytes(),
            LinkSecret::from_bytes(*secret),
            link.expires_at(),
        )
    }

    /// Removes `kick` (when given) and locks the room: each remaining member this session has a pairwise channel with
    /// gets `secrets` over it in a signed lock item, and the relay gets the new verifier and the descriptor sealed under
    /// the new room key. Only the owner may; `secrets` must keep this room's id and expiry and change its link secret.
    ///
    /// The session itself moves to `secrets` at once, so its next hellos, answers and descriptor use the new room key.
    /// A newcomer whose hello it answered before the lock gets its lock item once its confirm arrives.
    pub fn lock(
        &mut self,
        kick: Option<MemberId>,
        secrets: &RoomSecrets,
        now_ms: u64,
    ) -> Result<Vec<Event>, SessionError> {
        self.require_active(now_ms)?;
        if !self.is_owner() {
            return Err(SessionError::NotAllowed);
        }
        let (old, new) = (self.secrets.link(), secrets.link());
        if new.room_id_bytes() != old.room_id_bytes()
            || new.expires_at() != old.expires_at()
            || new.secret() == old.secret()
        {
            return Err(SessionError::BadLock);
        }
        let mut events = match kick {
            Some(member) => self.kick(member, now_ms)?,
            None => Vec::new(),
        };
        let body = lock_body(secrets);
        // A peer not yet accepted here was taken in from its answer and sent a confirm under the old key: it accepts
        // this session on that confirm, which reaches it before the lock item, so the lock item opens for it too.
        let members: Vec<MemberId> = self.peers.keys().copied().collect();
        for member in members {
            let payload = self.seal_pairwise(member, Kind::Lock, &body)?;
            self.outgoing.push(ClientFrame::Direct { to: member, payload });
        }
        let locker = self.session_key;
        self.move_to(secrets.duplicate(), locker);
        let descriptor = self.seal_descriptor()?;
        self.outgoing.push(ClientFrame::Lock {
            verifier: self.secrets.verifier(),
            descriptor,
        });
        events.push(Event::Locked { by: self.me });
        Ok(events)
    }

    /// Hands the current secrets to `member`, just accepted from a hello answered before the last lock, if that lock
    /// is this session's and still current: it owns the room as the descriptor the lock sealed names it, with no
    /// transfer since.
    pub(super) fn hand_lock(&mut self, member: MemberId) {
        if !self.is_owner() || self.roles.origin != Some(self.session_key) || !self.roles.transfers.is_empty() {
            return;
        }
        let body = lock_body(&self.secrets);
        if let Ok(payload) = self.seal_pairwise(member, Kind::Lock, &body) {
            self.outgoing.push(ClientFrame::Direct { to: member, payload });
        }
    }

    /// Seals this room's descriptor under the current room key, naming this session as the owner with the transfer
    /// count so far.
    pub(super) fn seal_descriptor(&mut self) -> Result<Descriptor, SessionError> {
        let body = DescriptorBody {
            name: self.room_name.clone(),
            expires_at: self.secrets.link().expires_at(),
            owner: self.session_key,
            policy: self.roles.policy,
            sequence: self.roles.base,
        }
        .encode()
        .map_err(|_| SessionError::BadRoomName)?;
        let sealed = self.seal_item(
            &ItemKey::Room,
            Header::new(Kind::Descriptor, 0, 0),
            &NOBODY,
            &NOBODY,
            &body,
        )?;
        Descriptor::new(sealed.into_bytes()).map_err(|_| SessionError::BadRoomName)
    }

    /// Moves to new room secrets after a lock by `locker`, the owner: the new descriptor names the locker with the
    /// transfer count so far, so the transfers before it are no longer needed.
    ///
    /// Hellos answered under the old secrets stay pending, with the old secrets beside them: their confirms are sealed
    /// under the old room key, and their senders salted their channels with the old channel salt. Those answered
    /// before an earlier lock are dropped.
    fn move_to(&mut self, secrets: RoomSecrets, locker: [u8; 32]) {
        let held = u32::try_from(self.roles.transfers.len()).unwrap_or(u32::MAX);
        let base = self.roles.base.saturating_add(held);
        self.roles = Roles::from_descriptor(locker, self.roles.policy, base);
        let old = std::mem::replace(&mut self.secrets, secrets);
        self.hellos.retain(|p| !p.before_lock);
        for pending in &mut self.hellos {
            pending.before_lock = true;
        }
        self.previous = (!self.hellos.is_empty()).then_some(old);
    }

    /// A lock from `from`: honoured only from the current owner, else refused and shown.
    pub(super) fn on_lock(&mut self, from: MemberId, item: &[u8], events: &mut Vec<Event>) -> Result<(), Rejected> {
        let body = self.open_pairwise(from, item, Kind::Lock)?;
        let body = LockBody::decode(&body)?;
        let peer = self.peers.get(&from).ok_or(Rejected::Forged)?;
        let (signer, alias) = (peer.session, peer.alias.clone());
        if self.roles.owner != Some(signer) {
            events.push(Event::NotAllowed {
                from,
                alias,
                attempt: Attempt::Lock,
            });
            return Ok(());
        }
        let link = self.secrets.link();
        let link = RoomLink::from_parts(
            *link.room_id_bytes(),
            LinkSecret::from_bytes(*body.link_secret),
            link.expires_at(),
        );
        let secrets = RoomSecrets::from_parts(
            link,
            RoomKey::from_bytes(*body.room_key),
            ChannelSalt::from_bytes(*body.channel_salt),
            AuthTokenSecret::from_bytes(*body.auth_token),
        );
        self.move_to(secrets, signer);
        events.push(Event::Locked { by: Some(from) });
        Ok(())
    }
}

/// The body of a lock item handing `secrets` over.
fn lock_body(secrets: &RoomSecrets) -> Zeroizing<Vec<u8>> {
    LockBody {
        link_secret: Zeroizing::new(*secrets.link().secret().expose()),
        room_key: Zeroizing::new(*secrets.room_key().expose()),
        channel_salt: Zeroizing::new(*secrets.channel_salt().expose()),
        auth_token: Zeroizing::new(*secrets.auth_token_secret().expose()),
    }
    .encode()
}

#[cfg(test)]
mod tests;
