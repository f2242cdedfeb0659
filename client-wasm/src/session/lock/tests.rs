//! Tests of remove and lock: who moves to the new secrets, who cannot, and what the relay is handed.

use sanctum_protocol::{ErrorCode, RelayFrame};
use sha2::{Digest, Sha256};

use crate::message::LockBody;
use crate::schedule::{RoomSecrets, Stretched};
use crate::seal::{self, Binding, Kind, NOBODY};
use crate::session::testing::*;
use crate::session::*;

/// New secrets for the room, as the app derives them from a fresh link and a new password.
fn new_secrets(room: &mut Room, owner: usize) -> RoomSecrets {
    let link = room.clients[owner].fresh_link();
    RoomSecrets::from_stretched(link, &Stretched::from_bytes([0x5a; 32]))
}

fn opens_under(secrets: &RoomSecrets, item: &[u8]) -> bool {
    let binding = Binding {
        room_id: secrets.link().room_id_bytes(),
        sender: &NOBODY,
        recipient: &NOBODY,
    };
    seal::open(secrets.room_key().expose(), item, &binding).is_ok()
}

#[test]
fn a_lock_moves_everyone_remaining_and_keeps_the_kicked_session_out() {
    let (mut room, a, b, c) = three();
    let old = room.secrets.duplicate();
    let new = new_secrets(&mut room, a);
    let carol = room.member(c);
    let events = room.clients[a].lock(Some(carol), &new, NOW).unwrap();
    assert!(events.contains(&Event::Locked {
        by: Some(room.member(a))
    }));
    room.run();
    let alice = room.member(a);
    assert!(room.events[b].contains(&Event::Locked { by: Some(alice) }));
    assert!(room.events[a].contains(&Event::LockConfirmed));
    assert!(room.clients[c].is_ended());
    // Everyone remaining holds the new secrets; the relay holds the new verifier and a descriptor under the new key.
    for member in [a, b] {
        assert!(room.clients[member].secrets().room_key() == new.room_key());
        assert_eq!(
            room.clients[member].secrets().link().to_fragment(),
            new.link().to_fragment()
        );
        assert!(room.clients[member].resume_blob().unwrap() != crate::resume::encode_resume(&old, "x").unwrap());
    }
    assert_eq!(room.verifier, Some(new.verifier()));
    let descriptor = room.descriptor.clone().unwrap();
    assert!(opens_under(&new, descriptor.as_bytes()) && !opens_under(&old, descriptor.as_bytes()));
    // The old token no longer matches the relay's verifier: the old link and password are refused.
    assert_ne!(
        Some(sanctum_protocol::Verifier(Sha256::digest(old.auth_token().0).into())),
        room.verifier
    );
    let again = room.join_with(&old, "carol", 301);
    assert_eq!(
        room.events[again].last(),
        Some(&Event::Ended {
            reason: EndReason::Refused {
                code: ErrorCode::BadToken
            }
        })
    );
    // A newcomer with the new link is accepted, and its hello does not open under the old room key.
    room.secrets = new.duplicate();
    let d = room.join("dave", 400);
    assert_eq!(room.clients[d].members().len(), 2);
    assert_eq!(room.clients[d].owner(), Some(alice));
    let hello = room.payloads_from(room.member(d), Kind::Hello, false)[0].1.clone();
    assert!(opens_under(&new, hello.as_bytes()) && !opens_under(&old, hello.as_bytes()));
    room.send(b, "after the lock");
    assert!(room.texts(d).iter().any(|(t, _)| t == "after the lock"));
}

#[test]
fn a_member_the_relay_kept_the_lock_from_stays_on_the_old_key() {
    let (mut room, a, b, c) = three();
    let member_c = room.member(c);
    let member_a = room.member(a);
    // The relay withholds alice's direct frames from carol: the lock item among them.
    room.drop = Some(Box::new(move |d| {
        d.to == c && matches!(&d.frame, RelayFrame::Frame { from, direct: true, .. } if *from == member_a)
    }));
    let new = new_secrets(&mut room, a);
    room.clients[a].lock(None, &new, NOW).unwrap();
    room.run();
    room.drop = None;
    assert!(!room.events[c].iter().any(|e| matches!(e, Event::Locked { .. })));
    assert!(room.clients[b].secrets().room_key() == new.room_key());
    // A newcomer's hello under the new key does not open for carol: she cannot admit it, and says so.
    room.secrets = new.duplicate();
    let d = room.join("dave", 400);
    assert!(could_not_verify(&room.events[c]));
    assert_eq!(room.clients[d].members().len(), 2, "alice and bob accept dave");
    assert!(room.clients[c].members().iter().all(|m| Some(m.member) != room.ids[d]));
    assert_eq!(room.client_of(member_c), Some(c));
}

#[test]
fn only_the_owner_may_lock() {
    let (mut room, a, b, c) = three();
    let new = new_secrets(&mut room, b);
    assert_eq!(
        room.clients[b].lock(None, &new, NOW).err(),
        Some(SessionError::NotAllowed)
    );
    assert!(room.clients[b].take_outgoing().is_empty());
    // A modified client sends its own lock items anyway: every member refuses them and keeps its secrets.
    let body = LockBody {
        link_secret: zeroize::Zeroizing::new(*new.link().secret().expose()),
        room_key: zeroize::Zeroizing::new(*new.room_key().expose()),
        channel_salt: zeroize::Zeroizing::new(*new.channel_salt().expose()),
        auth_token: zeroize::Zeroizing::new(*new.auth_token_secret().expose()),
    }
    .encode();
    for to in [a, c] {
        let member = room.member(to);
        let payload = room.clients[b].seal_pairwise(member, Kind::Lock, &body).unwrap();
        let events = room.inject_item(to, room.member(b), true, payload);
        assert!(
            events.iter().any(
                |e| matches!(e, Event::NotAllowed { from, attempt: Attempt::Lock, .. } if *from == room.member(b))
            )
        );
    }
    for viewer in [a, c] {
        assert!(!room.events[viewer].iter().any(|e| matches!(e, Event::Locked { .. })));
        assert!(room.clients[viewer].secrets().room_key() == room.secrets.room_key());
    }
}

#[test]
fn a_lock_must_keep_the_room_and_change_the_secret() {
    let (mut room, a, _b, _c) = three();
    let same = room.secrets.duplicate();
    assert_eq!(
        room.clients[a].lock(None, &same, NOW).err(),
        Some(SessionError::BadLock)
    );
    let other = crate::schedule::tests::fixed_secrets(9);
    assert_eq!(
        room.clients[a].lock(None, &other, NOW).err(),
        Some(SessionError::BadLock)
    );
    assert!(room.clients[a].take_outgoing().is_empty());
}

#[test]
fn a_transfer_signed_before_a_lock_does_not_count_after_it() {
    let (mut room, a, b, c) = three();
    {
        let to = room.member(b);
        room.clients[a].transfer(to, NOW)
    }
    .unwrap();
    room.run();
    {
        let to = room.member(a);
        room.clients[b].transfer(to, NOW)
    }
    .unwrap();
    room.run();
    let first = room.clients[c].roles.transfers[0].clone();
    let new = new_secrets(&mut room, a);
    room.clients[a].lock(None, &new, NOW).unwrap();
    room.run();
    assert_eq!(room.clients[c].roles.base, 2);
    // alice's old transfer to bob, replayed in an answer after the lock, names no owner.
    room.clients[c].roles.transfers.push(first);
    room.secrets = new.duplicate();
    let d = room.join("dave", 400);
    assert_eq!(room.clients[d].owner(), Some(room.member(a)));
}

/// Starts a join of `alias` and delivers frames only until the owner `a` has answered its hello: the newcomer is in
/// mid-acceptance, its confirm not yet sent or not yet received.
fn join_until_answered(room: &mut Room, a: usize, alias: &str, seed: u64) -> usize {
    let d = room.add(alias, seed);
    let frame = room.clients[d].join_frame(NOW).unwrap();
    room.client_frame(d, frame);
    while room.clients[a].hellos.is_empty() {
        assert!(room.step(), "the owner never saw the hello");
    }
    d
}

#[test]
fn a_newcomer_in_mid_acceptance_at_the_lock_moves_with_the_rest() {
    let (mut room, a, b, c) = three();
    let d = join_until_answered(&mut room, a, "dave", 400);
    assert!(room.clients[a].members().iter().all(|m| Some(m.member) != room.ids[d]));
    let new = new_secrets(&mut room, a);
    let carol = room.member(c);
    room.clients[a].lock(Some(carol), &new, NOW).unwrap();
    room.run();
    let (alice, dave) = (room.member(a), room.member(d));
    // dave's confirm, sealed under the old room key, still gets him accepted; alice then hands him the lock.
    assert!(room.events[d].contains(&Event::Locked { by: Some(alice) }));
    for member in [a, b, d] {
        assert!(room.clients[member].secrets().room_key() == new.room_key());
    }
    assert!(room.clients[c].is_ended());
    for (viewer, others) in [(a, [b, d]), (b, [a, d]), (d, [a, b])] {
        let listed: Vec<MemberId> = room.clients[viewer].members().iter().map(|m| m.member).collect();
        assert_eq!(listed.len(), 2);
        assert!(others.iter().all(|&o| listed.contains(&room.member(o))));
    }
    assert_eq!(room.clients[d].owner(), Some(alice));
    room.send(d, "dave after the lock");
    room.send(b, "bob after the lock");
    room.send(a, "alice after the lock");
    assert!(room.texts(a).iter().any(|(t, _)| t == "dave after the lock"));
    assert!(room.texts(b).iter().any(|(t, _)| t == "dave after the lock"));
    assert!(room.texts(d).iter().any(|(t, _)| t == "bob after the lock"));
    assert!(room.texts(d).iter().any(|(t, _)| t == "alice after the lock"));
    assert!(!room.texts(c).iter().any(|(t, _)| t.ends_with("after the lock")));
    // A newcomer with the new link finds dave among the members.
    room.secrets = new.duplicate();
    let e = room.join("erin", 500);
    assert_eq!(room.clients[e].members().len(), 3);
    assert!(room.clients[e].members().iter().any(|m| m.member == dave));
}

#[test]
fn a_lock_handed_on_no_longer_reaches_a_newcomer_that_confirms_after_it() {
    let (mut room, a, b, _c) = three();
    let d = join_until_answered(&mut room, a, "dave", 400);
    let new = new_secrets(&mut room, a);
    room.clients[a].lock(None, &new, NOW).unwrap();
    // alice hands ownership to bob before dave's confirm reaches her: her lock is no longer current.
    {
        let to = room.member(b);
        room.clients[a].transfer(to, NOW)
    }
    .unwrap();
    room.run();
    assert!(!room.events[d].iter().any(|e| matches!(e, Event::Locked { .. })));
    assert!(room.clients[d].secrets().room_key() == room.secrets.room_key());
    assert!(room.clients[b].is_owner());
}
