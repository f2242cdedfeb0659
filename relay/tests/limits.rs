//! Every limit of the relay, enforced over real sockets and reported with its code.

use std::time::Duration;

use sanctum_protocol::{
    AUTH_TOKEN_LEN, AuthToken, ClientFrame, LeftReason, MIN_FRAME_LIMIT, Payload, PurgeReason, RelayFrame,
};
use sanctum_relay::Config;
use sanctum_testkit::client::Client;
use sanctum_testkit::keys::RoomKeys;
use sanctum_testkit::raw_ws::{Options, RawWs, opcode};
use sanctum_testkit::relay::{TestRelay, roomy_config};

fn behind_proxy(config: Config) -> Config {
    Config {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..config
    }
}

#[tokio::test]
async fn members_per_room_rooms_and_connections_are_bounded() {
    let relay = TestRelay::start(Config {
        max_members: 2,
        max_rooms: 1,
        max_connections: 3,
        ..roomy_config()
    })
    .await;
    let room = RoomKeys::seeded(1);
    let mut alice = relay.connect().await;
    alice.create(&room, 600).await;
    let mut bob = relay.connect().await;
    bob.join(&room).await;
    let mut carol = relay.connect().await;
    carol.send(&room.join()).await;
    assert_eq!(carol.error().await, "room_full");
    carol.send(&RoomKeys::seeded(2).create(600)).await;
    assert_eq!(carol.error().await, "too_many_rooms");

    // The fourth connection is refused before the upgrade, and never counted.
    assert_eq!(refused_status(relay.connect_with(&[]).await), 503);
    assert_eq!(relay.metric("sanctum_connections").await, 3);
    assert_eq!(relay.metric("sanctum_upgrades_refused_total{limit=\"relay\"}").await, 1);
    drop(carol);
    relay.wait_metric("sanctum_connections", 2).await;
    let mut erin = relay.connect().await;
    erin.send(&room.join()).await;
    assert_eq!(erin.error().await, "room_full");
}

/// The HTTP status of an upgrade the relay refused.
fn refused_status(result: Result<Client, tokio_tungstenite::tungstenite::Error>) -> u16 {
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, the upgrade succeeded"),
    }
}

#[tokio::test]
async fn one_address_cannot_take_every_connection_slot() {
    let relay = TestRelay::start(Config {
        max_connections: 4,
        max_connections_per_address: 2,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..roomy_config()
    })
    .await;
    // Two /64 neighbours are one address; a third connection from them is refused before the upgrade.
    let _first = relay.connect_from("2001:db8:7:7::1").await;
    let _second = relay.connect_from("2001:db8:7:7::2").await;
    assert_eq!(
        refused_status(relay.connect_with(&[("x-forwarded-for", "2001:db8:7:7::3")]).await),
        429
    );
    assert_eq!(
        relay.metric("sanctum_upgrades_refused_total{limit=\"address\"}").await,
        1
    );
    assert_eq!(relay.metric("sanctum_connections").await, 2);
    // Everyone else still gets in.
    let _other = relay.connect_from("2001:db8:7:8::1").await;
    let _fourth = relay.connect_from("192.0.2.9").await;
    assert_eq!(
        refused_status(relay.connect_with(&[("x-forwarded-for", "192.0.2.10")]).await),
        503
    );
    // A slot freed by one of the address's connections is its own again.
    drop(_first);
    relay.wait_metric("sanctum_connections", 3).await;
    let _again = relay.connect_from("2001:db8:7:7::4").await;
}

#[tokio::test]
async fn membership_events_per_room_per_minute_are_bounded() {
    let relay = TestRelay::start(Config {
        max_membership_events: 3,
        ..roomy_config()
    })
    .await;
    let room = RoomKeys::seeded(3);
    let mut alice = relay.connect().await;
    alice.create(&room, 600).await;
    let mut bob = relay.connect().await;
    bob.join(&room).await;
    bob.send(&ClientFrame::Leave).await;
    bob.until_close().await;
    let mut carol = relay.connect().await;
    carol.send(&room.join()).await;
    assert_eq!(carol.error().await, "room_busy");
    // Another room is not affected.
    let mut dave = relay.connect().await;
    dave.create(&RoomKeys::seeded(4), 600).await;
}

#[tokio::test]
async fn creates_per_address_per_minute_are_bounded() {
    let relay = TestRelay::start(behind_proxy(Config {
        creates_per_minute: 2,
        ..roomy_config()
    }))
    .await;
    for seed in 10..12 {
        let mut client = relay.connect_from("203.0.113.5").await;
        client.create(&RoomKeys::seeded(seed), 600).await;
    }
    let mut third = relay.connect_from("203.0.113.5").await;
    third.send(&RoomKeys::seeded(12).create(600)).await;
    assert_eq!(third.error().await, "rate_limited");
    let mut neighbour = relay.connect_from("203.0.113.6").await;
    neighbour.create(&RoomKeys::seeded(12), 600).await;
}

#[tokio::test]
async fn failed_joins_are_limited_per_connection() {
    let relay = TestRelay::start(Config {
        failed_joins_per_connection: 2,
        ..roomy_config()
    })
    .await;
    let room = RoomKeys::seeded(20);
    let mut alice = relay.connect().await;
    alice.create(&room, 600).await;
    let mut mallory = relay.connect().await;
    for _ in 0..2 {
        mallory.send(&room.join_with(AuthToken([9; AUTH_TOKEN_LEN]))).await;
        assert_eq!(mallory.error().await, "bad_token");
    }
    // Even the right token is refused on this connection now, without being checked.
    mallory.send(&room.join()).await;
    assert_eq!(mallory.error().await, "rate_limited");
    let mut bob = relay.connect().await;
    assert_eq!(bob.join(&room).await, (2, vec![1]));
}

#[tokio::test]
async fn failed_joins_slow_the_address_down_but_not_the_room_s_members() {
    let relay = TestRelay::start(behind_proxy(Config {
        failed_joins_per_address: 3,
        ..roomy_config()
    }))
    .await;
    let room = RoomKeys::seeded(21);
    let mut alice = relay.connect_from("198.51.100.1").await;
    alice.create(&room, 600).await;
    let wrong = room.join_with(AuthToken([9; AUTH_TOKEN_LEN]));
    for _ in 0..3 {
        let mut guess = relay.connect_from("2001:db8:1:2::1").await;
        guess.send(&wrong).await;
        assert_eq!(guess.error().await, "bad_token");
    }
    // The whole /64 now waits, whatever token it presents.
    let mut same_prefix = relay.connect_from("2001:db8:1:2:ffff::9").await;
    same_prefix.send(&room.join()).await;
    assert_eq!(same_prefix.error().await, "rate_limited");
    let mut next_prefix = relay.connect_from("2001:db8:1:3::1").await;
    next_prefix.send(&wrong).await;
    assert_eq!(next_prefix.error().await, "bad_token");
    // A member elsewhere, with the right token, still gets in.
    let mut bob = relay.connect_from("192.0.2.44").await;
    assert_eq!(bob.join(&room).await, (2, vec![1]));
    assert_eq!(relay.metric("sanctum_rejections_total{code=\"bad_token\"}").await, 4);
    assert_eq!(relay.metric("sanctum_rejections_total{code=\"rate_limited\"}").await, 1);
}

#[tokio::test]
async fn a_flooding_connection_is_refused_then_closed() {
    let relay = TestRelay::start(Config {
        frames_per_second: 1,
        frame_burst: 3,
        flood_strikes: 5,
        ..roomy_config()
    })
    .await;
    let mut flooder = relay.connect().await;
    flooder.create(&RoomKeys::seeded(30), 600).await;
    for _ in 0..20 {
        flooder.broadcast(b"spam").await;
    }
    let (frames, code) = flooder.until_close().await;
    let refused = frames
        .iter()
        .filter(|f| matches!(f, RelayFrame::Error { code, .. } if code.as_str() == "rate_limited"))
        .count();
    assert_eq!(refused, 6, "{frames:?}");
    assert_eq!(code, Some(4009));
}

#[tokio::test]
async fn a_ping_flood_is_closed_too() {
    let relay = TestRelay::start(Config {
        frames_per_second: 1,
        frame_burst: 3,
        flood_strikes: 5,
        ..roomy_config()
    })
    .await;
    let mut flooder = RawWs::connect(relay.addr, &Options::default()).await.expect("upgrade");
    flooder.auto_pong = false;
    for _ in 0..20 {
        flooder.send_raw(opcode::PING, true, b"ping").await.unwrap();
    }
    assert_eq!(flooder.closed().await.unwrap(), Some(4009));
}

#[tokio::test]
async fn a_connection_that_never_joins_times_out() {
    let relay = TestRelay::start(Config {
        handshake_timeout: Duration::from_secs(1),
        ..roomy_config()
    })
    .await;
    let mut idle = relay.connect().await;
    assert_eq!(idle.until_close().await, (vec![], Some(4010)));
}

#[tokio::test]
async fn a_member_without_pongs_is_closed_while_a_member_who_only_reads_stays() {
    let relay = TestRelay::start(Config {
        // Long enough that a loaded machine does not make the reading member miss a ping.
        idle_timeout: Duration::from_secs(2),
        max_lifetime: 6,
        expiry_warnings: vec![1],
        ..roomy_config()
    })
    .await;
    let room = RoomKeys::seeded(31);
    let mut mute = RawWs::connect(relay.addr, &Options::default()).await.expect("upgrade");
    mute.auto_pong = false;
    mute.send(&room.create(6)).await.unwrap();
    let mut reader = relay.connect().await;
    reader.join(&room).await;
    // The reader only reads (its WebSocket library answers pings while reading) and stays until the room expires.
    let reader = tokio::spawn(async move { reader.until_close().await });
    // The raw client never answers the relay's pings.
    assert_eq!(mute.closed().await.unwrap(), Some(4010));
    let (frames, code) = reader.await.unwrap();
    assert_eq!(
        frames,
        vec![
            RelayFrame::MemberLeft {
                member: 1,
                reason: LeftReason::Dropped
            },
            RelayFrame::Expiring { seconds: 1 },
            RelayFrame::Purged {
                reason: PurgeReason::Expired
            },
        ]
    );
    assert_eq!(code, Some(4003));
}

#[tokio::test]
async fn a_slow_reader_is_cut_off_while_the_others_keep_receiving() {
    let relay = TestRelay::start(Config {
        queue_bytes: MIN_FRAME_LIMIT * 8,
        ..roomy_config()
    })
    .await;
    let [mut sender, mut fast, mut slow] = relay.populated_room(&RoomKeys::seeded(40)).await;

    // Enough to fill the slow reader's socket buffers and then its queue, many times over.
    const FRAMES: usize = 600;
    const WINDOW: usize = 2;
    let payload = Payload::new(vec![0x5a; 32 * 1024]).unwrap();
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        let mut received = 0;
        let mut saw_drop = false;
        while received < FRAMES {
            match fast.frame().await {
                RelayFrame::Frame { from: 1, .. } => {
                    received += 1;
                    let _ = progress_tx.send(received);
                }
                RelayFrame::MemberLeft {
                    member: 3,
                    reason: LeftReason::Dropped,
                } => saw_drop = true,
                other => panic!("unexpected {other:?}"),
            }
        }
        (received, saw_drop)
    });
    // The sender keeps at most a window ahead of the fast reader, which decodes every frame, so that only the
    // reader that does not read at all falls behind.
    for sent in 1..=FRAMES {
        sender
            .send(&ClientFrame::Broadcast {
                payload: payload.clone(),
            })
            .await;
        if sent % WINDOW == 0 {
            progress.wait_for(|received| *received + WINDOW >= sent).await.unwrap();
        }
    }
    let (received, saw_drop) = reader.await.unwrap();
    assert_eq!(received, FRAMES);
    assert!(saw_drop, "the others are told the slow reader dropped");
    assert_eq!(relay.metric("sanctum_slow_readers_total").await, 1);
    // The slow reader finds what its socket had buffered, then the end (with 4008 if the close got through).
    let (frames, code) = slow.until_close().await;
    assert!(frames.len() < FRAMES);
    assert!(matches!(code, Some(4008) | None), "{code:?}");
    relay.wait_metric("sanctum_queued_bytes", 0).await;
}
