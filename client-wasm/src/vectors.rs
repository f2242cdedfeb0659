//! Test vectors: computed from fixed inputs, written once to `tests/vectors/`, and checked against the files on every run.
//!
//! The files are the reference; `cargo test -p sanctum-client --features write-vectors -- write_vector_files` wrote them.
//! The check recomputes every output from the inputs a file states and compares it with the file,
//! and also opens and verifies the stored items themselves, so a file edited by hand fails too.

use std::path::PathBuf;

mod more;

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::chain::ChainKey;
use crate::link::{LinkSecret, RoomLink};
use crate::message::{Announce, AnswerBody, Content, DescriptorBody, HandoutBody, Message};
use crate::pairwise::{self, PeerKeys};
use crate::schedule::{self, ChannelSalt, RoomSecrets};
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
        "channel_salt": h(secrets.channel_salt().expose()),
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
/// The channel salt the pairwise vectors use, apart from the room key.
const CHANNEL_SALT: [u8; 32] = [0x78; 32];

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
    let salt = ChannelSalt::from_bytes(CHANNEL_SALT);
    let a = PeerKeys {
        session: &a_session,
        dh: &a_dh_pub,
    };
    let b = PeerKeys {
        session: &b_session,
        dh: &b_dh_pub,
    };
    let (lo_hi, hi_lo) = pairwise::chain_keys(&salt, &a_dh, a, b).unwrap();
    let (lo_hi_b, hi_lo_b) = pairwise::chain_keys(&salt, &b_dh, b, a).unwrap();
    assert!(lo_hi == lo_hi_b && hi_lo == hi_lo_b);
    let shared = a_dh.diffie_hellman(&PublicKey::from(b_dh_pub));
    json!({
        "description": "A pairwise channel between sessions a and b, salted with the room's channel salt; lo is the session with the smaller session key.",
        "channel_salt": h(&CHANNEL_SALT),
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

fn descriptor() -> Value {
    let (signing, _, owner, _) = party(0xa1);
    let body = DescriptorBody {
        name: "book club".into(),
        expires_at: EXPIRES_AT,
        owner,
        policy: crate::message::KickPolicy::Owner,
        sequence: 0,
    }
    .encode()
    .unwrap();
    let nonce = [0x26; 24];
    let binding = Binding {
        room_id: &ROOM_ID,
        sender: &NOBODY,
        recipient: &NOBODY,
    };
    let header = Header::new(Kind::Descriptor, 0, 0);
    let item = seal::seal_with_nonce(&ROOM_KEY, header, &binding, &body, Some(&signing), &nonce).unwrap();
    let signature = sign::sign(&signing, &header.to_bytes(), &ROOM_ID, &NOBODY, &body);
    json!({
        "description": "A room descriptor sealed under the room key and signed by its owner (the session of hello.json): name \"book club\", the link's expiry, only the owner kicks, no transfer before it.",
        "room_id": h(&ROOM_ID),
        "room_key": h(&ROOM_KEY),
        "room_name": "book club",
        "expires_at": EXPIRES_AT,
        "signing_seed": h(&[0xa1; 32]),
        "owner": h(&owner),
        "policy": 0,
        "sequence": 0,
        "aead_nonce": h(&nonce),
        "header": h(&header.to_bytes()),
        "body": h(&body),
        "signature": h(&signature),
        "item": h(&item),
    })
}

/// The challenge the answer in `answer.json` asks the newcomer to sign back.
const CHALLENGE: [u8; 32] = [0x6a; 32];

fn answer() -> Value {
    let (signing, _, session, dh_public) = party(0xb1);
    let newcomer = party(0xa1).2;
    let body = AnswerBody {
        announce: Announce {
            member: 1,
            session,
            dh: dh_public,
            nonce: [0x6f; 32],
            alias: "bob".into(),
        },
        in_reply_to: [0x5e; 32],
        challenge: CHALLENGE,
        transfers: Vec::new(),
    }
    .encode()
    .unwrap();
    let nonce = [0x25; 24];
    let binding = Binding {
        room_id: &ROOM_ID,
        sender: &NOBODY,
        recipient: &newcomer,
    };
    let header = Header::new(Kind::Answer, 0, 0);
    let item = seal::seal_with_nonce(&ROOM_KEY, header, &binding, &body, Some(&signing), &nonce).unwrap();
    let signature = sign::sign(&signing, &header.to_bytes(), &ROOM_ID, &newcomer, &body);
    json!({
        "description": "Member 1 (\"bob\") answers the hello of hello.json: addressed to its session key, in reply to its session nonce, with the challenge the newcomer must sign back in its confirm.",
        "room_id": h(&ROOM_ID),
        "room_key": h(&ROOM_KEY),
        "signing_seed": h(&[0xb1; 32]),
        "dh_secret": h(&[0xb2; 32]),
        "session_key": h(&session),
        "dh_public": h(&dh_public),
        "session_nonce": h(&[0x6f; 32]),
        "member": 1,
        "alias": "bob",
        "recipient": h(&newcomer),
        "in_reply_to": h(&[0x5e; 32]),
        "challenge": h(&CHALLENGE),
        "aead_nonce": h(&nonce),
        "header": h(&header.to_bytes()),
        "body": h(&body),
        "signature": h(&signature),
        "item": h(&item),
    })
}

fn handout() -> Value {
    let (signing, a_dh, a_session, a_dh_pub) = party(0xa1);
    let (_, _, b_session, b_dh_pub) = party(0xb1);
    let salt = ChannelSalt::from_bytes(CHANNEL_SALT);
    let me = PeerKeys {
        session: &a_session,
        dh: &a_dh_pub,
    };
    let peer = PeerKeys {
        session: &b_session,
        dh: &b_dh_pub,
    };
    let mut channel = pairwise::channel(&salt, &a_dh, me, peer).unwrap();
    let (counter, message_key) = channel.send.next().unwrap();
    let body = HandoutBody {
        generation: 3,
        counter: 12,
        chain_key: zeroize::Zeroizing::new([0xc5; 32]),
        cause: None,
    }
    .encode()
    .unwrap();
    let nonce = [0x27; 24];
    let binding = Binding {
        room_id: &ROOM_ID,
        sender: &a_session,
        recipient: &b_session,
    };
    let header = Header::new(Kind::Handout, 0, counter);
    let item = seal::seal_with_nonce(message_key.expose(), header, &binding, &body, Some(&signing), &nonce).unwrap();
    let signature = sign::sign(&signing, &header.to_bytes(), &ROOM_ID, &b_session, &body);
    json!({
        "description": "Session a of pairwise.json hands session b its sender chain (generation 3, next counter 12) with the first key of a's direction of their channel.",
        "room_id": h(&ROOM_ID),
        "signing_seed": h(&[0xa1; 32]),
        "session_key": h(&a_session),
        "recipient": h(&b_session),
        "pairwise_counter": counter,
        "message_key": h(message_key.expose()),
        "generation": 3,
        "counter": 12,
        "chain_key": h(&[0xc5; 32]),
        "aead_nonce": h(&nonce),
        "header": h(&header.to_bytes()),
        "body": h(&body),
        "signature": h(&signature),
        "item": h(&item),
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
        ("descriptor.json", descriptor()),
        ("answer.json", answer()),
        ("handout.json", handout()),
        ("link_refusals.json", more::link_refusals()),
        ("resume.json", more::resume()),
        ("bodies.json", more::bodies()),
        ("whisper.json", more::whisper()),
        ("handout_with_cause.json", more::handout_with_cause()),
        ("transfer.json", more::transfer()),
        ("lock.json", more::lock()),
        ("hello_continuity.json", more::hello_continuity()),
        ("padding.json", more::padding_buckets()),
        ("fingerprint.json", more::fingerprint()),
        ("fail_ed25519.json", more::fail_ed25519()),
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

#[test]
fn new_items_open_verify_and_decode() {
    let d = load("descriptor.json");
    let binding = Binding {
        room_id: &unhex(&d["room_id"]),
        sender: &NOBODY,
        recipient: &NOBODY,
    };
    let opened = seal::open(&unhex(&d["room_key"]), &bytes(&d["item"]), &binding).unwrap();
    assert_eq!(opened.header, Header::new(Kind::Descriptor, 0, 0));
    let body = DescriptorBody::decode(opened.body()).unwrap();
    assert_eq!(
        (body.name.as_str(), body.expires_at),
        (d["room_name"].as_str().unwrap(), EXPIRES_AT)
    );
    assert_eq!(body.owner, unhex::<32>(&d["owner"]));
    opened.verify(&body.owner, &binding).unwrap();
    assert!(
        opened.verify(&party(0xb1).2, &binding).is_err(),
        "signed by its owner alone"
    );

    let a = load("answer.json");
    let recipient: [u8; 32] = unhex(&a["recipient"]);
    let binding = Binding {
        room_id: &unhex(&a["room_id"]),
        sender: &NOBODY,
        recipient: &recipient,
    };
    let opened = seal::open(&unhex(&a["room_key"]), &bytes(&a["item"]), &binding).unwrap();
    assert_eq!(opened.header, Header::new(Kind::Answer, 0, 0));
    let answer = AnswerBody::decode(opened.body()).unwrap();
    opened.verify(&answer.announce.session, &binding).unwrap();
    assert_eq!(answer.announce.session, unhex::<32>(&a["session_key"]));
    assert_eq!(answer.announce.alias, a["alias"]);
    assert_eq!(answer.in_reply_to, unhex::<32>(&load("hello.json")["session_nonce"]));
    assert_eq!(answer.challenge, unhex::<32>(&a["challenge"]));
    // Addressed to one newcomer: it does not open for anyone else.
    let elsewhere = Binding {
        recipient: &NOBODY,
        ..binding
    };
    assert!(seal::open(&unhex(&a["room_key"]), &bytes(&a["item"]), &elsewhere).is_err());

    let o = load("handout.json");
    let sender: [u8; 32] = unhex(&o["session_key"]);
    let recipient: [u8; 32] = unhex(&o["recipient"]);
    let binding = Binding {
        room_id: &unhex(&o["room_id"]),
        sender: &sender,
        recipient: &recipient,
    };
    // The message key is the first of the sender's direction of the channel in pairwise.json.
    let p = load("pairwise.json");
    let direction = if p["lo"] == "a" {
        "chain_lo_to_hi"
    } else {
        "chain_hi_to_lo"
    };
    let (first, _) = ChainKey::from_bytes(unhex(&p[direction])).step();
    assert_eq!(h(first.expose()), o["message_key"]);
    let opened = seal::open(first.expose(), &bytes(&o["item"]), &binding).unwrap();
    opened.verify(&sender, &binding).unwrap();
    assert_eq!(opened.header, Header::new(Kind::Handout, 0, 0));
    let handout = HandoutBody::decode(opened.body()).unwrap();
    assert_eq!((handout.generation, handout.counter), (3, 12));
    assert_eq!(*handout.chain_key, unhex::<32>(&o["chain_key"]));
}

/// HMAC-SHA256 (RFC 2104) written out, to check the document's claim that a chain step is one HMAC each.
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Rebuilds every layout of `docs/protocol.md` by hand from the vector files' inputs, with the primitives alone and
/// none of the crate's encoders, so that the document and the code cannot drift apart.
#[test]
fn layouts_match_the_document() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    use hkdf::Hkdf;
    use sha2::{Digest, Sha256};

    let str16 = |text: &str| [&(text.len() as u16).to_be_bytes()[..], text.as_bytes()].concat();

    // Room link and key schedule.
    let k = load("key_schedule.json");
    let (room_id, link_secret) = (bytes(&k["room_id"]), bytes(&k["link_secret"]));
    let expires_at = k["expires_at"].as_u64().unwrap();
    let link_text = format!(
        "v1.{}.{}.{expires_at}",
        URL_SAFE_NO_PAD.encode(&room_id),
        URL_SAFE_NO_PAD.encode(&link_secret)
    );
    assert_eq!(k["link"], link_text);
    let salt = Sha256::new()
        .chain_update(b"sanctum v1 argon2id salt")
        .chain_update(&room_id)
        .chain_update(&link_secret)
        .chain_update(expires_at.to_be_bytes())
        .finalize();
    assert_eq!(h(&salt), k["argon2_salt"]);
    let hkdf = Hkdf::<Sha256>::new(Some(&[&room_id[..], &link_secret].concat()), &bytes(&k["stretched"]));
    for (label, field) in [
        (&b"sanctum v1 auth token"[..], "auth_token"),
        (b"sanctum v1 room key", "room_key"),
        (b"sanctum v1 channel salt", "channel_salt"),
    ] {
        let mut out = [0u8; 32];
        hkdf.expand(label, &mut out).unwrap();
        assert_eq!(h(&out), k[field], "{field}");
    }
    assert_eq!(h(&Sha256::digest(bytes(&k["auth_token"]))), k["verifier"]);

    // Pairwise channel.
    let p = load("pairwise.json");
    let (lo, hi) = if p["lo"] == "a" {
        (&p["a"], &p["b"])
    } else {
        (&p["b"], &p["a"])
    };
    let mut info = b"sanctum v1 pairwise".to_vec();
    for side in [lo, hi] {
        info.extend(bytes(&side["session_key"]));
        info.extend(bytes(&side["dh_public"]));
    }
    let mut okm = [0u8; 64];
    Hkdf::<Sha256>::new(Some(&bytes(&p["channel_salt"])), &bytes(&p["x25519_shared"]))
        .expand(&info, &mut okm)
        .unwrap();
    assert_eq!(
        (h(&okm[..32]), h(&okm[32..])),
        (p["chain_lo_to_hi"].clone(), p["chain_hi_to_lo"].clone())
    );
    assert!(bytes(&lo["session_key"]) < bytes(&hi["session_key"]));

    // Chain steps are one HMAC-SHA256 each.
    for step in load("chain.json")["steps"].as_array().unwrap() {
        let ck: [u8; 32] = unhex(&step["chain_key"]);
        assert_eq!(h(&hmac_sha256(&ck, b"sanctum v1 message key\x01")), step["message_key"]);
        assert_eq!(
            h(&hmac_sha256(&ck, b"sanctum v1 chain step\x01")),
            step["next_chain_key"]
        );
    }

    // Bodies.
    let hello = load("hello.json");
    let announce = |v: &Value| {
        [
            &(v["member"].as_u64().unwrap() as u32).to_be_bytes()[..],
            &bytes(&v["session_key"]),
            &bytes(&v["dh_public"]),
            &bytes(&v["session_nonce"]),
            &str16(v["alias"].as_str().unwrap()),
        ]
        .concat()
    };
    assert_eq!([announce(&hello), vec![0]].concat(), bytes(&hello["body"]));
    let answer = load("answer.json");
    let mut body = announce(&answer);
    body.extend(bytes(&answer["in_reply_to"]));
    body.extend(bytes(&answer["challenge"]));
    body.push(0);
    assert_eq!(body, bytes(&answer["body"]));
    let handout = load("handout.json");
    let body = [
        &(handout["generation"].as_u64().unwrap() as u32).to_be_bytes()[..],
        &(handout["counter"].as_u64().unwrap() as u32).to_be_bytes(),
        &bytes(&handout["chain_key"]),
        &[0u8],
    ]
    .concat();
    assert_eq!(body, bytes(&handout["body"]));
    let descriptor = load("descriptor.json");
    let body = [
        &str16(descriptor["room_name"].as_str().unwrap())[..],
        &descriptor["expires_at"].as_u64().unwrap().to_be_bytes(),
        &bytes(&descriptor["owner"]),
        &[descriptor["policy"].as_u64().unwrap() as u8],
        &(descriptor["sequence"].as_u64().unwrap() as u32).to_be_bytes(),
    ]
    .concat();
    assert_eq!(body, bytes(&descriptor["body"]));
    let message = load("sealed_message.json");
    let text = message["text"].as_str().unwrap();
    let body = [
        &[1u8][..],
        &message["sent_at"].as_u64().unwrap().to_be_bytes(),
        &(text.len() as u32).to_be_bytes(),
        text.as_bytes(),
    ]
    .concat();
    assert_eq!(body, bytes(&message["body"]));

    // Sealed items: header, nonce, ciphertext under the associated data, padding and signature, all by hand.
    let signature_file = load("signature.json");
    let whisper_context = [
        &b"sanctum v1 signature"[..],
        &bytes(&signature_file["header"]),
        &bytes(&signature_file["room_id"]),
        &bytes(&signature_file["session_key"]),
        &bytes(&signature_file["recipient"]),
        &bytes(&signature_file["body"]),
    ]
    .concat();
    assert_eq!(whisper_context, bytes(&signature_file["signed_message"]));
    let zeros = vec![0u8; 32];
    // (file, kind, generation, counter, key, sender in the aad, recipient)
    let cases = [
        (
            &hello,
            2u8,
            0u32,
            0u32,
            bytes(&hello["room_key"]),
            zeros.clone(),
            zeros.clone(),
        ),
        (
            &answer,
            3,
            0,
            0,
            bytes(&answer["room_key"]),
            zeros.clone(),
            bytes(&answer["recipient"]),
        ),
        (
            &handout,
            4,
            0,
            handout["pairwise_counter"].as_u64().unwrap() as u32,
            bytes(&handout["message_key"]),
            bytes(&handout["session_key"]),
            bytes(&handout["recipient"]),
        ),
        (
            &message,
            6,
            2,
            7,
            bytes(&message["message_key"]),
            bytes(&message["session_key"]),
            zeros.clone(),
        ),
        (
            &descriptor,
            1,
            0,
            0,
            bytes(&descriptor["room_key"]),
            zeros.clone(),
            zeros.clone(),
        ),
    ];
    for (file, kind, generation, counter, key, sender, recipient) in cases {
        // Item version 5, written out: the document, not the constant, is what this checks.
        let header = [&[5u8, kind][..], &generation.to_be_bytes(), &counter.to_be_bytes()].concat();
        let item = bytes(&file["item"]);
        assert_eq!(item[..10], header[..], "kind {kind}");
        assert_eq!(item[10..34], bytes(&file["aead_nonce"])[..], "kind {kind}");
        let room = bytes(&file["room_id"]);
        let aad = [&b"sanctum v1 item"[..], &header, &room, &sender, &recipient].concat();
        let padded = XChaCha20Poly1305::new_from_slice(&key)
            .unwrap()
            .decrypt(
                XNonce::from_slice(&item[10..34]),
                Payload {
                    msg: &item[34..],
                    aad: &aad,
                },
            )
            .unwrap();
        let len = u32::from_be_bytes(padded[..4].try_into().unwrap()) as usize;
        let bucket = [256, 1024, 4096, 16384, 32768]
            .into_iter()
            .find(|&b| b >= 4 + len)
            .unwrap();
        assert_eq!(padded.len(), bucket, "kind {kind}");
        assert_eq!(item.len(), 10 + 24 + bucket + 16, "kind {kind}");
        assert!(padded[4 + len..].iter().all(|&b| b == 0));
        let inner = &padded[4..4 + len];
        let body = bytes(&file["body"]);
        assert_eq!(inner[..inner.len() - 64], body[..], "kind {kind}");
        let signer = match kind {
            1 => bytes(&file["owner"]),
            2 | 3 => bytes(&file["session_key"]),
            _ => sender.clone(),
        };
        let context = [&b"sanctum v1 signature"[..], &header, &room, &signer, &recipient, &body].concat();
        let signature = ed25519_dalek::Signature::from_slice(&inner[inner.len() - 64..]).unwrap();
        let key = ed25519_dalek::VerifyingKey::from_bytes(&signer.try_into().unwrap()).unwrap();
        key.verify_strict(&context, &signature).unwrap();
    }

    // Fingerprint of the hello's session.
    let digest = Sha256::new()
        .chain_update(b"sanctum v1 fingerprint")
        .chain_update(bytes(&hello["session_key"]))
        .chain_update(bytes(&hello["dh_public"]))
        .finalize();
    let hex = hex::encode(&digest[..10]);
    let groups: Vec<&str> = (0..5).map(|i| &hex[4 * i..4 * i + 4]).collect();
    assert_eq!(
        crate::session::fingerprint(&unhex(&hello["session_key"]), &unhex(&hello["dh_public"])),
        groups.join(" ")
    );
}

#[cfg(feature = "write-vectors")]
#[test]
fn write_vector_files() {
    std::fs::create_dir_all(dir()).unwrap();
    for (name, value) in all() {
        std::fs::write(dir().join(name), serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
    }
}
