//! What an opened message does: text, goodbye, kick, purge, and attachments from the room or whispered.

use sanctum_protocol::MemberId;

use super::items::Rejected;
use super::{AttachmentDrop, Attempt, EndReason, Event, LeaveReason, Session, Timing};
use crate::attachment::{self, Incoming, MAX_INCOMING_BYTES};
use crate::message::{Cause, Content, Message};

impl Session {
    /// Acts on one opened group message; `cause` is its signed form, kept for goodbyes and kicks so the hand-outs of
    /// the new generation they start can carry it, and for transfers so this session's answers can carry them.
    pub(super) fn dispatch(
        &mut self,
        from: MemberId,
        alias: String,
        message: Message,
        cause: Option<Cause>,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejected> {
        let sent_at = message.sent_at;
        match message.content {
            Content::Text(text) => events.push(Event::Message {
                from,
                alias,
                text,
                timing: Timing::new(sent_at, self.now_ms),
                whisper: false,
            }),
            Content::Goodbye(farewell) => self.remove_peer(from, LeaveReason::Left { farewell }, cause, events),
            Content::Kick(target) => {
                let signer = self.peers.get(&from).map(|peer| peer.session).unwrap_or_default();
                if !self.kick_allowed(&signer, &target) {
                    // Refused by every client, and shown: a signed item names its signer truthfully.
                    let target = self.member_of_key(&target);
                    events.push(Event::NotAllowed {
                        from,
                        alias,
                        attempt: Attempt::Kick { target },
                    });
                } else if target == self.session_key {
                    self.end(EndReason::Kicked { by: from }, true, events);
                } else if let Some(member) = self.peers.values().find(|p| p.session == target).map(|p| p.member) {
                    self.remove_peer(member, LeaveReason::Kicked { by: from }, cause, events);
                } else {
                    // A session this one never accepted is not remembered: only one whose hello waits for its
                    // confirm is forgotten, so that the kick cannot be undone by the confirm arriving later.
                    self.forget_hello(&target);
                }
            }
            Content::Purge => self.end(EndReason::Purged { by: Some(from) }, true, events),
            Content::Transfer { .. } => self.on_transfer(from, alias, cause, events),
            Content::AttachmentStart(start) => self.on_attachment_start(from, start, sent_at, false, events)?,
            Content::AttachmentChunk { id, index, data } => {
                self.on_attachment_chunk(from, alias, (&id, index, &data), false, events)?;
            }
            Content::AttachmentCancel { id } => self.on_attachment_cancel(from, &id, false, events)?,
        }
        Ok(())
    }

    /// Starts receiving an attachment from `from`, in the room or as a whisper; it replaces any unfinished one.
    ///
    /// Each sender holds at most one unfinished attachment, so at most [`crate::MAX_ATTACHMENT_LEN`] bytes. When the
    /// session's whole budget ([`MAX_INCOMING_BYTES`]) would be exceeded, the unfinished attachments whose senders
    /// progressed least recently are dropped and the app is told, so a few members who start large attachments and
    /// never finish them cannot make everyone else's attachments vanish.
    pub(super) fn on_attachment_start(
        &mut self,
        from: MemberId,
        start: attachment::AttachmentStart,
        sent_at: u64,
        whisper: bool,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejected> {
        self.arrivals += 1;
        let arrival = self.arrivals;
        let peer = self.peers.get_mut(&from).ok_or(Rejected::Forged)?;
        peer.incoming = None;
        if !crate::text::is_safe_file_name(&start.name) {
            let alias = peer.alias.clone();
            events.push(Event::AttachmentDropped {
                from,
                alias,
                reason: AttachmentDrop::BadName,
            });
            return Ok(());
        }
        let incoming = Incoming::new(start, sent_at, 0).map_err(|_| Rejected::Forged)?;
        let size = incoming.reserved();
        loop {
            let others = self.peers.values().filter(|p| p.member != from);
            let held: usize = others
                .clone()
                .filter_map(|p| p.incoming.as_ref().map(Incoming::reserved))
                .sum();
            if held.saturating_add(size) <= MAX_INCOMING_BYTES {
                break;
            }
            let Some(victim) = others
                .filter(|p| p.incoming.is_some())
                .min_by_key(|p| p.incoming_progress)
                .map(|p| p.member)
            else {
                break;
            };
            if let Some(peer) = self.peers.get_mut(&victim) {
                peer.incoming = None;
                events.push(Event::AttachmentDropped {
                    from: victim,
                    alias: peer.alias.clone(),
                    reason: AttachmentDrop::Crowded,
                });
            }
        }
        let peer = self.peers.get_mut(&from).ok_or(Rejected::Forged)?;
        peer.incoming = Some(incoming);
        peer.incoming_whisper = whisper;
        peer.incoming_progress = arrival;
        Ok(())
    }

    /// Drops the unfinished attachment `id` from `from`, which its sender stopped; a cancel of any other attachment
    /// (finished, replaced, or dropped here already) changes nothing, and one that comes another way than its start
    /// (room or whisper) is forged.
    pub(super) fn on_attachment_cancel(
        &mut self,
        from: MemberId,
        id: &[u8; 16],
        whisper: bool,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejected> {
        let peer = self.peers.get_mut(&from).ok_or(Rejected::Forged)?;
        if peer.incoming.as_ref().is_none_or(|incoming| incoming.start.id != *id) {
            return Ok(());
        }
        if peer.incoming_whisper != whisper {
            return Err(Rejected::Forged);
        }
        peer.incoming = None;
        events.push(Event::AttachmentDropped {
            from,
            alias: peer.alias.clone(),
            reason: AttachmentDrop::Cancelled,
        });
        Ok(())
    }

    /// Adds one chunk `(id, index, data)`; a chunk that comes another way than its start (room or whisper) is forged.
    pub(super) fn on_attachment_chunk(
        &mut self,
        from: MemberId,
        alias: String,
        (id, index, data): (&[u8; 16], u32, &[u8]),
        whisper: bool,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejected> {
        self.arrivals += 1;
        let now_ms = self.now_ms;
        let peer = self.peers.get_mut(&from).ok_or(Rejected::Forged)?;
        peer.incoming_progress = self.arrivals;
        let Some(incoming) = peer.incoming.as_mut() else {
            return Ok(());
        };
        if peer.incoming_whisper != whisper {
            peer.incoming = None;
            return Err(Rejected::Forged);
        }
        match incoming.push(id, index, data) {
            Ok(None) => events.push(Event::AttachmentProgress {
                from,
                alias,
                name: incoming.start.name.clone(),
                received: incoming.received(),
                size: incoming.start.size,
                whisper,
            }),
            Ok(Some(bytes)) => {
                if let Some(done) = peer.incoming.take() {
                    events.push(Event::Attachment {
                        from,
                        alias,
                        name: done.start.name,
                        mime: done.start.mime,
                        caption: done.start.caption,
                        bytes,
                        timing: Timing::new(done.sent_at, now_ms),
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
}

#[cfg(test)]
mod tests;
