//! A `sanctum-relay` process, as operators run it: its listening line parsed, its output captured whole,
//! killed when dropped so that a failing test leaves none behind.

use std::io::{BufRead as _, Read as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::EVENT_DEADLINE;

/// The relay binary beside the running test's own, built first (a no-op when it is up to date) so that it is never
/// stale; the relay's own tests have it as `CARGO_BIN_EXE_sanctum-relay` instead.
pub fn relay_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the target directory")
        .to_path_buf();
    let status = Command::new(env!("CARGO"))
        .args(["build", "-p", "sanctum-relay", "--bin", "sanctum-relay"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build of the relay binary");
    dir.join("sanctum-relay")
}

/// A relay process whose stdout and stderr are captured whole.
#[derive(Debug)]
pub struct RelayProcess {
    /// The process, for signals and `wait`.
    pub child: Child,
    /// The address from its listening line.
    pub addr: SocketAddr,
    output: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RelayProcess {
    /// Starts `binary` with `args` and parses its listening line.
    pub async fn start(binary: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the relay");
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let (line_tx, line_rx) = oneshot::channel();
        let out = output.clone();
        let stdout_reader = std::thread::spawn(move || {
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            out.lock().expect("output").extend_from_slice(line.as_bytes());
            let _ = line_tx.send(line);
            let mut rest = Vec::new();
            let _ = stdout.read_to_end(&mut rest);
            out.lock().expect("output").extend_from_slice(&rest);
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let out = output.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                out.lock().expect("output").extend_from_slice(&chunk[..n]);
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
    pub fn terminate(mut self) -> (ExitStatus, Vec<u8>) {
        self.signal("TERM");
        let exit = self.child.wait().expect("the relay exits");
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        let output = std::mem::take(&mut *self.output.lock().expect("output"));
        (exit, output)
    }

    /// Sends the signal `name` (`TERM`, `KILL`, ...) by process id.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    }

    /// The resident memory of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}
