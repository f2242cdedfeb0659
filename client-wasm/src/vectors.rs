//! Test vectors: computed from fixed inputs, written once to `tests/vectors/`, and checked against the files on every run.
//!
//! The files are the reference; `cargo test -p sanctum-client --features write-vectors -- write_vector_files` wrote them.
//! The check recomputes every output from the inputs a file states and compares it with the file,
//! and also opens and verifies the stored items themselves, so a file edited by hand fails too.

use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::chain::ChainKey;
use crate::link::{LinkSecret, RoomLink};
use crate::message::{Announce, Content, Message};
use crate::pairwise::{self, PeerKeys};
use crate::schedule::{self, RoomKey, RoomSecrets};
use crate::seal::{self, Binding, Header, Kind, NOBODY};
use crate::sign;

const PASSWORD: &str = "correct horse battery staple";
const ROOM_ID: [u8; 16] = [
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];
const LINK_SECRET: [u8; 32] = [0x42; 32];
const EXPIRES_AT: u64 = 1_900_000_000;

fn h(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn unhex<const N: usize>(v: &Value) -> [u8; N] {
    hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn link() -> RoomLink {
    RoomLink::from_parts(ROOM_ID, LinkSecret::from_bytes(LINK_SECRET), EXPIRES_AT)
}

fn key_schedule() -> Value {
    let link = link();
    let salt = schedule::argon2_salt(&link);
    let stretched = schedule::stretch(PASSWORD.as_bytes(), &salt).unwrap();
    let secrets = RoomSecrets::from_stretched(link.duplicate(), &stretched);
    json!({
        "description": "Key schedule v1 from a fixed link and password: Argon2id salt and output, HKDF split, verifier.",
        "link": link.to_fragment().as_str(),
        "password": PASSWORD,
        "room_id": h(&ROOM_ID),
        "link_secret": h(&LINK_SECRET),
        "expires_at": EXPIRES_AT,
        "argon2id": { "m_cost_kib": schedule::ARGON2_M_COST_KIB, "t_cost": schedule::ARGON2_T_COST, "p_cost": schedule::ARGON2_P_COST, "version": 19 },
        "argon2_salt": h(&salt),
        "stretched": h(stretched.expose()),
        "auth_token": h(secrets.auth_token_secret().expose()),
        "room_key": h(secrets.room_key().expose()),
        "verifier": h(&secrets.verifier().0),
    })
}

fn party(seed: u8) -> (SigningKey, StaticSecret, [u8; 32], [u8; 32]) {
    let signing = SigningKey::from_bytes(&[seed; 32]);
    let dh = StaticSecret::from([seed.wrapping_add(1); 32]);
    let session = signing.verifying_key().to_bytes();
    let dh_public = PublicKey::from(&dh).to_bytes();
    (signing, dh, session, dh_public)
}

const ROOM_KEY: [u8; 32] = [0x77; 32];

fn hello() -> Value {
    let (signing, _, session, dh_public) = party(0xa1);
    let announce = Announce {
        member: 3,
        session,
        dh: dh_public,
        nonce: [0x5e; 32],
        alias: "alice".into(),
    };
    let body = announce.encode_hello().unwrap();
    let nonce = [0x24; 24];
    let binding = Binding {
        room_id: &ROOM_ID,
        sender: &NOBODY,
        recipient: &NOBODY,
    };
    let item = seal::seal_with_nonce(
        &ROOM_KEY,
        Header::new(Kind::Hello, 0, 0),
        &binding,
        &body,
        Some(&signing),
        &nonce,
    )
    .unwrap();
    json!({
        "description": "A hello sealed under the room key: member 3, alias \"alice\".",
        "room_id": h(&ROOM_ID),
        "room_key": h(&ROOM_KEY),
        "signing_seed": h(&[0xa1; 32]),
        "dh_secret": h(&[0xa2; 32]),
        "session_key": h(&session),
        "dh_public": h(&dh_public),
        "session_nonce": h(&[0x5e; 32]),
        "member": 3,
        "alias": "alice",
        "aead_nonce": h(&nonce),
        "body": h(&body),
        "item": h(&item),
    })
}

fn pairwise_vector() -> Value {
    let (_, a_dh, a_session, a_dh_pub) = party(0xa1);
    let (_, b_dh, b_session, b_dh_pub) = party(0xb1);
    let room_key = RoomKey::from_bytes(ROOM_KEY);
    let a = PeerKeys {
        session: &a_session,
        dh: &a_dh_pub,
    };
    let b = PeerKeys {
        session: &b_session,
        dh: &b_dh_pub,
    };
    let (lo_hi, hi_lo) = pairwise::chain_keys(&room_key, &a_dh, a, b).unwrap();
    let (lo_hi_b, hi_lo_b) = pairwise::chain_keys(&room_key, &b_dh, b, a).unwrap();
    assert!(lo_hi == lo_hi_b && hi_lo == hi_lo_b);
    let shared = a_dh.diffie_hellman(&PublicKey::from(b_dh_pub));
    json!({
        "description": "A pairwise channel between sessions a and b; lo is the session with the smaller session key.",
        "room_key": h(&ROOM_KEY),
        "a": { "signing_seed": h(&[0xa1; 32]), "dh_secret": h(&[0xa2; 32]), "session_key": h(&a_session), "dh_public": h(&a_dh_pub) },
        "b": { "signing_seed": h(&[0xb1; 32]), "dh_secret": h(&[0xb2; 32]), "session_key": h(&b_session), "dh_public": h(&b_dh_pub) },
        "lo": if a_session < b_session { "a" } else { "b" },
        "x25519_shared": h(shared.as_bytes()),
        "chain_lo_to_hi": h(lo_hi.expose()),
        "chain_hi_to_lo": h(hi_lo.expose()),
    })
}

fn chain_vector() -> Value {
    let mut key = ChainKey::from_bytes([0xc0; 32]);
    let mut steps = Vec::new();
    for counter in 0..4 {
        let (mk, next) = key.step();
        steps.push(json!({ "counter": counter, "chain_key": h(key.expose()), "message_key": h(mk.expose()), "next_chain_key": h(next.expose()) }));
        key = next;
    }
    json!({ "description": "Four steps of a chain from chain key c0..c0.", "steps": steps })
}

fn sealed_message() -> Value {
    let (signing, _, session, _) = party(0xa1);
    let message_key = [0x3c; 32];
    let body = Message {
        sent_at: 1_899_999_000_000,
        content: Content::Text("attack at dawn".into()),
    }
    .encode()
    .unwrap();
    let header = Header::new(Kind::Group, 2, 7);
    let binding = Binding {
        room_id: &ROOM_ID,
        sender: &session,
        recipient: &NOBODY,
    };
    let nonce = [0x4e; 24];
    let item = seal::seal_with_nonce(&message_key, header, &binding, &body, Some(&signing), &nonce).unwrap();
    let signature = sign::sign(&signing, &header.to_bytes(), &ROOM_ID, &NOBODY, &body);
    json!({
        "description": "A group text message, generation 2, counter 7, sealed with a given message key.",
        "room_id": h(&ROOM_ID),
        "signing_seed": h(&[0xa1; 32]),
        "session_key": h(&session),
        "message_key": h(&message_key),
        "generation": 2,
        "counter": 7,
        "sent_at": 1_899_999_000_000u64,
        "text": "attack at dawn",
        "aead_nonce": h(&nonce),
        "header": h(&header.to_bytes()),
        "body": h(&body),
        "signature": h(&signature),
        "item": h(&item),
    })
}

fn signature_vector() -> Value {
    let (signing, _, session, _) = party(0xa1);
    let header = Header::new(Kind::Whisper, 0, 1).to_bytes();
    let recipient = party(0xb1).2;
    let body = b"\x01\x00\x00\x01\xba\x43\xb7\x40\x00\x00\x00\x00\x04psst".to_vec();
    let signature = sign::sign(&signing, &header, &ROOM_ID, &recipient, &body);
    let mut message = Vec::new();
    for part in [
        crate::label::SIGNATURE,
        &header[..],
        &ROOM_ID[..],
        &session[..],
        &recipient[..],
        &body[..],
    ] {
        message.extend_from_slice(part);
    }
    json!({
        "description": "An Ed25519 signature over the signing context of a whisper (kind 5, counter 1).",
        "signing_seed": h(&[0xa1; 32]),
        "session_key": h(&session),
        "header": h(&header),
        "room_id": h(&ROOM_ID),
        "recipient": h(&recipient),
        "body": h(&body),
        "signed_message": h(&message),
        "signature": h(&signature),
    })
}

fn fail_sealed_message() -> Value {
    let good = sealed_message();
    let item = bytes(&good["item"]);
    let mut cases = Vec::new();
    for (what, at) in [
        ("version", 0),
        ("kind", 1),
        ("generation", 5),
        ("counter", 9),
        ("nonce", 20),
        ("ciphertext", 60),
        ("tag", item.len() - 1),
    ] {
        let mut bad = item.clone();
        bad[at] ^= 0x01;
        cases.push(json!({ "tampered": what, "item": h(&bad) }));
    }
    cases.push(json!({ "tampered": "truncated", "item": h(&item[..item.len() - 16]) }));
    json!({
        "description": "Items that must fail to open with sealed_message.json's key and binding: one flipped byte each, or truncated.",
        "cases": cases,
    })
}

fn all() -> Vec<(&'static str, Value)> {
    vec![
        ("key_schedule.json", key_schedule()),
        ("hello.json", hello()),
        ("pairwise.json", pairwise_vector()),
        ("chain.json", chain_vector()),
        ("sealed_message.json", sealed_message()),
        ("signature.json", signature_vector()),
        ("fail_sealed_message.json", fail_sealed_message()),
    ]
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn vector_files_match_the_code() {
    for (name, computed) in all() {
        assert_eq!(load(name), computed, "{name} no longer matches what the code computes");
    }
}

#[test]
fn stored_items_open_and_verify() {
    let hello = load("hello.json");
    let binding = Binding {
        room_id: &unhex(&hello["room_id"]),
        sender: &NOBODY,
        recipient: &NOBODY,
    };
    let opened = seal::open(&unhex(&hello["room_key"]), &bytes(&hello["item"]), &binding).unwrap();
    let announce = Announce::decode_hello(opened.body()).unwrap();
    assert_eq!(announce.alias, hello["alias"]);
    assert_eq!(announce.session, unhex::<32>(&hello["session_key"]));
    opened.verify(&announce.session, &binding).unwrap();

    let msg = load("sealed_message.json");
    let session: [u8; 32] = unhex(&msg["session_key"]);
    let room_id: [u8; 16] = unhex(&msg["room_id"]);
    let binding = Binding {
        room_id: &room_id,
        sender: &session,
        recipient: &NOBODY,
    };
    let key: [u8; 32] = unhex(&msg["message_key"]);
    let opened = seal::open(&key, &bytes(&msg["item"]), &binding).unwrap();
    opened.verify(&session, &binding).unwrap();
    let message = Message::decode(opened.body()).unwrap();
    assert_eq!(message.content, Content::Text(msg["text"].as_str().unwrap().into()));
    assert_eq!(opened.header, Header::new(Kind::Group, 2, 7));

    for case in load("fail_sealed_message.json")["cases"].as_array().unwrap() {
        assert!(
            seal::open(&key, &bytes(&case["item"]), &binding).is_err(),
            "{}",
            case["tampered"]
        );
    }

    let sig = load("signature.json");
    let key = ed25519_dalek::VerifyingKey::from_bytes(&unhex(&sig["session_key"])).unwrap();
    let signature = ed25519_dalek::Signature::from_bytes(&unhex(&sig["signature"]));
    assert!(key.verify_strict(&bytes(&sig["signed_message"]), &signature).is_ok());

    let schedule = load("key_schedule.json");
    let link = RoomLink::parse(schedule["link"].as_str().unwrap(), 0).unwrap();
    let secrets = RoomSecrets::derive(&link, schedule["password"].as_str().unwrap()).unwrap();
    assert_eq!(hex::encode(secrets.room_key().expose()), schedule["room_key"]);
    assert_eq!(hex::encode(secrets.verifier().0), schedule["verifier"]);
}

#[cfg(feature = "write-vectors")]
#[test]
fn write_vector_files() {
    std::fs::create_dir_all(dir()).unwrap();
    for (name, value) in all() {
        std::fs::write(dir().join(name), serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
    }
}
