//! A real `redis-server` of the test's own, memory only, on a free loopback port, stopped by its process id.
//!
//! `cargo xtask install` installs Debian's `redis-server`; `REDIS_SERVER` names another binary.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep};

/// How long a started server has to answer `PING`.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// The `redis-server` binary the tests run.
pub fn binary() -> PathBuf {
    std::env::var_os("REDIS_SERVER")
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from("/usr/bin/redis-server"), PathBuf::from)
}

/// A `redis-server` process, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a memory-only server (`--save '' --appendonly no`) on a free port.
    pub async fn start() -> io::Result<Self> {
        Self::start_with(&["--save", "", "--appendonly", "no"]).await
    }

    /// Starts a server with `args` after the port, e.g. a configuration that persists, on a free port.
    pub async fn start_with(args: &[&str]) -> io::Result<Self> {
        let port = crate::free_port()?;
        let mut server = Self {
            port,
            extra: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    async fn spawn(&mut self) -> io::Result<()> {
        let dir = std::env::temp_dir();
        let child = Command::new(binary())
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--daemonize", "no", "--protected-mode", "yes"])
            .arg("--dir")
            .arg(&dir)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| {
                io::Error::other(format!(
                    "cannot run {}: {error}; `cargo xtask install` installs Debian's redis-server",
                    binary().display()
                ))
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        while Instant::now() < deadline {
            if self.ping().await {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(io::Error::other(format!("redis-server exited with {status}")));
            }
            sleep(Duration::from_millis(20)).await;
        }
        Err(io::Error::other("redis-server did not answer PING in time"))
    }

    /// Whether the server answers `PING` with `PONG`.
    pub async fn ping(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            return false;
        };
        if stream.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut reply)).await,
            Ok(Ok(_)) if &reply == b"+PONG\r\n"
        )
    }

    /// Kills the server with SIGKILL, by its process id, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty, as a restart leaves it.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn().await
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
