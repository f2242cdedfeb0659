//! Sealing and opening a session's items: one binding, one seal, and the routing of every relayed item by its kind.

use sanctum_protocol::{ClientFrame, MemberId, Payload};
use zeroize::Zeroizing;

use super::{Event, Phase, Session, SessionError, Timing};
use crate::chain::MessageKey;
use crate::message::{Cause, Content, Message};
use crate::seal::{self, Binding, Header, Kind, NOBODY};
use crate::sign::{self, CheckedKey, SessionKey};

/// Most relayed items held while waiting for their sender's hello or hand-out, across all senders.
pub const MAX_PENDING_ITEMS: usize = 64;
/// Most relayed items held for one sender.
pub const MAX_PENDING_PER_MEMBER: usize = 32;

/// Why an incoming item was dropped; stale items from the pending buffer are dropped without a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejected {
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

/// The key an item is sealed under.
pub(super) enum ItemKey {
    /// The room key: the descriptor, hellos and answers.
    Room,
    /// One step of a pairwise or sender chain.
    Chain(MessageKey),
}

impl Session {
    /// What an item of this room from `sender` to `recipient` is bound to.
    pub(super) fn binding<'a>(&'a self, sender: &'a SessionKey, recipient: &'a SessionKey) -> Binding<'a> {
        Binding {
            room_id: self.secrets.link().room_id_bytes(),
            sender,
            recipient,
        }
    }

    /// Seals one item, signed by this session, ready for a frame.
    pub(super) fn seal_item(
        &mut self,
        key: &ItemKey,
        header: Header,
        sender: &SessionKey,
        recipient: &SessionKey,
        body: &[u8],
    ) -> Result<Payload, SessionError> {
        let binding = Binding {
            room_id: self.secrets.link().room_id_bytes(),
            sender,
            recipient,
        };
        let key = match key {
            ItemKey::Room => self.secrets.room_key().expose(),
            ItemKey::Chain(key) => key.expose(),
        };
        let item = seal::seal(key, header, &binding, body, Some(&self.signing), &mut *self.rng)
            .map_err(|_| SessionError::TooLong)?;
        Payload::new(item).map_err(|_| SessionError::TooLong)
    }

    /// Seals a hello or an answer under the room key; such items carry no generation or counter.
    pub(super) fn seal_room_item(
        &mut self,
        kind: Kind,
        recipient: &SessionKey,
        body: &[u8],
    ) -> Result<Payload, SessionError> {
        self.seal_item(&ItemKey::Room, Header::new(kind, 0, 0), &NOBODY, recipient, body)
    }

    /// Seals an item for one peer under the next key of this session's direction of their pairwise channel.
    pub(super) fn seal_pairwise(&mut self, to: MemberId, kind: Kind, body: &[u8]) -> Result<Payload, SessionError> {
        let peer = self.peers.get_mut(&to).ok_or(SessionError::UnknownMember)?;
        let (counter, key) = peer.channel.send.next().map_err(|_| SessionError::Exhausted)?;
        let recipient = peer.session;
        let sender = self.session_key;
        self.seal_item(
            &ItemKey::Chain(key),
            Header::new(kind, 0, counter),
            &sender,
            &recipient,
            body,
        )
    }

    /// Seals a group message under the next key of this session's sender chain.
    pub(super) fn seal_group(&mut self, message: &Message) -> Result<Payload, SessionError> {
        let body = message.encode().map_err(|_| SessionError::TooLong)?;
        let (counter, key) = self.chain.next().map_err(|_| SessionError::Exhausted)?;
        let header = Header::new(Kind::Group, self.chain.generation(), counter);
        let sender = self.session_key;
        self.seal_item(&ItemKey::Chain(key), header, &sender, &NOBODY, &body)
    }

    /// Seals one group message, queues it for every member, and returns it as the signed cause a hand-out can carry.
    pub(super) fn broadcast_cause(&mut self, now_ms: u64, content: Content) -> Result<Cause, SessionError> {
        let body = Message {
            sent_at: now_ms,
            content,
        }
        .encode()
        .map_err(|_| SessionError::TooLong)?;
        let (counter, key) = self.chain.next().map_err(|_| SessionError::Exhausted)?;
        let header = Header::new(Kind::Group, self.chain.generation(), counter);
        let sender = self.session_key;
        // Ed25519 is deterministic: this is the very signature the sealed item carries.
        let signature = sign::sign(
            &self.signing,
            &header.to_bytes(),
            self.secrets.link().room_id_bytes(),
            &NOBODY,
            &body,
        );
        let payload = self.seal_item(&ItemKey::Chain(key), header, &sender, &NOBODY, &body)?;
        self.outgoing.push(ClientFrame::Broadcast { payload });
        Ok(Cause {
            signer: sender,
            header: header.to_bytes(),
            body: body.to_vec(),
            signature,
        })
    }

    /// Seals one group message and queues it for every member.
    pub(super) fn broadcast(&mut self, now_ms: u64, content: Content) -> Result<(), SessionError> {
        self.send_content(None, now_ms, content)
    }

    /// Seals one message for the room, or for one member over the pairwise channel, and queues it.
    pub(super) fn send_content(
        &mut self,
        to: Option<MemberId>,
        sent_at: u64,
        content: Content,
    ) -> Result<(), SessionError> {
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

    /// Routes one relayed item by its kind and the relay's `direct` flag.
    pub(super) fn on_item(
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
            (Kind::Confirm, true) => self.on_confirm(from, payload.as_bytes(), events),
            (Kind::Handout, true) => self.on_handout(from, payload.as_bytes(), events),
            (Kind::Whisper, true) => self.on_whisper(from, payload.as_bytes(), events),
            (Kind::Group, false) => self.on_group(from, payload, events),
            (Kind::Lock, true) => self.on_lock(from, payload.as_bytes(), events),
            _ => Err(Rejected::Forged),
        }
    }

    /// Opens a hello or an answer under the room key; such items carry no generation or counter.
    pub(super) fn open_room_item(
        &self,
        item: &[u8],
        kind: Kind,
        recipient: &SessionKey,
    ) -> Result<seal::Opened, Rejected> {
        let opened = seal::open(
            self.secrets.room_key().expose(),
            item,
            &self.binding(&NOBODY, recipient),
        )?;
        if opened.header != Header::new(kind, 0, 0) {
            return Err(Rejected::Forged);
        }
        Ok(opened)
    }

    /// Checks a hello's or an answer's signature against the session key it announces, and returns that key checked,
    /// to verify every later item from it with.
    pub(super) fn verify_room_item(
        &self,
        opened: &seal::Opened,
        signer: &SessionKey,
        recipient: &SessionKey,
    ) -> Result<CheckedKey, Rejected> {
        Ok(opened.verify(signer, &self.binding(&NOBODY, recipient))?)
    }

    /// Opens a pairwise item from an accepted peer and moves its receiving chain past it.
    pub(super) fn open_pairwise(
        &mut self,
        from: MemberId,
        item: &[u8],
        kind: Kind,
    ) -> Result<Zeroizing<Vec<u8>>, Rejected> {
        let peer = self.peers.get(&from).ok_or(Rejected::Forged)?;
        let header = Header::parse(item)?;
        if header.kind != kind || header.generation != 0 {
            return Err(Rejected::Forged);
        }
        let pending = peer.channel.recv.key_for(header.counter)?;
        let binding = self.binding(&peer.session, &self.session_key);
        let opened = seal::open(pending.key.expose(), item, &binding)?;
        opened.verify_checked(&peer.key, &binding)?;
        let body = Zeroizing::new(opened.body().to_vec());
        if let Some(peer) = self.peers.get_mut(&from) {
            peer.channel.recv.commit(pending);
        }
        Ok(body)
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
                timing: Timing::new(message.sent_at, self.now_ms),
                whisper: true,
            }),
            Content::AttachmentStart(start) => self.on_attachment_start(from, start, message.sent_at, true, events)?,
            Content::AttachmentChunk { id, index, data } => {
                self.on_attachment_chunk(from, alias, (&id, index, &data), true, events)?;
            }
            Content::AttachmentCancel { id } => self.on_attachment_cancel(from, &id, true, events)?,
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
    pub(super) fn flush_pending(&mut self, from: MemberId, events: &mut Vec<Event>) {
        let (mine, rest): (std::collections::VecDeque<_>, _) = std::mem::take(&mut self.pending)
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
        let header = Header::parse(payload.as_bytes())?;
        let Some(peer) = self.peers.get(&from) else {
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
        let binding = self.binding(&peer.session, &NOBODY);
        let opened = seal::open(pending.key.expose(), payload.as_bytes(), &binding)?;
        opened.verify_checked(&peer.key, &binding)?;
        let message = Message::decode(opened.body())?;
        let alias = peer.alias.clone();
        let cause = matches!(
            message.content,
            Content::Goodbye(_) | Content::Kick(_) | Content::Transfer { .. }
        )
        .then(|| Cause {
            signer: peer.session,
            header: header.to_bytes(),
            body: opened.body().to_vec(),
            signature: opened.signature(),
        });
        let skipped = pending.skipped();
        if let Some(chain) = self.peers.get_mut(&from).and_then(|p| p.group.as_mut()) {
            chain.commit(pending);
        }
        // Counters are never skipped by an honest sender: the items in between were withheld or dropped on the way.
        if skipped > 0 {
            events.push(Event::Missed {
                from,
                alias: alias.clone(),
                count: skipped,
            });
        }
        self.dispatch(from, alias, message, cause, events)
    }
}

#[cfg(test)]
mod tests;
