//! Fuzzes a client's receive path end to end: a session that joined a room takes any sequence of relay frames,
//! genuine ones recorded from a real exchange (hellos, answers, hand-outs, messages, a whisper, an attachment,
//! a goodbye) as well as replayed, reordered, re-attributed, tampered and invented ones, together with its own
//! actions and the passing of time.
//!
//! Beyond never panicking, the session must never show a message or an attachment under any sender but the one
//! that signed it, and never show content that the genuine exchange did not hold.

#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use sanctum_client::rand_core::{CryptoRng, RngCore};
use sanctum_client::{Event, RESUME_VERSION, RoomSecrets, Session, decode_resume};
use sanctum_protocol::{ClientFrame, ErrorCode, LeftReason, MemberId, Payload, PurgeReason, RelayFrame};

/// The clock every session starts from, in milliseconds since the Unix epoch.
const NOW_MS: u64 = 1_700_000_000_000;
/// The room's expiry, one hour later, in seconds.
const EXPIRES_AT: u64 = NOW_MS / 1000 + 3600;
/// What the genuine sender says; nothing else may ever be shown.
const TEXTS: [&str; 3] = ["hello bob", "psst, only you", ""];
const ATTACHMENT: &[u8] = b"an attachment of a few bytes";

/// A deterministic generator, so that the session under test has the same keys as the one the exchange addressed.
struct Counter(u64);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn next_u64(&mut self) -> u64 {
        // SplitMix64: not secure, and it need not be: the fuzz target must be reproducible.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), sanctum_client::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Counter {}

/// The room's secrets, written as a resume blob by hand so that no Argon2 run is needed.
fn secrets() -> RoomSecrets {
    let mut blob = vec![RESUME_VERSION];
    blob.extend_from_slice(&[1u8; 16]);
    blob.extend_from_slice(&[2u8; 32]);
    blob.extend_from_slice(&EXPIRES_AT.to_be_bytes());
    blob.extend_from_slice(&[3u8; 32]);
    blob.extend_from_slice(&[4u8; 32]);
    blob.extend_from_slice(&3u16.to_be_bytes());
    blob.extend_from_slice(b"bob");
    decode_resume(&URL_SAFE_NO_PAD.encode(&blob), NOW_MS)
        .expect("the hand-written blob decodes")
        .0
}

/// Bob's session as it stands right after sending its join, identical on every call.
fn bob() -> Session {
    let mut bob = Session::new(&secrets(), "bob", Counter(2)).expect("bob starts");
    bob.join_frame(NOW_MS).expect("bob joins");
    bob
}

/// Every frame the relay delivered to Bob during a genuine exchange with Alice, in order, starting with `joined`.
fn genuine() -> &'static [RelayFrame] {
    static FRAMES: OnceLock<Vec<RelayFrame>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let secrets = secrets();
        let mut alice = Session::new(&secrets, "alice", Counter(1)).expect("alice starts");
        let ClientFrame::Create { descriptor, .. } = alice.create_frame("fuzz room", NOW_MS).expect("create") else {
            panic!("create_frame made another frame");
        };
        alice.handle(
            RelayFrame::Created {
                member: 1,
                expires_at: EXPIRES_AT,
                expires_in: 3600,
            },
            NOW_MS,
        );
        let mut bob = bob();
        let joined = RelayFrame::Joined {
            member: 2,
            members: vec![1],
            expires_at: EXPIRES_AT,
            expires_in: 3600,
            descriptor,
        };
        let mut to_bob = vec![joined.clone()];
        bob.handle(joined, NOW_MS);
        alice.handle(RelayFrame::MemberJoined { member: 2 }, NOW_MS);
        let mut shown = route(&mut alice, &mut bob, &mut to_bob);
        alice.send_text(TEXTS[0], NOW_MS).expect("text");
        shown.extend(route(&mut alice, &mut bob, &mut to_bob));
        alice.whisper(2, TEXTS[1], NOW_MS).expect("whisper");
        shown.extend(route(&mut alice, &mut bob, &mut to_bob));
        alice
            .send_attachment("a.txt", "text/plain", ATTACHMENT, NOW_MS)
            .expect("attachment");
        shown.extend(route(&mut alice, &mut bob, &mut to_bob));
        bob.send_text("hi alice", NOW_MS).expect("bob's text");
        shown.extend(route(&mut alice, &mut bob, &mut to_bob));
        alice.leave(TEXTS[2], NOW_MS).expect("leave");
        shown.extend(route(&mut alice, &mut bob, &mut to_bob));
        // The genuine exchange must reach every decoder behind a successful open, or the target would test little.
        let messages = shown.iter().filter(|e| matches!(e, Event::Message { .. })).count();
        let attachments = shown.iter().filter(|e| matches!(e, Event::Attachment { .. })).count();
        assert_eq!(
            (messages, attachments),
            (2, 1),
            "the genuine exchange did not show everything: {shown:?}"
        );
        assert!(
            shown.iter().any(|e| matches!(e, Event::MemberLeft { member: 1, .. })),
            "no goodbye: {shown:?}"
        );
        to_bob.push(RelayFrame::MemberLeft {
            member: 1,
            reason: LeftReason::Left,
        });
        to_bob
    })
}

/// Delivers what Alice (member 1) and Bob (member 2) send to each other until both are quiet, recording Bob's side.
fn route(alice: &mut Session, bob: &mut Session, to_bob: &mut Vec<RelayFrame>) -> Vec<Event> {
    let mut shown = Vec::new();
    loop {
        let from_alice = alice.take_outgoing();
        let from_bob = bob.take_outgoing();
        if from_alice.is_empty() && from_bob.is_empty() {
            return shown;
        }
        for frame in from_alice {
            if let Some(frame) = relayed(1, frame) {
                to_bob.push(frame.clone());
                shown.extend(bob.handle(frame, NOW_MS));
            }
        }
        for frame in from_bob {
            if let Some(frame) = relayed(2, frame) {
                alice.handle(frame, NOW_MS);
            }
        }
    }
}

/// What the relay makes of a client's broadcast or direct frame.
fn relayed(from: MemberId, frame: ClientFrame) -> Option<RelayFrame> {
    match frame {
        ClientFrame::Broadcast { payload } => Some(RelayFrame::Frame {
            from,
            direct: false,
            payload,
        }),
        ClientFrame::Direct { payload, .. } => Some(RelayFrame::Frame {
            from,
            direct: true,
            payload,
        }),
        _ => None,
    }
}

/// A genuine frame with its payload changed by `change`, or the frame unchanged if it carries none.
fn with_payload(frame: &RelayFrame, change: impl FnOnce(&mut Vec<u8>)) -> RelayFrame {
    match frame {
        RelayFrame::Frame { from, direct, payload } => {
            let mut bytes = payload.as_bytes().to_vec();
            change(&mut bytes);
            RelayFrame::Frame {
                from: *from,
                direct: *direct,
                payload: Payload::new(bytes).unwrap_or_default(),
            }
        }
        other => other.clone(),
    }
}

fuzz_target!(|ops: &[u8]| {
    let frames = genuine();
    let mut bob = bob();
    let mut now = NOW_MS;
    for op in ops.chunks(4) {
        let [kind, x, y, z] = [0, 1, 2, 3].map(|i| op.get(i).copied().unwrap_or(0));
        let genuine = &frames[usize::from(x) % frames.len()];
        let frame = match kind % 12 {
            0..=2 => genuine.clone(),
            3 => match genuine {
                RelayFrame::Frame { direct, payload, .. } => RelayFrame::Frame {
                    from: u32::from(y % 5),
                    direct: *direct,
                    payload: payload.clone(),
                },
                other => other.clone(),
            },
            4 => match genuine {
                RelayFrame::Frame { from, direct, payload } => RelayFrame::Frame {
                    from: *from,
                    direct: !direct,
                    payload: payload.clone(),
                },
                other => other.clone(),
            },
            5 => with_payload(genuine, |bytes| {
                if !bytes.is_empty() {
                    let at = (usize::from(y) << 8 | usize::from(z)) % bytes.len();
                    bytes[at] ^= 1 << (z % 8);
                }
            }),
            6 => with_payload(genuine, |bytes| {
                bytes.truncate((usize::from(y) << 8 | usize::from(z)) % (bytes.len() + 1))
            }),
            7 => RelayFrame::MemberLeft {
                member: u32::from(y % 5),
                reason: [LeftReason::Left, LeftReason::Kicked, LeftReason::Dropped][usize::from(z % 3)],
            },
            8 => RelayFrame::MemberJoined {
                member: u32::from(y % 5),
            },
            9 => match y % 5 {
                0 => RelayFrame::Kicked { by: u32::from(z % 5) },
                1 => RelayFrame::Purged {
                    reason: if z % 2 == 0 {
                        PurgeReason::Purged
                    } else {
                        PurgeReason::Expired
                    },
                },
                2 => RelayFrame::Expiring { seconds: u32::from(z) },
                3 => RelayFrame::Error {
                    code: ErrorCode::ALL[usize::from(z) % ErrorCode::ALL.len()],
                    message: String::new(),
                },
                _ => RelayFrame::Frame {
                    from: u32::from(z % 5),
                    direct: z % 2 == 0,
                    payload: Payload::new(op.repeat(usize::from(y))).unwrap_or_default(),
                },
            },
            10 => {
                now += u64::from(y) * u64::from(z) * 1000;
                check(&bob.tick(now));
                continue;
            }
            _ => {
                let member = u32::from(z % 4);
                let _ = match y % 5 {
                    0 => bob.send_text("from bob", now).map(|()| Vec::new()),
                    1 => bob.whisper(member, "whisper from bob", now).map(|()| Vec::new()),
                    2 => bob.kick(member, now),
                    3 => bob.purge(now),
                    _ => bob.leave("bye", now),
                };
                let _ = bob.take_outgoing();
                continue;
            }
        };
        check(&bob.handle(frame, now));
        let _ = bob.take_outgoing();
    }
});

/// Bob may show only what Alice, member 1, really sent.
fn check(events: &[Event]) {
    for event in events {
        match event {
            Event::Message { from, text, .. } => {
                assert_eq!(*from, 1, "a message shown under member {from}");
                assert!(TEXTS.contains(&text.as_str()), "a message Alice never sent: {text:?}");
            }
            Event::Attachment { from, bytes, .. } => {
                assert_eq!(*from, 1, "an attachment shown under member {from}");
                assert_eq!(bytes, ATTACHMENT, "an attachment Alice never sent");
            }
            _ => {}
        }
    }
}
