//! Fuzzes the relay's frame handling: sequences of frames from up to three connections against one relay state,
//! which lives across inputs, so rooms, members, tombstones and limits carry over from one input to the next.
//!
//! The relay exposes no entry point below its socket, so it runs in this process, served by `sanctum_relay::run` on
//! a loopback port, and each input speaks to it over real WebSocket connections; any panic in the relay aborts the
//! process, which libFuzzer reports.
//! Room ids come from a small set so that inputs meet each other's rooms: creates collide, joins find purged rooms.

#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sanctum_protocol::{ClientFrame, ErrorCode, PROTOCOL_VERSION, RelayFrame};
use sanctum_relay::Config;
use sanctum_testkit::keys::{RoomKeys, payload};
use sanctum_testkit::raw_ws::{Event, Options, RawWs, opcode};
use sanctum_testkit::relay::TestRelay;
use tokio::runtime::Runtime;

/// Rooms the inputs share.
const ROOMS: usize = 4;
/// Connections one input may hold at once.
const CONNECTIONS: usize = 3;

struct World {
    runtime: Runtime,
    addr: SocketAddr,
    rooms: Vec<RoomKeys>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        // Limits that one address could reach are lifted, so that inputs explore rooms rather than refusals;
        // short lifetimes let rooms and tombstones come and go while the fuzzer runs.
        let config = Config {
            max_lifetime: 3,
            expiry_warnings: vec![2, 1],
            creates_per_minute: u32::MAX,
            failed_joins_per_connection: u32::MAX,
            failed_joins_per_address: u32::MAX,
            max_membership_events: u32::MAX,
            frames_per_second: 1_000_000,
            frame_burst: 1_000_000,
            max_members: 4,
            ..Config::default()
        };
        let relay = runtime.block_on(TestRelay::start(config));
        let addr = relay.addr;
        // The relay lives as long as the process.
        std::mem::forget(relay);
        World {
            runtime,
            addr,
            rooms: (0..ROOMS).map(|_| RoomKeys::fresh()).collect(),
        }
    })
}

/// Sends a malformed frame and reads until its refusal has come and the connection has gone quiet,
/// so that every earlier frame on this connection has been handled before the next input starts.
///
/// A relay that never answers a connection it keeps open is a finding: the wait for the first refusal panics.
async fn sync(ws: &mut RawWs) {
    if ws.send_text("sync").await.is_err() {
        return;
    }
    let mut answered = false;
    loop {
        let wait = if answered {
            Duration::from_millis(10)
        } else {
            Duration::from_secs(30)
        };
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Ok(Event::Frame(RelayFrame::Error {
                code: ErrorCode::BadFrame,
                ..
            }))) => answered = true,
            Ok(Ok(Event::Close(_) | Event::Eof)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) if answered => return,
            Err(_) => panic!("the relay kept a connection open without answering it for 30 s"),
        }
    }
}

async fn run(data: &[u8]) {
    let world = world();
    let mut connections: Vec<Option<RawWs>> = (0..CONNECTIONS).map(|_| None).collect();
    for op in data.chunks(4).take(64) {
        let [kind, c, x, y] = [0, 1, 2, 3].map(|i| op.get(i).copied().unwrap_or(0));
        let slot = usize::from(c) % CONNECTIONS;
        if connections[slot].is_none() {
            connections[slot] = RawWs::connect(world.addr, &Options::default()).await.ok();
        }
        let Some(ws) = connections[slot].as_mut() else { continue };
        let room = &world.rooms[usize::from(x) % ROOMS];
        let member = u32::from(y % 6);
        let sent = match kind % 12 {
            0 => ws.send(&room.create(u32::from(y % 4))).await,
            1 => ws.send(&room.join()).await,
            2 => {
                let frame = ClientFrame::Join {
                    v: PROTOCOL_VERSION,
                    room: room.room.clone(),
                    token: room.wrong_token(),
                };
                ws.send(&frame).await
            }
            3 => {
                ws.send(&ClientFrame::Broadcast {
                    payload: payload(x, usize::from(y) * 64),
                })
                .await
            }
            4 => {
                ws.send(&ClientFrame::Direct {
                    to: member,
                    payload: payload(x, usize::from(y)),
                })
                .await
            }
            5 => ws.send(&ClientFrame::Kick { member }).await,
            6 => ws.send(&ClientFrame::Purge).await,
            7 => ws.send(&ClientFrame::Leave).await,
            8 => ws.send_raw(opcode::BINARY, true, op).await,
            9 => {
                ws.send_text(&String::from_utf8_lossy(&data[..data.len().min(usize::from(y))]))
                    .await
            }
            10 => ws.send_close(1000 + u16::from(y)).await,
            _ => {
                connections[slot] = None;
                Ok(())
            }
        };
        if sent.is_err() {
            connections[slot] = None;
        }
    }
    for ws in connections.iter_mut().flatten() {
        sync(ws).await;
    }
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    world.runtime.block_on(run(data));
});
