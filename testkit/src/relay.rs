//! A real relay inside the test process, served by `sanctum_relay::run_with_metrics` on `127.0.0.1:0` with its
//! metrics on a second loopback port, and what tests ask of it: clients, rooms, HTTP, metrics, shutdown.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use sanctum_protocol::RelayFrame;
use sanctum_relay::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite;

use crate::EVENT_DEADLINE;
use crate::client::Client;
use crate::http::{self, Response};
use crate::keys::RoomKeys;
use crate::metrics::{Gauges, Metrics};

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

/// A relay on loopback ports, stopped when dropped.
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
    /// Starts a relay with `config` on `127.0.0.1:0`, its metrics on another free port.
    pub async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let metrics = TcpListener::bind("127.0.0.1:0").await.expect("bind");
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

    /// The relay at `addr`, served by some other process (see [`crate::process::RelayProcess`]): only its address is
    /// known, and its metrics listener is taken to be the same.
    pub fn at(addr: SocketAddr) -> Self {
        let (shutdown, _) = oneshot::channel();
        Self {
            addr,
            metrics_addr: addr,
            shutdown: Some(shutdown),
            task: tokio::spawn(std::future::pending()),
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

    /// Connects as a client at `ip`, as a trusted proxy on loopback would forward it.
    pub async fn connect_from(&self, ip: &str) -> Client {
        self.connect_with(&[("x-forwarded-for", ip)]).await.expect("connect")
    }

    /// Connects with extra request headers and reads the welcome.
    pub async fn connect_with(&self, headers: &[(&'static str, &str)]) -> Result<Client, tungstenite::Error> {
        Client::connect(self.addr, headers).await
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

    /// One HTTP/1.1 request to the public listener; returns the status, the lowercase headers and the body.
    pub async fn http(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        http::request(self.addr, method, path, headers)
            .await
            .expect("an HTTP response")
    }

    /// Whether `/healthz` answers `200 ok`.
    pub async fn is_healthy(&self) -> bool {
        matches!(http::http_get(self.addr, "/healthz").await, Ok((200, body)) if body == "ok")
    }

    /// The relay's metrics, from the private listener.
    pub async fn metrics(&self) -> io::Result<Metrics> {
        let (status, body) = http::http_get(self.metrics_addr, "/metrics").await?;
        if status != 200 {
            return Err(io::Error::other(format!("/metrics answered {status}")));
        }
        Ok(Metrics::parse(&body))
    }

    /// The value of one sample, which must be present, e.g. `sanctum_rejections_total{code="bad_frame"}`.
    pub async fn metric(&self, sample: &str) -> i64 {
        self.metrics().await.expect("/metrics").value(sample)
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

    /// Waits until the gauges satisfy `done`, reading `/metrics` each time the relay may have moved on.
    ///
    /// Connections end asynchronously (the relay flushes a close frame and lingers for the peer's),
    /// so gauges are awaited as events, with a deadline that fails the test instead of hanging it.
    pub async fn settle(&self, done: impl Fn(&Gauges) -> bool) -> Result<Gauges, Gauges> {
        let deadline = tokio::time::Instant::now() + EVENT_DEADLINE;
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

    /// Whether `run` is still serving: it has neither returned nor panicked.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Asks the relay to shut down and waits for `run` to return; a panic in `run` or a shutdown that never ends
    /// fails the test.
    pub async fn stop(mut self) -> Result<(), sanctum_relay::Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(EVENT_DEADLINE, &mut self.task)
            .await
            .expect("run returns after shutdown")
            .expect("run does not panic")
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
