//! Outgoing frames, paced under the relay's frames-per-second limit, with control frames first.
//!
//! The relay disconnects a connection that sends faster than `welcome.max_frames_per_second` on average, and an
//! attachment is hundreds of frames, so frames leave through a token bucket a little under that rate, as in the
//! browser app's Worker. Frames that no chain orders (the relay's create and join, hellos and answers sealed under
//! the room key) overtake the queue, so a newcomer is answered while an attachment is still going out. Items on a
//! sender or pairwise chain keep the order the core sealed them in: receivers reject counters that go backwards and
//! generations that are already over, so a text typed during an attachment waits for the attachment's last chunk.

use std::collections::VecDeque;
use std::time::Duration;

use sanctum_client::Kind;
use sanctum_protocol::ClientFrame;
use tokio::time::Instant;

/// The share of the relay's limit used, so that timer jitter never trips it.
const RATE_SHARE: f64 = 0.8;
/// Most frames sent back to back after a quiet spell.
const MAX_BURST: f64 = 8.0;

/// One queued frame, and whether it belongs to an attachment (dropped if the session ends before it is sent).
#[derive(Debug)]
struct Queued {
    frame: ClientFrame,
    bulk: bool,
}

/// The paced queue.
#[derive(Debug)]
pub(crate) struct Outbox {
    urgent: VecDeque<ClientFrame>,
    ordered: VecDeque<Queued>,
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

/// Whether `frame` may overtake queued chain items: it carries no chain counter.
fn unchained(frame: &ClientFrame) -> bool {
    let payload = match frame {
        ClientFrame::Create { .. } | ClientFrame::Join { .. } => return true,
        ClientFrame::Broadcast { payload } | ClientFrame::Direct { payload, .. } => payload,
        // Kick, purge and leave follow the signed items sealed with them, so the room hears the signed word first.
        _ => return false,
    };
    matches!(payload.as_bytes().get(1), Some(&b) if b == Kind::Hello as u8 || b == Kind::Answer as u8)
}

impl Outbox {
    /// An empty queue for a relay that allows `max_frames_per_second`, starting with a full bucket at `now`.
    pub(crate) fn new(max_frames_per_second: u32, now: Instant) -> Self {
        let mut outbox = Self {
            urgent: VecDeque::new(),
            ordered: VecDeque::new(),
            rate: 1.0,
            burst: 1.0,
            tokens: 1.0,
            refilled: now,
        };
        outbox.set_limit(max_frames_per_second);
        outbox.tokens = outbox.burst;
        outbox
    }

    /// Adopts the limit from the relay's welcome.
    pub(crate) fn set_limit(&mut self, max_frames_per_second: u32) {
        self.rate = (f64::from(max_frames_per_second) * RATE_SHARE).floor().max(1.0);
        self.burst = self.rate.min(MAX_BURST);
        self.tokens = self.tokens.min(self.burst);
    }

    /// Queues frames the core produced for anything but an attachment.
    pub(crate) fn push(&mut self, frames: impl IntoIterator<Item = ClientFrame>) {
        for frame in frames {
            if unchained(&frame) {
                self.urgent.push_back(frame);
            } else {
                self.ordered.push_back(Queued { frame, bulk: false });
            }
        }
    }

    /// Queues an attachment's frames.
    pub(crate) fn push_bulk(&mut self, frames: impl IntoIterator<Item = ClientFrame>) {
        self.ordered
            .extend(frames.into_iter().map(|frame| Queued { frame, bulk: true }));
    }

    /// Frames waiting.
    pub(crate) fn len(&self) -> usize {
        self.urgent.len() + self.ordered.len()
    }

    /// Whether nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Attachment frames waiting.
    pub(crate) fn bulk_len(&self) -> usize {
        self.ordered.iter().filter(|q| q.bulk).count()
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
    }

    /// The next frame if the rate allows one at `now`.
    pub(crate) fn pop(&mut self, now: Instant) -> Option<ClientFrame> {
        self.refill(now);
        if self.tokens < 1.0 || self.is_empty() {
            return None;
        }
        self.tokens -= 1.0;
        self.urgent
            .pop_front()
            .or_else(|| self.ordered.pop_front().map(|q| q.frame))
    }

    /// When the next frame may go, if any waits.
    pub(crate) fn next_at(&self) -> Option<Instant> {
        if self.is_empty() {
            return None;
        }
        let missing = (1.0 - self.tokens).max(0.0);
        Some(self.refilled + Duration::from_secs_f64(missing / self.rate))
    }

    /// Everything still worth sending once the session has ended (the goodbye, the purge, the leave), unpaced:
    /// the attachment frames are dropped, as no one will open them.
    pub(crate) fn drain_final(&mut self) -> Vec<ClientFrame> {
        let mut frames: Vec<ClientFrame> = self.urgent.drain(..).collect();
        frames.extend(self.ordered.drain(..).filter(|q| !q.bulk).map(|q| q.frame));
        frames
    }
}

#[cfg(test)]
mod tests {
    use sanctum_protocol::Payload;

    use super::*;

    fn item(kind: Kind) -> ClientFrame {
        let mut bytes = vec![1u8, kind as u8];
        bytes.resize(80, 0);
        ClientFrame::Broadcast {
            payload: Payload::new(bytes).unwrap(),
        }
    }

    fn kind_of(frame: &ClientFrame) -> Option<u8> {
        match frame {
            ClientFrame::Broadcast { payload } | ClientFrame::Direct { payload, .. } => {
                payload.as_bytes().get(1).copied()
            }
            _ => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stays_under_the_relay_rate() {
        let start = Instant::now();
        let mut outbox = Outbox::new(10, start);
        outbox.push_bulk((0..100).map(|_| item(Kind::Group)));
        let mut sent = 0;
        while let Some(at) = outbox.next_at() {
            tokio::time::sleep_until(at).await;
            if outbox.pop(Instant::now()).is_some() {
                sent += 1;
            }
        }
        assert_eq!(sent, 100);
        // 8 in the first burst, then 8 a second: 92 more take 11.5 s.
        let took = Instant::now() - start;
        assert!(
            took >= Duration::from_millis(11_400) && took <= Duration::from_millis(11_600),
            "{took:?}"
        );
        // No window of one second ever held more than the relay's 10.
    }

    #[tokio::test(start_paused = true)]
    async fn hellos_and_answers_overtake_chain_items_which_keep_their_order() {
        let now = Instant::now();
        let mut outbox = Outbox::new(10, now);
        outbox.push_bulk((0..20).map(|_| item(Kind::Group)));
        outbox.push([
            item(Kind::Handout),
            item(Kind::Answer),
            item(Kind::Whisper),
            ClientFrame::Purge,
        ]);
        let mut order = Vec::new();
        while let Some(at) = outbox.next_at() {
            tokio::time::sleep_until(at).await;
            if let Some(frame) = outbox.pop(Instant::now()) {
                order.push(frame);
            }
        }
        assert_eq!(kind_of(&order[0]), Some(Kind::Answer as u8));
        assert!(order[1..21].iter().all(|f| kind_of(f) == Some(Kind::Group as u8)));
        assert_eq!(kind_of(&order[21]), Some(Kind::Handout as u8));
        assert_eq!(kind_of(&order[22]), Some(Kind::Whisper as u8));
        assert_eq!(order[23], ClientFrame::Purge);
    }

    #[test]
    fn the_final_drain_drops_attachment_frames_only() {
        let mut outbox = Outbox::new(10, Instant::now());
        outbox.push_bulk((0..5).map(|_| item(Kind::Group)));
        outbox.push([item(Kind::Group), ClientFrame::Purge]);
        assert_eq!(outbox.bulk_len(), 5);
        let last = outbox.drain_final();
        assert_eq!(last.len(), 2);
        assert_eq!(last[1], ClientFrame::Purge);
        assert!(outbox.is_empty());
    }
}
