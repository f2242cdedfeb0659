//! Two relays and one real `redis-server`: members on either relay chat, whisper, kick and purge each other as on
//! one relay; expiry, the member cap, a Redis that would persist, and a Redis killed and restarted.

use std::time::Duration;

use sanctum_protocol::{
    ClientFrame, CloseCode, Descriptor, ErrorCode, LeftReason, MemberId, PROTOCOL_VERSION, PurgeReason, RelayFrame,
};
use sanctum_relay::Config;
use sanctum_testkit::http::http_get;
use sanctum_testkit::keys::{RoomKeys, payload};
use sanctum_testkit::member::{connect, create, join};
use sanctum_testkit::process::{RelayProcess, relay_binary};
use sanctum_testkit::raw_ws::{Event, Options, RawWs};
use sanctum_testkit::redis::RedisServer;
use sanctum_testkit::relay::TestRelay;
use tokio::time::{Instant, sleep};

/// A relay configuration that shares rooms through `redis`.
fn shared(redis: &RedisServer) -> Config {
    Config {
        redis: Some(redis.url().parse().unwrap()),
        redis_heartbeat: Duration::from_secs(2),
        ..Config::default()
    }
}

async fn two_relays(redis: &RedisServer, config: impl Fn(&mut Config)) -> (TestRelay, TestRelay) {
    let mut c = shared(redis);
    config(&mut c);
    let a = TestRelay::start(c.clone()).await;
    let b = TestRelay::start(c).await;
    (a, b)
}

async fn ws(relay: &TestRelay) -> RawWs {
    connect(relay.addr, &Options::default()).await.unwrap()
}

/// Reads frames until one matches `want`, failing on a close or on anything `want` rejects by panicking.
async fn until(ws: &mut RawWs, want: impl Fn(&RelayFrame) -> bool) -> RelayFrame {
    loop {
        match ws.next().await.unwrap() {
            Event::Frame(frame) if want(&frame) => return frame,
            Event::Frame(_) | Event::Ping => {}
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

async fn joined(ws: &mut RawWs, member: MemberId) {
    until(ws, |f| *f == RelayFrame::MemberJoined { member }).await;
}

fn broadcast(byte: u8) -> ClientFrame {
    ClientFrame::Broadcast {
        payload: payload(byte, 32),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_on_two_relays_chat_and_whisper_in_order() {
    let redis = RedisServer::start().await.unwrap();
    // Bursts of 50 frames per sender, within the frame rate.
    let (a, b) = two_relays(&redis, |c| {
        c.frames_per_second = 100;
        c.frame_burst = 100;
    })
    .await;
    let keys = RoomKeys::fresh();
    let mut alice = ws(&a).await;
    let mut bob = ws(&b).await;
    let mut carol = ws(&a).await;
    assert_eq!(create(&mut alice, &keys, 600).await.unwrap(), 1);
    bob.send(&keys.join()).await.unwrap();
    let RelayFrame::Joined {
        member,
        members,
        descriptor,
        ..
    } = bob.frame().await.unwrap()
    else {
        panic!("bob joins");
    };
    assert_eq!((member, members), (2, vec![1]));
    assert_eq!(descriptor.as_bytes(), b"sealed descriptor");
    joined(&mut alice, 2).await;
    assert_eq!(join(&mut carol, &keys).await.unwrap(), 3);
    joined(&mut alice, 3).await;
    joined(&mut bob, 3).await;

    // Each sender's frames arrive in the order sent, on the other relay and on its own.
    for i in 0..50u8 {
        alice.send(&broadcast(i)).await.unwrap();
        bob.send(&broadcast(100 + i)).await.unwrap();
    }
    let mut from_alice = Vec::new();
    let mut from_bob = Vec::new();
    while from_alice.len() < 50 || from_bob.len() < 50 {
        match carol.frame().await.unwrap() {
            RelayFrame::Frame {
                from: 1,
                payload,
                direct: false,
            } => from_alice.push(payload.as_bytes()[0]),
            RelayFrame::Frame {
                from: 2,
                payload,
                direct: false,
            } => from_bob.push(payload.as_bytes()[0]),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(from_alice, (0..50).collect::<Vec<_>>());
    assert_eq!(from_bob, (100..150).collect::<Vec<_>>());
    for i in 0..50u8 {
        assert_eq!(
            bob.frame().await.unwrap(),
            RelayFrame::Frame {
                from: 1,
                direct: false,
                payload: payload(i, 32)
            }
        );
    }
    for i in 0..50u8 {
        assert_eq!(
            alice.frame().await.unwrap(),
            RelayFrame::Frame {
                from: 2,
                direct: false,
                payload: payload(100 + i, 32)
            }
        );
    }

    // A whisper reaches its recipient alone, across relays, both ways.
    bob.send(&ClientFrame::Direct {
        to: 1,
        payload: payload(7, 16),
    })
    .await
    .unwrap();
    alice
        .send(&ClientFrame::Direct {
            to: 2,
            payload: payload(8, 16),
        })
        .await
        .unwrap();
    assert_eq!(
        alice.frame().await.unwrap(),
        RelayFrame::Frame {
            from: 2,
            direct: true,
            payload: payload(7, 16)
        }
    );
    assert_eq!(
        bob.frame().await.unwrap(),
        RelayFrame::Frame {
            from: 1,
            direct: true,
            payload: payload(8, 16)
        }
    );
    // Carol, on alice's relay, got neither whisper: her next frame is the broadcast that follows them.
    alice.send(&broadcast(9)).await.unwrap();
    assert_eq!(
        carol.frame().await.unwrap(),
        RelayFrame::Frame {
            from: 1,
            direct: false,
            payload: payload(9, 32)
        }
    );
    until(&mut bob, |f| matches!(f, RelayFrame::Frame { from: 1, .. })).await;
    // A whisper to someone who is not in the room is refused as on one relay.
    bob.send(&ClientFrame::Direct {
        to: 9,
        payload: payload(1, 1),
    })
    .await
    .unwrap();
    assert!(matches!(
        bob.frame().await.unwrap(),
        RelayFrame::Error {
            code: ErrorCode::UnknownMember,
            ..
        }
    ));
    // Leaving on one relay is heard on the other.
    carol.send(&ClientFrame::Leave).await.unwrap();
    assert_eq!(carol.closed().await.unwrap(), Some(CloseCode::Normal.code()));
    let left = RelayFrame::MemberLeft {
        member: 3,
        reason: LeftReason::Left,
    };
    assert_eq!(bob.frame().await.unwrap(), left);
    assert_eq!(alice.frame().await.unwrap(), left);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_on_one_relay_closes_the_member_on_the_other() {
    let redis = RedisServer::start().await.unwrap();
    let (a, b) = two_relays(&redis, |_| {}).await;
    let keys = RoomKeys::fresh();
    let mut owner = ws(&a).await;
    let mut target = ws(&b).await;
    let mut witness = ws(&b).await;
    create(&mut owner, &keys, 600).await.unwrap();
    join(&mut target, &keys).await.unwrap();
    join(&mut witness, &keys).await.unwrap();
    joined(&mut owner, 3).await;
    joined(&mut target, 3).await;
    owner.send(&ClientFrame::Kick { member: 2 }).await.unwrap();
    assert_eq!(target.frame().await.unwrap(), RelayFrame::Kicked { by: 1 });
    assert_eq!(target.closed().await.unwrap(), Some(CloseCode::Kicked.code()));
    let left = RelayFrame::MemberLeft {
        member: 2,
        reason: LeftReason::Kicked,
    };
    assert_eq!(owner.frame().await.unwrap(), left);
    assert_eq!(witness.frame().await.unwrap(), left);
    // The kicked member gets nothing more; the others go on.
    witness.send(&broadcast(4)).await.unwrap();
    assert!(matches!(
        owner.frame().await.unwrap(),
        RelayFrame::Frame { from: 3, .. }
    ));
    // Kicking someone no longer there is refused.
    owner.send(&ClientFrame::Kick { member: 2 }).await.unwrap();
    assert!(matches!(
        owner.frame().await.unwrap(),
        RelayFrame::Error {
            code: ErrorCode::UnknownMember,
            ..
        }
    ));
}

/// The error code of the next frame, which must be an error.
async fn error_code(ws: &mut RawWs) -> ErrorCode {
    match ws.frame().await.unwrap() {
        RelayFrame::Error { code, .. } => code,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_on_one_relay_changes_the_token_and_descriptor_on_both_and_its_rate_is_shared() {
    let redis = RedisServer::start().await.unwrap();
    let (a, b) = two_relays(&redis, |c| c.locks_per_minute = 2).await;
    let keys = RoomKeys::fresh();
    let mut owner = ws(&a).await;
    let mut guest = ws(&b).await;
    create(&mut owner, &keys, 600).await.unwrap();
    join(&mut guest, &keys).await.unwrap();
    joined(&mut owner, 2).await;
    let first = RoomKeys::fresh();
    let sealed = Descriptor::new(b"descriptor under the new room key".to_vec()).unwrap();
    let lock = |keys: &RoomKeys| ClientFrame::Lock {
        verifier: keys.verifier(),
        descriptor: sealed.clone(),
    };

    // Only a member may lock: a connection in no room, on either relay, is refused.
    let mut stranger = ws(&b).await;
    stranger.send(&lock(&first)).await.unwrap();
    assert_eq!(error_code(&mut stranger).await, ErrorCode::NotInRoom);

    owner.send(&lock(&first)).await.unwrap();
    assert_eq!(owner.frame().await.unwrap(), RelayFrame::Locked);
    // On the other relay the old token is refused, and the new one gets the new descriptor.
    let mut late = ws(&b).await;
    late.send(&keys.join()).await.unwrap();
    assert_eq!(error_code(&mut late).await, ErrorCode::BadToken);
    late.send(&ClientFrame::Join {
        v: PROTOCOL_VERSION,
        room: keys.room.clone(),
        token: first.token.clone(),
    })
    .await
    .unwrap();
    match late.frame().await.unwrap() {
        RelayFrame::Joined {
            member: 3, descriptor, ..
        } => assert_eq!(descriptor, sealed),
        other => panic!("expected joined, got {other:?}"),
    }
    // The others hear nothing of the lock: their next frame is the newcomer.
    assert_eq!(guest.frame().await.unwrap(), RelayFrame::MemberJoined { member: 3 });

    // Two locks a minute, counted in Redis: the member on the other relay takes the second, the third is refused.
    let second = RoomKeys::fresh();
    guest.send(&lock(&second)).await.unwrap();
    assert_eq!(guest.frame().await.unwrap(), RelayFrame::Locked);
    owner.send(&lock(&RoomKeys::fresh())).await.unwrap();
    let refused = until(&mut owner, |f| matches!(f, RelayFrame::Error { .. })).await;
    assert!(matches!(
        refused,
        RelayFrame::Error {
            code: ErrorCode::RateLimited,
            ..
        }
    ));
    let mut last = ws(&a).await;
    last.send(&ClientFrame::Join {
        v: PROTOCOL_VERSION,
        room: keys.room.clone(),
        token: second.token.clone(),
    })
    .await
    .unwrap();
    assert!(matches!(
        last.frame().await.unwrap(),
        RelayFrame::Joined { member: 4, .. }
    ));
    let metrics = a.metrics().await.unwrap();
    assert_eq!(metrics.rejections("rate_limited"), 1.0);
    assert_eq!(metrics.get("sanctum_rooms_locked_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_relay_bounds_the_rooms_one_address_creates_until_their_expiry() {
    let redis = RedisServer::start().await.unwrap();
    let (a, b) = two_relays(&redis, |c| c.max_rooms_per_address = 2).await;
    // Every connection comes from 127.0.0.1: two rooms on each relay (on the first, one that expires in 2 s), then a
    // third is refused; behind two relays the address holds twice its share, as the operating guide says.
    let mut held = Vec::new();
    for (relay, lifetime) in [(&a, 2), (&b, 600)] {
        let mut short = ws(relay).await;
        create(&mut short, &RoomKeys::fresh(), lifetime).await.unwrap();
        let mut long = ws(relay).await;
        create(&mut long, &RoomKeys::fresh(), 600).await.unwrap();
        let mut third = ws(relay).await;
        third.send(&RoomKeys::fresh().create(600)).await.unwrap();
        assert_eq!(error_code(&mut third).await, ErrorCode::RateLimited);
        held.push((short, long, third));
    }
    let (short, long, third) = &mut held[0];
    // A purged room keeps its place until its original expiry, as its tombstone does on one relay.
    long.send(&ClientFrame::Purge).await.unwrap();
    assert_eq!(long.closed().await.unwrap(), Some(CloseCode::Purged.code()));
    third.send(&RoomKeys::fresh().create(600)).await.unwrap();
    assert_eq!(error_code(third).await, ErrorCode::RateLimited);
    // The short room's expiry frees its place on the relay it was created through.
    until(short, |f| {
        *f == RelayFrame::Purged {
            reason: PurgeReason::Expired,
        }
    })
    .await;
    third.send(&RoomKeys::fresh().create(600)).await.unwrap();
    assert!(matches!(third.frame().await.unwrap(), RelayFrame::Created { .. }));
    let (_, _, other) = &mut held[1];
    other.send(&RoomKeys::fresh().create(600)).await.unwrap();
    assert_eq!(error_code(other).await, ErrorCode::RateLimited);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_on_one_relay_ends_every_member_and_the_link_on_both() {
    let redis = RedisServer::start().await.unwrap();
    let (a, b) = two_relays(&redis, |_| {}).await;
    let keys = RoomKeys::fresh();
    let mut on_a = ws(&a).await;
    let mut on_b = ws(&b).await;
    let mut also_on_b = ws(&b).await;
    create(&mut on_a, &keys, 600).await.unwrap();
    join(&mut on_b, &keys).await.unwrap();
    join(&mut also_on_b, &keys).await.unwrap();
    joined(&mut on_a, 3).await;
    on_b.send(&ClientFrame::Purge).await.unwrap();
    let purged = RelayFrame::Purged {
        reason: PurgeReason::Purged,
    };
    for member in [&mut on_a, &mut on_b, &mut also_on_b] {
        assert_eq!(until(member, |f| matches!(f, RelayFrame::Purged { .. })).await, purged);
        assert_eq!(member.closed().await.unwrap(), Some(CloseCode::Purged.code()));
    }
    for relay in [&a, &b] {
        let mut late = ws(relay).await;
        late.send(&keys.join()).await.unwrap();
        assert!(matches!(
            late.frame().await.unwrap(),
            RelayFrame::Error {
                code: ErrorCode::RoomGone,
                ..
            }
        ));
        late.send(&keys.create(60)).await.unwrap();
        assert!(matches!(
            late.frame().await.unwrap(),
            RelayFrame::Error {
                code: ErrorCode::RoomExists,
                ..
            }
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_and_expiry_reach_members_on_both_relays() {
    let redis = RedisServer::start().await.unwrap();
    let (a, b) = two_relays(&redis, |c| c.expiry_warnings = vec![2]).await;
    let keys = RoomKeys::fresh();
    let mut on_a = ws(&a).await;
    let mut on_b = ws(&b).await;
    on_a.auto_pong = true;
    on_b.auto_pong = true;
    create(&mut on_a, &keys, 4).await.unwrap();
    join(&mut on_b, &keys).await.unwrap();
    joined(&mut on_a, 2).await;
    for member in [&mut on_a, &mut on_b] {
        assert_eq!(member.frame().await.unwrap(), RelayFrame::Expiring { seconds: 2 });
        assert_eq!(
            member.frame().await.unwrap(),
            RelayFrame::Purged {
                reason: PurgeReason::Expired
            }
        );
        assert_eq!(member.closed().await.unwrap(), Some(CloseCode::Expired.code()));
    }
    // Redis forgot the room with its keys: the id is free again, as on one relay.
    let mut again = ws(&b).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        again.send(&keys.create(60)).await.unwrap();
        match again.frame().await.unwrap() {
            RelayFrame::Created { .. } => break,
            RelayFrame::Error {
                code: ErrorCode::RoomExists,
                ..
            } if Instant::now() < deadline => sleep(Duration::from_millis(100)).await,
            other => panic!("expected created, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_cap_holds_across_both_relays() {
    let redis = RedisServer::start().await.unwrap();
    let (a, b) = two_relays(&redis, |c| c.max_members = 3).await;
    let keys = RoomKeys::fresh();
    let mut first = ws(&a).await;
    let mut second = ws(&b).await;
    let mut third = ws(&a).await;
    create(&mut first, &keys, 600).await.unwrap();
    join(&mut second, &keys).await.unwrap();
    join(&mut third, &keys).await.unwrap();
    for relay in [&a, &b] {
        let mut fourth = ws(relay).await;
        fourth.send(&keys.join()).await.unwrap();
        assert!(matches!(
            fourth.frame().await.unwrap(),
            RelayFrame::Error {
                code: ErrorCode::RoomFull,
                ..
            }
        ));
    }
    // Wrong tokens are refused by the relay itself, on either relay.
    let mut guesser = ws(&b).await;
    guesser
        .send(&ClientFrame::Join {
            v: sanctum_protocol::PROTOCOL_VERSION,
            room: keys.room.clone(),
            token: keys.wrong_token(),
        })
        .await
        .unwrap();
    assert!(matches!(
        guesser.frame().await.unwrap(),
        RelayFrame::Error {
            code: ErrorCode::BadToken,
            ..
        }
    ));
}

#[tokio::test]
async fn a_redis_that_would_persist_is_refused_unless_allowed() {
    let redis = RedisServer::start_with(&["--save", "", "--appendonly", "yes"])
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = sanctum_relay::run(listener, shared(&redis), std::future::pending()).await;
    let message = refused.expect_err("a persisting Redis is refused").to_string();
    assert!(message.contains("appendonly"), "{message}");
    let config = Config {
        redis_allow_persistence: true,
        ..shared(&redis)
    };
    let relay = TestRelay::start(config).await;
    let mut member = ws(&relay).await;
    create(&mut member, &RoomKeys::fresh(), 60).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_redis_closes_room_connections_and_refuses_joins_until_it_is_back() {
    let mut redis = RedisServer::start().await.unwrap();
    let (a, b) = two_relays(&redis, |_| {}).await;
    let keys = RoomKeys::fresh();
    let mut on_a = ws(&a).await;
    let mut on_b = ws(&b).await;
    create(&mut on_a, &keys, 600).await.unwrap();
    join(&mut on_b, &keys).await.unwrap();
    assert_eq!(http_get(a.addr, "/healthz").await.unwrap(), (200, "ok".to_owned()));

    redis.kill();
    for member in [&mut on_a, &mut on_b] {
        assert_eq!(member.closed().await.unwrap(), Some(CloseCode::Unavailable.code()));
    }
    for relay in [&a, &b] {
        assert_eq!(http_get(relay.addr, "/healthz").await.unwrap().0, 503);
        let metrics = relay.metrics().await.unwrap();
        assert_eq!(metrics.get("sanctum_backplane_up"), 0.0);
        let mut newcomer = ws(relay).await;
        newcomer.send(&RoomKeys::fresh().create(60)).await.unwrap();
        assert!(matches!(
            newcomer.frame().await.unwrap(),
            RelayFrame::Error {
                code: ErrorCode::Unavailable,
                ..
            }
        ));
    }

    // A restarted Redis is empty: the relays come back by themselves, and the room is forgotten.
    redis.restart().await.unwrap();
    for relay in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(15);
        while http_get(relay.addr, "/healthz").await.unwrap().0 != 200 {
            assert!(Instant::now() < deadline, "the relay reconnects to Redis");
            sleep(Duration::from_millis(100)).await;
        }
        assert!(relay.metrics().await.unwrap().get("sanctum_backplane_reconnects_total") >= 1.0);
        let mut back = ws(relay).await;
        back.send(&keys.join()).await.unwrap();
        assert!(matches!(
            back.frame().await.unwrap(),
            RelayFrame::Error {
                code: ErrorCode::RoomNotFound,
                ..
            }
        ));
    }
    let fresh = RoomKeys::fresh();
    let mut creator = ws(&a).await;
    let mut joiner = ws(&b).await;
    create(&mut creator, &fresh, 60).await.unwrap();
    join(&mut joiner, &fresh).await.unwrap();
    creator.send(&broadcast(1)).await.unwrap();
    assert!(matches!(
        until(&mut joiner, |f| matches!(f, RelayFrame::Frame { .. })).await,
        RelayFrame::Frame { from: 1, .. }
    ));
}

/// A relay process on a free port sharing rooms through `redis`, with a 2 s heartbeat.
async fn relay_process(redis: &RedisServer) -> RelayProcess {
    let url = redis.url();
    let args = ["--listen", "127.0.0.1:0", "--redis", &url, "--redis-heartbeat", "2"];
    RelayProcess::start(&relay_binary(), &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_members_of_a_relay_killed_with_sigkill_disappear_within_the_heartbeat() {
    let redis = RedisServer::start().await.unwrap();
    let survivor = relay_process(&redis).await;
    let mut victim = relay_process(&redis).await;
    let (survivor_addr, victim_addr) = (survivor.addr, victim.addr);
    let keys = RoomKeys::fresh();
    let mut alice = connect(survivor_addr, &Options::default()).await.unwrap();
    let mut bob = connect(victim_addr, &Options::default()).await.unwrap();
    alice.auto_pong = true;
    create(&mut alice, &keys, 600).await.unwrap();
    join(&mut bob, &keys).await.unwrap();
    joined(&mut alice, 2).await;

    // SIGKILL, by process id: the relay gets no chance to say goodbye.
    victim.child.kill().unwrap();
    let killed = Instant::now();
    let left = until(&mut alice, |f| matches!(f, RelayFrame::MemberLeft { .. })).await;
    let took = killed.elapsed();
    assert_eq!(
        left,
        RelayFrame::MemberLeft {
            member: 2,
            reason: LeftReason::Dropped
        }
    );
    println!("a SIGKILLed relay's member was reported dropped after {took:?} (heartbeat 2 s)");
    // The heartbeat expires after 2 s and survivors look every 2/3 s: 4/3 of it, plus the time Redis takes.
    assert!(took < Duration::from_millis(2_667 + 2_000), "{took:?}");
    // The room lives on for the survivor's members, and a newcomer takes the departed member's place.
    let mut carol = connect(survivor_addr, &Options::default()).await.unwrap();
    assert_eq!(join(&mut carol, &keys).await.unwrap(), 3);
}

/// The real client core end to end across two relays: chat, a whisper, a kick with its rekey, and a purge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_clients_on_two_relays_chat_whisper_kick_and_purge() -> anyhow::Result<()> {
    use sanctum_client::rand_core::OsRng;
    use sanctum_client::{Event, RoomLink, RoomSecrets};
    use sanctum_testkit::native::{Command, kick, message, now_ms, purge, three_in_a_room};

    let redis = RedisServer::start().await?;
    let (a, b) = two_relays(&redis, |_| {}).await;
    let link = RoomLink::generate(&mut OsRng, 600, now_ms())?;
    let secrets = RoomSecrets::derive(&link, "velvet orbit cactus thunder quietly")?;
    let aliases = ["Quokka-Alice", "Pangolin-Bob", "Axolotl-Carol"];
    let [mut alice, mut bob, mut carol] =
        three_in_a_room([a.addr, b.addr, a.addr], &secrets, aliases, "Lighthouse").await?;

    alice.command(Command::Text("the heron flies at midnight".into()));
    bob.expect(
        "bob reads alice across relays",
        message("the heron flies at midnight", false),
    )
    .await?;
    carol
        .expect("carol reads alice", message("the heron flies at midnight", false))
        .await?;
    let alice_id = alice
        .member()
        .ok_or_else(|| anyhow::anyhow!("alice has no member id"))?;
    bob.command(Command::Whisper(alice_id, "meet me by the old mill".into()));
    alice
        .expect("alice reads bob's whisper", message("meet me by the old mill", true))
        .await?;

    // The kick goes from relay A to carol on relay A and bob on relay B; alice's next generation leaves carol out.
    let carol_events = kick(&mut alice, carol, &mut bob, "after the kick").await?;
    assert!(
        !carol_events
            .iter()
            .any(|e| matches!(e, Event::Message { text, .. } if text == "after the kick"))
    );

    // The purge goes from relay B to alice on relay A, and a newcomer on relay A is refused.
    purge(bob, alice, a.addr, &secrets).await?;
    Ok(())
}
