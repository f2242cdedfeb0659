//! One connection's outgoing queue: encoded frames waiting for its writer, bounded in bytes.
//!
//! Rooms push into it from any task; the connection's writer alone takes from it.
//! The queue is a `VecDeque` behind a `std::sync::Mutex`, not a channel: it allocates nothing while idle,
//! it can count bytes rather than items, and its critical sections are a push or a pop, never held across `.await`.
//! A reader that lets more than its bound pile up is cut off (close 4008) and the others go on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use sanctum_protocol::{CloseCode, RelayFrame};
use tokio::sync::Notify;
use tungstenite::Utf8Bytes;

use crate::metrics::{self, Metrics};

/// Entries an empty queue keeps allocated for good, so that steady traffic does not allocate for every frame.
const IDLE_QUEUE_CAPACITY: usize = 8;

/// Entries (32 bytes each, 8 KiB in all) a queue that a burst grew keeps allocated once empty, until the next ping:
/// a busy room empties and refills its members' queues many times a second, and growing them again each time was
/// 3 % of the relay's instructions in a 10-member room. A larger buffer is released as soon as it is empty.
const BUSY_QUEUE_CAPACITY: usize = 256;

/// How far a queue's bytes may move before it reports them to `sanctum_queued_bytes`; an emptied queue reports at
/// once. Every push and pop changing the shared gauge had two threads fighting over its cache line at every frame.
const GAUGE_SLACK: usize = 16 * 1024;

/// What a queued frame counts against the queue's bound besides its text: its 32-byte handle, twice over, since the
/// queue's buffer grows by doubling and may hold twice as many entries as are queued. With it the bound covers the
/// queue's whole memory, however small the frames; only the first frame of an empty queue is let in whatever its count.
const ENTRY_BYTES: usize = 2 * std::mem::size_of::<Utf8Bytes>();

/// The bytes `frame` counts against the queue's bound.
fn charge(frame: &Utf8Bytes) -> usize {
    frame.len() + ENTRY_BYTES
}

/// A cloneable handle to one connection's outgoing queue.
#[derive(Clone, Debug)]
pub(crate) struct Outbox(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    notify: Notify,
    /// Set once by `abort`, read without the lock by a writer whose send would block.
    aborted: AtomicBool,
    /// The writer blocked on a send, woken by `abort`.
    abort_waker: AtomicWaker,
    limit: usize,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Utf8Bytes>,
    bytes: usize,
    /// The part of `bytes` that `sanctum_queued_bytes` holds.
    reported: usize,
    ping: bool,
    close: Option<CloseCode>,
    aborted: bool,
}

/// What the writer should do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Send this text frame.
    Frame(Utf8Bytes),
    /// Send a ping.
    Ping,
    /// Send a close frame with this code and stop.
    Close(CloseCode),
}

/// The queue overflowed; the connection has been cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow;

impl Outbox {
    /// An empty queue holding at most `limit` bytes.
    pub(crate) fn new(limit: usize, metrics: Arc<Metrics>) -> Self {
        Self(Arc::new(Shared {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            aborted: AtomicBool::new(false),
            abort_waker: AtomicWaker::new(),
            limit,
            metrics,
        }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a poisoned lock is used as is.
        self.0.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether two handles name the same queue.
    pub(crate) fn same(&self, other: &Outbox) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Queues an encoded frame; past the byte bound, drops the queue and closes with 4008.
    ///
    /// Frames pushed after a close are dropped silently: the connection is on its way out.
    pub(crate) fn push(&self, frame: Utf8Bytes) -> Result<(), Overflow> {
        let mut state = self.state();
        if state.close.is_some() {
            return Ok(());
        }
        let charge = charge(&frame);
        if state.bytes + charge > self.0.limit && !state.queue.is_empty() {
            drop(state);
            metrics::add(&self.0.metrics.slow_readers, 1);
            self.abort(CloseCode::SlowReader);
            return Err(Overflow);
        }
        state.bytes += charge;
        self.report_if_moved(&mut state);
        state.queue.push_back(frame);
        drop(state);
        self.0.notify.notify_one();
        Ok(())
    }

    /// Encodes and queues one frame meant for this connection alone.
    pub(crate) fn send(&self, frame: &RelayFrame) -> Result<(), Overflow> {
        self.push(Utf8Bytes::from(frame.encode()))
    }

    /// Asks the writer to send a ping, and releases what an earlier burst left allocated if the queue is empty.
    pub(crate) fn ping(&self) {
        let mut state = self.state();
        state.ping = true;
        if state.queue.is_empty() && state.queue.capacity() > IDLE_QUEUE_CAPACITY {
            state.queue = VecDeque::new();
        }
        drop(state);
        self.0.notify.notify_one();
    }

    /// Closes with `code` after the frames already queued; the first close wins.
    pub(crate) fn close(&self, code: CloseCode) {
        let mut state = self.state();
        if state.close.is_none() {
            state.close = Some(code);
        }
        drop(state);
        self.0.notify.notify_one();
    }

    /// Drops every queued frame and closes with `code` at once, even while the writer is blocked on a send.
    pub(crate) fn abort(&self, code: CloseCode) {
        let mut state = self.state();
        if !state.aborted {
            state.close = Some(code);
            state.aborted = true;
            state.bytes = 0;
            self.report(&mut state);
            state.queue = VecDeque::new();
        }
        drop(state);
        self.0.aborted.store(true, Ordering::Release);
        self.0.abort_waker.wake();
        self.0.notify.notify_one();
    }

    /// Reports once the queue has moved by [`GAUGE_SLACK`] since its last report, either way: after pops that did not
    /// report, the gauge holds more than the queue.
    fn report_if_moved(&self, state: &mut State) {
        if state.bytes.abs_diff(state.reported) >= GAUGE_SLACK {
            self.report(state);
        }
    }

    /// Brings `sanctum_queued_bytes` up to date with this queue.
    fn report(&self, state: &mut State) {
        metrics::shift(&self.0.metrics.queued_bytes, state.bytes as i64 - state.reported as i64);
        state.reported = state.bytes;
    }

    /// Whether a close was asked for; frames read from the client after that are ignored.
    pub(crate) fn is_closing(&self) -> bool {
        self.state().close.is_some()
    }

    /// The next thing to do, if there is one now.
    pub(crate) fn try_next(&self) -> Option<Next> {
        let mut state = self.state();
        if let Some(frame) = state.queue.pop_front() {
            state.bytes -= charge(&frame);
            if state.queue.is_empty() {
                self.report(&mut state);
            } else {
                self.report_if_moved(&mut state);
            }
            if state.queue.is_empty() && state.queue.capacity() > BUSY_QUEUE_CAPACITY {
                // A large burst grew the buffer; a connection between bursts should not keep it.
                state.queue = VecDeque::new();
            }
            return Some(Next::Frame(frame));
        }
        if let Some(code) = state.close {
            return Some(Next::Close(code));
        }
        if std::mem::take(&mut state.ping) {
            return Some(Next::Ping);
        }
        None
    }

    /// Waits for the next thing to do.
    pub(crate) async fn next(&self) -> Next {
        loop {
            if let Some(next) = self.try_next() {
                return next;
            }
            // `notify_one` stores a permit when nobody waits, so a push between the check and here is not lost.
            self.0.notify.notified().await;
        }
    }

    /// Ready once the queue is aborted; a writer whose send would block polls it, so that a peer that does not read
    /// cannot hold the writer (and the close it must send) forever. Sends that do not block never look at it.
    pub(crate) fn poll_aborted(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.aborted.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.0.abort_waker.register(cx.waker());
        // An abort between the check and the registration woke nobody: look again.
        if self.0.aborted.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let reported = self.state.get_mut().map(|s| s.reported).unwrap_or(0);
        metrics::shift(&self.metrics.queued_bytes, -(reported as i64));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn text(n: usize) -> Utf8Bytes {
        Utf8Bytes::from("x".repeat(n))
    }

    #[test]
    fn frames_come_out_in_order_then_the_close() {
        let outbox = Outbox::new(1000, Arc::default());
        outbox.push(text(1)).unwrap();
        outbox.push(text(2)).unwrap();
        outbox.close(CloseCode::Kicked);
        outbox.push(text(3)).unwrap();
        assert_eq!(outbox.try_next(), Some(Next::Frame(text(1))));
        assert_eq!(outbox.try_next(), Some(Next::Frame(text(2))));
        assert_eq!(outbox.try_next(), Some(Next::Close(CloseCode::Kicked)));
    }

    #[test]
    fn overflow_drops_the_queue_and_closes_as_slow() {
        let metrics = Arc::new(Metrics::default());
        let outbox = Outbox::new(2 * ENTRY_BYTES + 10, metrics.clone());
        outbox.push(text(6)).unwrap();
        assert_eq!(outbox.push(text(6)), Err(Overflow));
        assert_eq!(outbox.try_next(), Some(Next::Close(CloseCode::SlowReader)));
        assert_eq!(metrics.queued_bytes.load(Ordering::Relaxed), 0);
        assert_eq!(metrics.slow_readers.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn abort_overrides_a_pending_close() {
        let outbox = Outbox::new(100, Arc::default());
        outbox.push(text(1)).unwrap();
        outbox.close(CloseCode::Normal);
        outbox.abort(CloseCode::Restarting);
        assert_eq!(outbox.try_next(), Some(Next::Close(CloseCode::Restarting)));
    }

    #[test]
    fn every_frame_counts_its_handle_so_small_frames_cannot_outgrow_the_bound() {
        let limit = 1024;
        let outbox = Outbox::new(limit, Arc::default());
        let (mut queued, mut capacity) = (0, 0);
        while outbox.push(text(1)).is_ok() {
            queued += 1;
            capacity = capacity.max(outbox.state().queue.capacity());
        }
        assert_eq!(queued, limit / (ENTRY_BYTES + 1));
        // The buffer holding the handles, and the frames' text, are within the bound together.
        assert!(
            std::mem::size_of::<Utf8Bytes>() * capacity + queued <= limit,
            "{capacity} entries"
        );
    }

    #[test]
    fn a_frame_as_large_as_the_bound_gets_into_an_empty_queue() {
        let outbox = Outbox::new(100, Arc::default());
        outbox.push(text(100)).unwrap();
        assert_eq!(outbox.push(text(1)), Err(Overflow));
    }

    #[test]
    fn the_gauge_is_exact_for_an_empty_queue_and_within_its_slack_for_a_full_one() {
        let metrics = Arc::new(Metrics::default());
        let gauge = || metrics.queued_bytes.load(Ordering::Relaxed) as usize;
        let outbox = Outbox::new(1 << 20, metrics.clone());
        let frame = 1000;
        let mut queued = 0;
        for _ in 0..100 {
            outbox.push(text(frame)).unwrap();
            queued += frame + ENTRY_BYTES;
            assert!(
                gauge() <= queued && queued - gauge() < GAUGE_SLACK,
                "{} of {queued}",
                gauge()
            );
        }
        for _ in 0..99 {
            outbox.try_next();
            queued -= frame + ENTRY_BYTES;
            assert!(gauge().abs_diff(queued) < GAUGE_SLACK, "{} of {queued}", gauge());
        }
        outbox.try_next();
        assert_eq!(gauge(), 0);
        // Pops that do not report leave the gauge above the queue; a push then must not take the difference as negative.
        for _ in 0..20 {
            outbox.push(text(frame)).unwrap();
        }
        for _ in 0..10 {
            outbox.try_next();
        }
        assert!(
            gauge() > 10 * (frame + ENTRY_BYTES),
            "the gauge reported at its height and not since"
        );
        outbox.push(text(frame)).unwrap();
        assert!(
            gauge().abs_diff(11 * (frame + ENTRY_BYTES)) < GAUGE_SLACK,
            "{}",
            gauge()
        );
        drop(outbox);
        assert_eq!(gauge(), 0, "a queue dropped with frames in it leaves nothing behind");
    }

    fn drain(outbox: &Outbox, frames: usize) {
        for _ in 0..frames {
            outbox.push(text(1)).unwrap();
        }
        for _ in 0..frames {
            assert_eq!(outbox.try_next(), Some(Next::Frame(text(1))));
        }
    }

    #[test]
    fn a_burst_keeps_its_buffer_until_the_next_ping_and_a_large_one_not_even_that_long() {
        let outbox = Outbox::new(1 << 20, Arc::default());
        drain(&outbox, 100);
        let kept = outbox.state().queue.capacity();
        assert!((100..=BUSY_QUEUE_CAPACITY).contains(&kept), "{kept}");
        drain(&outbox, 100);
        assert_eq!(
            outbox.state().queue.capacity(),
            kept,
            "a second burst of the same size allocates nothing"
        );
        outbox.ping();
        assert_eq!(outbox.state().queue.capacity(), 0);
        assert_eq!(outbox.try_next(), Some(Next::Ping));
        drain(&outbox, BUSY_QUEUE_CAPACITY + 1);
        assert_eq!(outbox.state().queue.capacity(), 0);
    }

    #[tokio::test]
    async fn next_wakes_on_push() {
        let outbox = Outbox::new(100, Arc::default());
        let waiter = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.next().await }
        });
        tokio::task::yield_now().await;
        outbox.push(text(4)).unwrap();
        assert_eq!(waiter.await.unwrap(), Next::Frame(text(4)));
    }
}
