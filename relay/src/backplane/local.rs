//! This relay's view of the Redis rooms it has members in: their local outboxes, the room's member ids as the
//! event stream tells them, joins waiting for their own `joined` event, and the events that drive them.
//!
//! Every relay applies the same events in the same order (one channel per room), so every relay's view
//! of a room agrees. Delivery is a push into local outboxes under one `std::sync::Mutex`, never held across
//! `.await`; it runs inside the Redis connection's push callback, so nothing is buffered between Redis and them.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use sanctum_protocol::{CloseCode, Descriptor, LeftReason, MemberId, PurgeReason, RelayFrame};
use serde::Deserialize;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tungstenite::Utf8Bytes;

use crate::error::Refusal;
use crate::outbox::Outbox;

/// An event's header line, as the scripts and [`frame_message`] write it.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "k")]
pub(super) enum Header {
    /// Member `id` was admitted through relay `r` for its join `n`; `m` were the members before it, `e` is the
    /// room's expiry (Unix seconds) and `t` the milliseconds left until it; the body is the room's descriptor as
    /// stored at that moment (empty for the creator), so that a joiner gets the one its token was checked with.
    #[serde(rename = "j")]
    Joined {
        id: MemberId,
        r: String,
        n: u64,
        e: u64,
        t: u64,
        m: Vec<MemberId>,
    },
    /// A frame from `from`, to `to` alone or to every other member; the body is the encoded relay frame.
    #[serde(rename = "f")]
    Frame {
        from: MemberId,
        #[serde(default)]
        to: Option<MemberId>,
    },
    /// Member `id` left or dropped.
    #[serde(rename = "l")]
    Left { id: MemberId, why: Why },
    /// Member `id` was kicked by `by`.
    #[serde(rename = "x")]
    Kicked { by: MemberId, id: MemberId },
    /// The room was purged.
    #[serde(rename = "p")]
    Purged,
}

/// Why a member left, as the scripts write it.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum Why {
    Left,
    Dropped,
}

impl Why {
    pub(super) fn of(reason: LeftReason) -> &'static str {
        match reason {
            LeftReason::Dropped => "dropped",
            _ => "left",
        }
    }
}

/// The message that carries an encoded relay frame from `from` (to `to` alone, if given) over a room's channel.
pub(super) fn frame_message(from: MemberId, to: Option<MemberId>, frame: &str) -> Vec<u8> {
    let header = match to {
        Some(to) => format!("{{\"k\":\"f\",\"from\":{from},\"to\":{to}}}\n"),
        None => format!("{{\"k\":\"f\",\"from\":{from}}}\n"),
    };
    let mut message = Vec::with_capacity(header.len() + frame.len());
    message.extend_from_slice(header.as_bytes());
    message.extend_from_slice(frame.as_bytes());
    message
}

/// Splits a channel message into its header and its body.
pub(super) fn parse_message(message: &[u8]) -> Option<(Header, &[u8])> {
    let split = message.iter().position(|b| *b == b'\n')?;
    let header = serde_json::from_slice(&message[..split]).ok()?;
    Some((header, &message[split + 1..]))
}

/// A join or create waiting for its own `joined` event.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) outbox: Outbox,
    /// Whether this is a join, told `joined` with the descriptor, rather than the creator, told `created`.
    pub(super) joining: bool,
    pub(super) done: oneshot::Sender<MemberId>,
}

/// What the relay must do in Redis after applying an event.
#[derive(Debug, Default)]
pub(super) struct Effects {
    /// Local members cut off (a full outbox, or an abandoned join) whose departure Redis must record.
    pub(super) dropped: Vec<MemberId>,
    /// Whether the room ended or emptied here, so that its view goes and its channel is left.
    pub(super) finished: bool,
    /// The room's deadline, when this event gave it its first one.
    pub(super) deadline: Option<Instant>,
    /// Local members removed, for the members gauge.
    pub(super) removed: i64,
    /// Local members added.
    pub(super) added: i64,
    /// How the room ended, if it did.
    pub(super) ended: Option<PurgeReason>,
}

/// One room as this relay sees it.
#[derive(Debug)]
pub(super) struct LocalRoom {
    members: Vec<(MemberId, Outbox)>,
    /// Every member of the room, on any relay, as of the last event applied.
    known: BTreeSet<MemberId>,
    pending: HashMap<u64, Pending>,
    deadline: Option<Instant>,
    /// Set once the room's channel is subscribed.
    pub(super) ready: watch::Receiver<bool>,
    /// Stops the room's warning and expiry timer.
    pub(super) timer: CancellationToken,
}

impl LocalRoom {
    pub(super) fn new(ready: watch::Receiver<bool>) -> Self {
        Self {
            members: Vec::new(),
            known: BTreeSet::new(),
            pending: HashMap::new(),
            deadline: None,
            ready,
            timer: CancellationToken::new(),
        }
    }

    /// Whether nothing keeps this view: no member and no join on its way.
    pub(super) fn is_idle(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty()
    }

    pub(super) fn expect(&mut self, nonce: u64, pending: Pending) {
        self.pending.insert(nonce, pending);
    }

    /// Forgets a join that failed or gave up before its `joined` event.
    pub(super) fn abandon(&mut self, nonce: u64) {
        self.pending.remove(&nonce);
    }

    /// Whether `id` is a member connected here through `outbox`.
    pub(super) fn holds(&self, id: MemberId, outbox: &Outbox) -> bool {
        self.members.iter().any(|(m, o)| *m == id && o.same(outbox))
    }

    /// Whether `id` is a member of the room, on any relay.
    pub(super) fn knows(&self, id: MemberId) -> bool {
        self.known.contains(&id)
    }

    /// Removes local member `id` without telling anyone: Redis tells everyone once its departure is recorded.
    pub(super) fn forget(&mut self, id: MemberId) -> bool {
        let before = self.members.len();
        self.members.retain(|(m, _)| *m != id);
        self.members.len() < before
    }

    /// Queues `text` to the local members `to` selects; those whose queue overflows are cut off.
    fn deliver(&mut self, text: &Utf8Bytes, to: impl Fn(MemberId) -> bool, effects: &mut Effects) {
        let mut overflowed = Vec::new();
        for (id, outbox) in self.members.iter().filter(|(id, _)| to(*id)) {
            if outbox.push(text.clone()).is_err() {
                overflowed.push(*id);
            }
        }
        for id in overflowed {
            if self.forget(id) {
                effects.removed += 1;
                effects.dropped.push(id);
            }
        }
    }

    fn deliver_frame(&mut self, frame: &RelayFrame, to: impl Fn(MemberId) -> bool, effects: &mut Effects) {
        self.deliver(&Utf8Bytes::from(frame.encode()), to, effects);
    }

    /// Applies one event from the room's channel; `relay` is this relay's id.
    pub(super) fn apply(&mut self, relay: &str, header: Header, body: &[u8], now: Instant) -> Effects {
        let mut effects = Effects::default();
        match header {
            Header::Joined { id, r, n, e, t, m } => {
                let mine = if r == relay { self.pending.remove(&n) } else { None };
                match mine {
                    Some(pending) => self.admit(id, pending, (e, t), m, body, now, &mut effects),
                    None => {
                        self.known.insert(id);
                        self.deliver_frame(&RelayFrame::MemberJoined { member: id }, |_| true, &mut effects);
                    }
                }
            }
            Header::Frame { from, to } => {
                if let Ok(text) = std::str::from_utf8(body) {
                    let text = Utf8Bytes::from(text.to_owned());
                    match to {
                        Some(to) => self.deliver(&text, |id| id == to, &mut effects),
                        None => self.deliver(&text, |id| id != from, &mut effects),
                    }
                }
            }
            Header::Left { id, why } => {
                self.known.remove(&id);
                // A member of this relay removed by another (this relay was taken for dead) is cut off too.
                if let Some(outbox) = self.take(id) {
                    effects.removed += 1;
                    outbox.close(CloseCode::Unavailable);
                }
                let reason = match why {
                    Why::Left => LeftReason::Left,
                    Why::Dropped => LeftReason::Dropped,
                };
                self.deliver_frame(&RelayFrame::MemberLeft { member: id, reason }, |_| true, &mut effects);
            }
            Header::Kicked { by, id } => {
                self.known.remove(&id);
                if let Some(outbox) = self.take(id) {
                    effects.removed += 1;
                    let _ = outbox.send(&RelayFrame::Kicked { by });
                    outbox.close(CloseCode::Kicked);
                }
                let left = RelayFrame::MemberLeft {
                    member: id,
                    reason: LeftReason::Kicked,
                };
                self.deliver_frame(&left, |_| true, &mut effects);
            }
            Header::Purged => {
                self.end(PurgeReason::Purged, &mut effects);
            }
        }
        effects.finished |= self.is_idle();
        effects
    }

    /// Admits local member `id`; `expiry` is the room's expiry in Unix seconds and the milliseconds left until it,
    /// `descriptor` the stored descriptor the `joined` event carried.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &mut self,
        id: MemberId,
        pending: Pending,
        (expires_at, left_ms): (u64, u64),
        before: Vec<MemberId>,
        descriptor: &[u8],
        now: Instant,
        effects: &mut Effects,
    ) {
        let expires_in = u32::try_from(left_ms.div_ceil(1000)).unwrap_or(u32::MAX);
        let welcome = if pending.joining {
            RelayFrame::Joined {
                member: id,
                members: before.clone(),
                expires_at,
                expires_in,
                descriptor: serde_json::from_slice::<Descriptor>(descriptor).unwrap_or_default(),
            }
        } else {
            RelayFrame::Created {
                member: id,
                expires_at,
                expires_in,
            }
        };
        self.known = before.into_iter().collect();
        self.known.insert(id);
        if pending.done.send(id).is_err() {
            // The join gave up waiting: the member is in Redis but no connection holds it.
            effects.dropped.push(id);
            return;
        }
        // The newcomer's own frame goes first, so nothing from the room can overtake it.
        let _ = pending.outbox.send(&welcome);
        self.deliver_frame(&RelayFrame::MemberJoined { member: id }, |_| true, effects);
        self.members.push((id, pending.outbox));
        effects.added += 1;
        if self.deadline.is_none() {
            let deadline = now + Duration::from_millis(left_ms);
            self.deadline = Some(deadline);
            effects.deadline = Some(deadline);
        }
    }

    fn take(&mut self, id: MemberId) -> Option<Outbox> {
        let index = self.members.iter().position(|(m, _)| *m == id)?;
        Some(self.members.remove(index).1)
    }

    /// Sends an `expiring` warning to the local members.
    pub(super) fn warn(&mut self, seconds: u32) -> Effects {
        let mut effects = Effects::default();
        self.deliver_frame(&RelayFrame::Expiring { seconds }, |_| true, &mut effects);
        effects.finished |= self.is_idle();
        effects
    }

    /// Ends the room here: local members get `purged` and their close, joins on their way fail.
    pub(super) fn end(&mut self, reason: PurgeReason, effects: &mut Effects) {
        let text = Utf8Bytes::from(RelayFrame::Purged { reason }.encode());
        let code = match reason {
            PurgeReason::Purged => CloseCode::Purged,
            PurgeReason::Expired => CloseCode::Expired,
        };
        for (_, outbox) in self.members.drain(..) {
            let _ = outbox.push(text.clone());
            outbox.close(code);
            effects.removed += 1;
        }
        self.pending.clear();
        effects.finished = true;
        effects.ended = Some(reason);
    }

    /// Closes every local member with `code` and fails every join on its way: the backplane is lost.
    pub(super) fn abort(&mut self, code: CloseCode) -> i64 {
        let removed = self.members.len() as i64;
        for (_, outbox) in self.members.drain(..) {
            outbox.close(code);
        }
        self.pending.clear();
        self.timer.cancel();
        removed
    }
}

/// The refusal a script's answer stands for.
pub(super) fn refusal(answer: &str) -> Refusal {
    match answer {
        "exists" => Refusal::RoomExists,
        "not_found" => Refusal::RoomNotFound,
        "gone" => Refusal::RoomGone,
        "bad_token" => Refusal::BadToken,
        "not_in_room" => Refusal::NotInRoom,
        "limited" => Refusal::RateLimited,
        "full" => Refusal::RoomFull,
        "busy" => Refusal::RoomBusy,
        _ => Refusal::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_messages_round_trip_and_keep_the_body_as_is() {
        let message = frame_message(3, Some(7), r#"{"type":"frame"}"#);
        let (header, body) = parse_message(&message).unwrap();
        assert_eq!(header, Header::Frame { from: 3, to: Some(7) });
        assert_eq!(body, br#"{"type":"frame"}"#);
        let (header, _) =
            parse_message(b"{\"k\":\"j\",\"id\":4,\"r\":\"9\",\"n\":2,\"e\":100,\"t\":5000,\"m\":[1,3]}\n").unwrap();
        assert_eq!(
            header,
            Header::Joined {
                id: 4,
                r: "9".into(),
                n: 2,
                e: 100,
                t: 5000,
                m: vec![1, 3]
            }
        );
        assert!(parse_message(b"no header").is_none());
    }
}
