//! Tests of membership: hellos, answers, hand-outs, departures and who is accepted.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sanctum_protocol::{ClientFrame, LeftReason, MemberId, Payload, RelayFrame};
use sha2::{Digest, Sha256};

use crate::message::Announce;
use crate::seal::{self, Binding, Header, Kind, NOBODY};
use crate::session::testing::*;
use crate::session::*;

#[test]
fn duplicate_aliases_are_flagged() {
    let (mut room, a) = Room::create("alice");
    let b = room.join("Alice ", 200);
    let members = room.clients[a].members();
    assert!(members[0].duplicate_alias);
    assert!(room.clients[b].members()[0].duplicate_alias);
}

#[test]
fn late_joiner_cannot_open_earlier_messages() {
    let (mut room, a) = Room::create("alice");
    let b = room.join("bob", 200);
    room.send(a, "before carol");
    let earlier = room.payloads_from(room.member(a), Kind::Group, false);
    let c = room.join("carol", 300);
    room.send(a, "after carol");
    assert_eq!(room.texts(c), vec![("after carol".into(), false)]);
    // The relay replays the earlier message to the newcomer: it is behind the chain position carol was handed.
    let from = room.member(a);
    for (_, payload) in earlier {
        let events = room.inject(
            c,
            RelayFrame::Frame {
                from,
                direct: false,
                payload,
            },
        );
        assert!(could_not_verify(&events));
    }
    assert!(!room.texts(c).iter().any(|(t, _)| t == "before carol"));
    assert_eq!(room.texts(b).len(), 2);
}

#[test]
fn a_member_who_left_cannot_read_later_messages() {
    let (mut room, a, b, c) = three();
    // The relay tells everyone carol dropped but keeps forwarding to carol, whose session still holds its keys.
    let member_c = room.member(c);
    for other in [a, b] {
        room.deliver(
            other,
            RelayFrame::MemberLeft {
                member: member_c,
                reason: LeftReason::Dropped,
            },
        );
    }
    room.run();
    assert!(room.clients[a].members().iter().all(|m| m.member != member_c));
    room.clients[a].send_text("carol is gone", NOW).unwrap();
    let frames = room.clients[a].take_outgoing();
    let from = room.member(a);
    for frame in frames {
        if let ClientFrame::Broadcast { payload } = frame {
            let events = room.inject(
                c,
                RelayFrame::Frame {
                    from,
                    direct: false,
                    payload: payload.clone(),
                },
            );
            assert!(!events.iter().any(|e| matches!(e, Event::Message { .. })));
            room.deliver(
                b,
                RelayFrame::Frame {
                    from,
                    direct: false,
                    payload,
                },
            );
        }
    }
    room.run();
    assert!(!room.texts(c).iter().any(|(t, _)| t == "carol is gone"));
    assert!(room.texts(b).iter().any(|(t, _)| t == "carol is gone"));
}

#[test]
fn a_kicked_member_cannot_read_later_messages_even_if_the_relay_keeps_it() {
    let (mut room, a, b, c) = three();
    room.ignore_kick = true;
    let member_c = room.member(c);
    // The relay also hides the signed kick from carol, so carol's session stays up with every key it had.
    room.drop = Some(Box::new(move |d: &Delivered| {
        d.to == 2 && matches!(d.frame, RelayFrame::Frame { direct: false, .. })
    }));
    let events = room.clients[a].kick(member_c, NOW).unwrap();
    assert!(matches!(
        &events[0],
        Event::MemberLeft {
            reason: LeaveReason::Kicked { .. },
            ..
        }
    ));
    room.run();
    room.drop = None;
    assert!(
        room.clients[b].members().iter().all(|m| m.member != member_c),
        "bob honours the signed kick"
    );
    assert!(!room.clients[c].is_ended());
    room.send(a, "secret plans");
    room.send(b, "more plans");
    assert!(room.texts(b).iter().any(|(t, _)| t == "secret plans"));
    assert!(
        !room.texts(c).iter().any(|(t, _)| t.contains("plans")),
        "{:?}",
        room.texts(c)
    );
    // Whispers to carol are refused too: nobody accepts it any more.
    assert_eq!(
        room.clients[a].whisper(member_c, "hi", NOW),
        Err(SessionError::UnknownMember)
    );
    // What carol keeps sending is neither shown nor held in the pre-hand-out buffer, where it would crowd others out.
    for i in 0..(2 * MAX_PENDING_PER_MEMBER) {
        room.send(c, &format!("still here {i}"));
    }
    for x in [a, b] {
        assert!(room.clients[x].pending.is_empty(), "{x}");
        assert!(!room.texts(x).iter().any(|(t, _)| t.starts_with("still here")));
    }
}

#[test]
fn a_kicked_member_is_told_and_ends() {
    let (mut room, a, _, c) = three();
    let member_c = room.member(c);
    room.clients[a].kick(member_c, NOW).unwrap();
    room.run();
    assert!(room.events[c].iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Kicked { .. }
        }
    )));
}

#[test]
fn goodbye_rekeys_and_the_leaver_reads_nothing_after() {
    let (mut room, a, b, c) = three();
    let leaver_chain_gen = room.clients[a].chain.generation();
    let events = room.clients[c].leave("bye all", NOW).unwrap();
    assert_eq!(
        events,
        vec![Event::Ended {
            reason: EndReason::Left
        }]
    );
    room.run();
    let left = room.events[a].iter().find_map(|e| match e {
        Event::MemberLeft {
            reason: LeaveReason::Left { farewell },
            ..
        } => Some(farewell.clone()),
        _ => None,
    });
    assert_eq!(left.as_deref(), Some("bye all"));
    assert_eq!(room.clients[a].chain.generation(), leaver_chain_gen + 1);
    room.send(a, "after carol left");
    assert!(room.texts(b).iter().any(|(t, _)| t == "after carol left"));
    assert!(room.clients[c].is_ended() && room.texts(c).is_empty());
}

#[test]
fn replayed_hellos_are_rejected() {
    let (mut room, a, b, c) = three();
    let (member_b, member_c) = (room.member(b), room.member(c));
    let (_, hello_c) = room.payloads_from(member_c, Kind::Hello, false).pop().unwrap();
    // The same hello again, to a member that accepted it already.
    let again = room.inject_item(a, member_c, false, hello_c.clone());
    assert_eq!(again, vec![Event::CouldNotVerify { from: member_c }]);
    // Bob replays carol's hello under his own member id.
    let as_bob = room.inject_item(a, member_b, false, hello_c);
    assert_eq!(as_bob, vec![Event::CouldNotVerify { from: member_b }]);
    assert_eq!(room.clients[a].members().len(), 2);
}

#[test]
fn a_departed_sessions_hello_is_not_accepted_by_a_newcomer() {
    let (mut room, _a) = Room::create("alice");
    let b = room.join("bob", 200);
    let member_b = room.member(b);
    let (_, hello_b) = room.payloads_from(member_b, Kind::Hello, false).pop().unwrap();
    room.clients[b].leave("", NOW).unwrap();
    room.run();
    let c = room.join("carol", 300);
    assert_eq!(room.clients[c].members().len(), 1);
    // The relay shows the departed session's hello to the newcomer under its old id: carol answers it with a
    // challenge that no one can sign back, since bob's session keys are gone.
    let shown = room.inject_item(c, member_b, false, hello_b.clone());
    assert_eq!(shown, vec![]);
    assert_eq!(room.clients[c].hellos.len(), 1);
    // Under another id the signed member id does not match.
    let renamed = room.inject_item(c, 99, false, hello_b);
    assert_eq!(renamed, vec![Event::CouldNotVerify { from: 99 }]);
    assert_eq!(room.clients[c].members().len(), 1);
}

/// An item of `kind` sealed under the room key and signed by `signer`'s session, addressed to `to`'s session, as a
/// member holding the room key could build it.
fn room_item(room: &Room, kind: Kind, signer: usize, to: usize, body: &[u8]) -> Payload {
    let binding = Binding {
        room_id: room.secrets.link().room_id_bytes(),
        sender: &NOBODY,
        recipient: &room.clients[to].session_key,
    };
    let item = seal::seal(
        room.secrets.room_key().expose(),
        Header::new(kind, 0, 0),
        &binding,
        body,
        Some(&room.clients[signer].signing),
        &mut ChaCha20Rng::seed_from_u64(5),
    )
    .unwrap();
    Payload::new(item).unwrap()
}

/// A confirm for `to`, signed by `signer`'s session, echoing `challenge`.
fn confirm_from(room: &Room, signer: usize, to: usize, challenge: [u8; 32]) -> Payload {
    let body = crate::message::ConfirmBody { in_reply_to: challenge }.encode();
    room_item(room, Kind::Confirm, signer, to, &body)
}

#[test]
fn a_newcomer_is_accepted_only_once_it_signs_the_answerers_fresh_challenge() {
    let (mut room, a) = Room::create("alice");
    let b = room.add("bob", 200);
    let frame = room.clients[b].join_frame(NOW).unwrap();
    room.client_frame(b, frame);
    // The relay withholds bob's confirm: alice answered bob's hello but does not accept him.
    room.drop = Some(Box::new(|d: &Delivered| {
        d.to == 0
            && matches!(&d.frame, RelayFrame::Frame { direct: true, payload, .. }
                if Header::parse(payload.as_bytes()).is_ok_and(|h| h.kind == Kind::Confirm))
    }));
    room.run();
    room.drop = None;
    let member_b = room.member(b);
    assert!(room.clients[a].members().is_empty());
    // Bob knows alice is live from her answer, but shows her only once her hand-out says she accepted him.
    assert!(room.clients[b].members().is_empty());
    assert!(room.clients[b].peers.contains_key(&room.member(a)));
    // A confirm over the wrong challenge, or signed by someone else, is refused.
    let events = room.inject_item(a, member_b, true, confirm_from(&room, b, a, [7; 32]));
    assert_eq!(events, vec![Event::CouldNotVerify { from: member_b }]);
    let challenge = room.clients[a].hellos[0].challenge;
    let events = room.inject_item(a, member_b, true, confirm_from(&room, a, a, challenge));
    assert_eq!(events, vec![Event::CouldNotVerify { from: member_b }]);
    // Signed by bob over alice's challenge, it lets alice accept him, once.
    let confirm = confirm_from(&room, b, a, challenge);
    let events = room.inject_item(a, member_b, true, confirm.clone());
    assert!(
        matches!(&events[..], [Event::MemberAccepted(info)] if info.member == member_b),
        "{events:?}"
    );
    let events = room.inject_item(a, member_b, true, confirm);
    assert_eq!(events, vec![Event::CouldNotVerify { from: member_b }]);
    room.send(a, "welcome");
    assert_eq!(room.texts(b), vec![("welcome".into(), false)]);
}

#[test]
fn answered_hellos_waiting_for_a_confirm_are_bounded() {
    let (mut room, a) = Room::create("alice");
    let seen = room.clients[a].seen.len();
    for i in 0..(MAX_PENDING_HELLOS as u32 + 40) {
        let signing = SigningKey::from_bytes(&Sha256::digest(i.to_be_bytes()).into());
        let member = 100 + i;
        let hello = Announce {
            member,
            session: signing.verifying_key().to_bytes(),
            dh: room.clients[a].dh_public,
            nonce: [1; 32],
            alias: format!("ghost{i}"),
        };
        let binding = Binding {
            room_id: room.secrets.link().room_id_bytes(),
            sender: &NOBODY,
            recipient: &NOBODY,
        };
        let item = seal::seal(
            room.secrets.room_key().expose(),
            Header::new(Kind::Hello, 0, 0),
            &binding,
            &hello.encode_hello().unwrap(),
            Some(&signing),
            &mut ChaCha20Rng::seed_from_u64(i.into()),
        )
        .unwrap();
        room.clients[a].handle(
            RelayFrame::Frame {
                from: member,
                direct: false,
                payload: Payload::new(item).unwrap(),
            },
            NOW,
        );
        let _ = room.clients[a].take_outgoing();
        assert!(room.clients[a].hellos.len() <= MAX_PENDING_HELLOS);
    }
    assert_eq!(room.clients[a].seen.len(), seen);
    assert!(room.clients[a].members().is_empty());
    let b = room.join("bob", 200);
    assert_eq!(room.clients[a].members().len(), 1);
    assert_eq!(room.clients[b].members().len(), 1);
}

#[test]
fn an_answer_replayed_to_another_newcomer_is_rejected() {
    let (mut room, a, b, c) = three();
    let member_a = room.member(a);
    let answers = room.payloads_from(member_a, Kind::Answer, true);
    let (_, to_b) = answers.into_iter().find(|(to, _)| *to == b).unwrap();
    let d = room.join("dave", 400);
    let events = room.inject_item(d, member_a, true, to_b.clone());
    assert_eq!(events, vec![Event::CouldNotVerify { from: member_a }]);
    let events = room.inject_item(c, member_a, true, to_b);
    assert_eq!(events, vec![Event::CouldNotVerify { from: member_a }]);
}

#[test]
fn a_forged_hello_is_rejected() {
    let (mut room, a) = Room::create("alice");
    // Someone with the room key signs a hello claiming a session key whose private half it does not hold.
    let victim = SigningKey::from_bytes(&[42; 32]).verifying_key().to_bytes();
    let forger = SigningKey::from_bytes(&[43; 32]);
    let hello = Announce {
        member: 5,
        session: victim,
        dh: [9; 32],
        nonce: [1; 32],
        alias: "mallory".into(),
    };
    let room_id = *room.secrets.link().room_id_bytes();
    let binding = Binding {
        room_id: &room_id,
        sender: &NOBODY,
        recipient: &NOBODY,
    };
    let item = seal::seal(
        room.secrets.room_key().expose(),
        Header::new(Kind::Hello, 0, 0),
        &binding,
        &hello.encode_hello().unwrap(),
        Some(&forger),
        &mut ChaCha20Rng::seed_from_u64(1),
    )
    .unwrap();
    let events = room.inject_item(a, 5, false, Payload::new(item).unwrap());
    assert_eq!(events, vec![Event::CouldNotVerify { from: 5 }]);
    assert!(room.clients[a].members().is_empty());
}

#[test]
fn members_joining_at_the_same_moment_accept_each_other_without_alarms() {
    let (mut room, a) = Room::create("alice");
    let n1 = room.add("nina", 500);
    let n2 = room.add("omar", 600);
    // Both joins reach the relay before either newcomer has said hello, so omar sees nina's hello after joining.
    for n in [n1, n2] {
        let frame = room.clients[n].join_frame(NOW).unwrap();
        room.client_frame(n, frame);
    }
    room.run();
    for x in [a, n1, n2] {
        assert_eq!(room.clients[x].members().len(), 2, "{x}");
        assert!(!could_not_verify(&room.events[x]), "{x}: {:?}", room.events[x]);
    }
    room.send(n2, "hi nina");
    assert_eq!(room.texts(n1), vec![("hi nina".into(), false)]);
}

/// One step of an honest room's life, for the churn property below.
#[derive(Debug, Clone)]
enum Step {
    Join,
    Text(usize),
    Whisper(usize, usize),
    Leave(usize),
    Drop(usize),
    Kick(usize, usize),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        2 => Just(Step::Join),
        3 => any::<usize>().prop_map(Step::Text),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Step::Whisper(a, b)),
        1 => any::<usize>().prop_map(Step::Leave),
        1 => any::<usize>().prop_map(Step::Drop),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Step::Kick(a, b)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Under any churn of joins, messages, whispers, leaves, drops and kicks through an honest relay, no session ever
    /// reports an item it could not verify, and at the end every remaining member reads every other's message.
    #[test]
    fn honest_churn_keeps_every_member_in_sync(steps in proptest::collection::vec(step(), 1..24)) {
        let (mut room, _) = Room::create("m0");
        let mut seed = 1000;
        for step in steps {
            let present = room.present();
            let pick = |i: usize| present[i % present.len()];
            match step {
                Step::Join if present.len() < 6 => {
                    seed += 1;
                    room.join(&format!("m{seed}"), seed);
                }
                Step::Join => {}
                Step::Text(i) => room.send(pick(i), "hello"),
                Step::Whisper(i, j) if present.len() > 1 && pick(i) != pick(j) => {
                    let to = room.member(pick(j));
                    room.clients[pick(i)].whisper(to, "psst", NOW).unwrap();
                    room.run();
                }
                Step::Leave(i) if present.len() > 1 => {
                    room.clients[pick(i)].leave("bye", NOW).unwrap();
                    room.run();
                }
                Step::Drop(i) if present.len() > 1 => {
                    let gone = pick(i);
                    room.remove(gone, LeftReason::Dropped);
                    room.run();
                }
                Step::Kick(i, j) if present.len() > 1 && pick(i) != pick(j) => {
                    let target = room.member(pick(j));
                    if room.clients[pick(i)].may_kick(target) {
                        room.clients[pick(i)].kick(target, NOW).unwrap();
                        room.run();
                    } else {
                        proptest::prop_assert_eq!(room.clients[pick(i)].kick(target, NOW).err(), Some(SessionError::NotAllowed));
                    }
                }
                _ => {}
            }
        }
        let present = room.present();
        for &x in &present {
            proptest::prop_assert!(!could_not_verify(&room.events[x]), "{:?}", room.events[x]);
            proptest::prop_assert_eq!(room.clients[x].roles.owner, room.clients[present[0]].roles.owner);
            proptest::prop_assert_eq!(room.clients[x].members().len(), present.len() - 1);
        }
        for &x in &present {
            let marker = format!("final from {x}");
            room.send(x, &marker);
            for &y in &present {
                if y != x {
                    proptest::prop_assert!(room.texts(y).iter().any(|(t, _)| *t == marker), "{y} missed {marker}");
                }
            }
        }
    }
}

#[test]
fn an_answer_cannot_remove_other_members_from_a_newcomers_view() {
    let (mut room, a) = Room::create("alice");
    let m = room.join("mallory", 200);
    let c = room.join("carol", 300);
    let member_m = room.member(m);
    // Mallory's honest answer to dave is replaced by one that lists alice's and carol's sessions as departed, in the
    // layout of an answer that carries a departed list.
    room.drop = Some(Box::new(move |d: &Delivered| {
        d.to == 3
            && matches!(&d.frame, RelayFrame::Frame { from, direct: true, payload }
                if *from == member_m && Header::parse(payload.as_bytes()).is_ok_and(|h| h.kind == Kind::Answer))
    }));
    let d = room.join("dave", 400);
    room.drop = None;
    let mut body = room.clients[m].announce().encode_hello().unwrap().to_vec();
    body.extend_from_slice(&room.clients[d].nonce);
    body.extend_from_slice(&2u16.to_be_bytes());
    body.extend_from_slice(&room.clients[a].session_key);
    body.extend_from_slice(&room.clients[c].session_key);
    let answer = room_item(&room, Kind::Answer, m, d, &body);
    room.inject_item(d, member_m, true, answer);
    let members: Vec<MemberId> = room.clients[d].members().iter().map(|i| i.member).collect();
    assert!(
        members.contains(&room.member(a)) && members.contains(&room.member(c)),
        "{members:?}"
    );
    assert!(
        !room.events[d].iter().any(|e| matches!(e, Event::MemberLeft { .. })),
        "{:?}",
        room.events[d]
    );
    room.send(a, "still here");
    assert!(room.texts(d).contains(&("still here".into(), false)));
    room.send(d, "hi all");
    assert!(room.texts(c).contains(&("hi all".into(), false)));
}

#[test]
fn a_relay_that_gives_a_newcomer_a_low_id_cannot_get_a_departed_hello_accepted() {
    let (mut room, _a) = Room::create("alice");
    let b = room.join("bob", 200);
    let member_b = room.member(b);
    let (_, hello_b) = room.payloads_from(member_b, Kind::Hello, false).pop().unwrap();
    room.clients[b].leave("", NOW).unwrap();
    room.run();
    // The relay gives dave a member id below everyone's, withholds the honest answers, and replays bob's hello.
    room.next_id = 0;
    let sent_before = room.sent.len();
    room.drop = Some(Box::new(|d: &Delivered| {
        d.to == 2 && matches!(d.frame, RelayFrame::Frame { direct: true, .. })
    }));
    let d = room.join("dave", 400);
    assert_eq!(room.member(d), 0);
    room.inject_item(d, member_b, false, hello_b);
    room.drop = None;
    room.run();
    assert!(
        room.clients[d].members().iter().all(|m| m.alias != "bob"),
        "{:?}",
        room.clients[d].members()
    );
    assert!(
        !room.events[d]
            .iter()
            .any(|e| matches!(e, Event::MemberAccepted(info) if info.alias == "bob")),
        "{:?}",
        room.events[d]
    );
    // Nothing dave sends is handed to the ghost: no hand-out went to bob's member id.
    assert!(
        !room.sent[sent_before..]
            .iter()
            .any(|f| matches!(f, ClientFrame::Direct { to, payload }
        if *to == member_b && Header::parse(payload.as_bytes()).is_ok_and(|h| h.kind == Kind::Handout)))
    );
}

#[test]
fn a_member_the_relay_kept_a_kick_from_learns_it_from_the_next_handout() {
    let (mut room, a, b, c) = three();
    let member_a = room.member(a);
    let member_c = room.member(c);
    // The relay keeps carol connected and withholds alice's signed kick from bob and from carol herself.
    room.ignore_kick = true;
    room.drop = Some(Box::new(move |d: &Delivered| {
        (d.to == 1 || d.to == 2)
            && matches!(&d.frame, RelayFrame::Frame { from, direct: false, .. } if *from == member_a)
    }));
    room.clients[a].kick(member_c, NOW).unwrap();
    room.run();
    room.drop = None;
    assert!(
        room.clients[b].members().iter().all(|m| m.member != member_c),
        "{:?}",
        room.clients[b].members()
    );
    room.send(b, "after the kick");
    assert!(!room.texts(c).iter().any(|(t, _)| t == "after the kick"));
    assert!(room.texts(a).iter().any(|(t, _)| t == "after the kick"));
}

#[test]
fn kicks_naming_unknown_keys_are_not_remembered() {
    let (mut room, a, b, _) = three();
    let before = room.clients[a].seen.len();
    for i in 0..8u8 {
        room.clients[b]
            .broadcast(NOW, crate::message::Content::Kick([i; 32]))
            .unwrap();
    }
    room.run();
    assert_eq!(room.clients[a].seen.len(), before);
    let d = room.join("dave", 400);
    assert_eq!(room.clients[d].members().len(), 3);
}

#[test]
fn relay_claims_name_no_member() {
    let (mut room, a, b, _) = three();
    let member_a = room.member(a);
    // The relay says alice kicked bob; no signed kick exists.
    let events = room.inject(b, RelayFrame::Kicked { by: member_a });
    assert_eq!(
        events,
        vec![Event::Ended {
            reason: EndReason::RemovedByRelay
        }]
    );
}

#[test]
fn a_relay_report_is_never_passed_on_as_a_departure() {
    let (mut room, a, b, c) = three();
    let member_c = room.member(c);
    // The relay tells alice alone that carol dropped.
    let events = room.inject(
        a,
        RelayFrame::MemberLeft {
            member: member_c,
            reason: LeftReason::Dropped,
        },
    );
    assert!(
        matches!(
            &events[..],
            [Event::MemberLeft {
                reason: LeaveReason::RelayReported {
                    reason: LeftReason::Dropped
                },
                ..
            }]
        ),
        "{events:?}"
    );
    // Alice's new generation reaches bob without a cause: bob keeps carol, and nobody names a member for it.
    assert_eq!(room.clients[b].members().len(), 2);
    assert!(!room.events[b].iter().any(|e| matches!(e, Event::MemberLeft { .. })));
    room.send(b, "carol still reads me");
    assert!(room.texts(c).iter().any(|(t, _)| t == "carol still reads me"));
    assert!(!room.texts(c).is_empty());
    room.send(a, "not to carol");
    assert!(!room.texts(c).iter().any(|(t, _)| t == "not to carol"));
}

#[test]
fn aliases_that_differ_by_case_are_flagged_and_invisible_ones_refused() {
    let (mut room, a) = Room::create("alice");
    let b = room.join("ALICE", 200);
    assert!(room.clients[a].members().iter().all(|m| m.duplicate_alias));
    assert!(room.clients[b].members().iter().all(|m| m.duplicate_alias));
    // An alias with a zero-width space is refused outright, by the sender and by every receiver.
    let secrets = room.secrets.duplicate();
    assert!(Session::new(&secrets, "alice\u{200B}", ChaCha20Rng::seed_from_u64(9)).is_err());
}

#[test]
fn aliases_that_look_alike_across_scripts_are_flagged_once_the_skeleton_is_supplied() {
    let cyrillic = "\u{0430}lice";
    // Without the skeleton (a front end that has not supplied it), only the case rule applies.
    let (mut room, a) = Room::create("alice");
    let b = room.join(cyrillic, 200);
    assert!(room.clients[a].members().iter().all(|m| !m.duplicate_alias));
    assert!(room.clients[b].members().iter().all(|m| !m.duplicate_alias));
    assert!(!room.clients[a].own_alias_looks_alike());

    let (mut room, a) = Room::create("alice");
    room.clients[a].set_skeleton(sanctum_lookalike::skeleton);
    let b = room.add(cyrillic, 200);
    room.clients[b].set_skeleton(sanctum_lookalike::skeleton);
    let frame = room.clients[b].join_frame(NOW).unwrap();
    room.client_frame(b, frame);
    room.run();
    for client in [a, b] {
        let members = room.clients[client].members();
        assert_eq!(members.len(), 1);
        assert!(members[0].duplicate_alias, "{client}");
        assert!(room.clients[client].own_alias_looks_alike(), "{client}");
        // The acceptance itself says so, which is what the app's notice is made from.
        assert!(
            room.events[client]
                .iter()
                .any(|e| matches!(e, Event::MemberAccepted(info) if info.duplicate_alias)),
            "{client}"
        );
    }
    // A third member whose alias looks like no one's is not flagged, and does not flag the other two any less.
    let c = room.add("carol", 300);
    room.clients[c].set_skeleton(sanctum_lookalike::skeleton);
    let frame = room.clients[c].join_frame(NOW).unwrap();
    room.client_frame(c, frame);
    room.run();
    let seen_by_a = room.clients[a].members();
    assert_eq!(seen_by_a.len(), 2);
    for member in seen_by_a {
        assert_eq!(member.duplicate_alias, member.alias == cyrillic, "{}", member.alias);
    }
    assert!(room.clients[c].members().iter().all(|m| m.duplicate_alias));
    assert!(!room.clients[c].own_alias_looks_alike());
}

/// A hello from `signer`'s key plus a point of order eight, signed with `signer`'s secret scalar so that
/// `verify_strict` alone accepts it (the challenge is a multiple of eight, so the torsion part drops out).
fn mixed_order_hello(room: &Room, signer: usize, member: MemberId) -> ([u8; 32], Payload) {
    use curve25519_dalek::{EdwardsPoint, Scalar, constants::EIGHT_TORSION};
    use ed25519_dalek::{Signature, VerifyingKey};
    use sha2::Sha512;

    let signing = &room.clients[signer].signing;
    let a = signing.to_scalar();
    let mixed = (EdwardsPoint::mul_base(&a) + EIGHT_TORSION[1]).compress().to_bytes();
    let room_id = room.secrets.link().room_id_bytes();
    let header = Header::new(Kind::Hello, 0, 0).to_bytes();
    let r = Scalar::from_bytes_mod_order([3; 32]);
    let r_bytes = EdwardsPoint::mul_base(&r).compress().to_bytes();
    for n in 0u8..=255 {
        let body = crate::message::HelloBody {
            announce: Announce {
                member,
                session: mixed,
                dh: room.clients[signer].dh_public,
                nonce: [n; 32],
                alias: "mallory".into(),
            },
            continuity: None,
        }
        .encode()
        .unwrap();
        let signed = [
            crate::label::SIGNATURE,
            &header[..],
            &room_id[..],
            &mixed[..],
            &NOBODY[..],
            &body[..],
        ]
        .concat();
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(r_bytes)
                .chain_update(mixed)
                .chain_update(&signed)
                .finalize()
                .into(),
        );
        if !k.as_bytes()[0].is_multiple_of(8) {
            continue;
        }
        let s = r + k * a;
        let signature: [u8; 64] = [&r_bytes[..], s.as_bytes()].concat().try_into().unwrap();
        // The case is real: the library's strict verification takes it.
        let lax = VerifyingKey::from_bytes(&mixed).unwrap();
        assert!(lax.verify_strict(&signed, &Signature::from_bytes(&signature)).is_ok());
        let binding = Binding {
            room_id,
            sender: &NOBODY,
            recipient: &NOBODY,
        };
        let inner = [&body[..], &signature[..]].concat();
        let item = seal::seal_raw_for_test(
            room.secrets.room_key().expose(),
            Header::new(Kind::Hello, 0, 0),
            &binding,
            &inner,
        );
        return (mixed, Payload::new(item).unwrap());
    }
    panic!("no nonce gave a challenge divisible by eight");
}

#[test]
fn a_key_with_a_torsion_part_is_refused_every_time_whatever_was_checked_before() {
    let (mut room, a) = Room::create("alice");
    let b = room.join("bob", 200);
    // Alice checked bob's key when she accepted him, and verifies his items with it; the mixed-order key has the
    // same prime-order part and differs only by a point of order eight.
    let (mixed, hello) = mixed_order_hello(&room, b, 77);
    assert_eq!(
        room.clients[a].peers[&room.member(b)].key.bytes(),
        &room.clients[b].session_key
    );
    assert!(crate::sign::CheckedKey::new(&mixed).is_err());
    for _ in 0..3 {
        let events = room.inject_item(a, 77, false, hello.clone());
        assert_eq!(events, vec![Event::CouldNotVerify { from: 77 }]);
        assert!(room.clients[a].hellos.is_empty());
        assert!(!room.clients[a].seen.contains_key(&mixed));
    }
    // Bob's own items still verify under the key alice checked once.
    room.send(b, "still bob");
    assert_eq!(room.texts(a), vec![("still bob".into(), false)]);
}
