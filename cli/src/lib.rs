//! Sanctum's terminal client: the client core behind a full-screen terminal interface, or a JSON line mode for
//! scripts, over one WebSocket to the relay.

#![doc = include_str!("../README.md")]

mod app;
mod command;
mod endpoint;
mod held;
mod json;
mod outbox;
mod password;
mod room;
mod text;
mod tui;
mod ui;
mod verify;

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Offset as _;
use clap::{Args, Parser, Subcommand};
use sanctum_client::rand_core::OsRng;
use sanctum_client::{EndReason, MAX_ROOM_NAME_LEN, RoomLink, RoomSecrets, Session, SessionError};
use zeroize::Zeroizing;

use crate::room::{Finish, Frontend};

/// End-to-end encrypted ephemeral chat rooms, from the terminal.
#[derive(Debug, Parser)]
#[command(name = "sanctum", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a room and get its link. The password is read from the terminal (twice), never from a flag.
    Create {
        /// Your alias in the room.
        #[arg(long)]
        alias: String,
        /// The room's name, shown to every member (sealed: the relay never sees it).
        #[arg(long, default_value = "")]
        name: String,
        /// How long the room lives: 90s, 30m, 1h (a bare number is minutes). The relay may grant less.
        #[arg(long, default_value = "60m", value_parser = parse_lifetime)]
        lifetime: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Join a room through its link. The password is read from the terminal, never from a flag.
    Join {
        /// The room link, as shared: https://host/#v1.…
        link: String,
        /// Your alias in the room.
        #[arg(long)]
        alias: String,
        #[command(flatten)]
        common: Common,
    },
    /// Check the web app a relay serves against the manifest built from this checkout (`cargo xtask build-web`),
    /// and its security headers. Exits non-zero listing every difference.
    Verify {
        /// The app's address, e.g. https://chat.example.org/
        url: String,
        /// The manifest to compare with, e.g. one an operator published for a release. Default: web/manifest.json.
        #[arg(long)]
        manifest: Option<std::path::PathBuf>,
        /// A relay origin the app's policy may name in connect-src, when the app is served apart from its relay
        /// (repeatable). Any other origin in the policy is a difference.
        #[arg(long = "connect-src", value_name = "ORIGIN")]
        connect_src: Vec<String>,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// The relay's WebSocket (or app) address. Default for join: the link's own origin (https://host gives
    /// wss://host/ws); for create: ws://127.0.0.1:8080/ws.
    #[arg(long)]
    relay: Option<String>,
    /// Line mode for scripts: one JSON event per line on stdout, one JSON command per line on stdin
    /// (see docs/terminal.md). When stdin is not a terminal, its first line is the password.
    #[arg(long)]
    json: bool,
}

/// Parses a lifetime such as `90s`, `30m`, `1h` or `45` (minutes) into seconds.
fn parse_lifetime(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "m"),
    };
    let scale = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        other => return Err(format!("unknown unit {other:?}: use s, m or h")),
    };
    let value: u32 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a lifetime such as 30m"))?;
    match value.checked_mul(scale) {
        Some(0) => Err("the lifetime must be more than zero".into()),
        Some(seconds) => Ok(seconds),
        None => Err("the lifetime is too long".into()),
    }
}

/// Everything a room needs before the connection opens.
struct Entry {
    session: Session,
    first: sanctum_protocol::ClientFrame,
    relay: String,
    link: Option<Zeroizing<String>>,
    json: bool,
}

/// A fresh session for the room, comparing aliases by their UTS #39 skeleton: natively, the terminal client links the
/// look-alike tables that the browser loads as a module of their own.
pub(crate) fn new_session(secrets: &RoomSecrets, alias: &str) -> Result<Session, SessionError> {
    let mut session = Session::new(secrets, alias, OsRng)?;
    session.set_skeleton(sanctum_lookalike::skeleton);
    Ok(session)
}

fn derive(link: &RoomLink, password: &str, json: bool) -> anyhow::Result<RoomSecrets> {
    if !json {
        eprintln!("Deriving the room key (Argon2id, 64 MiB)…");
    }
    RoomSecrets::derive(link, password).context("could not derive the room key")
}

fn run_verify(url: &str, manifest: Option<&std::path::Path>, connect_src: &[String]) -> anyhow::Result<ExitCode> {
    let local = verify::local_manifest(manifest)?;
    let findings = verify::verify(url, &local, connect_src)?;
    println!("local manifest digest:  {}", findings.local_digest);
    match &findings.served_digest {
        Some(digest) => println!("served manifest digest: {digest} (the page's footer shows it)"),
        None => println!("served manifest digest: none"),
    }
    println!("checked {} responses", findings.checked);
    if findings.differences.is_empty() {
        println!("OK: every file matches the local manifest and every response carries the expected headers");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} difference(s):", findings.differences.len());
    for difference in &findings.differences {
        println!("- {}", text::escape(difference));
    }
    Ok(ExitCode::from(1))
}

fn prepare(command: Command) -> anyhow::Result<Entry> {
    let now = room::now_ms();
    match command {
        Command::Create {
            alias,
            name,
            lifetime,
            common,
        } => {
            anyhow::ensure!(
                name.len() <= MAX_ROOM_NAME_LEN,
                "the room name is longer than {MAX_ROOM_NAME_LEN} bytes"
            );
            let relay = endpoint::relay_url(common.relay.as_deref().unwrap_or(endpoint::DEFAULT_RELAY))?;
            let source = password::Source::detect(common.json)?;
            let password = password::for_create(source, &alias, &name)?;
            let link = RoomLink::generate(&mut OsRng, lifetime, now)?;
            let text = Zeroizing::new(format!(
                "{}/#{}",
                endpoint::app_origin(&relay)?,
                link.to_fragment().as_str()
            ));
            let secrets = derive(&link, &password, common.json)?;
            let mut session = new_session(&secrets, &alias)?;
            let first = session.create_frame(&name, now)?;
            Ok(Entry {
                session,
                first,
                relay,
                link: Some(text),
                json: common.json,
            })
        }
        Command::Join { link, alias, common } => {
            let relay = endpoint::relay_for_link(&link, common.relay.as_deref())?;
            let parsed = RoomLink::parse(&link, now)?;
            let source = password::Source::detect(common.json)?;
            let password = password::for_join(source)?;
            let secrets = derive(&parsed, &password, common.json)?;
            let mut session = new_session(&secrets, &alias)?;
            let first = session.join_frame(now)?;
            Ok(Entry {
                session,
                first,
                relay,
                link: None,
                json: common.json,
            })
        }
        Command::Verify { .. } => anyhow::bail!("verify opens no room"),
    }
}

/// Waits for Ctrl-C or, on Unix, a termination signal.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn exit_code(finish: Finish) -> ExitCode {
    match finish {
        Finish::Ended(EndReason::Left | EndReason::Kicked { .. } | EndReason::Purged { .. } | EndReason::Expired) => {
            ExitCode::SUCCESS
        }
        Finish::Ended(_) | Finish::Disconnected => ExitCode::from(1),
    }
}

async fn run_json(entry: Entry) -> anyhow::Result<ExitCode> {
    let socket = room::connect(&entry.relay).await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // std's stdin, which already gave the password line, reads the commands in a thread of its own.
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut frontend = json::Json::new(std::io::stdout(), entry.link);
    let finish = room::stay(
        &entry.relay,
        socket,
        entry.session,
        entry.first,
        &mut frontend,
        rx,
        interrupted(),
    )
    .await?;
    if finish == Finish::Disconnected {
        frontend.emit(&serde_json::json!({"event": "disconnected"}));
    }
    Ok(exit_code(finish))
}

async fn run_tui(entry: Entry) -> anyhow::Result<ExitCode> {
    let socket = room::connect(&entry.relay).await?;
    let offset = chrono::Local::now().offset().fix();
    let mut app = app::App::new(
        entry.session.alias(),
        &entry.session.fingerprint(),
        entry.session.expires_at(),
        offset,
    );
    app.link = entry.link;
    let (mut frontend, rx) = tui::Tui::start(app)?;
    frontend.render(room::now_ms())?;
    // In raw mode Ctrl-C arrives as a key; the signal still covers SIGTERM and a Ctrl-C before raw mode.
    let result = room::stay(
        &entry.relay,
        socket,
        entry.session,
        entry.first,
        &mut frontend,
        rx,
        interrupted(),
    )
    .await;
    let said = frontend.app.ended.clone();
    drop(frontend);
    let finish = result?;
    match finish {
        Finish::Disconnected => {
            eprintln!("The connection to the relay was lost; the room's messages are gone from this screen.")
        }
        Finish::Ended(_) => eprintln!("{}", said.unwrap_or_else(|| "The session ended.".into())),
    }
    Ok(exit_code(finish))
}

/// Runs the command line.
pub fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    // wss:// relays: rustls with the ring provider, installed once for the process. rustls marks it deprecated for
    // lacking post-quantum key exchange; TLS here only carries frames that are already end-to-end encrypted, and ring
    // builds without the C toolchain aws-lc-rs needs.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Command::Verify {
        url,
        manifest,
        connect_src,
    } = &cli.command
    {
        return run_verify(url, manifest.as_deref(), connect_src);
    }
    let entry = prepare(cli.command)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if entry.json {
        runtime.block_on(run_json(entry))
    } else {
        runtime.block_on(run_tui(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_take_units() {
        assert_eq!(parse_lifetime("30m"), Ok(1800));
        assert_eq!(parse_lifetime("90s"), Ok(90));
        assert_eq!(parse_lifetime("1h"), Ok(3600));
        assert_eq!(parse_lifetime("45"), Ok(2700));
        assert!(parse_lifetime("0m").is_err());
        assert!(parse_lifetime("5d").is_err());
        assert!(parse_lifetime("m").is_err());
    }
}
