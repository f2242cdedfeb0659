//! The processes a bench point runs: the server under test and the load generator clients, and what is read from them.
//!
//! Every server is its own process on loopback, found through the one line it prints on stdout and stopped by its
//! process id. Its CPU time and resident memory come from `/proc/<pid>/stat` and `/proc/<pid>/status`,
//! and the relay's own `/metrics` is read as a cross-check of the load generator's counts.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use sanctum_testkit::metrics::Metrics;
use serde_json::Value;

/// Which server a point measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerKind {
    /// The bare tokio-tungstenite fan-out.
    Ceiling,
    /// The Sanctum relay with its limits raised.
    Relay,
    /// Two relays with those limits sharing rooms through one memory-only `redis-server`.
    TwoRelays,
}

impl ServerKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Ceiling => "ceiling",
            Self::Relay => "relay",
            Self::TwoRelays => "two-relays",
        }
    }
}

/// The relay's flags for every bench run: limits raised so that only the machine limits a saturated run.
///
/// Frame and queue limits stay far above what the load generator's windows can put in flight,
/// and the per-address limits go up because every simulated member connects from 127.0.0.1.
pub(crate) const RELAY_FLAGS: &[&str] = &[
    "--max-members",
    "1000",
    "--max-rooms",
    "100000",
    "--max-connections",
    "100000",
    "--max-connections-per-address",
    "100000",
    "--max-rooms-per-address",
    "100000",
    "--creates-per-minute",
    "1000000",
    "--max-membership-events",
    "1000000",
    "--failed-joins-per-address",
    "1000000",
    "--frames-per-second",
    "1000000",
    "--frame-burst",
    "1000000",
    "--queue-bytes",
    "67108864",
    "--log",
    "warn",
    "--metrics-listen",
    "127.0.0.1:0",
];

/// The server under test: one process, or for [`ServerKind::TwoRelays`] two relays and their Redis, whose CPU time
/// and memory count together.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) kind: ServerKind,
    /// The relays (or the ceiling), in the order members are spread over them.
    listeners: Vec<Listener>,
    /// The `redis-server` of [`ServerKind::TwoRelays`].
    redis: Option<Redis>,
}

/// One server process that listens for members.
#[derive(Debug)]
struct Listener {
    child: Child,
    pid: u32,
    /// `127.0.0.1:port`.
    addr: String,
    /// The relay's private metrics listener, `127.0.0.1:port`; none for the ceiling.
    metrics_addr: Option<SocketAddr>,
    /// Kept open so that the server never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

/// A memory-only `redis-server` on a free loopback port.
#[derive(Debug)]
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts Debian's `redis-server` (or `$REDIS_SERVER`) without persistence and waits until it answers.
    fn start(log: &Path) -> Result<Self> {
        let port = sanctum_testkit::free_port()?;
        let binary = std::env::var_os("REDIS_SERVER")
            .filter(|path| !path.is_empty())
            .map_or_else(|| PathBuf::from("/usr/bin/redis-server"), PathBuf::from);
        let stderr = File::options().create(true).append(true).open(log)?;
        let child = Command::new(&binary)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {} (cargo xtask install installs it)", binary.display()))?;
        let redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut answer = [0u8; 7];
            let pong = TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
                stream.set_read_timeout(Some(Duration::from_secs(1)))?;
                stream.write_all(b"PING\r\n")?;
                stream.read_exact(&mut answer)
            });
            if pong.is_ok() && &answer == b"+PONG\r\n" {
                return Ok(redis);
            }
            if Instant::now() > deadline {
                bail!("redis-server did not answer PING on port {port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // Stopped by this child's process id, after the relays that use it.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server of `kind` from `binary` on 127.0.0.1 port 0, waiting for each `listening on` line.
    pub(crate) fn start(kind: ServerKind, binary: &Path, log: &Path) -> Result<Self> {
        match kind {
            ServerKind::Ceiling | ServerKind::Relay => Ok(Self {
                kind,
                listeners: vec![Listener::start(kind, binary, &[], log)?],
                redis: None,
            }),
            ServerKind::TwoRelays => {
                let redis = Redis::start(log)?;
                let url = format!("redis://127.0.0.1:{}/", redis.port);
                let flags = ["--redis".to_owned(), url];
                let listeners = vec![
                    Listener::start(kind, binary, &flags, log)?,
                    Listener::start(kind, binary, &flags, log)?,
                ];
                Ok(Self {
                    kind,
                    listeners,
                    redis: Some(redis),
                })
            }
        }
    }

    /// Every process of the server, Redis included.
    pub(crate) fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.listeners.iter().map(|l| l.pid).collect();
        pids.extend(self.redis.as_ref().map(|r| r.child.id()));
        pids
    }

    /// CPU seconds used so far by every process of the server, Redis's own included.
    pub(crate) fn cpu_seconds(&self) -> Result<f64> {
        self.pids().into_iter().map(cpu_seconds).sum()
    }

    /// Resident memory of every process of the server, in bytes.
    pub(crate) fn rss_bytes(&self) -> Result<u64> {
        self.pids().into_iter().map(rss_bytes).sum()
    }

    /// The `/ws` URLs, comma-separated, over which the load generator spreads each room's members in turn.
    pub(crate) fn ws_url(&self) -> String {
        let urls: Vec<String> = self.listeners.iter().map(|l| format!("ws://{}/ws", l.addr)).collect();
        urls.join(",")
    }

    /// The relays' `/metrics`, summed sample by sample over relays; empty for the ceiling, which has none,
    /// and without a relay whose `/metrics` did not answer.
    pub(crate) fn metrics(&self) -> Metrics {
        let addrs = self.listeners.iter().filter_map(|listener| listener.metrics_addr);
        addrs
            .filter_map(|addr| Metrics::scrape(addr, Duration::from_secs(5)).ok())
            .sum()
    }

    /// Waits until the relays report no connections (or a few seconds pass), then lets the allocator settle.
    pub(crate) fn settle(&self) {
        if self.kind != ServerKind::Ceiling {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && self.metrics().get("sanctum_connections") > 0.0 {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Sends SIGTERM to each relay's process id, then Redis's, waiting for each and killing it if it lingers.
    pub(crate) fn stop(mut self) -> Result<()> {
        for listener in self.listeners.drain(..) {
            listener.stop()?;
        }
        drop(self.redis.take());
        Ok(())
    }
}

impl Listener {
    /// Starts `binary` on 127.0.0.1 port 0 with `extra` flags and waits for its `listening on http://...` line.
    fn start(kind: ServerKind, binary: &Path, extra: &[String], log: &Path) -> Result<Self> {
        let mut command = Command::new(binary);
        command.args(["--listen", "127.0.0.1:0"]);
        if kind != ServerKind::Ceiling {
            command.args(RELAY_FLAGS);
        }
        command.args(extra);
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id();
        let mut stdout = BufReader::new(child.stdout.take().context("server stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line).context("reading the server's first line")?;
        let Some(addr) = line.trim().split("listening on http://").nth(1).map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} did not print its listening line (got {line:?}); see {}",
                binary.display(),
                log.display()
            );
        };
        let metrics_addr = if kind != ServerKind::Ceiling {
            let mut line = String::new();
            stdout
                .read_line(&mut line)
                .context("reading the relay's metrics line")?;
            let addr = line.trim().strip_prefix("sanctum-relay metrics on http://");
            let addr = addr.and_then(|rest| rest.strip_suffix("/metrics"));
            let addr = addr.and_then(|addr| addr.parse().ok());
            Some(addr.with_context(|| format!("unexpected metrics line {line:?}"))?)
        } else {
            None
        };
        Ok(Self {
            child,
            pid,
            addr,
            metrics_addr,
            _stdout: stdout,
        })
    }

    /// Sends SIGTERM to the server's process id and waits for it, killing it if it lingers.
    fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // A point that failed halfway must not leave its server behind; `kill` goes by this child's process id.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU seconds (user plus system) the process has used so far.
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name in parentheses may hold spaces, so fields are counted after its closing parenthesis:
    // utime and stime are fields 14 and 15 of the line, the 12th and 13th after it.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    Ok((ticks(11) + ticks(12)) / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Resident memory of the process in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .context("no VmRSS line")?;
    Ok(kib * 1024)
}

/// One `sanctum-loadgen` process, paced through its stdin.
#[derive(Debug)]
pub(crate) struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
}

impl Client {
    pub(crate) fn start(binary: &Path, args: &[String], log: &Path) -> Result<Self> {
        let stderr = File::options().create(true).append(true).open(log)?;
        let mut child = Command::new(binary)
            .args(args)
            .args(["--control", "stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().context("client stdout")?);
        Ok(Self {
            child,
            stdin,
            stdout,
            log: log.to_owned(),
        })
    }

    /// Reads the client's next JSON line, which must be the event `name`.
    pub(crate) fn expect(&mut self, name: &str) -> Result<Value> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            let status = self.child.wait()?;
            bail!(
                "the load generator ended ({status}) while the bench waited for `{name}`; see {}",
                self.log.display()
            );
        }
        let value: Value = serde_json::from_str(&line).with_context(|| format!("load generator printed {line:?}"))?;
        if value["event"] != name {
            bail!("expected the load generator's `{name}` event, got {line:?}");
        }
        Ok(value)
    }

    /// Writes one line to the client's stdin.
    pub(crate) fn say(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("client stdin closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Tells the client to close its connections and waits for it to exit.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.say("close")?;
        self.expect("closed")?;
        drop(self.stdin.take());
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the load generator failed ({status}); see {}", self.log.display());
        }
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).expect("rss") > 0);
        // On a busy machine 30 ms of spinning may earn less than one clock tick, so spin until a tick is charged,
        // for at most 5 s: a reader that always says zero still fails.
        let spin = Instant::now();
        while cpu_seconds(pid).expect("cpu") == 0.0 && spin.elapsed() < Duration::from_secs(5) {
            std::hint::black_box(0);
        }
        assert!(cpu_seconds(pid).expect("cpu") > 0.0);
    }
}
