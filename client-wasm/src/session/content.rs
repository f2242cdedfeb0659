//! What an opened message does: text, goodbye, kick, purge, and attachments from the room or whispered.

use sanctum_protocol::MemberId;

use super::items::Rejected;
use super::{EndReason, Event, LeaveReason, Session};
use crate::attachment::{self, AttachmentError, Incoming};
use crate::message::{Content, Message};

impl Session {
    pub(super) fn dispatch(
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
    pub(super) fn on_attachment_start(
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
    pub(super) fn on_attachment_chunk(
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
}

#[cfg(test)]
mod tests;
