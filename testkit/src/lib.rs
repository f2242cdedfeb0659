//! The one test kit: every helper that the relay's tests, the cross-crate tests in `tests/` and the load generator
//! share, kept here once, as rust-analyzer keeps `crates/test-utils`.
//!
//! - [`keys`]: a room's id, token and verifier, and the frames that create and join it.
//! - [`client`]: a well-behaved WebSocket client; [`raw_ws`]: a hand-framed one for tests that must misbehave;
//!   [`member`]: connect, create and join on a hand-framed connection, and a connection pumped by its own task;
//!   [`canary`]: two members who show that a hostile input touched no one else.
//! - [`http`]: one HTTP/1.1 request on a bare socket; [`metrics`]: the relay's Prometheus text, parsed.
//! - [`relay`] (feature `relay`): a relay inside the test process; [`process`]: the relay binary as a process.
//! - [`redis`]: a memory-only `redis-server` of the test's own.
//! - [`native`] (feature `native`): the real client core over a real WebSocket.
//!
//! - [`free_port`]: a loopback port for a server that is given a number rather than a bound listener.
//!
//! Every module but [`metrics`] and [`free_port`] needs the default feature `net`; without it the kit compiles no dependency at all,
//! so that `xtask`, the first thing a fresh clone builds, reads the relay's metrics with the same parser as the tests.

use std::io;
use std::net::TcpListener;
#[cfg(feature = "net")]
use std::time::Duration;

#[cfg(feature = "net")]
pub mod canary;
#[cfg(feature = "net")]
pub mod client;
#[cfg(feature = "net")]
pub mod http;
#[cfg(feature = "net")]
pub mod keys;
#[cfg(feature = "net")]
pub mod member;
pub mod metrics;
#[cfg(feature = "native")]
pub mod native;
#[cfg(feature = "net")]
pub mod process;
#[cfg(feature = "net")]
pub mod raw_ws;
#[cfg(feature = "net")]
pub mod redis;
#[cfg(feature = "relay")]
pub mod relay;

/// The longest any single expected event (a frame, a close, a response, a gauge settling) may take before a test
/// fails instead of hanging.
#[cfg(feature = "net")]
pub const EVENT_DEADLINE: Duration = Duration::from_secs(20);

/// A port free on 127.0.0.1 now, for a server that takes a port number rather than a bound listener
/// (`redis-server`, nginx). The port is free once this returns, and another process may take it before the server
/// binds it: a server started by the kit is handed a listener on `127.0.0.1:0` wherever it accepts one.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
