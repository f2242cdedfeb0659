//! Key continuity on refresh: a session resumed from a blob proves, with the previous session's signing key, that it
//! continues that session, and members who had accepted the previous key say so instead of showing a stranger.

use rand_core::CryptoRngCore;
use sanctum_protocol::MemberId;

use super::{Event, Session, SessionError};
use crate::message::{Cause, Continuity, continuity_header};
use crate::resume::Resumed;
use crate::seal::NOBODY;
use crate::sign::{self, SessionKey};

impl Session {
    /// Starts a new session from a resume blob's contents: fresh keys, and, when the blob holds the previous session's
    /// signing key, a signed claim that this session continues it, which its hello carries.
    ///
    /// The previous key signs once, here, and is dropped (and wiped) at once.
    pub fn resume(resumed: Resumed, rng: impl CryptoRngCore + Send + 'static) -> Result<Self, SessionError> {
        let mut session = Self::new(&resumed.secrets, &resumed.alias, rng)?;
        if let Some(previous) = resumed.previous {
            let body = [&session.session_key[..], &session.nonce[..]].concat();
            let header = continuity_header();
            let room_id = session.secrets.link().room_id_bytes();
            session.continuity = Some(Cause {
                signer: previous.verifying_key().to_bytes(),
                header,
                signature: sign::sign(&previous, &header, room_id, &NOBODY, &body),
                body,
            });
            session.resumed = true;
        }
        Ok(session)
    }

    /// The continuity claim this session's hello carries, if it was resumed.
    pub(super) fn hello_continuity(&self) -> Option<Continuity> {
        self.continuity.as_ref().map(|cause| Continuity {
            previous: cause.signer,
            signature: cause.signature,
        })
    }

    /// Checks a hello's continuity claim: the previous key signed this session key and nonce. Returns the claim in
    /// the form of a link of the ownership chain when it verifies and names a session this client accepted before;
    /// a claim about a session it never accepted means nothing to it.
    pub(super) fn check_continuity(
        &self,
        continuity: &Continuity,
        session: &SessionKey,
        nonce: &[u8; 32],
    ) -> Result<Option<Cause>, super::items::Rejected> {
        let body = [&session[..], &nonce[..]].concat();
        let header = continuity_header();
        let room_id = self.secrets.link().room_id_bytes();
        sign::verify(
            &continuity.previous,
            &header,
            room_id,
            &NOBODY,
            &body,
            &continuity.signature,
        )
        .map_err(|_| super::items::Rejected::Forged)?;
        if continuity.previous == *session || !self.seen.contains_key(&continuity.previous) {
            return Ok(None);
        }
        Ok(Some(Cause {
            signer: continuity.previous,
            header,
            body,
            signature: continuity.signature,
        }))
    }

    /// A newcomer `member` that continues a session this client accepted was just accepted: shown as that member
    /// reconnected with a new key, the previous session ends in this view (a new generation for the rest, as on a
    /// goodbye), and an owner's role moves to the new key.
    pub(super) fn on_continued(&mut self, member: MemberId, cause: &Cause, events: &mut Vec<Event>) {
        let previous = cause.signer;
        let old_fingerprint = self.fingerprints.get(&previous).cloned().unwrap_or_default();
        let Some(peer) = self.peers.get(&member) else {
            return;
        };
        events.push(Event::Reconnected {
            member,
            previous: self.seen.get(&previous).copied(),
            alias: peer.alias.clone(),
            old_fingerprint,
            new_fingerprint: peer.fingerprint.clone(),
        });
        if let Some(old) = self.peers.values().find(|p| p.session == previous).map(|p| p.member) {
            self.supersede(old);
        }
        self.claim_continued_ownership(cause, events);
    }

    /// Moves the owner's role along a continuity link, if the link's previous session is the owner.
    pub(super) fn claim_continued_ownership(&mut self, cause: &Cause, events: &mut Vec<Event>) {
        if self.roles.owner != Some(cause.signer) {
            return;
        }
        let room_id = *self.secrets.link().room_id_bytes();
        if let Some(to) = self.roles.extend(&room_id, cause) {
            events.push(Event::OwnerChanged {
                owner: self.member_of_key(&to),
                by: None,
            });
        }
    }

    /// After learning the owner from answers: a resumed session whose previous session owns the room takes the role
    /// with its own continuity link, as the members that accept it do.
    pub(super) fn continue_ownership(&mut self, events: &mut Vec<Event>) {
        if let Some(cause) = self.continuity.clone() {
            self.claim_continued_ownership(&cause, events);
        }
    }
}

#[cfg(test)]
mod tests;
