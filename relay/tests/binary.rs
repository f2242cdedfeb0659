//! The `sanctum-relay` binary: its flags, its one line on stdout, dual-stack listening, SIGTERM,
//! refusing a bad configuration, and the memory an idle member costs.

use std::net::SocketAddr;
use std::process::Command;

use sanctum_protocol::{ClientFrame, RelayFrame};
use sanctum_testkit::http;
use sanctum_testkit::keys::RoomKeys;
use sanctum_testkit::process::RelayProcess;
use sanctum_testkit::raw_ws::{Event, Options, RawWs};

/// The relay binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sanctum-relay");

async fn healthz(addr: SocketAddr) -> bool {
    matches!(http::http_get(addr, "/healthz").await, Ok((200, body)) if body == "ok")
}

#[test]
fn help_documents_every_flag_with_its_default_and_environment_variable() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for (flag, default) in [
        ("--listen", Some("127.0.0.1:8080")),
        ("--web-dir", None),
        ("--metrics-listen", None),
        ("--public-origin", None),
        ("--connect-src", None),
        ("--max-lifetime", Some("3600")),
        ("--expiry-warnings", Some("300,60")),
        ("--max-frame-bytes", Some("65536")),
        ("--max-members", Some("50")),
        ("--max-membership-events", Some("60")),
        ("--max-rooms", Some("10000")),
        ("--max-connections", Some("10000")),
        ("--max-rooms-per-address", Some("50")),
        ("--max-connections-per-address", Some("100")),
        ("--creates-per-minute", Some("10")),
        ("--failed-joins-per-connection", Some("5")),
        ("--failed-joins-per-address", Some("20")),
        ("--queue-bytes", Some("262144")),
        ("--frames-per-second", Some("30")),
        ("--frame-burst", Some("60")),
        ("--flood-strikes", Some("20")),
        ("--handshake-timeout", Some("10")),
        ("--idle-timeout", Some("60")),
        ("--trusted-proxy", None),
        ("--forwarded-header", Some("x-forwarded-for")),
        ("--log", Some("warn,sanctum_relay=info")),
    ] {
        let start = help.find(flag).unwrap_or_else(|| panic!("{flag} missing from --help"));
        let entry = &help[start..];
        let entry = &entry[..entry[2..].find("\n  -").map_or(entry.len(), |end| end + 2)];
        let env = format!("SANCTUM_{}", flag[2..].to_uppercase().replace('-', "_"));
        assert!(entry.contains(&format!("[env: {env}")), "{flag} names {env}: {entry}");
        if let Some(default) = default {
            assert!(
                entry.contains(&format!("[default: {default}]")),
                "{flag} default: {entry}"
            );
        }
    }
}

#[test]
fn a_frame_limit_below_the_protocol_is_refused_at_start() {
    let output = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--max-frame-bytes", "1024"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing is printed as listening");
    assert!(String::from_utf8_lossy(&output.stderr).contains("frame limit"));
}

#[tokio::test]
async fn the_ipv6_wildcard_serves_both_families_and_sigterm_closes_members_with_1012() {
    let relay = RelayProcess::start(BIN.as_ref(), &["--listen", "[::]:0"]).await;
    let port = relay.addr.port();
    assert!(healthz(SocketAddr::from(([127, 0, 0, 1], port))).await);
    assert!(healthz(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))).await);

    let mut member = RawWs::connect(SocketAddr::from(([127, 0, 0, 1], port)), &Options::default())
        .await
        .expect("upgrade");
    member.auto_pong = false;
    member.send(&RoomKeys::seeded(1).create(60)).await.unwrap();
    relay.signal("TERM");
    assert_eq!(member.closed().await.unwrap(), Some(1012));
    let mut relay = relay;
    let exit = relay.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// Opens idle members (40 rooms of 50) against the binary and reports the resident memory each one costs.
#[tokio::test]
async fn an_idle_member_costs_less_than_8_kib_of_relay_memory() {
    const ROOMS: usize = 40;
    const MEMBERS: usize = 50;
    let relay = RelayProcess::start(
        BIN.as_ref(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--creates-per-minute",
            "1000",
            "--max-membership-events",
            "1000",
            "--handshake-timeout",
            "600",
            "--max-connections-per-address",
            "10000",
        ],
    )
    .await;
    let mut clients = Vec::new();
    // A warm-up room, so that the runtime's threads and the allocator's arenas exist before the baseline.
    clients.extend(open_room(relay.addr, RoomKeys::seeded(255), MEMBERS).await);
    let before = relay.rss_kib();
    for seed in 0..ROOMS {
        clients.extend(open_room(relay.addr, RoomKeys::seeded(seed as u8), MEMBERS).await);
    }
    let after = relay.rss_kib();
    let per_member = (after.saturating_sub(before) * 1024) / (ROOMS * MEMBERS) as u64;
    println!(
        "idle members: {}; relay RSS {before} KiB -> {after} KiB; {per_member} bytes per member",
        ROOMS * MEMBERS
    );
    assert!(per_member < 8 * 1024, "{per_member} bytes per idle member");
    drop(clients);
}

/// Creates a room and fills it with idle members that never read again; the joins run concurrently.
async fn open_room(addr: SocketAddr, room: RoomKeys, members: usize) -> Vec<RawWs> {
    let creator = open_member(addr, room.create(3600)).await;
    let joins = (1..members).map(|_| open_member(addr, room.join()));
    let mut clients = futures_util::future::join_all(joins).await;
    clients.push(creator);
    clients
}

/// Connects, sends `frame` (create or join) and waits until the relay confirms it, never answering a ping.
async fn open_member(addr: SocketAddr, frame: ClientFrame) -> RawWs {
    let mut client = RawWs::connect(addr, &Options::default()).await.expect("upgrade");
    client.auto_pong = false;
    client.send(&frame).await.unwrap();
    loop {
        match client.next().await.expect("the relay answers") {
            Event::Frame(RelayFrame::Created { .. } | RelayFrame::Joined { .. }) => return client,
            Event::Frame(error @ RelayFrame::Error { .. }) => panic!("{error:?}"),
            Event::Close(_) | Event::Eof => panic!("the relay closed before confirming"),
            _ => {}
        }
    }
}
