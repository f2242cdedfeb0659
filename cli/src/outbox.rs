//! Outgoing frames: one scheduler, paced under the relay's frames-per-second limit, control frames first.
//!
//! The relay closes a connection that sends faster than `welcome.max_frames_per_second` on average, and an attachment
//! is up to hundreds of frames, so frames leave evenly spaced at 80% of that rate, as in the browser app's Worker.
//! Control frames (create and join, purge, kick, goodbye, hand-outs, answers) are sealed by the core when it makes
//! them and go first. Texts and whispers wait as requests and are sealed only when their turn comes, then attachment
//! chunks, one at a time. Sealing at the moment of sending keeps every chain's counters in the order frames leave,
//! which receivers require, so nothing sealed earlier is ever overtaken, and a text never waits behind a file.

use std::collections::VecDeque;
use std::time::Duration;

use sanctum_client::{Session, SessionError, Upload};
use sanctum_protocol::{ClientFrame, MemberId};
use tokio::time::Instant;
use zeroize::Zeroizing;

/// The share of the relay's limit used, so that timer jitter never trips it.
const RATE_SHARE: f64 = 0.8;

/// A text waiting for its turn to be sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text {
    /// The whisper's recipient, or `None` for the room.
    pub(crate) to: Option<MemberId>,
    /// The text.
    pub(crate) text: String,
}

/// A file waiting to be sent: its start is sealed when its turn comes, then each chunk.
#[derive(Debug)]
struct Pending {
    to: Option<MemberId>,
    name: String,
    mime: String,
    bytes: Zeroizing<Vec<u8>>,
    upload: Option<Upload>,
}

/// What sealing a queued request led to, for the front end.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sealed {
    /// A text or whisper was sealed and is leaving now.
    Said(Text),
    /// An attachment's start was sealed: it has this many chunks.
    Started {
        /// Its file name.
        name: String,
        /// Its size in bytes.
        size: usize,
        /// How many chunks follow the start.
        chunks: u32,
    },
    /// An attachment's last chunk was sealed.
    Finished {
        /// Its file name.
        name: String,
    },
    /// The core refused a request.
    Refused(SessionError),
}

/// The scheduler.
#[derive(Debug)]
pub(crate) struct Outbox {
    control: VecDeque<ClientFrame>,
    texts: VecDeque<Text>,
    uploads: VecDeque<Pending>,
    interval: Duration,
    next_at: Instant,
}

impl Outbox {
    /// An empty queue for a relay that allows `max_frames_per_second`, ready to send at `now`.
    pub(crate) fn new(max_frames_per_second: u32, now: Instant) -> Self {
        let mut outbox = Self {
            control: VecDeque::new(),
            texts: VecDeque::new(),
            uploads: VecDeque::new(),
            interval: Duration::ZERO,
            next_at: now,
        };
        outbox.set_limit(max_frames_per_second);
        outbox
    }

    /// Adopts the limit from the relay's welcome.
    pub(crate) fn set_limit(&mut self, max_frames_per_second: u32) {
        let rate = (f64::from(max_frames_per_second) * RATE_SHARE).max(1.0);
        self.interval = Duration::from_secs_f64(1.0 / rate);
    }

    /// Queues frames the core has sealed already; they go before every waiting text and chunk.
    pub(crate) fn push_control(&mut self, frames: impl IntoIterator<Item = ClientFrame>) {
        self.control.extend(frames);
    }

    /// Queues a text or whisper, sealed when its turn comes.
    pub(crate) fn push_text(&mut self, text: Text) {
        self.texts.push_back(text);
    }

    /// Queues a file for the room or, with `to`, for one member.
    pub(crate) fn push_upload(&mut self, to: Option<MemberId>, name: String, mime: String, bytes: Vec<u8>) {
        self.uploads.push_back(Pending {
            to,
            name,
            mime,
            bytes: Zeroizing::new(bytes),
            upload: None,
        });
    }

    /// Attachment frames still to seal and send.
    pub(crate) fn bulk_len(&self) -> usize {
        self.uploads
            .iter()
            .map(|p| match &p.upload {
                Some(upload) => (upload.chunks() - upload.sent()) as usize,
                None => 1 + p.bytes.len().div_ceil(sanctum_client::CHUNK_LEN),
            })
            .sum()
    }

    /// When the next frame may go, if anything waits.
    pub(crate) fn next_at(&self) -> Option<Instant> {
        let waiting = !self.control.is_empty() || !self.texts.is_empty() || !self.uploads.is_empty();
        waiting.then_some(self.next_at)
    }

    /// The next frame by priority if its time has come at `now`, sealing a text or a chunk only now.
    pub(crate) fn pop(
        &mut self,
        session: &mut Session,
        now: Instant,
        now_ms: u64,
    ) -> (Option<ClientFrame>, Vec<Sealed>) {
        let mut reports = Vec::new();
        if now < self.next_at {
            return (None, reports);
        }
        let frame = self.next_frame(session, now_ms, &mut reports);
        if frame.is_some() {
            self.next_at = now + self.interval;
        }
        (frame, reports)
    }

    /// Takes the first of the frames the core just made and puts the rest at the head of the control queue.
    fn first_made(&mut self, session: &mut Session) -> Option<ClientFrame> {
        let mut made = session.take_outgoing().into_iter();
        let first = made.next();
        for (at, frame) in made.enumerate() {
            self.control.insert(at, frame);
        }
        first
    }

    fn next_frame(&mut self, session: &mut Session, now_ms: u64, reports: &mut Vec<Sealed>) -> Option<ClientFrame> {
        loop {
            if let Some(frame) = self.control.pop_front() {
                return Some(frame);
            }
            let Some(text) = self.texts.pop_front() else { break };
            let result = match text.to {
                Some(to) => session.whisper(to, &text.text, now_ms),
                None => session.send_text(&text.text, now_ms),
            };
            match result {
                Ok(()) => {
                    reports.push(Sealed::Said(text));
                    if let Some(frame) = self.first_made(session) {
                        return Some(frame);
                    }
                }
                Err(e) => reports.push(Sealed::Refused(e)),
            }
        }
        let pending = self.uploads.front_mut()?;
        let result = match &mut pending.upload {
            None => session
                .start_attachment(pending.to, &pending.name, &pending.mime, &pending.bytes, now_ms)
                .map(|upload| {
                    reports.push(Sealed::Started {
                        name: pending.name.clone(),
                        size: pending.bytes.len(),
                        chunks: upload.chunks(),
                    });
                    let more = !upload.is_done();
                    pending.upload = Some(upload);
                    more
                }),
            Some(upload) => session.send_chunk(upload, now_ms),
        };
        match result {
            Ok(true) => {}
            Ok(false) => {
                if let Some(done) = self.uploads.pop_front() {
                    reports.push(Sealed::Finished { name: done.name });
                }
            }
            Err(e) => {
                self.uploads.pop_front();
                reports.push(Sealed::Refused(e));
            }
        }
        self.first_made(session)
    }

    /// Stops every file not yet wholly sent, the one under way and those waiting, and returns their names in order.
    /// One whose start went out is followed by its signed cancel, so that its receivers drop what they hold of it.
    pub(crate) fn cancel_uploads(&mut self, session: &mut Session, now_ms: u64) -> Vec<String> {
        let mut names = Vec::new();
        for pending in std::mem::take(&mut self.uploads) {
            // A session that can no longer seal has no one left to tell.
            if let Some(upload) = &pending.upload
                && session.cancel_attachment(upload, now_ms).is_ok()
            {
                self.control.extend(session.take_outgoing());
            }
            names.push(pending.name);
        }
        names
    }

    /// Seals every waiting text now, ahead of a goodbye, so that what was typed before leaving is still sent.
    pub(crate) fn seal_texts(&mut self, session: &mut Session, now_ms: u64) -> Vec<Sealed> {
        let mut reports = Vec::new();
        while let Some(text) = self.texts.pop_front() {
            let result = match text.to {
                Some(to) => session.whisper(to, &text.text, now_ms),
                None => session.send_text(&text.text, now_ms),
            };
            match result {
                Ok(()) => reports.push(Sealed::Said(text)),
                Err(e) => reports.push(Sealed::Refused(e)),
            }
            self.control.extend(session.take_outgoing());
        }
        reports
    }

    /// The control frames still worth sending once the session has ended (the goodbye, the purge, the leave),
    /// unpaced; texts and files not yet sealed are dropped, as the session can no longer seal them.
    pub(crate) fn drain_final(&mut self) -> Vec<ClientFrame> {
        self.texts.clear();
        self.uploads.clear();
        self.control.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use sanctum_client::rand_core::OsRng;
    use sanctum_client::{CHUNK_LEN, RoomLink, RoomSecrets};
    use sanctum_protocol::RelayFrame;

    use super::*;
    use crate::room::now_ms;

    /// A session alone in a room it created, able to seal.
    fn active_session() -> Session {
        let link = RoomLink::generate(&mut OsRng, 600, now_ms()).unwrap();
        let secrets = RoomSecrets::derive(&link, "velvet orbit cactus thunder quietly").unwrap();
        let mut session = Session::new(&secrets, "alice", OsRng).unwrap();
        session.create_frame("room", now_ms()).unwrap();
        let events = session.handle(
            RelayFrame::Created {
                member: 1,
                expires_at: link.expires_at(),
                expires_in: 600,
            },
            now_ms(),
        );
        assert!(!events.is_empty() && !session.is_ended());
        session
    }

    /// The chain counter in a sealed item's header.
    fn counter(frame: &ClientFrame) -> Option<u32> {
        match frame {
            ClientFrame::Broadcast { payload } => {
                let b = payload.as_bytes();
                Some(u32::from_be_bytes([b[6], b[7], b[8], b[9]]))
            }
            _ => None,
        }
    }

    async fn drain(outbox: &mut Outbox, session: &mut Session) -> Vec<(ClientFrame, Vec<Sealed>)> {
        let mut out = Vec::new();
        while let Some(at) = outbox.next_at() {
            tokio::time::sleep_until(at).await;
            let (frame, sealed) = outbox.pop(session, Instant::now(), now_ms());
            if let Some(frame) = frame {
                out.push((frame, sealed));
            }
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn frames_leave_evenly_spaced_under_the_relay_rate() {
        let mut session = active_session();
        let start = Instant::now();
        let mut outbox = Outbox::new(10, start);
        for n in 0..41 {
            outbox.push_text(Text {
                to: None,
                text: format!("message {n}"),
            });
        }
        let sent = drain(&mut outbox, &mut session).await;
        assert_eq!(sent.len(), 41);
        // 8 a second: 40 gaps of 125 ms.
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn control_goes_first_texts_overtake_a_file_and_counters_follow_the_sending_order() {
        let mut session = active_session();
        let mut outbox = Outbox::new(10, Instant::now());
        let bytes = vec![7u8; 3 * CHUNK_LEN];
        outbox.push_upload(
            None,
            "file.bin".into(),
            "application/octet-stream".into(),
            bytes.clone(),
        );
        assert_eq!(outbox.bulk_len(), 4);
        let (start, sealed) = outbox.pop(&mut session, Instant::now(), now_ms());
        assert!(start.is_some());
        assert_eq!(
            sealed,
            [Sealed::Started {
                name: "file.bin".into(),
                size: bytes.len(),
                chunks: 3
            }]
        );
        outbox.push_text(Text {
            to: None,
            text: "typed during the upload".into(),
        });
        outbox.push_control([ClientFrame::Leave]);
        let rest = drain(&mut outbox, &mut session).await;
        let frames: Vec<&ClientFrame> = rest.iter().map(|(f, _)| f).collect();
        assert_eq!(frames[0], &ClientFrame::Leave, "control first");
        assert_eq!(
            rest[1].1,
            [Sealed::Said(Text {
                to: None,
                text: "typed during the upload".into()
            })]
        );
        assert_eq!(rest.len(), 5);
        assert_eq!(
            rest[4].1,
            [Sealed::Finished {
                name: "file.bin".into()
            }]
        );
        let mut counters = vec![counter(start.as_ref().unwrap()).unwrap()];
        counters.extend(frames[1..].iter().filter_map(|f| counter(f)));
        assert_eq!(counters, [0, 1, 2, 3, 4], "sealed in the order sent");
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_stops_every_file_and_tells_the_receivers_of_the_one_under_way() {
        let mut session = active_session();
        let mut outbox = Outbox::new(10, Instant::now());
        let bytes = vec![7u8; 3 * CHUNK_LEN];
        for name in ["under-way.bin", "waiting.bin"] {
            outbox.push_upload(None, name.into(), "application/octet-stream".into(), bytes.clone());
        }
        // The first file's start and one chunk leave (counters 0 and 1).
        for _ in 0..2 {
            tokio::time::sleep_until(outbox.next_at().unwrap()).await;
            assert!(outbox.pop(&mut session, Instant::now(), now_ms()).0.is_some());
        }
        assert_eq!(
            outbox.cancel_uploads(&mut session, now_ms()),
            ["under-way.bin", "waiting.bin"]
        );
        // One frame follows: the first file's cancel at the next counter; nothing of either file is sealed any more.
        let rest = drain(&mut outbox, &mut session).await;
        assert_eq!(rest.len(), 1, "{rest:?}");
        assert_eq!(counter(&rest[0].0), Some(2));
        assert!(rest[0].1.is_empty());
        assert_eq!(outbox.bulk_len(), 0);
        assert!(outbox.cancel_uploads(&mut session, now_ms()).is_empty());
    }

    #[test]
    fn the_final_drain_keeps_control_frames_and_drops_what_is_unsealed() {
        let mut session = active_session();
        let mut outbox = Outbox::new(10, Instant::now());
        outbox.push_upload(None, "f".into(), String::new(), vec![1; 10]);
        outbox.push_text(Text {
            to: None,
            text: "said before leaving".into(),
        });
        let sealed = outbox.seal_texts(&mut session, now_ms());
        assert_eq!(sealed.len(), 1);
        session.leave("bye", now_ms()).unwrap();
        outbox.push_control(session.take_outgoing());
        let last = outbox.drain_final();
        // The text, the goodbye, and the relay's leave; the file is dropped.
        assert_eq!(last.len(), 3);
        assert_eq!(last[2], ClientFrame::Leave);
        assert_eq!(outbox.next_at(), None);
    }
}
