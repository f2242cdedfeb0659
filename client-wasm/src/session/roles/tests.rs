//! Tests of roles: the signed descriptor's owner, who may kick, transfers, succession and a newcomer's view of them.

use ed25519_dalek::SigningKey;
use sanctum_protocol::{ClientFrame, LeftReason, RelayFrame};

use super::Roles;
use crate::message::{Cause, Content, DescriptorBody, KickPolicy, Message};
use crate::seal::{self, Binding, Header, Kind, NOBODY};
use crate::session::testing::*;
use crate::session::*;
use crate::sign;

fn owner_seen_by(room: &Room, c: usize) -> Option<usize> {
    room.clients[c].owner().and_then(|m| room.client_of(m))
}

fn not_allowed(events: &[Event]) -> Vec<(MemberIdOf, Attempt)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::NotAllowed { from, attempt, .. } => Some((*from, *attempt)),
            _ => None,
        })
        .collect()
}

type MemberIdOf = sanctum_protocol::MemberId;

/// Has client `c` sign and broadcast `content` as it would its own kick or transfer, skipping the checks its own API
/// makes: what a modified client could send.
fn force(room: &mut Room, c: usize, content: Content) {
    room.clients[c].broadcast_cause(NOW, content).unwrap();
    room.run();
}

/// `from` hands ownership to `to`, and the room delivers everything that follows.
fn hand_over(room: &mut Room, from: usize, to: usize) {
    let to = room.member(to);
    room.clients[from].transfer(to, NOW).unwrap();
    room.run();
}

fn key(room: &Room, c: usize) -> [u8; 32] {
    room.clients[c].session_key
}

#[test]
fn the_creator_owns_the_room_and_every_member_sees_it() {
    let (room, a, b, c) = three();
    assert!(room.clients[a].is_owner());
    for viewer in [a, b, c] {
        assert_eq!(owner_seen_by(&room, viewer), Some(a));
    }
    let from_bob = room.clients[b].members();
    assert!(from_bob.iter().any(|m| m.owner && room.client_of(m.member) == Some(a)));
    assert!(from_bob.iter().all(|m| !m.kickable), "bob may kick no one");
    assert!(room.clients[a].members().iter().all(|m| m.kickable && !m.owner));
}

#[test]
fn a_non_owners_kick_is_refused_by_every_client() {
    let (mut room, a, b, c) = three();
    let carol = room.member(c);
    // The honest API refuses, and sends nothing.
    assert_eq!(room.clients[b].kick(carol, NOW).err(), Some(SessionError::NotAllowed));
    assert!(room.clients[b].take_outgoing().is_empty());
    // A modified client signs the kick anyway and the relay does not act on its frame.
    room.ignore_kick = true;
    let target = key(&room, c);
    force(&mut room, b, Content::Kick(target));
    let bob = room.member(b);
    assert_eq!(
        not_allowed(&room.events[a]),
        vec![(bob, Attempt::Kick { target: Some(carol) })]
    );
    assert_eq!(
        not_allowed(&room.events[c]),
        vec![(bob, Attempt::Kick { target: Some(carol) })]
    );
    assert!(!room.clients[c].is_ended());
    assert_eq!(room.clients[a].members().len(), 2);
    room.send(a, "still here");
    assert_eq!(room.texts(c), vec![("still here".into(), false)]);
}

#[test]
fn a_relay_kick_without_an_authorised_signed_kick_is_the_relays_claim() {
    let (mut room, a, b, c) = three();
    // bob sends the relay's kick frame, which the relay honours: it can disconnect anyone anyway.
    let carol = room.member(c);
    let target = key(&room, c);
    force(&mut room, b, Content::Kick(target));
    room.client_frame(b, ClientFrame::Kick { member: carol });
    room.run();
    assert!(room.events[c].contains(&Event::Ended {
        reason: EndReason::RemovedByRelay
    }));
    // alice refused the signed kick and takes carol out only on the relay's word, which it does not pass on.
    assert!(room.events[a].iter().any(|e| matches!(
        e,
        Event::NotAllowed {
            attempt: Attempt::Kick { .. },
            ..
        }
    )));
    assert!(room.events[a].iter().any(|e| matches!(
        e,
        Event::MemberLeft {
            reason: LeaveReason::RelayReported {
                reason: LeftReason::Kicked
            },
            ..
        }
    )));
}

#[test]
fn a_handout_whose_cause_is_an_unauthorised_kick_is_refused_as_a_cause() {
    let (mut room, a, b, c) = three();
    let bob_key = key(&room, b);
    // bob's forged kick of carol reaches no one; a hand-out later carries it as its cause.
    let member_b = room.member(b);
    room.drop = Some(Box::new(
        move |d| matches!(&d.frame, RelayFrame::Frame { from, direct: false, .. } if *from == member_b),
    ));
    let target = key(&room, c);
    let cause = room.clients[b].broadcast_cause(NOW, Content::Kick(target)).unwrap();
    room.run();
    room.drop = None;
    assert_eq!(cause.signer, bob_key);
    // alice starts a new generation with it as the cause (as a client whose view of the owner differs might).
    room.clients[a].rekey(Some(&cause));
    room.run();
    assert!(!room.clients[c].is_ended());
    assert_eq!(room.clients[c].members().len(), 2);
}

#[test]
fn the_owner_kicks_and_every_client_honours_it() {
    let (mut room, a, b, c) = three();
    let carol = room.member(c);
    assert!(room.clients[a].may_kick(carol));
    room.clients[a].kick(carol, NOW).unwrap();
    room.run();
    let alice = room.member(a);
    assert!(room.events[b].iter().any(|e| matches!(
        e,
        Event::MemberLeft { reason: LeaveReason::Kicked { by }, .. } if *by == alice
    )));
    assert!(room.events[c].contains(&Event::Ended {
        reason: EndReason::Kicked { by: alice }
    }));
}

#[test]
fn when_every_member_may_kick_no_member_may_kick_the_owner() {
    let mut room = Room::new();
    let a = room.add("alice", 100);
    room.clients[a].set_kick_policy(KickPolicy::Everyone).unwrap();
    let frame = room.clients[a].create_frame("book club", NOW).unwrap();
    room.client_frame(a, frame);
    room.run();
    let b = room.join("bob", 200);
    let c = room.join("carol", 300);
    assert_eq!(room.clients[c].kick_policy(), KickPolicy::Everyone);
    let (alice, carol) = (room.member(a), room.member(c));
    assert!(!room.clients[b].may_kick(alice));
    assert_eq!(room.clients[b].kick(alice, NOW).err(), Some(SessionError::NotAllowed));
    room.ignore_kick = true;
    let target = key(&room, a);
    force(&mut room, b, Content::Kick(target));
    assert!(!room.clients[a].is_ended());
    assert_eq!(not_allowed(&room.events[c]).len(), 1);
    room.ignore_kick = false;
    room.clients[b].kick(carol, NOW).unwrap();
    room.run();
    assert!(room.clients[c].is_ended());
    assert_eq!(room.clients[a].members().len(), 1);
}

#[test]
fn a_descriptor_not_signed_by_its_owner_is_refused() {
    let (mut room, a) = Room::create("alice");
    let body = DescriptorBody {
        name: "book club".into(),
        expires_at: room.secrets.link().expires_at(),
        owner: key(&room, a),
        policy: KickPolicy::Owner,
        sequence: 0,
    }
    .encode()
    .unwrap();
    let mallory = SigningKey::from_bytes(&[9; 32]);
    let binding = Binding {
        room_id: room.secrets.link().room_id_bytes(),
        sender: &NOBODY,
        recipient: &NOBODY,
    };
    let item = seal::seal_with_nonce(
        room.secrets.room_key().expose(),
        Header::new(Kind::Descriptor, 0, 0),
        &binding,
        &body,
        Some(&mallory),
        &[1; 24],
    )
    .unwrap();
    room.descriptor = Some(sanctum_protocol::Descriptor::new(item).unwrap());
    let b = room.join("bob", 200);
    assert_eq!(
        room.events[b],
        vec![Event::Ended {
            reason: EndReason::Unverifiable
        }]
    );
}

#[test]
fn the_owner_hands_ownership_on_and_every_client_follows() {
    let (mut room, a, b, c) = three();
    let bob = room.member(b);
    room.clients[a].transfer(bob, NOW).unwrap();
    room.run();
    for viewer in [a, b, c] {
        assert_eq!(owner_seen_by(&room, viewer), Some(b), "viewer {viewer}");
    }
    assert!(room.events[c].contains(&Event::OwnerChanged {
        owner: Some(bob),
        by: Some(room.member(a)),
    }));
    // The rights moved with it.
    let carol = room.member(c);
    assert!(!room.clients[a].may_kick(carol));
    assert!(room.clients[b].may_kick(carol));
    assert_eq!(
        room.clients[a].transfer(carol, NOW).err(),
        Some(SessionError::NotAllowed)
    );
}

#[test]
fn a_forged_or_replayed_transfer_is_refused() {
    let (mut room, a, b, c) = three();
    // bob, not the owner, names himself owner.
    let to = key(&room, b);
    force(&mut room, b, Content::Transfer { to, sequence: 1 });
    for viewer in [a, c] {
        assert_eq!(
            not_allowed(&room.events[viewer]),
            vec![(room.member(b), Attempt::Transfer)]
        );
        assert_eq!(owner_seen_by(&room, viewer), Some(a));
    }
    // The owner's transfer with a wrong sequence number is refused too.
    let to = key(&room, c);
    force(&mut room, a, Content::Transfer { to, sequence: 5 });
    assert_eq!(owner_seen_by(&room, b), Some(a));
    // A real transfer to bob, then the relay replays it to carol after bob handed ownership back: refused by the chain.
    hand_over(&mut room, a, b);
    let alice = room.member(a);
    let replay = room.payloads_from(alice, Kind::Group, false).last().unwrap().1.clone();
    room.clients[b].transfer(alice, NOW).unwrap();
    room.run();
    assert_eq!(owner_seen_by(&room, c), Some(a));
    let events = room.inject_item(c, alice, false, replay);
    assert!(could_not_verify(&events));
    assert_eq!(owner_seen_by(&room, c), Some(a));
}

#[test]
fn a_newcomer_learns_the_current_owner_through_answers() {
    let (mut room, a, b, c) = three();
    hand_over(&mut room, a, b);
    hand_over(&mut room, b, c);
    let d = room.join("dave", 400);
    assert_eq!(owner_seen_by(&room, d), Some(c));
    assert_eq!(room.clients[d].roles.transfers.len(), 2);
    let carol = room.member(c);
    assert!(room.clients[d].members().iter().any(|m| m.owner && m.member == carol));
}

#[test]
fn a_newcomer_keeps_the_longest_valid_chain_whatever_order_answers_come_in() {
    let (mut room, a, b, c) = three();
    hand_over(&mut room, a, b);
    hand_over(&mut room, b, c);
    // alice withholds the last transfer in her answers; carol adds a forged third link naming herself again.
    room.clients[a].roles.transfers.truncate(1);
    let carol_key = key(&room, c);
    let forged = forged_transfer(&room, &SigningKey::from_bytes(&[5; 32]), carol_key, 3);
    room.clients[c].roles.transfers.push(forged);
    let d = room.join("dave", 400);
    assert_eq!(owner_seen_by(&room, d), Some(c));
    assert_eq!(room.clients[d].roles.transfers.len(), 2, "the forged link is not kept");
}

#[test]
fn a_member_cannot_fabricate_ownership_in_its_answers() {
    let (mut room, a, _b, c) = three();
    // carol's answers carry a transfer she signed herself, naming herself.
    let carol_key = key(&room, c);
    let signing = SigningKey::from_bytes(&room.clients[c].signing.to_bytes());
    let forged = forged_transfer(&room, &signing, carol_key, 1);
    room.clients[c].roles.transfers.push(forged);
    let d = room.join("dave", 400);
    assert_eq!(owner_seen_by(&room, d), Some(a));
    assert!(room.clients[d].roles.transfers.is_empty());
}

fn forged_transfer(room: &Room, signing: &SigningKey, to: [u8; 32], sequence: u32) -> Cause {
    let header = Header::new(Kind::Group, 0, 40).to_bytes();
    let body = Message {
        sent_at: NOW,
        content: Content::Transfer { to, sequence },
    }
    .encode()
    .unwrap()
    .to_vec();
    let room_id = room.secrets.link().room_id_bytes();
    Cause {
        signer: signing.verifying_key().to_bytes(),
        header,
        signature: sign::sign(signing, &header, room_id, &NOBODY, &body),
        body,
    }
}

#[test]
fn chains_are_followed_link_by_link_from_the_descriptors_owner() {
    let room_id = [3u8; 16];
    let keys: Vec<SigningKey> = (1..=4).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
    let public = |i: usize| keys[i].verifying_key().to_bytes();
    let link = |signer: usize, to: usize, sequence: u32| {
        let header = Header::new(Kind::Group, 1, sequence).to_bytes();
        let body = Message {
            sent_at: 1,
            content: Content::Transfer {
                to: public(to),
                sequence,
            },
        }
        .encode()
        .unwrap()
        .to_vec();
        Cause {
            signer: public(signer),
            header,
            signature: sign::sign(&keys[signer], &header, &room_id, &NOBODY, &body),
            body,
        }
    };
    let fresh = || Roles::from_descriptor(public(0), KickPolicy::Owner, 0);
    let good = [link(0, 1, 1), link(1, 2, 2), link(2, 3, 3)];
    let mut roles = fresh();
    assert!(roles.adopt_longer(&room_id, &good[..2]));
    assert_eq!(roles.owner, Some(public(2)));
    // A shorter chain changes nothing; a longer one that breaks after the links already held changes nothing either.
    assert!(!roles.adopt_longer(&room_id, &good[..1]));
    let mut broken = good.to_vec();
    broken[2] = link(1, 3, 3);
    assert!(!roles.adopt_longer(&room_id, &broken));
    assert_eq!(roles.owner, Some(public(2)));
    assert!(roles.adopt_longer(&room_id, &good));
    assert_eq!(roles.owner, Some(public(3)));
    // Links that skip or repeat a sequence number, come from another room, or are not group items are refused.
    for bad in [
        vec![link(0, 1, 2)],
        vec![link(0, 1, 1), link(1, 2, 1)],
        vec![{
            let mut other = link(0, 1, 1);
            other.signature = sign::sign(&keys[0], &other.header, &[4; 16], &NOBODY, &other.body);
            other
        }],
        vec![{
            let mut hello = link(0, 1, 1);
            hello.header = Header::new(Kind::Hello, 0, 0).to_bytes();
            hello.signature = sign::sign(&keys[0], &hello.header, &room_id, &NOBODY, &hello.body);
            hello
        }],
    ] {
        let mut roles = fresh();
        let expected = usize::from(bad.len() == 2);
        roles.adopt_longer(&room_id, &bad);
        assert_eq!(roles.transfers.len(), expected);
    }
    // A descriptor sealed after a lock carries the count so far: the old links cannot be replayed after it.
    let mut after_lock = Roles::from_descriptor(public(0), KickPolicy::Owner, 2);
    assert!(!after_lock.adopt_longer(&room_id, &[link(0, 1, 1)]));
    assert!(after_lock.adopt_longer(&room_id, &[link(0, 1, 3)]));
}

#[test]
fn the_owner_leaving_hands_ownership_to_the_earliest_accepted_member() {
    let (mut room, a, b, c) = three();
    room.clients[a].leave("bye", NOW).unwrap();
    room.run();
    for viewer in [b, c] {
        assert_eq!(owner_seen_by(&room, viewer), Some(b), "viewer {viewer}");
    }
    assert!(room.clients[b].may_kick(room.member(c)));
    let d = room.join("dave", 400);
    assert_eq!(owner_seen_by(&room, d), Some(b));
}

#[test]
fn an_owner_that_drops_leaves_the_room_without_an_owner() {
    let (mut room, a, b, c) = three();
    room.remove(a, LeftReason::Dropped);
    room.run();
    for viewer in [b, c] {
        assert_eq!(room.clients[viewer].owner(), None);
        assert!(room.events[viewer].contains(&Event::OwnerChanged { owner: None, by: None }));
        assert!(room.clients[viewer].members().iter().all(|m| !m.kickable && !m.owner));
    }
    let carol = room.member(c);
    assert_eq!(room.clients[b].kick(carol, NOW).err(), Some(SessionError::NotAllowed));
    // Anyone can still purge.
    room.clients[c].purge(NOW).unwrap();
    room.run();
    assert!(room.clients[b].is_ended());
}
