//! One WebSocket connection: the welcome, a reader and a writer, the handshake and idle timeouts,
//! the per-connection frame limits, and the translation of client frames into registry calls.
//!
//! The reader and the writer are two futures polled by the one task axum spawns for the upgraded socket,
//! as in axum's chat example but without spawning two more tasks, which keeps an idle connection small.
//! They talk through the connection's [`Outbox`]: everything the client receives, replies and room frames alike,
//! goes through that one queue, so nothing overtakes anything else.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use sanctum_protocol::{
    AuthToken, ClientFrame, CloseCode, Descriptor, LeftReason, PROTOCOL_VERSION, RelayFrame, RoomId, RoomState,
    Verifier,
};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, Utf8Bytes};

use crate::app::App;
use crate::error::Refusal;
use crate::metrics::{self, Metrics};
use crate::outbox::{Next, Outbox};
use crate::registry::Membership;
use crate::tally::{Frames, Tally, TooManyFragments};
use crate::throttle::{AddressKey, ConnectionPermit, FLOOD_WINDOW, TokenBucket, Window};

/// Malformed frames one connection may send before it is closed with 1008.
pub(crate) const MAX_BAD_FRAMES: u32 = 16;
/// How long the writer tries to deliver a close frame to a peer that does not read.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one side of a closing connection waits for the other (queued frames out, the peer's close in).
const LINGER: Duration = Duration::from_secs(2);

/// An upgraded `/ws` socket, its frames counted as they arrive.
pub(crate) type Socket = WebSocketStream<Tally<TokioIo<Upgraded>>>;

/// Serves one upgraded socket until it closes; `frames` counts the data frames it reads, and `_permit` holds its slot
/// of the connection limits until then.
pub(crate) async fn serve(
    socket: Socket,
    frames: Arc<Frames>,
    app: Arc<App>,
    address: AddressKey,
    _permit: ConnectionPermit,
) {
    let outbox = Outbox::new(app.config.queue_bytes, app.metrics.clone());
    let _ = outbox.push(app.welcome.clone());
    tracing::debug!("connection opened");
    let (sink, stream) = socket.split();
    let mut connection = Connection {
        app: &app,
        address,
        outbox: &outbox,
        membership: None,
        frames,
        bucket: TokenBucket::new(app.config.frames_per_second, app.config.frame_burst, Instant::now()),
        strikes: Window::new(Instant::now()),
        failed_joins: 0,
        bad_frames: 0,
    };
    {
        let mut reader = std::pin::pin!(connection.read(stream));
        let mut writer = std::pin::pin!(write(sink, &outbox, &app.metrics));
        tokio::select! {
            () = &mut writer => {
                // The close frame is out: give the peer a moment to answer it, so its last bytes are not reset.
                let _ = timeout(LINGER, &mut reader).await;
            }
            () = &mut reader => {
                // The peer is gone or broke the protocol: flush what is queued, then the close frame.
                outbox.close(CloseCode::Normal);
                let _ = timeout(LINGER, &mut writer).await;
            }
        }
    }
    if let Some(membership) = connection.membership.take() {
        membership.leave(LeftReason::Dropped);
    }
    tracing::debug!("connection closed");
}

/// The reader's side of one connection.
struct Connection<'a> {
    app: &'a App,
    address: AddressKey,
    outbox: &'a Outbox,
    membership: Option<Membership>,
    frames: Arc<Frames>,
    bucket: TokenBucket,
    strikes: Window,
    failed_joins: u32,
    bad_frames: u32,
}

/// The close code for a read error: a message over the size limit, text that is not UTF-8, or a message split into
/// too many frames.
///
/// Any other error (a reset, a broken frame) ends the connection with a plain close, if the socket still takes one.
fn read_error_close(error: &tungstenite::Error) -> Option<CloseCode> {
    match error {
        tungstenite::Error::Capacity(_) => Some(CloseCode::TooLarge),
        tungstenite::Error::Utf8(_) => Some(CloseCode::InvalidText),
        tungstenite::Error::Io(error) if error.get_ref().is_some_and(|e| e.is::<TooManyFragments>()) => {
            Some(CloseCode::PolicyViolation)
        }
        _ => None,
    }
}

impl Connection<'_> {
    /// Reads frames until the peer closes, the socket fails, or the linger after a close runs out.
    async fn read(&mut self, mut stream: SplitStream<Socket>) {
        let app: &App = self.app;
        let config = &app.config;
        let start = Instant::now();
        let handshake_deadline = start + config.handshake_timeout;
        let ping_every = config.idle_timeout / 2;
        let mut last_pong = start;
        let mut next_ping = start + ping_every;
        let mut restarting = false;
        let sleep = sleep_until(next_ping.min(handshake_deadline));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                () = app.cancel.cancelled(), if !restarting => {
                    restarting = true;
                    self.outbox.abort(CloseCode::Restarting);
                }
                message = stream.next() => match message {
                    None => return,
                    Some(Err(error)) => {
                        match read_error_close(&error) {
                            Some(CloseCode::TooLarge) => {
                                self.refuse(Refusal::FrameTooLarge);
                                self.close(CloseCode::TooLarge, false);
                            }
                            Some(code) => self.close(code, false),
                            None => {}
                        }
                        return;
                    }
                    Some(Ok(message)) => {
                        if let Message::Pong(_) = message {
                            last_pong = Instant::now();
                        }
                        self.on_message(message).await;
                    }
                },
                () = &mut sleep => {
                    let now = Instant::now();
                    if self.membership.is_none() && now >= handshake_deadline && !self.outbox.is_closing() {
                        tracing::debug!("handshake timed out");
                        self.close(CloseCode::Timeout, false);
                    }
                    if now >= next_ping {
                        if now.saturating_duration_since(last_pong) > config.idle_timeout {
                            tracing::debug!("idle timeout");
                            self.close(CloseCode::Timeout, true);
                        } else {
                            self.outbox.ping();
                            self.frames.release();
                        }
                        next_ping = now + ping_every;
                    }
                    let wake = if self.membership.is_none() && now < handshake_deadline {
                        next_ping.min(handshake_deadline)
                    } else {
                        next_ping
                    };
                    sleep.as_mut().reset(wake);
                }
            }
        }
    }

    async fn on_message(&mut self, message: Message) {
        let (text, len) = match &message {
            Message::Text(text) => (Some(text.as_str()), text.len()),
            Message::Binary(bytes) => (None, bytes.len()),
            Message::Ping(_) | Message::Pong(_) => {
                self.charge_control();
                return;
            }
            Message::Close(_) | Message::Frame(_) => return,
        };
        metrics::add(&self.app.metrics.frames_in, 1);
        metrics::add(&self.app.metrics.bytes_in, len as u64);
        // A message costs one token per frame it was sent in, so that fragments are no way around the rate.
        let frames = self.frames.take();
        if self.outbox.is_closing() || !self.within_rate(frames) {
            return;
        }
        match text {
            Some(text) => self.on_text(text).await,
            None => self.refuse(Refusal::BinaryFrame),
        }
    }

    /// Takes a token for a ping or pong, which cost the relay work too; past the rate it counts toward closing
    /// a flood, but earns no error frame, since a pong may answer the relay's own ping.
    fn charge_control(&mut self) {
        let now = Instant::now();
        if self.outbox.is_closing() || self.bucket.try_take_n(now, 1) {
            return;
        }
        if !self.strikes.try_count(now, FLOOD_WINDOW, self.app.config.flood_strikes) {
            tracing::debug!("closing a flooding connection");
            self.close(CloseCode::Flooding, false);
        }
    }

    /// Takes a token for each of a message's `frames`; past the rate, refuses it, and closes with 4009 a connection
    /// that keeps on.
    fn within_rate(&mut self, frames: u32) -> bool {
        let now = Instant::now();
        if self.bucket.try_take_n(now, frames) {
            return true;
        }
        self.refuse(Refusal::RateLimited);
        if !self.strikes.try_count(now, FLOOD_WINDOW, self.app.config.flood_strikes) {
            tracing::debug!("closing a flooding connection");
            self.close(CloseCode::Flooding, false);
        }
        false
    }

    /// Closes the connection for a reason of its own (a timeout, a flood, a broken rule) and leaves the room at
    /// once, so that the others hear `dropped` now rather than after the close handshake has run its course.
    fn close(&mut self, code: CloseCode, abort: bool) {
        if abort {
            self.outbox.abort(code);
        } else {
            self.outbox.close(code);
        }
        if let Some(membership) = self.membership.take() {
            membership.leave(LeftReason::Dropped);
        }
    }

    fn refuse(&self, refusal: Refusal) {
        let code = refusal.code();
        self.app.metrics.reject(code);
        tracing::debug!(code = code.as_str(), "refused a frame");
        let _ = self.outbox.send(&refusal.frame());
    }

    async fn on_text(&mut self, text: &str) {
        let Ok(frame) = ClientFrame::decode(text) else {
            self.bad_frames += 1;
            self.refuse(Refusal::BadFrame);
            if self.bad_frames >= MAX_BAD_FRAMES {
                self.close(CloseCode::PolicyViolation, false);
            }
            return;
        };
        tracing::trace!(kind = kind(&frame), "frame received");
        let result = match frame {
            ClientFrame::Create {
                v,
                room,
                verifier,
                lifetime,
                descriptor,
            } => self.create(v, &room, &verifier, lifetime, descriptor).await,
            ClientFrame::Join { v, room, token } => self.join(v, &room, &token).await,
            ClientFrame::Broadcast { payload } => self.member().and_then(|m| m.broadcast(payload)),
            ClientFrame::Direct { to, payload } => self.member().and_then(|m| m.direct(to, payload)),
            ClientFrame::Kick { member } => self.member().and_then(|m| m.kick(member)),
            ClientFrame::Purge => self.member().map(|m| {
                m.purge();
                tracing::debug!("room purged");
            }),
            ClientFrame::Leave => self.leave(),
            ClientFrame::Peek { room } => self.peek(&room).await,
            ClientFrame::Lock { verifier, descriptor } => match self.member() {
                Ok(m) => m.lock(&verifier, descriptor).await,
                Err(refusal) => Err(refusal),
            },
        };
        if let Err(refusal) = result {
            self.refuse(refusal);
        }
    }

    fn member(&self) -> Result<&Membership, Refusal> {
        self.membership.as_ref().ok_or(Refusal::NotInRoom)
    }

    /// The checks create and join share: the protocol version, and one room per connection.
    fn check_entry(&self, v: u16) -> Result<(), Refusal> {
        if v != PROTOCOL_VERSION {
            return Err(Refusal::UnsupportedVersion);
        }
        if self.membership.is_some() {
            return Err(Refusal::AlreadyInRoom);
        }
        Ok(())
    }

    async fn create(
        &mut self,
        v: u16,
        room: &RoomId,
        verifier: &Verifier,
        lifetime: u32,
        descriptor: Descriptor,
    ) -> Result<(), Refusal> {
        self.check_entry(v)?;
        if lifetime == 0 {
            return Err(Refusal::BadRequest("a room's lifetime must be at least one second"));
        }
        if !self.app.limits.try_create(self.address, Instant::now()) {
            return Err(Refusal::RateLimited);
        }
        let membership = self
            .app
            .registry
            .create(room, verifier, lifetime, descriptor, self.outbox, self.address)
            .await?;
        tracing::debug!("room created");
        self.membership = Some(membership);
        Ok(())
    }

    async fn join(&mut self, v: u16, room: &RoomId, token: &AuthToken) -> Result<(), Refusal> {
        self.check_entry(v)?;
        let now = Instant::now();
        if self.failed_joins >= self.app.config.failed_joins_per_connection
            || !self.app.limits.may_join(self.address, now)
        {
            return Err(Refusal::RateLimited);
        }
        match self.app.registry.join(room, token, self.outbox).await {
            Ok(membership) => {
                tracing::debug!(member = membership.member(), "member joined");
                self.membership = Some(membership);
                Ok(())
            }
            // Guessing a room id counts like guessing a token; a purged room's members reconnecting do not.
            Err(refusal @ (Refusal::BadToken | Refusal::RoomNotFound)) => {
                self.failed_joins += 1;
                self.app.limits.record_failed_join(self.address, now);
                Err(refusal)
            }
            Err(refusal) => Err(refusal),
        }
    }

    /// Says whether a room id is live, gone or unknown. It is limited like a join, and an unknown id counts as a
    /// failed join: a peek is no cheaper a way to guess room ids than a join with any token.
    async fn peek(&mut self, room: &RoomId) -> Result<(), Refusal> {
        if self.membership.is_some() {
            return Err(Refusal::AlreadyInRoom);
        }
        let now = Instant::now();
        if self.failed_joins >= self.app.config.failed_joins_per_connection
            || !self.app.limits.may_join(self.address, now)
        {
            return Err(Refusal::RateLimited);
        }
        let state = self.app.registry.state_of(room).await?;
        if state == RoomState::Unknown {
            self.failed_joins += 1;
            self.app.limits.record_failed_join(self.address, now);
        }
        let _ = self.outbox.send(&RelayFrame::RoomStatus { state });
        Ok(())
    }

    fn leave(&mut self) -> Result<(), Refusal> {
        let membership = self.membership.take().ok_or(Refusal::NotInRoom)?;
        membership.leave(LeftReason::Left);
        self.outbox.close(CloseCode::Normal);
        Ok(())
    }
}

/// The name of a frame's type, for trace events that must not carry its content.
fn kind(frame: &ClientFrame) -> &'static str {
    match frame {
        ClientFrame::Create { .. } => "create",
        ClientFrame::Join { .. } => "join",
        ClientFrame::Broadcast { .. } => "broadcast",
        ClientFrame::Direct { .. } => "direct",
        ClientFrame::Kick { .. } => "kick",
        ClientFrame::Purge => "purge",
        ClientFrame::Leave => "leave",
        ClientFrame::Peek { .. } => "peek",
        ClientFrame::Lock { .. } => "lock",
    }
}

/// What became of one send.
enum Sent {
    Done,
    Aborted,
    Broken,
}

/// Polls one sink operation to completion, unless the outbox is aborted while it would block, which unblocks a
/// writer stuck on a peer that does not read.
///
/// The abort is looked at only when the operation is pending: a send into a socket that takes it costs nothing more.
async fn unless_aborted<E>(
    outbox: &Outbox,
    mut operation: impl FnMut(&mut Context<'_>) -> Poll<Result<(), E>>,
) -> Sent {
    std::future::poll_fn(|cx| match operation(cx) {
        Poll::Ready(Ok(())) => Poll::Ready(Sent::Done),
        Poll::Ready(Err(_)) => Poll::Ready(Sent::Broken),
        Poll::Pending => outbox.poll_aborted(cx).map(|()| Sent::Aborted),
    })
    .await
}

/// Frames and bytes one writer sent that the shared counters do not hold yet.
///
/// A writer adds them up itself and reports when its queue runs dry, every [`Written::REPORT_EVERY`] frames and when it
/// stops: adding to the shared counters at every frame had two threads fighting over their cache line.
struct Written<'a> {
    metrics: &'a Metrics,
    frames: u64,
    bytes: u64,
}

impl<'a> Written<'a> {
    const REPORT_EVERY: u64 = 64;

    fn new(metrics: &'a Metrics) -> Self {
        Self {
            metrics,
            frames: 0,
            bytes: 0,
        }
    }

    fn count(&mut self, len: usize) {
        self.frames += 1;
        self.bytes += len as u64;
        if self.frames >= Self::REPORT_EVERY {
            self.report();
        }
    }

    fn report(&mut self) {
        if self.frames > 0 {
            metrics::add(&self.metrics.frames_out, std::mem::take(&mut self.frames));
            metrics::add(&self.metrics.bytes_out, std::mem::take(&mut self.bytes));
        }
    }
}

impl Drop for Written<'_> {
    fn drop(&mut self) {
        self.report();
    }
}

/// Writes what the outbox holds until it says close; frames are fed as they come and flushed when it runs dry.
async fn write(mut sink: SplitSink<Socket, Message>, outbox: &Outbox, metrics: &Metrics) {
    let mut written = Written::new(metrics);
    let code = loop {
        let next = match outbox.try_next() {
            Some(next) => next,
            None => {
                written.report();
                if let Sent::Broken = unless_aborted(outbox, |cx| sink.poll_flush_unpin(cx)).await {
                    return;
                }
                outbox.next().await
            }
        };
        let (message, len) = match next {
            Next::Frame(text) => {
                let len = text.len();
                (Message::Text(text), Some(len))
            }
            Next::Ping => (Message::Ping(Default::default()), None),
            Next::Close(code) => break code,
        };
        match unless_aborted(outbox, |cx| sink.poll_ready_unpin(cx)).await {
            Sent::Done => {
                if sink.start_send_unpin(message).is_err() {
                    return;
                }
                if let Some(len) = len {
                    written.count(len);
                }
            }
            Sent::Aborted => {}
            Sent::Broken => return,
        }
    };
    written.report();
    let frame = CloseFrame {
        code: code.code().into(),
        reason: Utf8Bytes::from_static(code.reason()),
    };
    let _ = timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
}
