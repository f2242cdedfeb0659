//! Vectors for what the first set leaves open: the resume blob, link refusals, attachment, goodbye, kick, purge and
//! confirm bodies, a whole whisper at a pairwise counter above 0, a cause-carrying hand-out, an ownership transfer,
//! every padding bucket, the fingerprint, and Ed25519 signatures that a verifier without the strict checks would
//! accept.
//!
//! Each builder computes its file from fixed inputs; `super::all` lists them, so the file check covers them, and the
//! tests below check the refusals and the layouts by hand.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};

use super::{EXPIRES_AT, LINK_SECRET, ROOM_ID, bytes, h, link, load, party, unhex};
use crate::attachment::{self, CHUNK_LEN};
use crate::chain::ChainKey;
use crate::link::RoomLink;
use crate::message::{Cause, ConfirmBody, Content, HandoutBody, Message};
use crate::padding::{self, BUCKETS};
use crate::resume::decode_resume;
use crate::schedule::{RoomSecrets, Stretched};
use crate::seal::{self, Binding, Header, Kind, NOBODY};
use crate::sign;

/// The characters a link or a resume blob may carry around it: Unicode `White_Space`, which `str::trim` removes.
const WHITE_SPACE: [char; 25] = [
    '\u{9}', '\u{a}', '\u{b}', '\u{c}', '\u{d}', ' ', '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}', '\u{2001}',
    '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}', '\u{2009}', '\u{200a}',
    '\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}',
];
/// The time at which the link and blob vectors are checked: before `EXPIRES_AT`.
const CHECKED_AT_MS: u64 = 1_800_000_000_000;

fn codepoints(chars: &[char]) -> Vec<String> {
    chars.iter().map(|c| format!("U+{:04X}", u32::from(*c))).collect()
}

pub(super) fn link_refusals() -> Value {
    let good = link().to_fragment().to_string();
    let (room, secret) = {
        let mut parts = good.split('.').skip(1);
        (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        )
    };
    let with_expiry = |expiry: &str| format!("v1.{room}.{secret}.{expiry}");
    let malformed = [
        ("expiry 0", with_expiry("0")),
        ("expiry with a leading zero", with_expiry("01900000000")),
        ("expiry with a sign", with_expiry("+1900000000")),
        ("expiry past 253402300800", with_expiry("253402300801")),
        ("expiry of 13 digits", with_expiry("1000000000000")),
        ("empty expiry", with_expiry("")),
        ("room id with padding", format!("v1.{room}==.{secret}.{EXPIRES_AT}")),
        (
            "room id one character short",
            format!("v1.{}.{secret}.{EXPIRES_AT}", &room[1..]),
        ),
        (
            "a character of the standard base64 alphabet",
            format!("v1.+{}.{secret}.{EXPIRES_AT}", &room[1..]),
        ),
        ("a fifth part", format!("{good}.1")),
        ("zero-width space before", format!("\u{200b}{good}")),
        ("whitespace inside", format!("v1. {room}.{secret}.{EXPIRES_AT}")),
        ("version without a number", format!("v.{room}.{secret}.{EXPIRES_AT}")),
        (
            "longer than 256 bytes",
            format!("{good}{}", "A".repeat(257 - good.len())),
        ),
    ];
    let unsupported = [("version 2", format!("v2.{room}.{secret}.{EXPIRES_AT}"))];
    let accepted = [
        ("the fragment", good.clone()),
        ("with its #", format!("#{good}")),
        ("a whole URL", format!("https://example.org/app/#{good}")),
        (
            "every White_Space character around it",
            format!(
                "{}{good}{}",
                String::from_iter(WHITE_SPACE),
                String::from_iter(WHITE_SPACE)
            ),
        ),
    ];
    let case = |(what, text): &(&str, String)| json!({ "case": what, "link": text });
    json!({
        "description": "Links a client must refuse as malformed or unsupported, and forms of the same link it must accept, checked at checked_at_ms.",
        "checked_at_ms": CHECKED_AT_MS,
        "white_space": codepoints(&WHITE_SPACE),
        "accepted": accepted.iter().map(case).collect::<Vec<_>>(),
        "malformed": malformed.iter().map(case).collect::<Vec<_>>(),
        "unsupported": unsupported.iter().map(case).collect::<Vec<_>>(),
        "expired_at_ms": EXPIRES_AT * 1000,
    })
}

fn resume_secrets() -> RoomSecrets {
    RoomSecrets::from_stretched(link(), &Stretched::from_bytes([0x5d; 32]))
}

pub(super) fn resume() -> Value {
    let secrets = resume_secrets();
    let (signing, _, session, _) = party(0xa1);
    let text = crate::resume::encode_resume_with(&secrets, "alice", Some(&signing)).unwrap_or_default();
    let blob = bytes(&Value::String(hex::encode(
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, text.as_bytes()).unwrap_or_default(),
    )));
    let mut version_2 = blob.clone();
    version_2[0] = 2;
    // The key flag follows version, room id, link secret, expiry, room key, channel salt and auth token.
    let mut flag_2 = blob.clone();
    flag_2[1 + 16 + 32 + 8 + 32 + 32 + 32] = 2;
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b);
    let refusals = [
        ("version 2", b64(&version_2), CHECKED_AT_MS),
        ("a key flag of 2", b64(&flag_2), CHECKED_AT_MS),
        ("one byte short", b64(&blob[..blob.len() - 1]), CHECKED_AT_MS),
        ("a trailing byte", b64(&[&blob[..], &[0]].concat()), CHECKED_AT_MS),
        ("padded base64", format!("{}=", *text), CHECKED_AT_MS),
        ("longer than 512 bytes", "A".repeat(513), CHECKED_AT_MS),
        ("at the expiry", text.to_string(), EXPIRES_AT * 1000),
    ];
    json!({
        "description": "The resume blob (version 3) of alice, session a of pairwise.json, in the room of key_schedule.json's link, from a given stretched value, with her signing seed; and blobs a client must refuse.",
        "signing_seed": h(&[0xa1; 32]),
        "session_key": h(&session),
        "room_id": h(&ROOM_ID),
        "link_secret": h(&LINK_SECRET),
        "expires_at": EXPIRES_AT,
        "stretched": h(&[0x5d; 32]),
        "room_key": h(secrets.room_key().expose()),
        "channel_salt": h(secrets.channel_salt().expose()),
        "auth_token": h(secrets.auth_token_secret().expose()),
        "alias": "alice",
        "blob": h(&blob),
        "text": text.as_str(),
        "refused": refusals.iter().map(|(what, text, at)| json!({ "case": what, "text": text, "now_ms": at })).collect::<Vec<_>>(),
    })
}

pub(super) fn bodies() -> Value {
    let bytes_of = |content: Content| {
        Message {
            sent_at: 1_899_999_000_000,
            content,
        }
        .encode()
        .map(|b| h(&b))
        .unwrap_or_default()
    };
    let file: Vec<u8> = (0..(CHUNK_LEN + 100)).map(|i| (i % 251) as u8).collect();
    let id = [0x1d; 16];
    let caption = "**The map**, as promised: é";
    let start = attachment::start_for(id, "map.png", "image/png", &file)
        .ok()
        .map(|mut start| {
            caption.clone_into(&mut start.caption);
            start
        });
    let chunks: Vec<Value> = file
        .chunks(CHUNK_LEN)
        .enumerate()
        .map(|(index, data)| {
            json!({
                "index": index,
                "data_sha256": h(&Sha256::digest(data)),
                "body_sha256": h(&Sha256::digest(Message {
                    sent_at: 1_899_999_000_000,
                    content: Content::AttachmentChunk { id, index: index as u32, data: data.to_vec() },
                }.encode().unwrap_or_default())),
            })
        })
        .collect();
    json!({
        "description": "Message bodies (sent_at 1899999000000): goodbye, kick, purge, and an attachment of bytes i mod 251 for i < 32612, in a start (with a caption), two chunks and the cancel its sender would send to stop it; a confirm body.",
        "sent_at": 1_899_999_000_000u64,
        "goodbye": { "farewell": "see you", "body": bytes_of(Content::Goodbye("see you".into())) },
        "kick": { "session_key": h(&party(0xc1).2), "body": bytes_of(Content::Kick(party(0xc1).2)) },
        "purge": { "body": bytes_of(Content::Purge) },
        "attachment": {
            "id": h(&id),
            "name": "map.png",
            "mime": "image/png",
            "caption": caption,
            "size": file.len(),
            "file_sha256": h(&Sha256::digest(&file)),
            "digest": h(&attachment::digest(&id, &file)),
            "start_body": start.map(|s| bytes_of(Content::AttachmentStart(s))),
            "chunks": chunks,
            "cancel_body": bytes_of(Content::AttachmentCancel { id }),
        },
        "confirm": { "in_reply_to": h(&[0x6a; 32]), "body": h(&ConfirmBody { in_reply_to: [0x6a; 32] }.encode()) },
    })
}

/// Session a's second pairwise item to b (counter 1): a whisper, after the hand-out at counter 0.
pub(super) fn whisper() -> Value {
    let (signing, a_dh, a_session, a_dh_pub) = party(0xa1);
    let (_, _, b_session, b_dh_pub) = party(0xb1);
    let salt = crate::schedule::ChannelSalt::from_bytes(super::CHANNEL_SALT);
    let me = crate::pairwise::PeerKeys {
        session: &a_session,
        dh: &a_dh_pub,
    };
    let peer = crate::pairwise::PeerKeys {
        session: &b_session,
        dh: &b_dh_pub,
    };
    let Ok(mut channel) = crate::pairwise::channel(&salt, &a_dh, me, peer) else {
        return Value::Null;
    };
    let _ = channel.send.next();
    let Ok((counter, key)) = channel.send.next() else {
        return Value::Null;
    };
    let body = Message {
        sent_at: 1_899_999_000_500,
        content: Content::Text("psst".into()),
    }
    .encode()
    .unwrap_or_default();
    let header = Header::new(Kind::Whisper, 0, counter);
    let binding = Binding {
        room_id: &ROOM_ID,
        sender: &a_session,
        recipient: &b_session,
    };
    let nonce = [0x28; 24];
    let item = seal::seal_with_nonce(key.expose(), header, &binding, &body, Some(&signing), &nonce).unwrap_or_default();
    json!({
        "description": "Session a of pairwise.json whispers \"psst\" to b with the second key of a's direction of their channel (counter 1).",
        "room_id": h(&ROOM_ID),
        "signing_seed": h(&[0xa1; 32]),
        "session_key": h(&a_session),
        "recipient": h(&b_session),
        "pairwise_counter": counter,
        "message_key": h(key.expose()),
        "sent_at": 1_899_999_000_500u64,
        "text": "psst",
        "aead_nonce": h(&nonce),
        "header": h(&header.to_bytes()),
        "body": h(&body),
        "item": h(&item),
    })
}

/// A hand-out of a new generation carrying the kick of `bodies.json` as its cause, signed by the kicker.
pub(super) fn handout_with_cause() -> Value {
    let (kicker, _, kicker_key, _) = party(0xa1);
    let kick = Message {
        sent_at: 1_899_999_000_000,
        content: Content::Kick(party(0xc1).2),
    }
    .encode()
    .unwrap_or_default();
    let header = Header::new(Kind::Group, 4, 9).to_bytes();
    let signature = sign::sign(&kicker, &header, &ROOM_ID, &NOBODY, &kick);
    let body = HandoutBody {
        generation: 5,
        counter: 0,
        chain_key: zeroize::Zeroizing::new([0xc6; 32]),
        cause: Some(Cause {
            signer: kicker_key,
            header,
            body: kick.to_vec(),
            signature,
        }),
    }
    .encode()
    .unwrap_or_default();
    json!({
        "description": "A hand-out body of generation 5 whose cause is the kick of bodies.json, sealed by session a of pairwise.json at generation 4, counter 9.",
        "room_id": h(&ROOM_ID),
        "generation": 5,
        "counter": 0,
        "chain_key": h(&[0xc6; 32]),
        "cause": { "signer": h(&kicker_key), "header": h(&header), "message": h(&kick), "signature": h(&signature) },
        "body": h(&body),
    })
}

/// The inner lengths `padding.json` pins: the smallest and the largest that each bucket holds.
fn padding_lengths() -> Vec<(usize, usize)> {
    BUCKETS
        .iter()
        .enumerate()
        .flat_map(|(i, &bucket)| {
            let smallest = if i == 0 { 0 } else { BUCKETS[i - 1] - 4 + 1 };
            [(smallest, bucket), (bucket - 4, bucket)]
        })
        .collect()
}

/// The inner plaintext of `len` bytes that `padding.json` pads: byte `j` is `j mod 256`.
fn padding_inner(len: usize) -> Vec<u8> {
    (0..len).map(|j| (j % 256) as u8).collect()
}

/// The descriptor's owner (session a, as in `descriptor.json`) hands ownership to session b at sequence 1, and an
/// answer's list of transfers carrying it.
pub(super) fn transfer() -> Value {
    let (owner, _, owner_key, _) = party(0xa1);
    let to = party(0xb1).2;
    let message = Message {
        sent_at: 1_899_999_000_000,
        content: Content::Transfer { to, sequence: 1 },
    }
    .encode()
    .unwrap_or_default();
    let header = Header::new(Kind::Group, 0, 3).to_bytes();
    let signature = sign::sign(&owner, &header, &ROOM_ID, &NOBODY, &message);
    let cause = Cause {
        signer: owner_key,
        header,
        body: message.to_vec(),
        signature,
    };
    let mut w = crate::codec::Writer::new();
    w.u8(1);
    let list = cause.write(&mut w).map(|()| w.finish().to_vec()).unwrap_or_default();
    json!({
        "description": "The owner of descriptor.json (session a of pairwise.json) hands ownership to session b at sequence 1, sealed as its group message at generation 0, counter 3; and an answer's transfer list (count, then each transfer in the form of a hand-out's cause) carrying it.",
        "room_id": h(&ROOM_ID),
        "signer": h(&owner_key),
        "new_owner": h(&to),
        "sequence": 1,
        "sent_at": 1_899_999_000_000u64,
        "header": h(&header),
        "message": h(&message),
        "signature": h(&signature),
        "answer_transfers": h(&list),
    })
}

/// Session a of `pairwise.json`, the owner, locks the room: its third pairwise item to b (counter 2) carries the room's
/// new secrets, from the link of `key_schedule.json` with a new link secret and a given stretched value.
pub(super) fn lock() -> Value {
    let (signing, a_dh, a_session, a_dh_pub) = party(0xa1);
    let (_, _, b_session, b_dh_pub) = party(0xb1);
    let salt = crate::schedule::ChannelSalt::from_bytes(super::CHANNEL_SALT);
    let me = crate::pairwise::PeerKeys {
        session: &a_session,
        dh: &a_dh_pub,
    };
    let peer = crate::pairwise::PeerKeys {
        session: &b_session,
        dh: &b_dh_pub,
    };
    let Ok(mut channel) = crate::pairwise::channel(&salt, &a_dh, me, peer) else {
        return Value::Null;
    };
    let _ = channel.send.next();
    let _ = channel.send.next();
    let Ok((counter, key)) = channel.send.next() else {
        return Value::Null;
    };
    let new_link = RoomLink::from_parts(ROOM_ID, crate::link::LinkSecret::from_bytes([0x43; 32]), EXPIRES_AT);
    let secrets = RoomSecrets::from_stretched(new_link.duplicate(), &Stretched::from_bytes([0x5b; 32]));
    let body = crate::message::LockBody {
        link_secret: zeroize::Zeroizing::new([0x43; 32]),
        room_key: zeroize::Zeroizing::new(*secrets.room_key().expose()),
        channel_salt: zeroize::Zeroizing::new(*secrets.channel_salt().expose()),
        auth_token: zeroize::Zeroizing::new(*secrets.auth_token_secret().expose()),
    }
    .encode();
    let header = Header::new(Kind::Lock, 0, counter);
    let binding = Binding {
        room_id: &ROOM_ID,
        sender: &a_session,
        recipient: &b_session,
    };
    let nonce = [0x29; 24];
    let item = seal::seal_with_nonce(key.expose(), header, &binding, &body, Some(&signing), &nonce).unwrap_or_default();
    json!({
        "description": "Session a of pairwise.json, the owner, hands b the room's new secrets in a lock with the third key of a's direction of their channel (counter 2); the new link keeps the room id and expiry of key_schedule.json, and the new secrets come from the given stretched value.",
        "room_id": h(&ROOM_ID),
        "expires_at": EXPIRES_AT,
        "new_link": new_link.to_fragment().as_str(),
        "stretched": h(&[0x5b; 32]),
        "link_secret": h(&[0x43; 32]),
        "room_key": h(secrets.room_key().expose()),
        "channel_salt": h(secrets.channel_salt().expose()),
        "auth_token": h(secrets.auth_token_secret().expose()),
        "verifier": h(&secrets.verifier().0),
        "signing_seed": h(&[0xa1; 32]),
        "session_key": h(&a_session),
        "recipient": h(&b_session),
        "pairwise_counter": counter,
        "message_key": h(key.expose()),
        "aead_nonce": h(&nonce),
        "header": h(&header.to_bytes()),
        "body": h(&body),
        "item": h(&item),
    })
}

/// A session resumed from session a's blob says hello: its hello carries a's signature over its new session key and
/// nonce.
pub(super) fn hello_continuity() -> Value {
    let (previous, _, previous_key, _) = party(0xa1);
    let (signing, _, session, dh_public) = party(0xd1);
    let nonce = [0x5f; 32];
    let statement = [&session[..], &nonce[..]].concat();
    let header = crate::message::continuity_header();
    let signature = sign::sign(&previous, &header, &ROOM_ID, &NOBODY, &statement);
    let body = crate::message::HelloBody {
        announce: crate::message::Announce {
            member: 7,
            session,
            dh: dh_public,
            nonce,
            alias: "alice".into(),
        },
        continuity: Some(crate::message::Continuity {
            previous: previous_key,
            signature,
        }),
    }
    .encode()
    .unwrap_or_default();
    let binding = Binding {
        room_id: &ROOM_ID,
        sender: &NOBODY,
        recipient: &NOBODY,
    };
    let aead_nonce = [0x2a; 24];
    let item = seal::seal_with_nonce(
        &super::ROOM_KEY,
        Header::new(Kind::Hello, 0, 0),
        &binding,
        &body,
        Some(&signing),
        &aead_nonce,
    )
    .unwrap_or_default();
    json!({
        "description": "Alice refreshed: a session (seed d1) resumed from the blob of session a of pairwise.json says hello as member 7, with a's continuity signature over its session key and nonce.",
        "room_id": h(&ROOM_ID),
        "room_key": h(&super::ROOM_KEY),
        "previous_session_key": h(&previous_key),
        "signing_seed": h(&[0xd1; 32]),
        "session_key": h(&session),
        "dh_public": h(&dh_public),
        "session_nonce": h(&nonce),
        "member": 7,
        "alias": "alice",
        "continuity_header": h(&header),
        "continuity_signature": h(&signature),
        "aead_nonce": h(&aead_nonce),
        "body": h(&body),
        "item": h(&item),
    })
}

pub(super) fn padding_buckets() -> Value {
    let cases: Vec<Value> = padding_lengths()
        .into_iter()
        .map(|(len, bucket)| {
            let padded = padding::pad(&padding_inner(len))
                .map(|p| p.to_vec())
                .unwrap_or_default();
            json!({
                "inner_len": len,
                "bucket": bucket,
                "padded_len": padded.len(),
                "padded": h(&padded),
                "padded_sha256": h(&Sha256::digest(&padded)),
            })
        })
        .collect();
    json!({
        "description": "Padding of inner plaintexts of bytes j mod 256, at the smallest and largest inner length of every bucket, in full.",
        "buckets": BUCKETS,
        "cases": cases,
    })
}

pub(super) fn fingerprint() -> Value {
    let (_, _, session, dh) = party(0xa1);
    json!({
        "description": "The fingerprint of session a of pairwise.json.",
        "session_key": h(&session),
        "dh_public": h(&dh),
        "fingerprint": crate::session::fingerprint(&session, &dh),
    })
}

/// A small-order point: the identity, and the point of order 2.
const SMALL_ORDER: [[u8; 32]; 2] = [
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ],
];

/// Encodings a decoder that reduces y modulo p accepts but RFC 8032 §5.1.3 refuses: the identity as y = p + 1 and with
/// the sign bit set (x = -0), and the point of order 4 as y = p (its canonical y is 0).
const NON_CANONICAL: [(&str, &str); 3] = [
    (
        "the identity as y = p + 1",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "the identity with the sign bit set",
        "0100000000000000000000000000000000000000000000000000000000000080",
    ),
    (
        "a point of order 4 as y = p",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
];

/// A point of order 8, to add to an honest key or nonce point.
const ORDER_EIGHT: &str = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a";

/// The group order ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
const ELL: &str = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

/// The honest signer of the cases that need one: session a of `pairwise.json`.
const LAX_SIGNER_SEED: u8 = 0xa1;

fn point(hex_text: &str) -> EdwardsPoint {
    let bytes: [u8; 32] = hex::decode(hex_text).unwrap().try_into().unwrap();
    CompressedEdwardsY(bytes).decompress().unwrap()
}

/// Ed25519's challenge k = SHA-512(R || A || M) mod ℓ over the bytes as given.
fn challenge(r: &[u8], a: &[u8], message: &[u8]) -> Scalar {
    wide(
        &Sha512::new()
            .chain_update(r)
            .chain_update(a)
            .chain_update(message)
            .finalize(),
    )
}

/// A 64-byte hash reduced modulo ℓ.
fn wide(digest: &[u8]) -> Scalar {
    let mut bytes = [0u8; 64];
    bytes.copy_from_slice(digest);
    Scalar::from_bytes_mod_order_wide(&bytes)
}

/// The most permissive verifier these cases are built against: R and A decoded with y reduced modulo p and any sign
/// bit, S reduced modulo ℓ instead of refused, no check of R's or A's order, and the cofactored equation
/// [8][S]B = [8]R + [8][k]A that RFC 8032 §5.1.7 allows. Each case is also accepted by some common verifier that
/// skips one of the checks; `sign::verify` must refuse every one.
fn lax_verify(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let (r_bytes, s_bytes) = signature.split_at(32);
    let (Some(a), Some(r)) = (
        CompressedEdwardsY(*key).decompress(),
        CompressedEdwardsY(r_bytes.try_into().unwrap()).decompress(),
    ) else {
        return false;
    };
    let s = Scalar::from_bytes_mod_order(s_bytes.try_into().unwrap());
    let k = challenge(r_bytes, key, message);
    (EdwardsPoint::mul_base(&s) - a * k - r).mul_by_cofactor().is_identity()
}

/// A signature from the secret scalar `a` of key `key` with nonce point `r_point` (= [r]B + torsion, as bytes
/// `r_bytes`): S = r + k·a, the honest formula over whatever R and A say.
fn sign_with(a: &Scalar, key: &[u8; 32], r: &Scalar, r_bytes: &[u8; 32], message: &[u8]) -> [u8; 64] {
    let s = r + challenge(r_bytes, key, message) * a;
    [&r_bytes[..], s.as_bytes()].concat().try_into().unwrap()
}

/// The first body `any body at all N` whose signed message makes `make` return a signature, for cases that hold only
/// for some challenges.
fn first_body(key: &[u8; 32], make: impl Fn(&[u8]) -> Option<[u8; 64]>) -> Option<(Vec<u8>, [u8; 64])> {
    let header = Header::new(Kind::Hello, 0, 0).to_bytes();
    (0u32..256).find_map(|n| {
        let body = format!("any body at all {n}").into_bytes();
        let signature = make(&signed(&header, key, &body))?;
        Some((body, signature))
    })
}

fn lax_case(case: &str, key: &[u8; 32], found: Option<(Vec<u8>, [u8; 64])>) -> Value {
    let header = Header::new(Kind::Hello, 0, 0).to_bytes();
    let Some((body, signature)) = found else {
        return Value::Null;
    };
    let message = signed(&header, key, &body);
    if !lax_verify(key, &message, &signature) {
        return Value::Null;
    }
    json!({
        "case": case,
        "session_key": h(key),
        "body": h(&body),
        "signed_message": h(&message),
        "signature": h(&signature),
    })
}

pub(super) fn fail_ed25519() -> Value {
    let signing = ed25519_dalek::SigningKey::from_bytes(&[LAX_SIGNER_SEED; 32]);
    let a = signing.to_scalar();
    let honest = signing.verifying_key().to_bytes();
    // Deterministic nonces, so that the file is the same on every run.
    let nonce = |n: u8| wide(&Sha512::digest([b"sanctum vector nonce ".as_slice(), &[n]].concat()));
    let mut cases = Vec::new();

    // A small-order key A, S = 0 and R = -[k]A satisfy [S]B = R + [k]A; R is the identity when [k]A is, and A itself
    // (its own negation, of order 2) otherwise.
    for key in SMALL_ORDER {
        let found = first_body(&key, |message| {
            [SMALL_ORDER[0], key].into_iter().find_map(|r| {
                let signature: [u8; 64] = [&r[..], &[0u8; 32]].concat().try_into().ok()?;
                let lax = VerifyingKey::from_bytes(&key).ok()?;
                lax.verify(message, &Signature::from_bytes(&signature)).ok()?;
                Some(signature)
            })
        });
        cases.push(lax_case("small-order public key, S = 0", &key, found));
    }

    // S + ℓ is the same scalar modulo ℓ: a verifier that checks only S's top three bits (ref10, libsodium without
    // ED25519_COMPAT's opposite) accepts it, and anyone can turn an honest signature into this second one.
    let found = first_body(&honest, |message| {
        let mut signature = ed25519_dalek::Signer::sign(&signing, message).to_bytes();
        let mut carry = 0u16;
        for (byte, ell) in signature[32..].iter_mut().zip(hex::decode(ELL).unwrap()) {
            let sum = u16::from(*byte) + u16::from(ell) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        (signature[63] & 0xe0 == 0).then_some(signature)
    });
    cases.push(lax_case(
        "S not reduced: an honest signature with S + ℓ",
        &honest,
        found,
    ));

    // R = the identity and S = k·a: [S]B - [k]A is the identity, so a verifier that compares R as it was sent with the
    // recomputed one (ed25519-dalek's `verify`) accepts, though R is of small order.
    let identity = SMALL_ORDER[0];
    let found = first_body(&honest, |message| {
        Some(sign_with(&a, &honest, &Scalar::ZERO, &identity, message))
    });
    cases.push(lax_case("small-order R: the identity, S = k·a", &honest, found));

    // The same with R encoded non-canonically: accepted by verifiers that compare decoded points.
    for (what, r) in &NON_CANONICAL[..2] {
        let r: [u8; 32] = hex::decode(r).unwrap().try_into().unwrap();
        let found = first_body(&honest, |message| {
            Some(sign_with(&a, &honest, &Scalar::ZERO, &r, message))
        });
        cases.push(lax_case(&format!("non-canonical R: {what}, S = k·a"), &honest, found));
    }

    // A non-canonical, small-order A with S = 0: R = -[k]A, taken as the identity when 4 divides k.
    for (what, key) in NON_CANONICAL {
        let key: [u8; 32] = hex::decode(key).unwrap().try_into().unwrap();
        let found = first_body(&key, |message| {
            let signature: [u8; 64] = [&identity[..], &[0u8; 32]].concat().try_into().ok()?;
            lax_verify(&key, message, &signature).then_some(signature)
        });
        cases.push(lax_case(
            &format!("non-canonical public key: {what}, S = 0"),
            &key,
            found,
        ));
    }

    // A mixed-order key A = [a]B + T, T of order 8, signing honestly with a: when 8 divides k, [k]T vanishes and even
    // `verify_strict` accepts, since A itself is not of small order.
    let torsion = point(ORDER_EIGHT);
    let mixed = (EdwardsPoint::mul_base(&a) + torsion).compress().to_bytes();
    let found = first_body(&mixed, |message| {
        let r = nonce(1);
        let r_bytes = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let k = challenge(&r_bytes, &mixed, message);
        k.as_bytes()[0]
            .is_multiple_of(8)
            .then(|| sign_with(&a, &mixed, &r, &r_bytes, message))
    });
    cases.push(lax_case(
        "mixed-order public key: [a]B + a point of order 8, k ≡ 0 (mod 8)",
        &mixed,
        found,
    ));

    // A mixed-order R = [r]B + T: only the cofactored equation accepts it.
    let found = first_body(&honest, |message| {
        let r = nonce(2);
        let r_bytes = (EdwardsPoint::mul_base(&r) + torsion).compress().to_bytes();
        Some(sign_with(&a, &honest, &r, &r_bytes, message))
    });
    cases.push(lax_case(
        "mixed-order R: [r]B + a point of order 8, S = r + k·a",
        &honest,
        found,
    ));

    json!({
        "description": "Signatures that a verifier without RFC 8032's strict checks accepts and a client must refuse: small-order and mixed-order keys, small-order, mixed-order and non-canonical R, non-canonical keys, S not reduced.",
        "room_id": h(&ROOM_ID),
        "header": h(&Header::new(Kind::Hello, 0, 0).to_bytes()),
        "recipient": h(&NOBODY),
        "cases": cases,
    })
}

fn signed(header: &[u8], signer: &[u8; 32], body: &[u8]) -> Vec<u8> {
    [crate::label::SIGNATURE, header, &ROOM_ID, signer, &NOBODY, body].concat()
}

#[test]
fn refused_links_are_refused_and_accepted_ones_accepted() {
    let v = load("link_refusals.json");
    let at = v["checked_at_ms"].as_u64().unwrap_or_default();
    let good = link().to_fragment().to_string();
    for case in v["accepted"].as_array().into_iter().flatten() {
        let parsed = RoomLink::parse(case["link"].as_str().unwrap_or_default(), at);
        assert_eq!(
            parsed.map(|l| l.to_fragment().to_string()).ok(),
            Some(good.clone()),
            "{case}"
        );
    }
    for (list, error) in [
        ("malformed", crate::LinkError::Malformed),
        ("unsupported", crate::LinkError::UnsupportedVersion),
    ] {
        for case in v[list].as_array().into_iter().flatten() {
            assert_eq!(
                RoomLink::parse(case["link"].as_str().unwrap_or_default(), at).err(),
                Some(error),
                "{case}"
            );
        }
    }
    let expired = v["expired_at_ms"].as_u64().unwrap_or_default();
    assert_eq!(RoomLink::parse(&good, expired).err(), Some(crate::LinkError::Expired));
    assert!(RoomLink::parse(&good, expired - 1).is_ok());
    // The documented set is exactly Unicode White_Space as Rust's trim knows it.
    for c in (0..=0x10ffff).filter_map(char::from_u32) {
        assert_eq!(c.is_whitespace(), WHITE_SPACE.contains(&c), "{c:?}");
    }
}

#[test]
fn the_resume_blob_matches_its_layout_and_refusals_are_refused() {
    let v = load("resume.json");
    let alias = v["alias"].as_str().unwrap_or_default();
    let by_hand = [
        &[3u8][..],
        &bytes(&v["room_id"]),
        &bytes(&v["link_secret"]),
        &v["expires_at"].as_u64().unwrap_or_default().to_be_bytes(),
        &bytes(&v["room_key"]),
        &bytes(&v["channel_salt"]),
        &bytes(&v["auth_token"]),
        &[1u8],
        &bytes(&v["signing_seed"]),
        &(alias.len() as u16).to_be_bytes(),
        alias.as_bytes(),
    ]
    .concat();
    assert_eq!(by_hand, bytes(&v["blob"]));
    let resumed = crate::resume::decode_resumed(v["text"].as_str().unwrap_or_default(), CHECKED_AT_MS).unwrap();
    assert_eq!(
        resumed.previous.map(|k| h(&k.verifying_key().to_bytes())),
        Some(v["session_key"].clone())
    );
    let (secrets, back) = decode_resume(v["text"].as_str().unwrap_or_default(), CHECKED_AT_MS).unwrap();
    assert_eq!(
        (back.as_str(), h(secrets.channel_salt().expose())),
        (alias, v["channel_salt"].clone())
    );
    for case in v["refused"].as_array().into_iter().flatten() {
        let now = case["now_ms"].as_u64().unwrap_or_default();
        assert!(
            decode_resume(case["text"].as_str().unwrap_or_default(), now).is_err(),
            "{case}"
        );
    }
}

#[test]
fn bodies_match_their_layouts() {
    let v = load("bodies.json");
    let sent_at = v["sent_at"].as_u64().unwrap_or_default().to_be_bytes();
    let farewell = v["goodbye"]["farewell"].as_str().unwrap_or_default();
    let goodbye = [
        &[2u8][..],
        &sent_at,
        &(farewell.len() as u32).to_be_bytes(),
        farewell.as_bytes(),
    ]
    .concat();
    assert_eq!(goodbye, bytes(&v["goodbye"]["body"]));
    assert_eq!(
        [&[3u8][..], &sent_at, &bytes(&v["kick"]["session_key"])].concat(),
        bytes(&v["kick"]["body"])
    );
    assert_eq!([&[4u8][..], &sent_at].concat(), bytes(&v["purge"]["body"]));
    let a = &v["attachment"];
    let file: Vec<u8> = (0..a["size"].as_u64().unwrap_or_default())
        .map(|i| (i % 251) as u8)
        .collect();
    assert_eq!(h(&Sha256::digest(&file)), a["file_sha256"]);
    let id = bytes(&a["id"]);
    let digest = Sha256::new()
        .chain_update(b"sanctum v1 attachment")
        .chain_update(&id)
        .chain_update((file.len() as u64).to_be_bytes())
        .chain_update(&file)
        .finalize();
    assert_eq!(h(&digest), a["digest"]);
    let str16 = |s: &str| [&(s.len() as u16).to_be_bytes()[..], s.as_bytes()].concat();
    let caption = a["caption"].as_str().unwrap_or_default();
    let start = [
        &[5u8][..],
        &sent_at,
        &id,
        &str16(a["name"].as_str().unwrap_or_default()),
        &str16(a["mime"].as_str().unwrap_or_default()),
        &(file.len() as u64).to_be_bytes(),
        &(file.len().div_ceil(32512) as u32).to_be_bytes(),
        &digest,
        &(caption.len() as u32).to_be_bytes(),
        caption.as_bytes(),
    ]
    .concat();
    assert_eq!(start, bytes(&a["start_body"]));
    for (i, chunk) in file.chunks(32512).enumerate() {
        let body = [
            &[6u8][..],
            &sent_at,
            &id,
            &(i as u32).to_be_bytes(),
            &(chunk.len() as u32).to_be_bytes(),
            chunk,
        ]
        .concat();
        assert_eq!(h(&Sha256::digest(&body)), a["chunks"][i]["body_sha256"]);
    }
    assert_eq!([&[8u8][..], &sent_at, &id].concat(), bytes(&a["cancel_body"]));
    assert_eq!(bytes(&v["confirm"]["in_reply_to"]), bytes(&v["confirm"]["body"]));

    let o = load("handout_with_cause.json");
    let cause = &o["cause"];
    let message = bytes(&cause["message"]);
    let body = [
        &(o["generation"].as_u64().unwrap_or_default() as u32).to_be_bytes()[..],
        &(o["counter"].as_u64().unwrap_or_default() as u32).to_be_bytes(),
        &bytes(&o["chain_key"]),
        &[1u8],
        &bytes(&cause["signer"]),
        &bytes(&cause["header"]),
        &(message.len() as u32).to_be_bytes(),
        &message,
        &bytes(&cause["signature"]),
    ]
    .concat();
    assert_eq!(body, bytes(&o["body"]));
    let key = VerifyingKey::from_bytes(&unhex(&cause["signer"])).unwrap();
    let signed_message = [
        &b"sanctum v1 signature"[..],
        &bytes(&cause["header"]),
        &bytes(&o["room_id"]),
        &bytes(&cause["signer"]),
        &[0u8; 32],
        &message,
    ]
    .concat();
    key.verify_strict(&signed_message, &Signature::from_bytes(&unhex(&cause["signature"])))
        .unwrap();

    // The transfer and an answer's list carrying it, by hand; the link checks as a newcomer checks it.
    let t = load("transfer.json");
    let message = [
        &[7u8][..],
        &t["sent_at"].as_u64().unwrap_or_default().to_be_bytes(),
        &bytes(&t["new_owner"]),
        &(t["sequence"].as_u64().unwrap_or_default() as u32).to_be_bytes(),
    ]
    .concat();
    assert_eq!(message, bytes(&t["message"]));
    let list = [
        &[1u8][..],
        &bytes(&t["signer"]),
        &bytes(&t["header"]),
        &(message.len() as u32).to_be_bytes(),
        &message,
        &bytes(&t["signature"]),
    ]
    .concat();
    assert_eq!(list, bytes(&t["answer_transfers"]));
    let signed_message = [
        &b"sanctum v1 signature"[..],
        &bytes(&t["header"]),
        &bytes(&t["room_id"]),
        &bytes(&t["signer"]),
        &[0u8; 32],
        &message,
    ]
    .concat();
    VerifyingKey::from_bytes(&unhex(&t["signer"]))
        .unwrap()
        .verify_strict(&signed_message, &Signature::from_bytes(&unhex(&t["signature"])))
        .unwrap();
    assert_eq!(bytes(&t["signer"]), bytes(&load("descriptor.json")["owner"]));
}

#[test]
fn the_whisper_at_counter_one_opens_with_the_second_key_by_hand() {
    let w = load("whisper.json");
    let p = load("pairwise.json");
    let direction = if p["lo"] == "a" {
        "chain_lo_to_hi"
    } else {
        "chain_hi_to_lo"
    };
    let (_, second) = ChainKey::from_bytes(unhex(&p[direction])).step();
    let (key, _) = second.step();
    assert_eq!(h(key.expose()), w["message_key"]);
    let (sender, recipient) = (unhex::<32>(&w["session_key"]), unhex::<32>(&w["recipient"]));
    let binding = Binding {
        room_id: &unhex(&w["room_id"]),
        sender: &sender,
        recipient: &recipient,
    };
    let opened = seal::open(key.expose(), &bytes(&w["item"]), &binding).unwrap();
    opened.verify(&sender, &binding).unwrap();
    assert_eq!(opened.header, Header::new(Kind::Whisper, 0, 1));
    assert_eq!(opened.body(), &bytes(&w["body"])[..]);
}

#[test]
fn padding_and_fingerprint_match_by_hand() {
    let v = load("padding.json");
    let mut pinned = Vec::new();
    for case in v["cases"].as_array().into_iter().flatten() {
        let len = case["inner_len"].as_u64().unwrap_or_default() as usize;
        let bucket = case["bucket"].as_u64().unwrap_or_default() as usize;
        // By hand: the length as a u32, the inner bytes j mod 256, then zeros up to the bucket.
        let mut by_hand = (len as u32).to_be_bytes().to_vec();
        by_hand.extend((0..len).map(|j| (j % 256) as u8));
        by_hand.resize(bucket, 0);
        let stored = bytes(&case["padded"]);
        assert_eq!(stored.len(), bucket, "{len}");
        assert!(
            stored == by_hand,
            "the stored bytes of inner length {len} differ from the layout"
        );
        let padded = padding::pad(&padding_inner(len)).unwrap();
        assert!(
            stored == padded.as_slice(),
            "the core pads inner length {len} otherwise"
        );
        assert_eq!(h(&Sha256::digest(&stored)), case["padded_sha256"], "{len}");
        assert_eq!(padding::unpad(&stored).map(<[u8]>::len), Ok(len));
        pinned.push((len, bucket));
    }
    // Every bucket is pinned at both of its edges.
    assert_eq!(pinned, padding_lengths());
    let f = load("fingerprint.json");
    let digest = Sha256::new()
        .chain_update(b"sanctum v1 fingerprint")
        .chain_update(bytes(&f["session_key"]))
        .chain_update(bytes(&f["dh_public"]))
        .finalize();
    let by_hand = digest[..10].chunks(2).map(hex::encode).collect::<Vec<_>>().join(" ");
    assert_eq!(by_hand, f["fingerprint"]);
}

#[test]
fn signatures_a_lax_verifier_accepts_are_refused() {
    let v = load("fail_ed25519.json");
    let header = bytes(&v["header"]);
    let mut seen = Vec::new();
    for case in v["cases"].as_array().into_iter().flatten() {
        let key: [u8; 32] = unhex(&case["session_key"]);
        let signature: [u8; 64] = unhex(&case["signature"]);
        let message = bytes(&case["signed_message"]);
        assert_eq!(message, signed(&header, &key, &bytes(&case["body"])));
        // A verifier without the strict checks accepts it...
        assert!(lax_verify(&key, &message, &signature), "{case}");
        // ...and the client's verification refuses it.
        assert!(
            sign::verify(&key, &header, &ROOM_ID, &NOBODY, &bytes(&case["body"]), &signature).is_err(),
            "{case}"
        );
        seen.push(case["case"].as_str().unwrap_or_default().to_owned());
    }
    // Every kind the document lists is there, none of them lost to a search that found nothing.
    for kind in [
        "small-order public key",
        "S not reduced",
        "small-order R",
        "non-canonical R",
        "non-canonical public key",
        "mixed-order public key",
        "mixed-order R",
    ] {
        assert!(seen.iter().any(|case| case.starts_with(kind)), "no case of {kind}");
    }
    assert_eq!(seen.len(), 11);
}

#[test]
fn the_lax_cases_are_what_they_say() {
    let identity = EdwardsPoint::default();
    for (_, encoding) in NON_CANONICAL {
        let bytes: [u8; 32] = hex::decode(encoding).unwrap().try_into().unwrap();
        let p = CompressedEdwardsY(bytes).decompress().unwrap();
        assert_ne!(p.compress().to_bytes(), bytes, "{encoding} is canonical");
        assert!(p.is_small_order());
    }
    let torsion = point(ORDER_EIGHT);
    assert_eq!(torsion.mul_by_cofactor(), identity);
    assert_ne!(torsion * Scalar::from(4u8), identity);
    let ell = Scalar::from_bytes_mod_order(hex::decode(ELL).unwrap().try_into().unwrap());
    assert_eq!(ell, Scalar::ZERO);
    // ed25519-dalek's own lax `verify` takes the small-order R and the mixed-order key, and even `verify_strict`
    // takes the mixed-order key: the client's checks on the key are its own.
    let v = load("fail_ed25519.json");
    for case in v["cases"].as_array().into_iter().flatten() {
        let name = case["case"].as_str().unwrap_or_default();
        let key = VerifyingKey::from_bytes(&unhex(&case["session_key"])).unwrap();
        let message = bytes(&case["signed_message"]);
        let signature = Signature::from_bytes(&unhex(&case["signature"]));
        if name.starts_with("small-order R") {
            assert!(key.verify(&message, &signature).is_ok(), "{name}");
        }
        if name.starts_with("mixed-order public key") {
            assert!(key.verify_strict(&message, &signature).is_ok(), "{name}");
        }
    }
}

#[test]
fn the_lock_opens_with_the_third_key_and_its_body_matches_the_layout() {
    let v = load("lock.json");
    let body = [
        bytes(&v["link_secret"]),
        bytes(&v["room_key"]),
        bytes(&v["channel_salt"]),
        bytes(&v["auth_token"]),
    ]
    .concat();
    assert_eq!(body, bytes(&v["body"]));
    assert_eq!(h(&Sha256::digest(bytes(&v["auth_token"]))), v["verifier"]);
    let p = load("pairwise.json");
    let direction = if p["lo"] == "a" {
        "chain_lo_to_hi"
    } else {
        "chain_hi_to_lo"
    };
    let (_, next) = ChainKey::from_bytes(unhex(&p[direction])).step();
    let (_, next) = next.step();
    let (third, _) = next.step();
    assert_eq!(h(third.expose()), v["message_key"]);
    let (sender, recipient): ([u8; 32], [u8; 32]) = (unhex(&v["session_key"]), unhex(&v["recipient"]));
    let binding = Binding {
        room_id: &unhex(&v["room_id"]),
        sender: &sender,
        recipient: &recipient,
    };
    let opened = seal::open(third.expose(), &bytes(&v["item"]), &binding).unwrap();
    opened.verify(&sender, &binding).unwrap();
    assert_eq!(opened.header, Header::new(Kind::Lock, 0, 2));
    assert_eq!(opened.body(), &body[..]);
    let link = RoomLink::parse(v["new_link"].as_str().unwrap_or_default(), CHECKED_AT_MS).unwrap();
    assert_eq!(link.secret().expose(), &unhex::<32>(&v["link_secret"]));
    assert_eq!(link.expires_at(), v["expires_at"].as_u64().unwrap_or_default());
}

#[test]
fn the_continuity_hello_matches_its_layout_and_its_claim_verifies() {
    let v = load("hello_continuity.json");
    let alias = v["alias"].as_str().unwrap_or_default();
    let body = [
        &(v["member"].as_u64().unwrap_or_default() as u32).to_be_bytes()[..],
        &bytes(&v["session_key"]),
        &bytes(&v["dh_public"]),
        &bytes(&v["session_nonce"]),
        &(alias.len() as u16).to_be_bytes(),
        alias.as_bytes(),
        &[1u8],
        &bytes(&v["previous_session_key"]),
        &bytes(&v["continuity_signature"]),
    ]
    .concat();
    assert_eq!(body, bytes(&v["body"]));
    assert_eq!(bytes(&v["continuity_header"]), [5u8, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
    let signed_message = [
        &b"sanctum v1 signature"[..],
        &bytes(&v["continuity_header"]),
        &bytes(&v["room_id"]),
        &bytes(&v["previous_session_key"]),
        &[0u8; 32],
        &bytes(&v["session_key"]),
        &bytes(&v["session_nonce"]),
    ]
    .concat();
    VerifyingKey::from_bytes(&unhex(&v["previous_session_key"]))
        .unwrap()
        .verify_strict(
            &signed_message,
            &Signature::from_bytes(&unhex(&v["continuity_signature"])),
        )
        .unwrap();
    let binding = Binding {
        room_id: &unhex(&v["room_id"]),
        sender: &NOBODY,
        recipient: &NOBODY,
    };
    let opened = seal::open(&unhex(&v["room_key"]), &bytes(&v["item"]), &binding).unwrap();
    opened.verify(&unhex(&v["session_key"]), &binding).unwrap();
    assert_eq!(opened.body(), &body[..]);
}
