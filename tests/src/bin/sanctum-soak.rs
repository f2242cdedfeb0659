//! The soak driver behind `cargo xtask soak`: a steady mixed load against a running relay for a fixed time.
//!
//! Every room slot loops: create a room with a short lifetime, let two to five members join, broadcast and whisper,
//! let members leave and others join, then either purge the room or let it expire with its members in it,
//! and start over with a new room. The relay's memory should follow the live state and nothing else.
//!
//! Usage: `sanctum-soak <relay address> <minutes> [room slots]`; it prints one progress line a minute to stderr
//! and a summary line to stdout.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sanctum_protocol::{ClientFrame, MemberId, RelayFrame};
use sanctum_testkit::keys::{RoomKeys, payload};
use sanctum_testkit::member::{Pumped, connect, create, join};
use sanctum_testkit::raw_ws::{Event, Options};
use tokio::time::{Instant, interval, sleep};

/// Room slots when the command line does not say.
const DEFAULT_SLOTS: usize = 40;
/// Payload sizes members send, spread over the padding buckets.
const SIZES: [usize; 5] = [200, 900, 3_000, 12_000, 30_000];

/// Totals across every slot, printed as progress.
#[derive(Debug, Default)]
struct Totals {
    rooms: AtomicU64,
    purged: AtomicU64,
    expired: AtomicU64,
    joins: AtomicU64,
    leaves: AtomicU64,
    frames_sent: AtomicU64,
    frames_received: AtomicU64,
    errors: AtomicU64,
}

/// A small generator for the load's choices; the load need not be unpredictable, only varied.
#[derive(Debug)]
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(minutes)) = (
        args.first().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(1).and_then(|m| m.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: sanctum-soak <relay address> <minutes> [room slots]");
        std::process::exit(2);
    };
    let slots = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SLOTS);
    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    let totals = Arc::new(Totals::default());
    let mut tasks = Vec::new();
    for slot in 0..slots {
        let totals = totals.clone();
        tasks.push(tokio::spawn(async move {
            let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ (slot as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
            // Stagger the slots so that creations and expiries do not come in waves.
            sleep(Duration::from_millis(dice.below(5_000))).await;
            while Instant::now() < deadline {
                if run_room(addr, slot, &mut dice, deadline, &totals).await.is_err() {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                    sleep(Duration::from_secs(1)).await;
                }
            }
        }));
    }
    let progress = {
        let totals = totals.clone();
        tokio::spawn(async move {
            let mut tick = interval(Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("soak: {}", summary(&totals));
            }
        })
    };
    for task in tasks {
        let _ = task.await;
    }
    progress.abort();
    println!("{}", summary(&totals));
}

fn summary(t: &Totals) -> String {
    format!(
        "rooms={} purged={} expired={} joins={} leaves={} frames_sent={} frames_received={} errors={}",
        t.rooms.load(Ordering::Relaxed),
        t.purged.load(Ordering::Relaxed),
        t.expired.load(Ordering::Relaxed),
        t.joins.load(Ordering::Relaxed),
        t.leaves.load(Ordering::Relaxed),
        t.frames_sent.load(Ordering::Relaxed),
        t.frames_received.load(Ordering::Relaxed),
        t.errors.load(Ordering::Relaxed),
    )
}

/// One member of a room, with its member id.
struct Member {
    id: MemberId,
    link: Pumped,
}

/// Counts what arrived for `member` and says whether its connection ended.
fn drain(member: &mut Member, totals: &Totals) -> bool {
    let mut ended = false;
    for event in member.link.drain() {
        match event {
            Event::Frame(RelayFrame::Frame { .. }) => {
                totals.frames_received.fetch_add(1, Ordering::Relaxed);
            }
            Event::Frame(RelayFrame::Error { .. }) => {
                totals.errors.fetch_add(1, Ordering::Relaxed);
            }
            Event::Close(_) | Event::Eof => ended = true,
            _ => {}
        }
    }
    ended
}

/// Joins the room of `keys` as a new member.
async fn new_member(addr: SocketAddr, keys: &RoomKeys, totals: &Totals) -> io::Result<Member> {
    let mut ws = connect(addr, &Options::default()).await?;
    let id = join(&mut ws, keys).await?;
    totals.joins.fetch_add(1, Ordering::Relaxed);
    Ok(Member {
        id,
        link: Pumped::new(ws),
    })
}

/// One room's life: create, join, talk, churn, then purge or expire.
async fn run_room(
    addr: SocketAddr,
    slot: usize,
    dice: &mut Dice,
    deadline: Instant,
    totals: &Totals,
) -> io::Result<()> {
    let keys = RoomKeys::fresh();
    let lifetime = 20 + dice.below(70) as u32;
    let mut ws = connect(addr, &Options::default()).await?;
    let creator = create(&mut ws, &keys, lifetime).await?;
    totals.rooms.fetch_add(1, Ordering::Relaxed);
    let mut members = vec![Member {
        id: creator,
        link: Pumped::new(ws),
    }];
    for _ in 0..1 + dice.below(4) {
        members.push(new_member(addr, &keys, totals).await?);
    }
    let purge_after = if dice.below(2) == 0 {
        Some(Duration::from_secs(5 + dice.below(u64::from(lifetime) - 5)))
    } else {
        None
    };
    let started = Instant::now();
    let mut tick = interval(Duration::from_millis(400 + (slot as u64 % 7) * 50));
    loop {
        tick.tick().await;
        members.retain_mut(|m| !drain(m, totals));
        if members.is_empty() {
            // Everyone was closed by the relay: the room expired.
            totals.expired.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline || purge_after.is_some_and(|after| now.duration_since(started) >= after) {
            members[0].link.send(ClientFrame::Purge)?;
            totals.purged.fetch_add(1, Ordering::Relaxed);
            wait_closed(&mut members).await;
            return Ok(());
        }
        let speaker = dice.below(members.len() as u64) as usize;
        let size = SIZES[dice.below(SIZES.len() as u64) as usize];
        let frame = if members.len() > 1 && dice.below(5) == 0 {
            let to = members[(speaker + 1) % members.len()].id;
            ClientFrame::Direct {
                to,
                payload: payload(slot as u8, size),
            }
        } else {
            ClientFrame::Broadcast {
                payload: payload(slot as u8, size),
            }
        };
        members[speaker].link.send(frame)?;
        totals.frames_sent.fetch_add(1, Ordering::Relaxed);
        // Churn: now and then a member other than the first leaves, and a newcomer joins.
        if members.len() > 1 && dice.below(20) == 0 {
            let leaving = 1 + dice.below(members.len() as u64 - 1) as usize;
            let member = members.remove(leaving);
            member.link.send(ClientFrame::Leave)?;
            totals.leaves.fetch_add(1, Ordering::Relaxed);
            // Dropping the member stops its task, so wait for the relay's close before letting it go.
            wait_closed(&mut vec![member]).await;
        }
        if members.len() < 5 && dice.below(15) == 0 {
            // A failed join means the room expired a moment ago, which the next tick notices; no error of the relay.
            if let Ok(member) = new_member(addr, &keys, totals).await {
                members.push(member);
            }
        }
    }
}

/// Waits until every member's connection has ended, or ten seconds.
async fn wait_closed(members: &mut Vec<Member>) {
    let until = Instant::now() + Duration::from_secs(10);
    while !members.is_empty() && Instant::now() < until {
        let mut still = Vec::new();
        for mut member in members.drain(..) {
            let ended = member
                .link
                .drain()
                .iter()
                .any(|e| matches!(e, Event::Close(_) | Event::Eof));
            if !ended {
                still.push(member);
            }
        }
        *members = still;
        sleep(Duration::from_millis(100)).await;
    }
}
