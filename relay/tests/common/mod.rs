//! Shared helpers for the relay's integration tests: a relay served by `run` on `127.0.0.1:0`,
//! WebSocket clients that speak the envelope, a raw socket client that never answers pings, and room keys.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sanctum_protocol::{
    AUTH_TOKEN_LEN, AuthToken, ClientFrame, Descriptor, MemberId, PROTOCOL_VERSION, Payload, ROOM_ID_LEN, RelayFrame,
    RoomId, Verifier,
};
use sanctum_relay::Config;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The relay binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sanctum-relay");

/// A `sanctum-relay` process, killed when dropped, whose stdout and stderr are captured whole.
pub struct Process {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Starts the binary with `args` and parses its listening line.
    pub async fn start(args: &[&str]) -> Self {
        use std::io::{BufRead as _, Read as _};
        use std::process::{Command, Stdio};

        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the relay");
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let (line_tx, line_rx) = oneshot::channel();
        let out = output.clone();
        let stdout_reader = std::thread::spawn(move || {
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            out.lock().unwrap().extend_from_slice(line.as_bytes());
            let _ = line_tx.send(line);
            let mut rest = Vec::new();
            let _ = stdout.read_to_end(&mut rest);
            out.lock().unwrap().extend_from_slice(&rest);
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let out = output.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                out.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        let line = tokio::time::timeout(EVENT_DEADLINE, line_rx)
            .await
            .expect("the listening line in time")
            .expect("the relay prints its listening line");
        let addr = line
            .trim_end()
            .strip_prefix("sanctum-relay listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("a socket address");
        Self {
            child,
            addr,
            output,
            readers: vec![stdout_reader, stderr_reader],
        }
    }

    /// Sends SIGTERM, waits for the process to exit, and returns everything it wrote to stdout and stderr.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Vec<u8>) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("the relay exits");
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        let output = std::mem::take(&mut *self.output.lock().unwrap());
        (exit, output)
    }

    /// The resident memory of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

/// The longest any single expected event may take before a test fails instead of hanging.
pub const EVENT_DEADLINE: Duration = Duration::from_secs(15);

/// A configuration whose limits stay out of the way of tests that do not exercise them.
pub fn roomy_config() -> Config {
    Config {
        frames_per_second: 10_000,
        frame_burst: 10_000,
        creates_per_minute: 1_000,
        failed_joins_per_address: 1_000,
        max_membership_events: 1_000,
        max_rooms_per_address: 1_000,
        ..Config::default()
    }
}

/// A relay served by `sanctum_relay::run_with_metrics` on a loopback port, its metrics on another.
pub struct Relay {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), sanctum_relay::Error>>,
}

impl Relay {
    /// Starts a relay with `config` on `127.0.0.1:0`.
    pub async fn start(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let metrics_addr = metrics.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(sanctum_relay::run_with_metrics(listener, metrics, config, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            metrics_addr,
            shutdown: Some(tx),
            task,
        }
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Connects without an Origin header and reads the welcome.
    pub async fn connect(&self) -> Client {
        self.connect_with(&[]).await.expect("connect")
    }

    /// The relay at `addr`, served by some other process: only its address is known.
    pub fn at(addr: SocketAddr) -> Self {
        let (shutdown, _) = oneshot::channel();
        Self {
            addr,
            metrics_addr: addr,
            shutdown: Some(shutdown),
            task: tokio::spawn(std::future::pending()),
        }
    }

    /// Connects as a client at `ip`, as a trusted proxy on loopback would forward it.
    pub async fn connect_from(&self, ip: &str) -> Client {
        self.connect_with(&[("x-forwarded-for", ip)]).await.expect("connect")
    }

    /// Connects with extra request headers and reads the welcome.
    pub async fn connect_with(&self, headers: &[(&'static str, &str)]) -> Result<Client, tungstenite::Error> {
        let mut request = self.ws_url().into_client_request()?;
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        // The client accepts anything the relay may send; the relay's own limits are what the tests exercise.
        let config = WebSocketConfig::default().max_message_size(None).max_frame_size(None);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
        let mut client = Client { ws };
        match client.frame().await {
            RelayFrame::Welcome(_) => Ok(client),
            other => panic!("the first frame must be the welcome, got {other:?}"),
        }
    }

    /// A room of `N` clients (the first creates it for 600 s, the others join in order), with every
    /// `member_joined` notice already read, so that each client's next frame is whatever the test does next.
    pub async fn populated_room<const N: usize>(&self, room: &RoomKeys) -> [Client; N] {
        let mut clients: Vec<Client> = Vec::with_capacity(N);
        for n in 0..N {
            let mut client = self.connect().await;
            if n == 0 {
                client.create(room, 600).await;
            } else {
                client.join(room).await;
            }
            for earlier in &mut clients {
                assert!(matches!(earlier.frame().await, RelayFrame::MemberJoined { .. }));
            }
            clients.push(client);
        }
        match clients.try_into() {
            Ok(clients) => clients,
            Err(_) => unreachable!("exactly N clients were pushed"),
        }
    }

    /// One HTTP/1.1 request; returns the status, the lowercase headers and the body (none after a 101).
    pub async fn http(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        http_to(self.addr, method, path, headers).await
    }

    /// The `/metrics` text, from the private listener.
    pub async fn metrics(&self) -> String {
        http_to(self.metrics_addr, "GET", "/metrics", &[]).await.body
    }

    /// The value of one metric sample, e.g. `sanctum_rejections_total{code="bad_frame"}`.
    pub async fn metric(&self, sample: &str) -> i64 {
        metric_value(&self.metrics().await, sample)
    }

    /// Waits until `sample` reaches `value`: connections end asynchronously, after their close handshake.
    pub async fn wait_metric(&self, sample: &str, value: i64) {
        let deadline = tokio::time::Instant::now() + EVENT_DEADLINE;
        loop {
            let now = self.metric(sample).await;
            if now == value {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{sample} stayed at {now}, expected {value}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asks the relay to shut down and waits for `run` to return.
    pub async fn stop(mut self) -> Result<(), sanctum_relay::Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(EVENT_DEADLINE, &mut self.task)
            .await
            .expect("run returns after shutdown")
            .expect("run does not panic")
    }

    /// Whether `run` is still serving (it has neither returned nor panicked).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

/// One HTTP/1.1 request to `addr`; returns the status, the lowercase headers and the body (none after a 101).
pub async fn http_to(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n");
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("connection")) {
        request.push_str("connection: close\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let read = async {
        let mut raw = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.expect("read");
            raw.extend_from_slice(&chunk[..n]);
            if n == 0 || is_complete(&raw) {
                return raw;
            }
        }
    };
    let raw = tokio::time::timeout(EVENT_DEADLINE, read)
        .await
        .expect("response in time");
    Response::parse(&raw)
}

/// Whether `raw` holds a whole response: its head, then nothing after a 101, or as many bytes as its length says.
fn is_complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    if raw.starts_with(b"HTTP/1.1 101") {
        return true;
    }
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    head.lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|len| len.trim().parse::<usize>().ok())
        .is_some_and(|len| raw.len() >= end + 4 + len)
}

/// The value of `sample` in Prometheus text, or a panic naming it.
pub fn metric_value(text: &str, sample: &str) -> i64 {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {sample} in /metrics"))
}

/// An HTTP response read off the socket.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Self {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What a client saw next.
#[derive(Debug, PartialEq)]
pub enum Event {
    Frame(RelayFrame),
    Closed(Option<u16>),
}

/// A WebSocket client speaking the envelope.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Sends one client frame.
    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_text(&frame.encode()).await;
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next frame or the close; pings are answered while reading.
    pub async fn next(&mut self) -> Event {
        loop {
            let message = tokio::time::timeout(EVENT_DEADLINE, self.ws.next())
                .await
                .expect("an event before the deadline");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Event::Frame(RelayFrame::decode(&text).expect("the relay sends valid frames"));
                }
                Some(Ok(Message::Close(frame))) => return Event::Closed(frame.map(|f| u16::from(f.code))),
                Some(Ok(Message::Binary(_))) => panic!("the relay never sends binary frames"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Event::Closed(None),
            }
        }
    }

    /// The next frame; a close instead fails the test.
    pub async fn frame(&mut self) -> RelayFrame {
        match self.next().await {
            Event::Frame(frame) => frame,
            Event::Closed(code) => panic!("expected a frame, the connection closed with {code:?}"),
        }
    }

    /// The frames up to the close, and the close code.
    pub async fn until_close(&mut self) -> (Vec<RelayFrame>, Option<u16>) {
        let mut frames = Vec::new();
        loop {
            match self.next().await {
                Event::Frame(frame) => frames.push(frame),
                Event::Closed(code) => return (frames, code),
            }
        }
    }

    /// The next frame, which must be an error; returns its code's wire name.
    pub async fn error(&mut self) -> &'static str {
        match self.frame().await {
            RelayFrame::Error { code, .. } => code.as_str(),
            other => panic!("expected an error frame, got {other:?}"),
        }
    }

    /// Creates `room` and returns the creator's member id.
    pub async fn create(&mut self, room: &RoomKeys, lifetime: u32) -> MemberId {
        self.send(&room.create(lifetime)).await;
        match self.frame().await {
            RelayFrame::Created { member, .. } => member,
            other => panic!("expected created, got {other:?}"),
        }
    }

    /// Joins `room` with the right token; returns the member id and the members already present.
    pub async fn join(&mut self, room: &RoomKeys) -> (MemberId, Vec<MemberId>) {
        self.send(&room.join()).await;
        match self.frame().await {
            RelayFrame::Joined { member, members, .. } => (member, members),
            other => panic!("expected joined, got {other:?}"),
        }
    }

    /// Broadcasts `bytes`.
    pub async fn broadcast(&mut self, bytes: &[u8]) {
        self.send(&ClientFrame::Broadcast {
            payload: Payload::new(bytes.to_vec()).expect("payload within bounds"),
        })
        .await;
    }
}

/// A room's id, token and verifier, derived from a seed so that tests can tell rooms apart.
pub struct RoomKeys {
    pub id: RoomId,
    pub token: AuthToken,
    pub verifier: Verifier,
}

impl RoomKeys {
    pub fn new(seed: u8) -> Self {
        let mut id = [0u8; ROOM_ID_LEN];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = seed
                .wrapping_mul(31)
                .wrapping_add((i as u8).wrapping_mul(7).wrapping_add(1));
        }
        let mut token = [0u8; AUTH_TOKEN_LEN];
        for (i, byte) in token.iter_mut().enumerate() {
            *byte = seed
                .wrapping_mul(17)
                .wrapping_add((i as u8).wrapping_mul(13).wrapping_add(5));
        }
        Self {
            id: RoomId(id),
            verifier: Verifier(Sha256::digest(token).into()),
            token: AuthToken(token),
        }
    }

    pub fn create(&self, lifetime: u32) -> ClientFrame {
        ClientFrame::Create {
            v: PROTOCOL_VERSION,
            room: self.id.clone(),
            verifier: self.verifier.clone(),
            lifetime,
            descriptor: Descriptor::new(b"sealed descriptor".to_vec()).expect("descriptor within bounds"),
        }
    }

    pub fn join(&self) -> ClientFrame {
        self.join_with(self.token.clone())
    }

    pub fn join_with(&self, token: AuthToken) -> ClientFrame {
        ClientFrame::Join {
            v: PROTOCOL_VERSION,
            room: self.id.clone(),
            token,
        }
    }
}

/// A WebSocket client on a bare TCP socket that reads only when asked, and so never answers a ping by itself.
pub struct RawClient {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RawClient {
    /// Opens `/ws` on `addr` and completes the upgrade.
    pub async fn connect(addr: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let request = format!(
            "GET /ws HTTP/1.1\r\nhost: {addr}\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
             sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 1024];
        let end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "the relay closed during the upgrade");
            buffer.extend_from_slice(&chunk[..n]);
        };
        assert!(buffer.starts_with(b"HTTP/1.1 101"), "upgrade refused");
        buffer.drain(..end);
        Self { stream, buffer }
    }

    /// Sends one masked frame with `opcode` and `payload`.
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x12, 0x34, 0x56, 0x78];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.expect("write");
    }

    /// The next frame from the relay as (opcode, payload), or `None` at the end of the stream.
    pub async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buffer) {
                self.buffer.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(EVENT_DEADLINE, self.stream.read(&mut chunk))
                .await
                .expect("a frame before the deadline")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads until the close frame and returns its code, or `None` if the stream ended without one.
    pub async fn close_code(&mut self) -> Option<u16> {
        while let Some((opcode, payload)) = self.frame().await {
            if opcode == 0x8 {
                return payload.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
            }
        }
        None
    }
}

/// One unmasked server frame at the start of `buffer`, and how many bytes it used.
fn parse_server_frame(buffer: &[u8]) -> Option<((u8, Vec<u8>), usize)> {
    let opcode = buffer.first()? & 0x0f;
    let len7 = buffer.get(1)? & 0x7f;
    let (len, header) = match len7 {
        126 => (usize::from(u16::from_be_bytes([*buffer.get(2)?, *buffer.get(3)?])), 4),
        127 => (u64::from_be_bytes(buffer.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (usize::from(n), 2),
    };
    let payload = buffer.get(header..header + len)?;
    Some(((opcode, payload.to_vec()), header + len))
}
