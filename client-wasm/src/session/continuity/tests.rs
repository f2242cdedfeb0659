//! Tests of key continuity on refresh: the reconnect notice, members shown as present, the owner's role kept, and
//! claims that are not honoured.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sanctum_protocol::{LeftReason, MemberId};

use crate::resume::decode_resumed;
use crate::session::testing::*;
use crate::session::*;

/// Refreshes client `c`: a new session from its resume blob, which joins the room.
fn refresh(room: &mut Room, c: usize, seed: u64) -> usize {
    let blob = room.clients[c].resume_blob().unwrap();
    let resumed = decode_resumed(&blob, NOW).unwrap();
    let session = Session::resume(resumed, ChaCha20Rng::seed_from_u64(seed)).unwrap();
    room.join_session(session)
}

fn reconnected(events: &[Event]) -> Vec<(MemberId, Option<MemberId>, String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Reconnected {
                member,
                previous,
                old_fingerprint,
                new_fingerprint,
                ..
            } => Some((*member, *previous, old_fingerprint.clone(), new_fingerprint.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_resume_blob_carries_the_signing_key_and_round_trips() {
    let (room, a, _b, _c) = three();
    let blob = room.clients[a].resume_blob().unwrap();
    let resumed = decode_resumed(&blob, NOW).unwrap();
    assert_eq!(resumed.alias, "alice");
    assert!(resumed.secrets.room_key() == room.secrets.room_key());
    assert_eq!(
        resumed.previous.map(|k| k.verifying_key().to_bytes()),
        Some(room.clients[a].session_key)
    );
    let expired = room.secrets.link().expires_at() * 1000;
    assert_eq!(decode_resumed(&blob, expired).err(), Some(crate::ResumeError::Expired));
}

#[test]
fn a_refreshed_member_is_shown_as_reconnected_and_sees_the_others_as_present() {
    let (mut room, a, b, c) = three();
    let old_bob = room.member(b);
    let old_fingerprint = room.clients[b].fingerprint();
    room.remove(b, LeftReason::Dropped);
    room.run();
    let nb = refresh(&mut room, b, 201);
    let new_bob = room.member(nb);
    let new_fingerprint = room.clients[nb].fingerprint();
    assert_ne!(old_fingerprint, new_fingerprint);
    for viewer in [a, c] {
        assert_eq!(
            reconnected(&room.events[viewer]),
            vec![(new_bob, Some(old_bob), old_fingerprint.clone(), new_fingerprint.clone())],
            "viewer {viewer}"
        );
        assert!(
            !room.events[viewer]
                .iter()
                .any(|e| matches!(e, Event::MemberAccepted(info) if info.member == new_bob)),
            "not shown as a stranger joining"
        );
    }
    let present: Vec<MemberId> = room.events[nb]
        .iter()
        .filter_map(|e| match e {
            Event::MemberPresent(info) => Some(info.member),
            _ => None,
        })
        .collect();
    assert_eq!(present.len(), 2);
    assert!(!room.events[nb].iter().any(|e| matches!(e, Event::MemberAccepted(_))));
    room.send(a, "welcome back");
    assert!(room.texts(nb).iter().any(|(t, _)| t == "welcome back"));
}

#[test]
fn a_refresh_while_the_previous_session_is_still_there_ends_it_in_every_view() {
    let (mut room, a, b, c) = three();
    let nb = refresh(&mut room, b, 201);
    for viewer in [a, c] {
        assert_eq!(reconnected(&room.events[viewer]).len(), 1);
        let members: Vec<MemberId> = room.clients[viewer].members().iter().map(|m| m.member).collect();
        assert!(members.contains(&room.member(nb)) && !members.contains(&room.member(b)));
    }
    // The previous session gets no key of what follows.
    room.send(a, "after the refresh");
    assert!(!room.texts(b).iter().any(|(t, _)| t == "after the refresh"));
    assert!(room.texts(nb).iter().any(|(t, _)| t == "after the refresh"));
}

#[test]
fn the_owner_keeps_the_role_across_a_refresh_and_newcomers_learn_it() {
    let (mut room, a, b, c) = three();
    room.remove(a, LeftReason::Dropped);
    room.run();
    assert_eq!(room.clients[b].owner(), None);
    let na = refresh(&mut room, a, 101);
    let new_alice = room.member(na);
    assert!(room.clients[na].is_owner());
    for viewer in [b, c] {
        assert_eq!(room.clients[viewer].owner(), Some(new_alice), "viewer {viewer}");
    }
    let d = room.join("dave", 400);
    assert_eq!(room.clients[d].owner(), Some(new_alice));
    let carol = room.member(c);
    room.clients[na].kick(carol, NOW).unwrap();
    room.run();
    assert!(room.clients[c].is_ended());
    assert!(room.clients[d].members().iter().all(|m| m.member != carol));
}

#[test]
fn a_forged_continuity_claim_is_refused_and_one_for_a_stranger_means_nothing() {
    let (mut room, a, b, _c) = three();
    // A claim whose signature does not verify: the hello is refused.
    let blob = room.clients[b].resume_blob().unwrap();
    let mut session = Session::resume(decode_resumed(&blob, NOW).unwrap(), ChaCha20Rng::seed_from_u64(7)).unwrap();
    if let Some(claim) = session.continuity.as_mut() {
        claim.signature[0] ^= 1;
    }
    let forged = room.join_session(session);
    assert!(could_not_verify(&room.events[a]));
    assert!(room.clients[forged].members().is_empty());
    // A blob whose key no member ever accepted: a plain newcomer, shown as joining.
    let other = crate::resume::encode_resume_with(
        &room.secrets,
        "erin",
        Some(&ed25519_dalek::SigningKey::from_bytes(&[3; 32])),
    )
    .unwrap();
    let resumed = decode_resumed(&other, NOW).unwrap();
    let e = room.join_session(Session::resume(resumed, ChaCha20Rng::seed_from_u64(8)).unwrap());
    let erin = room.member(e);
    assert!(
        room.events[a]
            .iter()
            .any(|ev| matches!(ev, Event::MemberAccepted(info) if info.member == erin))
    );
    assert!(reconnected(&room.events[a]).is_empty());
    assert_eq!(room.clients[a].owner(), Some(room.member(a)));
}
