//! Tests of the session as a whole: entering, expiry, ending, resume and what the relay sees.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sanctum_protocol::{ClientFrame, RelayFrame};

use crate::schedule::tests::fixed_secrets;
use crate::seal::{self, Binding, Kind, NOBODY};
use crate::session::testing::*;
use crate::session::*;

#[test]
fn an_ended_session_wipes_its_own_secrets() {
    let (mut room, _, b, c) = three();
    let signing = room.clients[c].signing.to_bytes();
    let dh = room.clients[c].dh_secret.to_bytes();
    room.clients[c].leave("", NOW).unwrap();
    room.run();
    assert!(room.clients[c].signing.to_bytes() != signing && room.clients[c].dh_secret.to_bytes() != dh);
    assert!(room.clients[c].peers.is_empty());
    assert!(
        room.clients[b]
            .members()
            .iter()
            .all(|m| m.fingerprint != room.clients[c].fingerprint())
    );
}

#[test]
fn expiry_is_enforced_by_the_client() {
    let (mut room, a, b, _) = three();
    let expiry = room.clients[b].expires_at();
    assert_eq!(expiry, room.secrets.link().expires_at());
    assert!(room.clients[b].tick(expiry * 1000 - 1).is_empty());
    assert_eq!(
        room.clients[b].tick(expiry * 1000),
        vec![Event::Ended {
            reason: EndReason::Expired
        }]
    );
    assert_eq!(room.clients[b].take_outgoing(), vec![ClientFrame::Leave]);
    let frame = RelayFrame::Expiring { seconds: 60 };
    assert_eq!(
        room.clients[a].handle(frame, NOW),
        vec![Event::Expiring { seconds: 60 }]
    );
    let late = room.clients[a].handle(RelayFrame::Expiring { seconds: 1 }, expiry * 1000 + 5);
    assert_eq!(
        late,
        vec![Event::Ended {
            reason: EndReason::Expired
        }]
    );
}

#[test]
fn a_descriptor_that_does_not_open_ends_the_session() {
    let mut room = Room::new();
    let a = room.add("alice", 1);
    room.clients[a].join_frame(NOW).unwrap();
    let bogus = sanctum_protocol::Descriptor::new(vec![1; 100]).unwrap();
    let events = room.clients[a].handle(
        RelayFrame::Joined {
            member: 2,
            members: vec![1],
            expires_at: u64::MAX,
            expires_in: 9,
            descriptor: bogus,
        },
        NOW,
    );
    assert_eq!(
        events,
        vec![Event::Ended {
            reason: EndReason::Unverifiable
        }]
    );
}

#[test]
fn a_refused_join_ends_the_session() {
    let mut room = Room::new();
    let a = room.add("alice", 1);
    room.clients[a].join_frame(NOW).unwrap();
    let events = room.clients[a].handle(
        RelayFrame::Error {
            code: sanctum_protocol::ErrorCode::BadToken,
            message: "no".into(),
        },
        NOW,
    );
    assert_eq!(events.len(), 2);
    assert!(room.clients[a].is_ended());
}

#[test]
fn forward_secrecy_against_a_recording_and_the_password() {
    let (mut room, a, b, c) = three();
    room.send(a, "SECRET-GROUP");
    let to = room.member(c);
    room.clients[b].whisper(to, "SECRET-WHISPER", NOW).unwrap();
    room.run();
    room.clients[c]
        .send_attachment("f", "text/plain", b"SECRET-FILE", NOW)
        .unwrap();
    room.run();
    room.clients[c].leave("SECRET-FAREWELL", NOW).unwrap();
    room.run();
    room.send(a, "SECRET-AFTER");
    assert!(room.texts(b).iter().any(|(t, _)| t == "SECRET-AFTER"));
    // The attacker: every relayed payload, the descriptor, and the link and password (so the room key).
    let attacker = fixed_secrets(1);
    let room_id = *attacker.link().room_id_bytes();
    let key = attacker.room_key().expose();
    // Session keys are public once hellos are read; the attacker tries each as sender and recipient.
    let mut sessions = vec![NOBODY];
    sessions.extend(room.clients.iter().map(|s| s.session_key));
    let mut opened_kinds = std::collections::BTreeSet::new();
    let mut readable = Vec::new();
    let desc = room.descriptor.clone().unwrap();
    let payloads: Vec<Vec<u8>> = room
        .log
        .iter()
        .filter_map(|d| match &d.frame {
            RelayFrame::Frame { payload, .. } => Some(payload.as_bytes().to_vec()),
            _ => None,
        })
        .chain(std::iter::once(desc.as_bytes().to_vec()))
        .collect();
    assert!(payloads.len() > 20);
    for payload in &payloads {
        for sender in &sessions {
            for recipient in &sessions {
                let binding = Binding {
                    room_id: &room_id,
                    sender,
                    recipient,
                };
                if let Ok(opened) = seal::open(key, payload, &binding) {
                    opened_kinds.insert(opened.header.kind as u8);
                    readable.push(opened.body().to_vec());
                }
            }
        }
    }
    assert_eq!(
        opened_kinds,
        [
            Kind::Descriptor as u8,
            Kind::Hello as u8,
            Kind::Answer as u8,
            Kind::Confirm as u8
        ]
        .into_iter()
        .collect(),
        "only the descriptor, hellos, answers and confirms open under the room key"
    );
    for body in readable {
        assert!(
            !body.windows(7).any(|w| w == b"SECRET-"),
            "no message text in what the attacker reads"
        );
    }
}

#[test]
fn resume_rejoins_as_a_new_session_that_reads_nothing_earlier() {
    let (mut room, a, b, _) = three();
    room.send(a, "before refresh");
    let blob = room.clients[b].resume_blob().unwrap();
    let (secrets, alias) = crate::resume::decode_resume(&blob, NOW).unwrap();
    assert_eq!(alias, "bob");
    room.clients[b].leave("", NOW).unwrap();
    room.run();
    let again = Session::new(&secrets, &alias, ChaCha20Rng::seed_from_u64(999)).unwrap();
    room.clients.push(again);
    room.ids.push(None);
    room.events.push(Vec::new());
    let b2 = room.clients.len() - 1;
    let frame = room.clients[b2].join_frame(NOW).unwrap();
    room.client_frame(b2, frame);
    room.run();
    assert_eq!(room.clients[b2].members().len(), 2);
    room.send(a, "after refresh");
    assert_eq!(room.texts(b2), vec![("after refresh".into(), false)]);
    assert_ne!(room.clients[b2].fingerprint(), room.clients[b].fingerprint());
}

#[test]
fn actions_check_their_inputs_and_state() {
    let secrets = fixed_secrets(1);
    assert_eq!(
        Session::new(&secrets, "  ", ChaCha20Rng::seed_from_u64(1)).err(),
        Some(SessionError::BadAlias(crate::AliasError::Empty))
    );
    assert_eq!(
        Session::new(&secrets, &"a".repeat(33), ChaCha20Rng::seed_from_u64(1)).err(),
        Some(SessionError::BadAlias(crate::AliasError::TooLong))
    );
    assert_eq!(
        Session::new(&secrets, "a\u{7}", ChaCha20Rng::seed_from_u64(1)).err(),
        Some(SessionError::BadAlias(crate::AliasError::Disguising))
    );
    let mut s = Session::new(&secrets, "alice", ChaCha20Rng::seed_from_u64(1)).unwrap();
    assert_eq!(s.send_text("x", NOW), Err(SessionError::NotJoined));
    assert_eq!(
        s.create_frame(&"n".repeat(129), NOW).err(),
        Some(SessionError::BadRoomName)
    );
    let expired = secrets.link().expires_at() * 1000;
    assert_eq!(s.join_frame(expired).err(), Some(SessionError::Expired));
    assert!(s.join_frame(NOW).is_ok());
    assert_eq!(s.join_frame(NOW).err(), Some(SessionError::NotJoined));
    let (mut room, a) = Room::create("alice");
    assert_eq!(
        room.clients[a].send_text(&"x".repeat(MAX_TEXT_LEN + 1), NOW),
        Err(SessionError::TooLong)
    );
    assert_eq!(room.clients[a].whisper(42, "x", NOW), Err(SessionError::UnknownMember));
    assert_eq!(room.clients[a].kick(42, NOW).err(), Some(SessionError::UnknownMember));
    assert!(room.clients[a].send_text(&"x".repeat(MAX_TEXT_LEN), NOW).is_ok());
    let text = format!("{:?}", room.clients[a]);
    assert!(!text.contains("alice") && text.starts_with("Session"), "{text}");
}

#[test]
fn the_relay_never_sees_plaintext_aliases_or_names() {
    let (mut room, a, b, _) = three();
    room.send(a, "PLAINTEXT-MARKER");
    let to = room.member(a);
    room.clients[b].whisper(to, "PLAINTEXT-WHISPER", NOW).unwrap();
    room.run();
    let wire: String = room.sent.iter().map(ClientFrame::encode).collect();
    for needle in ["PLAINTEXT", "alice", "bob", "carol", "book club"] {
        assert!(!wire.contains(needle), "{needle}");
    }
    for frame in &room.sent {
        if let ClientFrame::Broadcast { payload } | ClientFrame::Direct { payload, .. } = frame {
            let bytes = payload.as_bytes();
            for needle in [&b"PLAINTEXT"[..], b"alice", b"bob", b"carol"] {
                assert!(!bytes.windows(needle.len()).any(|w| w == needle));
            }
            assert!(
                crate::padding::BUCKETS.iter().any(|b| bytes.len() == b + 50),
                "{}",
                bytes.len()
            );
        }
    }
}

#[test]
fn pairwise_channels_are_not_salted_with_the_room_key() {
    use hkdf::Hkdf;
    let (mut room, a) = Room::create("alice");
    let b = room.join("bob", 200);
    let (member_a, alice, bob) = (room.member(a), &room.clients[a], &room.clients[b]);
    // The channel's chain keys as a session would derive them with the room key as the HKDF salt.
    let shared = alice
        .dh_secret
        .diffie_hellman(&x25519_dalek::PublicKey::from(bob.dh_public));
    let (lo, hi) = if alice.session_key < bob.session_key {
        ((alice.session_key, alice.dh_public), (bob.session_key, bob.dh_public))
    } else {
        ((bob.session_key, bob.dh_public), (alice.session_key, alice.dh_public))
    };
    let info = [&b"sanctum v1 pairwise"[..], &lo.0, &lo.1, &hi.0, &hi.1].concat();
    let mut okm = [0u8; 64];
    Hkdf::<sha2::Sha256>::new(Some(room.secrets.room_key().expose()), shared.as_bytes())
        .expand(&info, &mut okm)
        .unwrap();
    let alice_to_bob = if alice.session_key < bob.session_key {
        &okm[..32]
    } else {
        &okm[32..]
    };
    let (first, _) = crate::chain::ChainKey::from_bytes(alice_to_bob.try_into().unwrap()).step();
    let (_, handout) = room.payloads_from(member_a, Kind::Handout, true).remove(0);
    let binding = Binding {
        room_id: room.secrets.link().room_id_bytes(),
        sender: &alice.session_key,
        recipient: &bob.session_key,
    };
    assert!(seal::open(first.expose(), handout.as_bytes(), &binding).is_err());
}
