//! The load generator binary: sets up rooms on a server, drives traffic, and prints JSON lines on stdout.
//!
//! With `--control stdin` (what `cargo xtask bench` uses) it prints `connected` once every member has joined,
//! waits for a `start` line before sending, and after its report waits for a `close` line or end of input
//! before closing its connections, so that the driving process can sample the server between the phases.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use sanctum_loadgen::{Event, Load, RunConfig, Session};
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Hold the connections without sending.
    Idle,
    /// Every member sends as fast as its window allows.
    Saturated,
    /// All members together send `--rate` broadcasts per second.
    Rate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Control {
    /// Wait for `start` and `close` lines on stdin between the phases.
    Stdin,
    /// Run every phase straight through.
    None,
}

/// Drives a Sanctum relay (or the ceiling server) with rooms of members speaking the real protocol.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The server's WebSocket URL; several, comma-separated, take each room's members in turn.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
    /// Rooms to create.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Members per room, the creator included.
    #[arg(long, default_value_t = 10)]
    members: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 1024)]
    payload: usize,
    /// How the members send.
    #[arg(long, value_enum, default_value_t = Mode::Saturated)]
    mode: Mode,
    /// Broadcasts a saturated sender may have undelivered to its slowest receiver.
    #[arg(long, default_value_t = 8)]
    window: u64,
    /// Aggregate broadcasts per second for `--mode rate`.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Milliseconds of traffic before the measurement window.
    #[arg(long, default_value_t = 1000)]
    warmup_ms: u64,
    /// Milliseconds in the measurement window (idle: how long connections are held).
    #[arg(long, default_value_t = 5000)]
    duration_ms: u64,
    /// Longest wait in milliseconds for deliveries still on their way after sending stops.
    #[arg(long, default_value_t = 10_000)]
    drain_ms: u64,
    /// Connections set up at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// How the phases are paced.
    #[arg(long, value_enum, default_value_t = Control::None)]
    control: Control,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let load = match args.mode {
        Mode::Idle => Load::Idle,
        Mode::Saturated => Load::Saturated { window: args.window },
        Mode::Rate => Load::Rate { per_second: args.rate },
    };
    let config = RunConfig {
        url: args.url.clone(),
        rooms: args.rooms,
        members: args.members,
        payload_len: args.payload,
        load,
        warmup: Duration::from_millis(args.warmup_ms),
        duration: Duration::from_millis(args.duration_ms),
        drain: Duration::from_millis(args.drain_ms),
        connect_concurrency: args.connect_concurrency,
    };
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();

    let mut session = Session::setup(config).await.context("setting up rooms")?;
    println!(
        "{}",
        json!({"event": "connected", "connections": session.connections()})
    );
    if args.control == Control::Stdin {
        match stdin.next_line().await?.as_deref().map(str::trim) {
            Some("start") => {}
            Some(other) => bail!("expected `start` on stdin, got {other:?}"),
            None => bail!("stdin closed before `start`"),
        }
    }

    let report = session
        .traffic(|event| {
            let name = match event {
                Event::WindowStart => "window_start",
                Event::WindowEnd => "window_end",
            };
            println!("{}", json!({"event": name}));
        })
        .await;
    println!("{}", json!({"event": "report", "report": report}));

    if args.control == Control::Stdin {
        // Any line, or the end of input, means the driver has sampled what it needed.
        let _ = stdin.next_line().await;
    }
    session.close().await;
    println!("{}", json!({"event": "closed"}));
    Ok(())
}
