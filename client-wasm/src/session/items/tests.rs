//! Tests of sealing and routing: replays, reflections, tampering, the skip window and the pre-hand-out buffer.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sanctum_protocol::{ClientFrame, MemberId, Payload, RelayFrame};

use crate::chain::MAX_SKIP;
use crate::message::{Content, Message};
use crate::seal::{self, Binding, Header, Kind, NOBODY};
use crate::session::testing::*;
use crate::session::*;

#[test]
fn a_departed_members_replayed_items_are_not_buffered() {
    let (mut room, a, b, _) = three();
    // The relay replays items of a member who said goodbye.
    let member_b = room.member(b);
    room.send(b, "before goodbye");
    let (_, earlier) = room.payloads_from(member_b, Kind::Group, false).pop().unwrap();
    room.clients[b].leave("", NOW).unwrap();
    room.pump(b);
    // Only the signed goodbye reaches alice: the relay does not announce that bob left.
    room.queue.retain(|d| !matches!(d.frame, RelayFrame::MemberLeft { .. }));
    room.run();
    assert!(room.clients[a].members().iter().all(|m| m.member != member_b));
    for _ in 0..MAX_PENDING_PER_MEMBER {
        let events = room.inject_item(a, member_b, false, earlier.clone());
        assert!(events.is_empty(), "{events:?}");
    }
    assert!(room.clients[a].pending.is_empty());
}

#[test]
fn replayed_and_reflected_whispers_are_rejected() {
    let (mut room, a, b, _) = three();
    let (member_a, member_b) = (room.member(a), room.member(b));
    room.clients[a].whisper(member_b, "just for bob", NOW).unwrap();
    room.run();
    let (_, payload) = room.payloads_from(member_a, Kind::Whisper, true).pop().unwrap();
    let replay = room.inject_item(b, member_a, true, payload.clone());
    assert_eq!(replay, vec![Event::CouldNotVerify { from: member_a }]);
    let reflected = room.inject_item(a, member_b, true, payload.clone());
    assert_eq!(reflected, vec![Event::CouldNotVerify { from: member_b }]);
    let as_broadcast = room.inject_item(b, member_a, false, payload);
    assert_eq!(as_broadcast, vec![Event::CouldNotVerify { from: member_a }]);
    assert_eq!(room.texts(b).iter().filter(|(t, _)| t == "just for bob").count(), 1);
}

#[test]
fn a_sessions_own_items_reflected_back_are_ignored_and_not_buffered() {
    let (mut room, a, _, _) = three();
    let member_a = room.member(a);
    room.send(a, "mine");
    let (_, item) = room.payloads_from(member_a, Kind::Group, false).pop().unwrap();
    for _ in 0..MAX_PENDING_PER_MEMBER {
        let events = room.inject_item(a, member_a, false, item.clone());
        assert!(events.is_empty(), "{events:?}");
    }
    assert!(room.clients[a].pending.is_empty());
}

#[test]
fn replayed_and_reflected_handouts_are_rejected() {
    let (mut room, a, b, _) = three();
    let (member_a, member_b) = (room.member(a), room.member(b));
    let handouts = room.payloads_from(member_a, Kind::Handout, true);
    let (to, payload) = handouts.into_iter().find(|(to, _)| *to == b).unwrap();
    let replay = room.inject_item(to, member_a, true, payload.clone());
    assert_eq!(replay, vec![Event::CouldNotVerify { from: member_a }]);
    let reflected = room.inject_item(a, member_b, true, payload);
    assert_eq!(reflected, vec![Event::CouldNotVerify { from: member_b }]);
    room.send(a, "still fine");
    assert!(room.texts(b).iter().any(|(t, _)| t == "still fine"));
}

#[test]
fn group_messages_replayed_reordered_or_misattributed_are_rejected() {
    let (mut room, a, b, c) = three();
    let (member_a, member_c) = (room.member(a), room.member(c));
    room.clients[a].send_text("one", NOW).unwrap();
    room.clients[a].send_text("two", NOW).unwrap();
    let frames = room.clients[a].take_outgoing();
    let payloads: Vec<Payload> = frames
        .into_iter()
        .filter_map(|f| {
            if let ClientFrame::Broadcast { payload } = f {
                Some(payload)
            } else {
                None
            }
        })
        .collect();
    // Reorder: "two" first, then "one" is behind the chain.
    let events = room.inject_item(b, member_a, false, payloads[1].clone());
    // "One" never arrived before it: bob is told one message did not reach him.
    assert!(
        matches!(&events[..], [Event::Missed { from, count: 1, .. }, Event::Message { text, .. }] if *from == member_a && text == "two"),
        "{events:?}"
    );
    let events = room.inject_item(b, member_a, false, payloads[0].clone());
    assert_eq!(events, vec![Event::CouldNotVerify { from: member_a }]);
    let events = room.inject_item(b, member_a, false, payloads[1].clone());
    assert_eq!(events, vec![Event::CouldNotVerify { from: member_a }]);
    // Alice's message presented as carol's.
    let events = room.inject_item(b, member_c, false, payloads[0].clone());
    assert_eq!(events, vec![Event::CouldNotVerify { from: member_c }]);
    let _ = c;
}

#[test]
fn the_skip_window_is_bounded() {
    let (mut room, a, b, _) = three();
    let member_a = room.member(a);
    let mut last = None;
    for i in 0..=(MAX_SKIP + 1) {
        room.clients[a].send_text(&format!("m{i}"), NOW).unwrap();
        last = room.clients[a].take_outgoing().pop();
    }
    let Some(ClientFrame::Broadcast { payload }) = last else {
        panic!()
    };
    let events = room.inject_item(b, member_a, false, payload);
    assert_eq!(events, vec![Event::CouldNotVerify { from: member_a }]);
    room.clients[a].send_text("next", NOW).unwrap();
    let Some(ClientFrame::Broadcast { payload }) = room.clients[a].take_outgoing().pop() else {
        panic!()
    };
    assert_eq!(
        room.inject_item(b, member_a, false, payload),
        vec![Event::CouldNotVerify { from: member_a }]
    );
}

#[test]
fn one_flipped_byte_in_any_relayed_item_is_rejected() {
    let (mut room, a) = Room::create("alice");
    let b = room.join("bob", 200);
    let to = room.member(b);
    room.clients[a].whisper(to, "w", NOW).unwrap();
    room.send(a, "g");
    let recorded: Vec<Delivered> = room
        .log
        .iter()
        .filter(|d| matches!(d.frame, RelayFrame::Frame { .. }))
        .cloned()
        .collect();
    let kinds: std::collections::BTreeSet<u8> = recorded
        .iter()
        .filter_map(|d| match &d.frame {
            RelayFrame::Frame { payload, .. } => Some(payload.as_bytes()[1]),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds.len(),
        6,
        "hello, answer, confirm, hand-out, whisper and group items were all relayed"
    );
    for delivered in recorded {
        let RelayFrame::Frame { from, direct, payload } = &delivered.frame else {
            continue;
        };
        for i in [0, 1, 2, 5, 6, 9, 10, 33, 34, payload.len() / 2, payload.len() - 1] {
            let mut bytes = payload.as_bytes().to_vec();
            bytes[i] ^= 0x20;
            let tampered = Payload::new(bytes).unwrap();
            let events = room.clients[delivered.to].handle(
                RelayFrame::Frame {
                    from: *from,
                    direct: *direct,
                    payload: tampered,
                },
                NOW,
            );
            assert!(
                !events
                    .iter()
                    .any(|e| matches!(e, Event::Message { .. } | Event::MemberAccepted(_))),
                "byte {i}: {events:?}"
            );
        }
    }
    let _ = room.clients[a].take_outgoing();
}

#[test]
fn frames_before_their_handout_wait_in_a_bounded_buffer() {
    let (mut room, a) = Room::create("alice");
    let b = room.join("bob", 200);
    let member_a = room.member(a);
    // Carol joins, but the relay holds back alice's hand-out to carol until after alice's next messages.
    let held = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let held_in = held.clone();
    room.drop = Some(Box::new(move |d: &Delivered| {
        let is_handout = matches!(&d.frame, RelayFrame::Frame { from: 1, direct: true, payload } if payload.as_bytes()[1] == Kind::Handout as u8);
        if is_handout && d.to == 2 {
            held_in.borrow_mut().push(d.clone());
        }
        is_handout && d.to == 2
    }));
    let c = room.join("carol", 300);
    room.drop = None;
    room.send(a, "early for carol");
    assert!(room.texts(c).is_empty());
    assert_eq!(room.clients[c].pending.len(), 1);
    for d in held.borrow().iter() {
        let events = room.inject(d.to, d.frame.clone());
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Message { text, .. } if text == "early for carol")),
            "{events:?}"
        );
    }
    assert!(room.clients[c].pending.is_empty());
    let _ = b;
    // A flood from a member nobody accepted fills the buffer to its bound and no further.
    let (_, item) = room.payloads_from(member_a, Kind::Group, false).pop().unwrap();
    for _ in 0..(MAX_PENDING_ITEMS * 2) {
        let _ = room.clients[c].handle(
            RelayFrame::Frame {
                from: 77,
                direct: false,
                payload: item.clone(),
            },
            NOW,
        );
    }
    assert_eq!(room.clients[c].pending.len(), MAX_PENDING_PER_MEMBER);
    for from in 100..110 {
        for _ in 0..MAX_PENDING_PER_MEMBER {
            let _ = room.clients[c].handle(
                RelayFrame::Frame {
                    from,
                    direct: false,
                    payload: item.clone(),
                },
                NOW,
            );
        }
    }
    assert_eq!(room.clients[c].pending.len(), MAX_PENDING_ITEMS);
}

/// Opens a group item with the receiving chain a peer holds for its sender, as a member who wanted to forge would.
fn steal_group_body(receiver: &Session, sender: MemberId, payload: &Payload) -> (Header, Vec<u8>, [u8; 32]) {
    let peer = &receiver.peers[&sender];
    let header = Header::parse(payload.as_bytes()).unwrap();
    let chain = peer.group.as_ref().unwrap();
    let key = chain.key_for(header.counter).unwrap();
    let binding = Binding {
        room_id: receiver.secrets.link().room_id_bytes(),
        sender: &peer.session,
        recipient: &NOBODY,
    };
    let opened = seal::open(key.key.expose(), payload.as_bytes(), &binding).unwrap();
    let inner_len = opened.body().len();
    let _ = inner_len;
    (header, opened.body().to_vec(), peer.session)
}

#[test]
fn a_member_holding_anothers_chain_cannot_reseal_its_signed_messages() {
    let (mut room, a, b, c) = three();
    let member_a = room.member(a);
    room.clients[a].send_text("I, alice, approve", NOW).unwrap();
    let Some(ClientFrame::Broadcast { payload }) = room.clients[a].take_outgoing().pop() else {
        panic!()
    };
    // Bob, who holds alice's chain, recovers the body and alice's signature.
    let (header, body, alice_key) = steal_group_body(&room.clients[b], member_a, &payload);
    let room_id = *room.secrets.link().room_id_bytes();
    let binding = Binding {
        room_id: &room_id,
        sender: &alice_key,
        recipient: &NOBODY,
    };
    let opened = {
        let peer = &room.clients[b].peers[&member_a];
        let key = peer.group.as_ref().unwrap().key_for(header.counter).unwrap();
        seal::open(key.key.expose(), payload.as_bytes(), &binding).unwrap()
    };
    let signature: [u8; 64] = {
        // The signature is the 64 bytes after the body in the unpadded plaintext.
        let mut sig = [0u8; 64];
        let all = opened.inner_for_test();
        sig.copy_from_slice(&all[body.len()..]);
        sig
    };
    // Re-seal alice's body and signature, with alice's chain as carol holds it, at other counters, generations, kinds.
    let carol_chain = |room: &Room| -> crate::chain::RecvChain {
        let peer = &room.clients[c].peers[&member_a];
        let g = peer.group.as_ref().unwrap();
        crate::chain::RecvChain::new(g.generation(), 0, ChainKey::from_bytes(*g.key_for_test().expose()))
    };
    let chain = carol_chain(&room);
    let next = room.clients[c].peers[&member_a].group.as_ref().unwrap().next_for_test();
    for forged_header in [
        Header::new(Kind::Group, header.generation, next + 1),
        Header::new(Kind::Group, header.generation + 1, 0),
        Header::new(Kind::Whisper, 0, 0),
    ] {
        let key = if forged_header.kind == Kind::Group && forged_header.generation == header.generation {
            chain.key_for(forged_header.counter - next).unwrap().key
        } else {
            crate::chain::MessageKey::from_bytes([5; 32])
        };
        let mut inner = body.clone();
        inner.extend_from_slice(&signature);
        let item = seal::seal_raw_for_test(key.expose(), forged_header, &binding, &inner);
        // The forged item decrypts, so only alice's signature, which covers the header, stands in the way.
        let opened = seal::open(key.expose(), &item, &binding).unwrap();
        assert_eq!(opened.body(), &body[..]);
        assert!(opened.verify(&alice_key, &binding).is_err(), "{forged_header:?}");
        let direct = forged_header.kind == Kind::Whisper;
        let events = room.inject_item(c, member_a, direct, Payload::new(item).unwrap());
        assert!(
            !events.iter().any(|e| matches!(e, Event::Message { .. })),
            "{forged_header:?}: {events:?}"
        );
    }
    // And a body bob signs himself under alice's chain is not accepted as alice's.
    let key = chain.key_for(next + 2 - next).unwrap().key;
    let forged_body = Message {
        sent_at: NOW,
        content: Content::Text("I, alice, resign".into()),
    }
    .encode()
    .unwrap();
    let item = seal::seal(
        key.expose(),
        Header::new(Kind::Group, header.generation, next + 2),
        &binding,
        &forged_body,
        Some(&room.clients[b].signing),
        &mut ChaCha20Rng::seed_from_u64(9),
    )
    .unwrap();
    let events = room.inject_item(c, member_a, false, Payload::new(item).unwrap());
    assert_eq!(events, vec![Event::CouldNotVerify { from: member_a }]);
    assert!(!room.texts(c).iter().any(|(t, _)| t.starts_with("I, alice")));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Arbitrary payloads, and real items with arbitrary bytes changed, from any member id never panic a session and
    /// never produce a message or a new member.
    #[test]
    fn hostile_payloads_never_panic_or_get_through(
        from in 0u32..6,
        direct in proptest::prelude::any::<bool>(),
        junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
        flips in proptest::collection::vec((proptest::prelude::any::<usize>(), 1u8..=255), 1..4),
        pick in proptest::prelude::any::<usize>(),
    ) {
        let (mut room, a) = Room::create("alice");
        let b = room.join("bob", 200);
        room.send(a, "x");
        let items: Vec<Payload> = room
            .log
            .iter()
            .filter_map(|d| match &d.frame {
                RelayFrame::Frame { payload, .. } => Some(payload.clone()),
                _ => None,
            })
            .collect();
        let mut bytes = items[pick % items.len()].as_bytes().to_vec();
        for (at, x) in flips {
            let at = at % bytes.len();
            bytes[at] ^= x;
        }
        for payload in [Payload::new(junk).unwrap(), Payload::new(bytes).unwrap()] {
            for to in [a, b] {
                let events = room.clients[to].handle(RelayFrame::Frame { from, direct, payload: payload.clone() }, NOW);
                proptest::prop_assert!(
                    !events.iter().any(|e| matches!(e, Event::Message { .. } | Event::MemberAccepted(_) | Event::Ended { .. })),
                    "{events:?}"
                );
            }
        }
        proptest::prop_assert_eq!(room.clients[a].members().len(), 1);
    }
}

#[test]
fn a_third_member_cannot_read_a_whisper_between_two_others() {
    let (mut room, a, b, c) = three();
    let (member_a, member_b) = (room.member(a), room.member(b));
    room.clients[b].whisper(member_a, "only alice", NOW).unwrap();
    room.run();
    let (_, payload) = room.payloads_from(member_b, Kind::Whisper, true).pop().unwrap();
    // The relay hands carol the whisper as if bob had sent it to her: her channel with bob has other keys.
    assert_eq!(
        room.inject_item(c, member_b, true, payload.clone()),
        vec![Event::CouldNotVerify { from: member_b }]
    );
    // Nor does any key carol holds open it: the room key, or any position of the sender chains she was handed.
    let carol = &room.clients[c];
    let header = Header::parse(payload.as_bytes()).unwrap();
    let mut keys = vec![*carol.secrets.room_key().expose()];
    for peer in carol.peers.values() {
        if let Some(chain) = &peer.group {
            keys.push(*chain.key_for(chain.next_for_test()).unwrap().key.expose());
        }
        keys.push(*peer.channel.recv.key_for(header.counter).unwrap().key.expose());
    }
    let sessions = [
        NOBODY,
        room.clients[a].session_key,
        room.clients[b].session_key,
        carol.session_key,
    ];
    for key in keys {
        for sender in &sessions {
            for recipient in &sessions {
                let binding = Binding {
                    room_id: carol.secrets.link().room_id_bytes(),
                    sender,
                    recipient,
                };
                assert!(seal::open(&key, payload.as_bytes(), &binding).is_err());
            }
        }
    }
    assert!(!room.texts(c).iter().any(|(t, _)| t == "only alice"));
}
