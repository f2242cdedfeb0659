//! Scenario tests of sessions talking through an in-memory relay that the tests can make misbehave.

use std::collections::VecDeque;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sanctum_protocol::{ClientFrame, LeftReason, MemberId, Payload, PurgeReason, RelayFrame};
use sha2::{Digest, Sha256};

use super::*;
use crate::attachment::CHUNK_LEN;
use crate::chain::MAX_SKIP;
use crate::schedule::tests::fixed_secrets;
use crate::seal::{self, Binding, Header, Kind, NOBODY};

const NOW: u64 = 1_800_000_000_000;

/// One frame the fake relay delivered, kept so that tests can replay, reflect or inspect it.
#[derive(Clone)]
struct Delivered {
    to: usize,
    frame: RelayFrame,
}

/// Decides which frames a misbehaving relay withholds.
type DropFilter = Box<dyn Fn(&Delivered) -> bool>;

/// A tiny relay in memory: routes frames between sessions in order, and records everything it forwards.
struct Room {
    secrets: RoomSecrets,
    clients: Vec<Session>,
    ids: Vec<Option<MemberId>>,
    events: Vec<Vec<Event>>,
    next_id: MemberId,
    descriptor: Option<sanctum_protocol::Descriptor>,
    verifier: Option<sanctum_protocol::Verifier>,
    queue: VecDeque<Delivered>,
    log: Vec<Delivered>,
    /// Client frames as sent, for checks on what the relay saw.
    sent: Vec<ClientFrame>,
    ignore_purge: bool,
    ignore_kick: bool,
    /// A filter the test sets to drop frames on their way to a client.
    drop: Option<DropFilter>,
}

impl Room {
    fn new() -> Self {
        Self {
            secrets: fixed_secrets(1),
            clients: Vec::new(),
            ids: Vec::new(),
            events: Vec::new(),
            next_id: 1,
            descriptor: None,
            verifier: None,
            queue: VecDeque::new(),
            log: Vec::new(),
            sent: Vec::new(),
            ignore_purge: false,
            ignore_kick: false,
            drop: None,
        }
    }

    fn add(&mut self, alias: &str, seed: u64) -> usize {
        let session = Session::new(&self.secrets, alias, ChaCha20Rng::seed_from_u64(seed)).unwrap();
        self.clients.push(session);
        self.ids.push(None);
        self.events.push(Vec::new());
        self.clients.len() - 1
    }

    /// Creates the room with a first member.
    fn create(alias: &str) -> (Self, usize) {
        let mut room = Self::new();
        let a = room.add(alias, 100);
        let frame = room.clients[a].create_frame("book club", NOW).unwrap();
        room.client_frame(a, frame);
        room.run();
        (room, a)
    }

    fn join(&mut self, alias: &str, seed: u64) -> usize {
        let c = self.add(alias, seed);
        let frame = self.clients[c].join_frame(NOW).unwrap();
        self.client_frame(c, frame);
        self.run();
        c
    }

    fn member(&self, client: usize) -> MemberId {
        self.ids[client].unwrap()
    }

    fn client_of(&self, member: MemberId) -> Option<usize> {
        self.ids.iter().position(|id| *id == Some(member))
    }

    fn present(&self) -> Vec<usize> {
        (0..self.clients.len()).filter(|&c| self.ids[c].is_some()).collect()
    }

    fn deliver(&mut self, to: usize, frame: RelayFrame) {
        self.queue.push_back(Delivered { to, frame });
    }

    fn remove(&mut self, client: usize, reason: LeftReason) {
        let member = self.member(client);
        self.ids[client] = None;
        for other in self.present() {
            self.deliver(other, RelayFrame::MemberLeft { member, reason });
        }
    }

    fn client_frame(&mut self, from: usize, frame: ClientFrame) {
        self.sent.push(frame.clone());
        match frame {
            ClientFrame::Create {
                verifier,
                descriptor,
                lifetime,
                ..
            } => {
                self.verifier = Some(verifier);
                self.descriptor = Some(descriptor);
                let member = self.next_id;
                self.next_id += 1;
                self.ids[from] = Some(member);
                let expires_at = NOW / 1000 + u64::from(lifetime);
                self.deliver(
                    from,
                    RelayFrame::Created {
                        member,
                        expires_at,
                        expires_in: lifetime,
                    },
                );
            }
            ClientFrame::Join { token, .. } => {
                assert_eq!(
                    Some(sanctum_protocol::Verifier(Sha256::digest(token.0).into())),
                    self.verifier
                );
                let member = self.next_id;
                self.next_id += 1;
                let members = self.present().iter().map(|&c| self.member(c)).collect();
                for other in self.present() {
                    self.deliver(other, RelayFrame::MemberJoined { member });
                }
                self.ids[from] = Some(member);
                let descriptor = self.descriptor.clone().unwrap();
                self.deliver(
                    from,
                    RelayFrame::Joined {
                        member,
                        members,
                        expires_at: u64::MAX,
                        expires_in: 3600,
                        descriptor,
                    },
                );
            }
            ClientFrame::Broadcast { payload } => {
                let Some(sender) = self.ids[from] else { return };
                for other in self.present() {
                    if other != from {
                        self.deliver(
                            other,
                            RelayFrame::Frame {
                                from: sender,
                                direct: false,
                                payload: payload.clone(),
                            },
                        );
                    }
                }
            }
            ClientFrame::Direct { to, payload } => {
                let Some(sender) = self.ids[from] else { return };
                if let Some(target) = self.client_of(to) {
                    self.deliver(
                        target,
                        RelayFrame::Frame {
                            from: sender,
                            direct: true,
                            payload,
                        },
                    );
                }
            }
            ClientFrame::Kick { member } => {
                if self.ignore_kick {
                    return;
                }
                let by = self.member(from);
                if let Some(target) = self.client_of(member) {
                    self.deliver(target, RelayFrame::Kicked { by });
                    self.remove(target, LeftReason::Kicked);
                }
            }
            ClientFrame::Purge => {
                if self.ignore_purge {
                    return;
                }
                for other in self.present() {
                    self.deliver(
                        other,
                        RelayFrame::Purged {
                            reason: PurgeReason::Purged,
                        },
                    );
                    self.ids[other] = None;
                }
            }
            ClientFrame::Leave => {
                if self.ids[from].is_some() {
                    self.remove(from, LeftReason::Left);
                }
            }
        }
    }

    /// Delivers frames until every session is quiet.
    fn run(&mut self) {
        for c in 0..self.clients.len() {
            self.pump(c);
        }
        while let Some(delivered) = self.queue.pop_front() {
            if self.drop.as_ref().is_some_and(|drop| drop(&delivered)) {
                continue;
            }
            self.log.push(delivered.clone());
            let events = self.clients[delivered.to].handle(delivered.frame, NOW);
            self.events[delivered.to].extend(events);
            self.pump(delivered.to);
        }
    }

    fn pump(&mut self, c: usize) {
        for frame in self.clients[c].take_outgoing() {
            self.client_frame(c, frame);
        }
    }

    /// Hands one frame straight to a session, as a misbehaving relay would, and returns the events.
    fn inject(&mut self, to: usize, frame: RelayFrame) -> Vec<Event> {
        let events = self.clients[to].handle(frame, NOW);
        self.pump(to);
        self.run();
        events
    }

    /// Hands one relayed item straight to a session, as a misbehaving relay would.
    fn inject_item(&mut self, to: usize, from: MemberId, direct: bool, payload: Payload) -> Vec<Event> {
        self.inject(to, RelayFrame::Frame { from, direct, payload })
    }

    fn texts(&self, c: usize) -> Vec<(String, bool)> {
        self.events[c]
            .iter()
            .filter_map(|e| match e {
                Event::Message { text, whisper, .. } => Some((text.clone(), *whisper)),
                _ => None,
            })
            .collect()
    }

    fn payloads_from(&self, member: MemberId, kind: Kind, direct: bool) -> Vec<(usize, Payload)> {
        self.log
            .iter()
            .filter_map(|d| match &d.frame {
                RelayFrame::Frame {
                    from,
                    direct: dir,
                    payload,
                } if *from == member
                    && *dir == direct
                    && Header::parse(payload.as_bytes()).is_ok_and(|h| h.kind == kind) =>
                {
                    Some((d.to, payload.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn send(&mut self, c: usize, text: &str) {
        self.clients[c].send_text(text, NOW).unwrap();
        self.run();
    }
}

fn three() -> (Room, usize, usize, usize) {
    let (mut room, a) = Room::create("alice");
    let b = room.join("bob", 200);
    let c = room.join("carol", 300);
    (room, a, b, c)
}

fn could_not_verify(events: &[Event]) -> bool {
    events.iter().any(|e| matches!(e, Event::CouldNotVerify { .. }))
}

#[test]
fn three_members_chat_and_whisper() {
    let (mut room, a, b, c) = three();
    for (x, others) in [(a, [b, c]), (b, [a, c]), (c, [a, b])] {
        let members = room.clients[x].members();
        assert_eq!(members.len(), 2, "{x}");
        for o in others {
            let info = members.iter().find(|m| m.member == room.member(o)).unwrap();
            assert_eq!(info.alias, room.clients[o].alias());
            assert_eq!(info.fingerprint, room.clients[o].fingerprint());
            assert!(!info.duplicate_alias);
        }
    }
    assert!(matches!(&room.events[b][0], Event::Joined { room_name, .. } if room_name == "book club"));
    room.send(a, "hello from alice");
    room.send(c, "hello from carol");
    assert_eq!(
        room.texts(b),
        vec![("hello from alice".into(), false), ("hello from carol".into(), false)]
    );
    assert_eq!(room.texts(c), vec![("hello from alice".into(), false)]);
    let to_c = room.member(c);
    room.clients[b].whisper(to_c, "psst carol", NOW).unwrap();
    room.run();
    assert_eq!(room.texts(c).last(), Some(&("psst carol".to_string(), true)));
    assert!(!room.texts(a).iter().any(|(t, _)| t == "psst carol"));
    for c in 0..3 {
        assert!(!could_not_verify(&room.events[c]), "{c}: {:?}", room.events[c]);
    }
}

#[test]
fn attachments_reassemble_and_are_checked() {
    let (mut room, a, b, _) = three();
    let bytes: Vec<u8> = (0..(2 * CHUNK_LEN + 1234)).map(|i| (i % 251) as u8).collect();
    room.clients[a]
        .send_attachment("cat.png", "image/png", &bytes, NOW)
        .unwrap();
    room.run();
    let got = room.events[b].iter().find_map(|e| match e {
        Event::Attachment { name, mime, bytes, .. } => Some((name.clone(), mime.clone(), bytes.clone())),
        _ => None,
    });
    assert_eq!(got, Some(("cat.png".into(), "image/png".into(), bytes)));
    assert_eq!(
        room.clients[a].send_attachment("x", "y", &[], NOW),
        Err(SessionError::Attachment(AttachmentError::BadSize))
    );
}

fn attachments_of(events: &[Event]) -> Vec<(String, Vec<u8>, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Attachment {
                name, bytes, whisper, ..
            } => Some((name.clone(), bytes.clone(), *whisper)),
            _ => None,
        })
        .collect()
}

#[test]
fn texts_sent_between_chunks_arrive_first_and_the_attachment_still_reassembles() {
    let (mut room, a, b, _) = three();
    let bytes: Vec<u8> = (0..(3 * CHUNK_LEN)).map(|i| (i % 241) as u8).collect();
    let mut upload = room.clients[a]
        .start_attachment(None, "map.bin", "application/octet-stream", &bytes, NOW)
        .unwrap();
    assert_eq!((upload.chunks(), upload.sent()), (3, 0));
    assert!(room.clients[a].send_chunk(&mut upload, NOW).unwrap());
    room.send(a, "between chunks");
    assert_eq!(room.texts(b), vec![("between chunks".into(), false)]);
    assert!(attachments_of(&room.events[b]).is_empty());
    while room.clients[a].send_chunk(&mut upload, NOW).unwrap() {}
    assert!(upload.is_done());
    assert!(!room.clients[a].send_chunk(&mut upload, NOW).unwrap());
    room.run();
    assert_eq!(attachments_of(&room.events[b]), vec![("map.bin".into(), bytes, false)]);
    assert!(!could_not_verify(&room.events[b]), "{:?}", room.events[b]);
}

#[test]
fn a_whispered_attachment_reaches_only_its_recipient() {
    let (mut room, a, b, c) = three();
    let bytes: Vec<u8> = (0..(CHUNK_LEN + 99)).map(|i| (i % 239) as u8).collect();
    let to_b = room.member(b);
    let mut upload = room.clients[a]
        .start_attachment(Some(to_b), "note.txt", "text/plain", &bytes, NOW)
        .unwrap();
    while room.clients[a].send_chunk(&mut upload, NOW).unwrap() {}
    room.run();
    assert_eq!(attachments_of(&room.events[b]), vec![("note.txt".into(), bytes, true)]);
    assert!(attachments_of(&room.events[c]).is_empty());
    // Every item of it went to bob alone, over the pairwise channel.
    let member_a = room.member(a);
    assert!(room.payloads_from(member_a, Kind::Whisper, true).len() >= 3);
    assert!(room.payloads_from(member_a, Kind::Group, false).is_empty());
    for x in [b, c] {
        assert!(!could_not_verify(&room.events[x]), "{x}: {:?}", room.events[x]);
    }
    assert_eq!(
        room.clients[a]
            .start_attachment(Some(MemberId::MAX), "x", "y", b"z", NOW)
            .err(),
        Some(SessionError::UnknownMember)
    );
}

#[test]
fn a_chunk_that_comes_another_way_than_its_start_is_rejected() {
    let (mut room, a, b, _) = three();
    let bytes: Vec<u8> = (0..(2 * CHUNK_LEN)).map(|i| (i % 233) as u8).collect();
    let mut upload = room.clients[a]
        .start_attachment(None, "room.bin", "application/octet-stream", &bytes, NOW)
        .unwrap();
    room.run();
    // The sender whispers a chunk of the same attachment id to bob: he got its start in the room, so it is forged.
    let to_b = room.member(b);
    let mut sneaky = Upload::new(
        &attachment::start_for(upload.id, "room.bin", "application/octet-stream", &bytes).unwrap(),
        Some(to_b),
        &bytes,
        NOW,
    );
    room.clients[a].send_chunk(&mut sneaky, NOW).unwrap();
    room.run();
    assert!(could_not_verify(&room.events[b]));
    while room.clients[a].send_chunk(&mut upload, NOW).unwrap() {}
    room.run();
    assert!(attachments_of(&room.events[b]).is_empty());
}

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
fn clients_leave_on_a_signed_purge_the_relay_ignored() {
    let (mut room, a, b, c) = three();
    room.ignore_purge = true;
    let events = room.clients[a].purge(NOW).unwrap();
    assert!(matches!(
        events[..],
        [Event::Ended {
            reason: EndReason::Purged { .. }
        }]
    ));
    let member_a = room.member(a);
    room.run();
    for x in [b, c] {
        assert!(
            room.events[x].contains(&Event::Ended {
                reason: EndReason::Purged { by: Some(member_a) }
            }),
            "{:?}",
            room.events[x]
        );
        assert!(room.clients[x].is_ended() && room.clients[x].members().is_empty());
        assert_eq!(room.clients[x].send_text("still here?", NOW), Err(SessionError::Ended));
    }
    // Both left the relay of their own accord.
    assert!(room.ids.iter().all(Option::is_none));
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
    let (mut room, a) = Room::create("alice");
    let b = room.join("bob", 200);
    let member_b = room.member(b);
    let (_, hello_b) = room.payloads_from(member_b, Kind::Hello, false).pop().unwrap();
    room.clients[b].leave("", NOW).unwrap();
    room.run();
    let c = room.join("carol", 300);
    assert_eq!(room.clients[c].members().len(), 1);
    // The relay shows the departed session's hello to the newcomer, under its old id and under a fresh one.
    let shown = room.inject_item(c, member_b, false, hello_b.clone());
    assert_eq!(shown, vec![Event::CouldNotVerify { from: member_b }]);
    let renamed = room.inject_item(c, 99, false, hello_b.clone());
    assert_eq!(renamed, vec![Event::CouldNotVerify { from: 99 }]);
    // Alice listed bob among the departed in her answer, so carol refuses bob's key whatever id the hello carries.
    assert!(room.clients[c].seen.contains(&room.clients[a].departed[0]));
    assert_eq!(room.clients[c].members().len(), 1);
}

/// An answer to `to`'s hello, sealed under the room key and signed with `signing`, as a member holding the room key
/// could build it whatever session it claims.
fn forged_answer(
    room: &Room,
    to: usize,
    member: MemberId,
    signing: &SigningKey,
    dh: [u8; 32],
    departed: Vec<SessionKey>,
) -> Payload {
    let newcomer = &room.clients[to];
    let body = AnswerBody {
        announce: Announce {
            member,
            session: signing.verifying_key().to_bytes(),
            dh,
            nonce: [9; 32],
            alias: "bob".into(),
        },
        in_reply_to: newcomer.nonce,
        departed,
    }
    .encode()
    .unwrap();
    let binding = Binding {
        room_id: room.secrets.link().room_id_bytes(),
        sender: &NOBODY,
        recipient: &newcomer.session_key,
    };
    let mut rng = ChaCha20Rng::seed_from_u64(member.into());
    let item = seal::seal(
        room.secrets.room_key().expose(),
        Header::new(Kind::Answer, 0, 0),
        &binding,
        &body,
        Some(signing),
        &mut rng,
    )
    .unwrap();
    Payload::new(item).unwrap()
}

#[test]
fn a_departed_session_answering_first_is_dropped_when_an_answer_lists_it() {
    let (mut room, a) = Room::create("alice");
    let b = room.join("bob", 200);
    // Bob keeps his session keys, says goodbye, and later answers a newcomer with them from a new connection.
    let bob_signing = SigningKey::from_bytes(&room.clients[b].signing.to_bytes());
    let bob_dh = room.clients[b].dh_public;
    room.clients[b].leave("", NOW).unwrap();
    room.run();
    // The relay holds alice's answer to carol back until bob's has arrived.
    let held = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let held_in = held.clone();
    room.drop = Some(Box::new(move |d: &Delivered| {
        let hold = d.to == 2 && matches!(d.frame, RelayFrame::Frame { direct: true, .. });
        if hold {
            held_in.borrow_mut().push(d.clone());
        }
        hold
    }));
    let c = room.join("carol", 300);
    room.drop = None;
    let bob_again = room.next_id;
    let answer = forged_answer(&room, c, bob_again, &bob_signing, bob_dh, Vec::new());
    let events = room.inject_item(c, bob_again, true, answer);
    assert!(
        matches!(&events[..], [Event::MemberAccepted(info)] if info.member == bob_again),
        "{events:?}"
    );
    for d in held.take() {
        room.inject(d.to, d.frame);
    }
    let members: Vec<MemberId> = room.clients[c].members().iter().map(|m| m.member).collect();
    assert_eq!(
        members,
        vec![room.member(a)],
        "alice's answer lists bob's old session as departed"
    );
    assert!(room.clients[c].gone.contains(&bob_again));
    // An answer claiming carol's own member id is refused too.
    let own = room.member(c);
    let stranger = SigningKey::from_bytes(&[0x33; 32]);
    let answer = forged_answer(&room, c, own, &stranger, bob_dh, Vec::new());
    assert_eq!(room.inject_item(c, own, true, answer), vec![]);
    assert_eq!(room.clients[c].members().len(), 1);
}

#[test]
fn remembered_session_keys_are_bounded() {
    let (mut room, a) = Room::create("alice");
    let b = room.join("bob", 200);
    let c = room.add("carol", 300);
    let frame = room.clients[c].join_frame(NOW).unwrap();
    room.client_frame(c, frame);
    // Carol's answers are withheld; forged answers, each listing 512 made-up departed keys, arrive instead.
    room.drop = Some(Box::new(|d: &Delivered| {
        d.to == 2 && matches!(d.frame, RelayFrame::Frame { direct: true, .. })
    }));
    room.run();
    room.drop = None;
    let mut accepted = 0;
    for i in 0..(MAX_KNOWN_SESSIONS / MAX_DEPARTED_LISTED + 4) {
        let member = 100 + i as MemberId;
        let signing = SigningKey::from_bytes(&Sha256::digest((i as u64).to_be_bytes()).into());
        let departed = (0..MAX_DEPARTED_LISTED)
            .map(|j| Sha256::digest([&(i as u64).to_be_bytes()[..], &(j as u64).to_be_bytes()].concat()).into())
            .collect();
        let answer = forged_answer(&room, c, member, &signing, room.clients[b].dh_public, departed);
        let events = room.clients[c].handle(
            RelayFrame::Frame {
                from: member,
                direct: true,
                payload: answer,
            },
            NOW,
        );
        let _ = room.clients[c].take_outgoing();
        accepted += events.iter().filter(|e| matches!(e, Event::MemberAccepted(_))).count();
        assert!(room.clients[c].seen.len() <= MAX_KNOWN_SESSIONS);
    }
    assert_eq!(room.clients[c].seen.len(), MAX_KNOWN_SESSIONS);
    assert!(accepted < MAX_KNOWN_SESSIONS / MAX_DEPARTED_LISTED + 4, "{accepted}");
    let _ = a;
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
    assert!(matches!(&events[..], [Event::Message { text, .. }] if text == "two"));
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
        5,
        "hello, answer, hand-out, whisper and group items were all relayed"
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
        [Kind::Descriptor as u8, Kind::Hello as u8, Kind::Answer as u8]
            .into_iter()
            .collect(),
        "only the descriptor, hellos and answers open under the room key"
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
        Some(SessionError::BadAlias)
    );
    assert_eq!(
        Session::new(&secrets, &"a".repeat(65), ChaCha20Rng::seed_from_u64(1)).err(),
        Some(SessionError::BadAlias)
    );
    assert_eq!(
        Session::new(&secrets, "a\u{7}", ChaCha20Rng::seed_from_u64(1)).err(),
        Some(SessionError::BadAlias)
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
                    room.clients[pick(i)].kick(target, NOW).unwrap();
                    room.run();
                }
                _ => {}
            }
        }
        let present = room.present();
        for &x in &present {
            proptest::prop_assert!(!could_not_verify(&room.events[x]), "{:?}", room.events[x]);
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
