//! Rooms over real sockets: fan-out, direct frames, joining, leave, kick, purge and expiry.

use sanctum_protocol::{
    AUTH_TOKEN_LEN, AuthToken, ClientFrame, Descriptor, LeftReason, Payload, PurgeReason, RelayFrame,
};
use sanctum_relay::Config;
use sanctum_testkit::keys::RoomKeys;
use sanctum_testkit::raw_ws::Event;
use sanctum_testkit::relay::{TestRelay, roomy_config};

#[tokio::test]
async fn a_broadcast_reaches_every_other_member_once_in_order_and_no_other_room() {
    let relay = TestRelay::start(roomy_config()).await;
    let (room, other_room) = (RoomKeys::seeded(1), RoomKeys::seeded(2));
    let mut alice = relay.connect().await;
    assert_eq!(alice.create(&room, 600).await, 1);
    let mut bob = relay.connect().await;
    assert_eq!(bob.join(&room).await, (2, vec![1]));
    let mut carol = relay.connect().await;
    assert_eq!(carol.join(&room).await, (3, vec![1, 2]));
    let mut outsider = relay.connect().await;
    outsider.create(&other_room, 600).await;

    assert_eq!(alice.frame().await, RelayFrame::MemberJoined { member: 2 });
    assert_eq!(alice.frame().await, RelayFrame::MemberJoined { member: 3 });
    assert_eq!(bob.frame().await, RelayFrame::MemberJoined { member: 3 });

    for i in 0..50u8 {
        alice.broadcast(&[i; 100]).await;
    }
    bob.broadcast(b"from bob").await;
    let from_alice: Vec<RelayFrame> = (0..50u8)
        .map(|i| RelayFrame::Frame {
            from: 1,
            direct: false,
            payload: Payload::new(vec![i; 100]).unwrap(),
        })
        .collect();
    let from_bob = RelayFrame::Frame {
        from: 2,
        direct: false,
        payload: Payload::new(b"from bob".to_vec()).unwrap(),
    };
    for expected in &from_alice {
        assert_eq!(&bob.frame().await, expected);
    }
    // Order is kept per sender: Bob's frame may come anywhere among Alice's, which come in the order she sent them.
    let mut heard = Vec::new();
    for _ in 0..51 {
        heard.push(carol.frame().await);
    }
    let (by_alice, by_bob): (Vec<RelayFrame>, Vec<RelayFrame>) = heard
        .into_iter()
        .partition(|frame| matches!(frame, RelayFrame::Frame { from: 1, .. }));
    assert_eq!(by_alice, from_alice);
    assert_eq!(by_bob, vec![from_bob.clone()]);
    // Alice hears Bob's frame and nothing of her own; the next thing after it must be the leave below.
    assert_eq!(alice.frame().await, from_bob);
    outsider.send(&ClientFrame::Leave).await;
    assert_eq!(outsider.until_close().await, (vec![], Some(1000)));
    carol.send(&ClientFrame::Leave).await;
    let left = RelayFrame::MemberLeft {
        member: 3,
        reason: LeftReason::Left,
    };
    assert_eq!(alice.frame().await, left);
    assert_eq!(bob.frame().await, left);
    assert_eq!(carol.until_close().await, (vec![], Some(1000)));
    relay.wait_metric("sanctum_members", 2).await;
    assert_eq!(relay.metric("sanctum_rooms").await, 2);
}

#[tokio::test]
async fn direct_reaches_only_its_target() {
    let relay = TestRelay::start(roomy_config()).await;
    let [mut alice, mut bob, mut carol] = relay.populated_room(&RoomKeys::seeded(3)).await;

    let whisper = Payload::new(b"for carol only".to_vec()).unwrap();
    bob.send(&ClientFrame::Direct {
        to: 3,
        payload: whisper.clone(),
    })
    .await;
    bob.send(&ClientFrame::Direct {
        to: 9,
        payload: whisper.clone(),
    })
    .await;
    assert_eq!(bob.error().await, "unknown_member");
    // A direct frame to oneself names no other member either.
    bob.send(&ClientFrame::Direct {
        to: 2,
        payload: whisper.clone(),
    })
    .await;
    assert_eq!(bob.error().await, "unknown_member");
    assert_eq!(
        carol.frame().await,
        RelayFrame::Frame {
            from: 2,
            direct: true,
            payload: whisper
        }
    );
    // A marker broadcast proves that nothing reached Alice before it.
    carol.broadcast(b"marker").await;
    assert!(matches!(
        alice.frame().await,
        RelayFrame::Frame {
            from: 3,
            direct: false,
            ..
        }
    ));
}

#[tokio::test]
async fn joins_need_the_right_token_and_one_room_per_connection() {
    let relay = TestRelay::start(roomy_config()).await;
    let room = RoomKeys::seeded(4);
    let mut alice = relay.connect().await;
    alice.create(&room, 600).await;
    alice.send(&room.join()).await;
    assert_eq!(alice.error().await, "already_in_room");

    let mut mallory = relay.connect().await;
    mallory.send(&room.join_with(AuthToken([0; AUTH_TOKEN_LEN]))).await;
    assert_eq!(mallory.error().await, "bad_token");
    mallory.send(&RoomKeys::seeded(99).join()).await;
    assert_eq!(mallory.error().await, "room_not_found");
    mallory.broadcast(b"not in a room").await;
    assert_eq!(mallory.error().await, "not_in_room");
    // The same connection may still join with the right token.
    assert_eq!(mallory.join(&room).await, (2, vec![1]));

    // The creator's `created` and a joiner's `joined` carry the same expiry.
    let mut late = relay.connect().await;
    late.send(&room.join()).await;
    assert!(matches!(
        late.frame().await,
        RelayFrame::Joined {
            member: 3,
            expires_in: 590..=600,
            ..
        }
    ));
}

#[tokio::test]
async fn purge_disconnects_everyone_and_the_id_stays_dead() {
    let relay = TestRelay::start(roomy_config()).await;
    let room = RoomKeys::seeded(5);
    let [mut alice, mut bob] = relay.populated_room(&room).await;

    bob.send(&ClientFrame::Purge).await;
    let purged = RelayFrame::Purged {
        reason: PurgeReason::Purged,
    };
    assert_eq!(alice.until_close().await, (vec![purged.clone()], Some(4001)));
    assert_eq!(bob.until_close().await, (vec![purged], Some(4001)));

    let mut again = relay.connect().await;
    again.send(&room.join()).await;
    assert_eq!(again.error().await, "room_gone");
    again.send(&room.create(600)).await;
    assert_eq!(again.error().await, "room_exists");
    assert_eq!(relay.metric("sanctum_tombstones").await, 1);
    assert_eq!(relay.metric("sanctum_rooms").await, 0);
    assert_eq!(relay.metric("sanctum_rooms_purged_total{reason=\"purged\"}").await, 1);
}

#[tokio::test]
async fn kick_tells_the_kicked_and_the_others() {
    let relay = TestRelay::start(roomy_config()).await;
    let [mut alice, mut bob, mut carol] = relay.populated_room(&RoomKeys::seeded(6)).await;

    alice.send(&ClientFrame::Kick { member: 1 }).await;
    assert_eq!(alice.error().await, "bad_request");
    alice.send(&ClientFrame::Kick { member: 42 }).await;
    assert_eq!(alice.error().await, "unknown_member");
    alice.send(&ClientFrame::Kick { member: 2 }).await;
    assert_eq!(
        bob.until_close().await,
        (vec![RelayFrame::Kicked { by: 1 }], Some(4002))
    );
    let left = RelayFrame::MemberLeft {
        member: 2,
        reason: LeftReason::Kicked,
    };
    assert_eq!(alice.frame().await, left);
    assert_eq!(carol.frame().await, left);

    // A member whose connection drops is reported as dropped.
    drop(carol);
    assert_eq!(
        alice.frame().await,
        RelayFrame::MemberLeft {
            member: 3,
            reason: LeftReason::Dropped
        }
    );
}

#[tokio::test]
async fn expiry_sends_the_warnings_then_purges() {
    let relay = TestRelay::start(Config {
        max_lifetime: 3,
        expiry_warnings: vec![2, 1],
        ..roomy_config()
    })
    .await;
    let room = RoomKeys::seeded(7);
    let mut alice = relay.connect().await;
    alice.send(&room.create(3600)).await;
    assert!(matches!(alice.frame().await, RelayFrame::Created { expires_in: 3, .. }));
    let mut bob = relay.connect().await;
    bob.join(&room).await;
    assert_eq!(alice.frame().await, RelayFrame::MemberJoined { member: 2 });
    let expected = vec![
        RelayFrame::Expiring { seconds: 2 },
        RelayFrame::Expiring { seconds: 1 },
        RelayFrame::Purged {
            reason: PurgeReason::Expired,
        },
    ];
    assert_eq!(alice.until_close().await, (expected.clone(), Some(4003)));
    assert_eq!(bob.until_close().await, (expected, Some(4003)));
    assert_eq!(relay.metric("sanctum_rooms_purged_total{reason=\"expired\"}").await, 1);
    // An expired room leaves no tombstone.
    assert_eq!(relay.metric("sanctum_tombstones").await, 0);
    let mut again = relay.connect().await;
    assert_eq!(again.create(&room, 3).await, 1);
    assert!(matches!(
        again.next().await,
        Event::Frame(RelayFrame::Expiring { seconds: 2 })
    ));
}

#[tokio::test]
async fn frames_from_each_sender_keep_their_order_at_every_recipient() {
    let relay = TestRelay::start(roomy_config()).await;
    let [mut alice, mut bob, mut carol] = relay.populated_room(&RoomKeys::seeded(8)).await;
    const EACH: u8 = 100;
    for i in 0..EACH {
        alice.broadcast(&[i]).await;
        bob.broadcast(&[i]).await;
    }
    let mut next = [0u8; 3];
    for _ in 0..2 * usize::from(EACH) {
        let RelayFrame::Frame { from, payload, .. } = carol.frame().await else {
            panic!("only frames are expected");
        };
        let sender = from as usize;
        assert_eq!(
            payload.as_bytes(),
            [next[sender]],
            "frame from member {from} out of order"
        );
        next[sender] += 1;
    }
    assert_eq!(next, [0, EACH, EACH]);
    for (receiver, sender) in [(&mut alice, 2), (&mut bob, 1)] {
        for i in 0..EACH {
            let frame = receiver.frame().await;
            assert!(
                matches!(&frame, RelayFrame::Frame { from, payload, .. } if *from == sender && payload.as_bytes() == [i])
            );
        }
    }
}

#[tokio::test]
async fn a_lock_admits_only_the_new_token_gives_joiners_the_new_descriptor_and_is_limited() {
    let relay = TestRelay::start(Config {
        locks_per_minute: 2,
        ..roomy_config()
    })
    .await;
    let (room, other_room) = (RoomKeys::seeded(40), RoomKeys::seeded(42));
    let [mut alice, mut bob] = relay.populated_room(&room).await;
    let [mut other] = relay.populated_room(&other_room).await;
    // The new token and verifier, as the members who stay derive them from a fresh link secret.
    let locked = RoomKeys::seeded(41);
    let sealed = Descriptor::new(b"descriptor under the new room key".to_vec()).unwrap();
    let lock = |keys: &RoomKeys| ClientFrame::Lock {
        verifier: keys.verifier(),
        descriptor: sealed.clone(),
    };

    let mut stranger = relay.connect().await;
    stranger.send(&lock(&locked)).await;
    assert_eq!(stranger.error().await, "not_in_room");

    bob.send(&lock(&locked)).await;
    assert_eq!(bob.frame().await, RelayFrame::Locked);
    // The old token is refused and counts as a failed join; the new one gets the new descriptor.
    let mut late = relay.connect().await;
    late.send(&room.join()).await;
    assert_eq!(late.error().await, "bad_token");
    assert_eq!(relay.metric("sanctum_rejections_total{code=\"bad_token\"}").await, 1);
    late.send(&room.join_with(locked.token.clone())).await;
    match late.frame().await {
        RelayFrame::Joined {
            member: 3,
            members,
            descriptor,
            ..
        } => {
            assert_eq!(members, vec![1, 2]);
            assert_eq!(descriptor, sealed);
        }
        other => panic!("expected joined, got {other:?}"),
    }
    // The others hear nothing of the lock from the relay: their next frame is the newcomer.
    assert_eq!(alice.frame().await, RelayFrame::MemberJoined { member: 3 });

    // Two locks a minute here: the third is refused and leaves the second's verifier in place.
    let again = RoomKeys::seeded(43);
    alice.send(&lock(&again)).await;
    assert_eq!(alice.frame().await, RelayFrame::Locked);
    alice.send(&lock(&RoomKeys::seeded(44))).await;
    assert_eq!(alice.error().await, "rate_limited");
    let mut later = relay.connect().await;
    later.send(&room.join_with(locked.token.clone())).await;
    assert_eq!(later.error().await, "bad_token");
    later.send(&room.join_with(again.token.clone())).await;
    assert!(matches!(later.frame().await, RelayFrame::Joined { member: 4, .. }));
    assert_eq!(relay.metric("sanctum_rooms_locked_total").await, 2);

    // The frame names no room: it changed only its sender's, and the other room still takes its own token.
    let mut guest = relay.connect().await;
    assert_eq!(guest.join(&other_room).await, (2, vec![1]));
    assert_eq!(other.frame().await, RelayFrame::MemberJoined { member: 2 });
}
