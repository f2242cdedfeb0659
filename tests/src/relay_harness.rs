//! A real relay on `127.0.0.1:0` inside the test process, its `/metrics` and `/healthz`, and room helpers
//! that speak the wire protocol through [`RawWs`].

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sanctum_protocol::{
    AuthToken, ClientFrame, Descriptor, MemberId, PROTOCOL_VERSION, Payload, RelayFrame, RoomId, Verifier,
};
use sanctum_relay::Config;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::raw_ws::{Event, Options, RawWs, UpgradeError};

/// How long a wait for the relay's gauges to settle may take before the test fails.
pub const SETTLE_DEADLINE: Duration = Duration::from_secs(20);

/// A relay served by `sanctum_relay::run` on a loopback port, stopped when dropped.
#[derive(Debug)]
pub struct TestRelay {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The address of its private metrics listener.
    pub metrics_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), sanctum_relay::Error>>,
}

impl TestRelay {
    /// Starts a relay with `config` on `127.0.0.1:0`.
    pub async fn start(config: Config) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let metrics = TcpListener::bind("127.0.0.1:0").await?;
        let metrics_addr = metrics.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(sanctum_relay::run_with_metrics(listener, metrics, config, async move {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            metrics_addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// Whether the relay's task is still running: it has not returned and has not panicked.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Whether `/healthz` answers `200 ok`.
    pub async fn is_healthy(&self) -> bool {
        matches!(http_get(self.addr, "/healthz").await, Ok((200, body)) if body == "ok")
    }

    /// The relay's metrics, by sample name with labels (`sanctum_rejections_total{code="bad_frame"}`).
    pub async fn metrics(&self) -> io::Result<Metrics> {
        let (status, body) = http_get(self.metrics_addr, "/metrics").await?;
        if status != 200 {
            return Err(io::Error::other(format!("/metrics answered {status}")));
        }
        Ok(Metrics::parse(&body))
    }

    /// Waits until the gauges satisfy `done`, reading `/metrics` each time the relay may have moved on.
    ///
    /// Connections end asynchronously (the relay flushes a close frame and lingers for the peer's),
    /// so gauges are awaited as events, with a deadline that fails the test instead of hanging it.
    pub async fn settle(&self, done: impl Fn(&Gauges) -> bool) -> Result<Gauges, Gauges> {
        let deadline = tokio::time::Instant::now() + SETTLE_DEADLINE;
        loop {
            let gauges = self.metrics().await.map(|m| m.gauges()).unwrap_or_default();
            if done(&gauges) {
                return Ok(gauges);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(gauges);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the relay and waits for `run` to return.
    pub async fn stop(mut self) -> Result<(), sanctum_relay::Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.unwrap_or(Ok(()))
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Samples of the relay's `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Metrics(pub HashMap<String, f64>);

/// The gauges that hold the relay's live state; each must come back to its baseline after a hostile input.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    /// `sanctum_connections`.
    pub connections: f64,
    /// `sanctum_rooms`.
    pub rooms: f64,
    /// `sanctum_members`.
    pub members: f64,
    /// `sanctum_queued_bytes`.
    pub queued_bytes: f64,
    /// `sanctum_tombstones`.
    pub tombstones: f64,
}

impl Metrics {
    /// Parses Prometheus text: one `name value` sample per line, comments skipped.
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect();
        Self(samples)
    }

    /// One sample, or zero when absent.
    pub fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }

    /// The count of refusals with wire code `code`.
    pub fn rejections(&self, code: &str) -> f64 {
        self.get(&format!("sanctum_rejections_total{{code=\"{code}\"}}"))
    }

    /// The live-state gauges.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            connections: self.get("sanctum_connections"),
            rooms: self.get("sanctum_rooms"),
            members: self.get("sanctum_members"),
            queued_bytes: self.get("sanctum_queued_bytes"),
            tombstones: self.get("sanctum_tombstones"),
        }
    }
}

/// A plain HTTP/1.1 GET with `Connection: close`; returns the status and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(crate::raw_ws::READ_DEADLINE, stream.read_to_end(&mut response))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no HTTP response"))??;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status"))?;
    Ok((status, body.to_owned()))
}

/// A room's id and auth token, distinct for every call in this process and across runs.
#[derive(Debug, Clone)]
pub struct RoomKeys {
    /// The room id.
    pub room: RoomId,
    /// The auth token members present.
    pub token: AuthToken,
}

impl RoomKeys {
    /// Fresh keys: the relay never sees the same id twice in one run, so rows of a table cannot collide.
    pub fn fresh() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut room = [0u8; 16];
        room[..8].copy_from_slice(&n.to_be_bytes());
        room[8..].copy_from_slice(&nanos.to_be_bytes());
        let token: [u8; 32] = Sha256::digest([&room[..], b"token"].concat()).into();
        Self {
            room: RoomId(room),
            token: AuthToken(token),
        }
    }

    /// SHA-256 of the token, which the creator registers.
    pub fn verifier(&self) -> Verifier {
        Verifier(Sha256::digest(self.token.as_bytes()).into())
    }

    /// A token that is not this room's.
    pub fn wrong_token(&self) -> AuthToken {
        let mut bytes = *self.token.as_bytes();
        bytes[0] ^= 0xff;
        AuthToken(bytes)
    }

    /// The `create` frame for this room with `lifetime` seconds and a small descriptor.
    pub fn create_frame(&self, lifetime: u32) -> ClientFrame {
        ClientFrame::Create {
            v: PROTOCOL_VERSION,
            room: self.room.clone(),
            verifier: self.verifier(),
            lifetime,
            descriptor: Descriptor::new(b"sealed descriptor".to_vec()).unwrap_or_default(),
        }
    }

    /// The `join` frame for this room with its right token.
    pub fn join_frame(&self) -> ClientFrame {
        ClientFrame::Join {
            v: PROTOCOL_VERSION,
            room: self.room.clone(),
            token: self.token.clone(),
        }
    }
}

/// Connection options that make the relay, when it trusts 127.0.0.1 as a proxy, see the client as `address`.
pub fn from_address(address: &str) -> Options {
    Options {
        headers: vec![("X-Forwarded-For".to_owned(), address.to_owned())],
        receive_buffer: None,
    }
}

/// Connects and reads the welcome frame.
pub async fn connect(addr: SocketAddr, options: &Options) -> io::Result<RawWs> {
    let mut ws = RawWs::connect(addr, options).await.map_err(|error| match error {
        UpgradeError::Io(error) => error,
        UpgradeError::Status(status) => io::Error::other(format!("upgrade refused with {status}")),
    })?;
    match ws.frame().await? {
        RelayFrame::Welcome(_) => Ok(ws),
        other => Err(io::Error::other(format!("expected welcome, got {other:?}"))),
    }
}

/// Creates the room of `keys` on `ws` and returns the creator's member id.
pub async fn create(ws: &mut RawWs, keys: &RoomKeys, lifetime: u32) -> io::Result<MemberId> {
    ws.send(&keys.create_frame(lifetime)).await?;
    match ws.frame().await? {
        RelayFrame::Created { member, .. } => Ok(member),
        other => Err(io::Error::other(format!("expected created, got {other:?}"))),
    }
}

/// Joins the room of `keys` on `ws` and returns the joiner's member id.
pub async fn join(ws: &mut RawWs, keys: &RoomKeys) -> io::Result<MemberId> {
    ws.send(&keys.join_frame()).await?;
    match ws.frame().await? {
        RelayFrame::Joined { member, .. } => Ok(member),
        other => Err(io::Error::other(format!("expected joined, got {other:?}"))),
    }
}

/// A payload of `len` bytes of `byte`.
pub fn payload(byte: u8, len: usize) -> Payload {
    Payload::new(vec![byte; len]).unwrap_or_default()
}

/// A connection driven by a background task that reads continuously and answers pings, as a live browser tab does,
/// so that it survives idle timeouts between the moments a test looks at it.
#[derive(Debug)]
pub struct Pumped {
    commands: mpsc::UnboundedSender<ClientFrame>,
    events: mpsc::UnboundedReceiver<Event>,
    task: JoinHandle<()>,
}

impl Pumped {
    /// Hands `ws` to a background task.
    pub fn new(mut ws: RawWs) -> Self {
        let (commands, mut inbox) = mpsc::unbounded_channel::<ClientFrame>();
        let (outbox, events) = mpsc::unbounded_channel();
        ws.auto_pong = true;
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    command = inbox.recv() => match command {
                        Some(frame) => {
                            if ws.send(&frame).await.is_err() {
                                let _ = outbox.send(Event::Eof);
                                return;
                            }
                        }
                        None => return,
                    },
                    // `next` only appends whole reads to its buffer, so dropping it for a command loses nothing.
                    event = ws.next() => match event {
                        Ok(Event::Eof) => {
                            let _ = outbox.send(Event::Eof);
                            return;
                        }
                        Ok(event) => {
                            let _ = outbox.send(event);
                        }
                        Err(error) if error.kind() == io::ErrorKind::TimedOut => {}
                        Err(_) => {
                            let _ = outbox.send(Event::Eof);
                            return;
                        }
                    },
                }
            }
        });
        Self { commands, events, task }
    }

    /// Sends a frame.
    pub fn send(&self, frame: ClientFrame) -> io::Result<()> {
        self.commands
            .send(frame)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the connection is gone"))
    }

    /// The next event, waiting at most [`crate::raw_ws::READ_DEADLINE`].
    pub async fn next(&mut self) -> io::Result<Event> {
        match tokio::time::timeout(crate::raw_ws::READ_DEADLINE, self.events.recv()).await {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Ok(Event::Eof),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no event")),
        }
    }
}

impl Pumped {
    /// Takes every event that already arrived, without waiting; a long-running driver calls it to keep memory flat.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            events.push(event);
        }
        events
    }
}

impl Drop for Pumped {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Two members of one room, exchanging frames before and after each hostile input to show that it did not touch them.
#[derive(Debug)]
pub struct Canary {
    keys: RoomKeys,
    first: Pumped,
    second: Pumped,
    round: u8,
}

impl Canary {
    /// Creates a room with two members from `address`.
    pub async fn start(addr: SocketAddr, address: &str) -> io::Result<Self> {
        let keys = RoomKeys::fresh();
        let options = from_address(address);
        let mut first = connect(addr, &options).await?;
        create(&mut first, &keys, 3600).await?;
        let mut second = connect(addr, &options).await?;
        join(&mut second, &keys).await?;
        match first.frame().await? {
            RelayFrame::MemberJoined { member: 2 } => {}
            other => return Err(io::Error::other(format!("expected member_joined, got {other:?}"))),
        }
        Ok(Self {
            keys,
            first: Pumped::new(first),
            second: Pumped::new(second),
            round: 0,
        })
    }

    /// A broadcast each way and a direct frame: each must arrive intact, and nothing else may have arrived.
    pub async fn check(&mut self) -> io::Result<()> {
        self.round = self.round.wrapping_add(1);
        let sent = payload(self.round, 64);
        self.first.send(ClientFrame::Broadcast { payload: sent.clone() })?;
        expect_frame(&mut self.second, 1, false, &sent).await?;
        let sent = payload(self.round, 96);
        self.second.send(ClientFrame::Broadcast { payload: sent.clone() })?;
        expect_frame(&mut self.first, 2, false, &sent).await?;
        let sent = payload(self.round, 128);
        self.first.send(ClientFrame::Direct {
            to: 2,
            payload: sent.clone(),
        })?;
        expect_frame(&mut self.second, 1, true, &sent).await
    }

    /// The canary room's keys.
    pub fn keys(&self) -> &RoomKeys {
        &self.keys
    }
}

/// Reads the next event of `member` and checks it is exactly this relayed frame.
async fn expect_frame(member: &mut Pumped, from: MemberId, direct: bool, payload: &Payload) -> io::Result<()> {
    let expected = RelayFrame::Frame {
        from,
        direct,
        payload: payload.clone(),
    };
    match member.next().await? {
        Event::Frame(frame) if frame == expected => Ok(()),
        other => Err(io::Error::other(format!(
            "canary expected its own frame, got {other:?}"
        ))),
    }
}
