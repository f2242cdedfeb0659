//! Test harness: sessions talking through an in-memory relay that the tests can make misbehave.

use std::collections::VecDeque;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sanctum_protocol::{ClientFrame, LeftReason, MemberId, Payload, PurgeReason, RelayFrame};
use sha2::{Digest, Sha256};

use super::{Event, Session};
use crate::schedule::RoomSecrets;
use crate::schedule::tests::fixed_secrets;
use crate::seal::{Header, Kind};

pub(super) const NOW: u64 = 1_800_000_000_000;

/// One frame the fake relay delivered, kept so that tests can replay, reflect or inspect it.
#[derive(Clone)]
pub(super) struct Delivered {
    pub(super) to: usize,
    pub(super) frame: RelayFrame,
}

/// Decides which frames a misbehaving relay withholds.
pub(super) type DropFilter = Box<dyn Fn(&Delivered) -> bool>;

/// A tiny relay in memory: routes frames between sessions in order, and records everything it forwards.
pub(super) struct Room {
    pub(super) secrets: RoomSecrets,
    pub(super) clients: Vec<Session>,
    pub(super) ids: Vec<Option<MemberId>>,
    pub(super) events: Vec<Vec<Event>>,
    pub(super) next_id: MemberId,
    pub(super) descriptor: Option<sanctum_protocol::Descriptor>,
    pub(super) verifier: Option<sanctum_protocol::Verifier>,
    pub(super) queue: VecDeque<Delivered>,
    pub(super) log: Vec<Delivered>,
    /// Client frames as sent, for checks on what the relay saw.
    pub(super) sent: Vec<ClientFrame>,
    pub(super) ignore_purge: bool,
    pub(super) ignore_kick: bool,
    /// A filter the test sets to drop frames on their way to a client.
    pub(super) drop: Option<DropFilter>,
}

impl Room {
    pub(super) fn new() -> Self {
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

    pub(super) fn add(&mut self, alias: &str, seed: u64) -> usize {
        let secrets = self.secrets.duplicate();
        self.add_with(&secrets, alias, seed)
    }

    /// Adds a session that holds `secrets`, which may differ from the room's (an old link after a lock).
    pub(super) fn add_with(&mut self, secrets: &RoomSecrets, alias: &str, seed: u64) -> usize {
        let session = Session::new(secrets, alias, ChaCha20Rng::seed_from_u64(seed)).unwrap();
        self.clients.push(session);
        self.ids.push(None);
        self.events.push(Vec::new());
        self.clients.len() - 1
    }

    /// Creates the room with a first member.
    pub(super) fn create(alias: &str) -> (Self, usize) {
        let mut room = Self::new();
        let a = room.add(alias, 100);
        let frame = room.clients[a].create_frame("book club", NOW).unwrap();
        room.client_frame(a, frame);
        room.run();
        (room, a)
    }

    pub(super) fn join(&mut self, alias: &str, seed: u64) -> usize {
        let secrets = self.secrets.duplicate();
        self.join_with(&secrets, alias, seed)
    }

    /// Joins with a session the test built (one resumed from a blob, say).
    pub(super) fn join_session(&mut self, session: Session) -> usize {
        self.clients.push(session);
        self.ids.push(None);
        self.events.push(Vec::new());
        let c = self.clients.len() - 1;
        let frame = self.clients[c].join_frame(NOW).unwrap();
        self.client_frame(c, frame);
        self.run();
        c
    }

    /// Joins a session that holds `secrets`; the relay refuses its token unless it matches the room's verifier.
    pub(super) fn join_with(&mut self, secrets: &RoomSecrets, alias: &str, seed: u64) -> usize {
        let c = self.add_with(secrets, alias, seed);
        let frame = self.clients[c].join_frame(NOW).unwrap();
        self.client_frame(c, frame);
        self.run();
        c
    }

    pub(super) fn member(&self, client: usize) -> MemberId {
        self.ids[client].unwrap()
    }

    pub(super) fn client_of(&self, member: MemberId) -> Option<usize> {
        self.ids.iter().position(|id| *id == Some(member))
    }

    pub(super) fn present(&self) -> Vec<usize> {
        (0..self.clients.len()).filter(|&c| self.ids[c].is_some()).collect()
    }

    pub(super) fn deliver(&mut self, to: usize, frame: RelayFrame) {
        self.queue.push_back(Delivered { to, frame });
    }

    pub(super) fn remove(&mut self, client: usize, reason: LeftReason) {
        let member = self.member(client);
        self.ids[client] = None;
        for other in self.present() {
            self.deliver(other, RelayFrame::MemberLeft { member, reason });
        }
    }

    pub(super) fn client_frame(&mut self, from: usize, frame: ClientFrame) {
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
                if Some(sanctum_protocol::Verifier(Sha256::digest(token.0).into())) != self.verifier {
                    self.deliver(
                        from,
                        RelayFrame::Error {
                            code: sanctum_protocol::ErrorCode::BadToken,
                            message: "bad token".into(),
                        },
                    );
                    return;
                }
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
            // The core never peeks: the app asks before a session exists.
            ClientFrame::Peek { .. } => {}
            ClientFrame::Lock { verifier, descriptor } => {
                if self.ids[from].is_some() {
                    self.verifier = Some(verifier);
                    self.descriptor = Some(descriptor);
                    self.deliver(from, RelayFrame::Locked);
                }
            }
        }
    }

    /// Delivers frames until every session is quiet.
    pub(super) fn run(&mut self) {
        for c in 0..self.clients.len() {
            self.pump(c);
        }
        while self.step() {}
    }

    /// Delivers the next frame in the queue, unless the drop filter withholds it; returns false once the queue is empty.
    pub(super) fn step(&mut self) -> bool {
        let Some(delivered) = self.queue.pop_front() else {
            return false;
        };
        if self.drop.as_ref().is_some_and(|drop| drop(&delivered)) {
            return true;
        }
        self.log.push(delivered.clone());
        let events = self.clients[delivered.to].handle(delivered.frame, NOW);
        self.events[delivered.to].extend(events);
        self.pump(delivered.to);
        true
    }

    pub(super) fn pump(&mut self, c: usize) {
        for frame in self.clients[c].take_outgoing() {
            self.client_frame(c, frame);
        }
    }

    /// Hands one frame straight to a session, as a misbehaving relay would, and returns the events.
    pub(super) fn inject(&mut self, to: usize, frame: RelayFrame) -> Vec<Event> {
        let events = self.clients[to].handle(frame, NOW);
        self.pump(to);
        self.run();
        events
    }

    /// Hands one relayed item straight to a session, as a misbehaving relay would.
    pub(super) fn inject_item(&mut self, to: usize, from: MemberId, direct: bool, payload: Payload) -> Vec<Event> {
        self.inject(to, RelayFrame::Frame { from, direct, payload })
    }

    pub(super) fn texts(&self, c: usize) -> Vec<(String, bool)> {
        self.events[c]
            .iter()
            .filter_map(|e| match e {
                Event::Message { text, whisper, .. } => Some((text.clone(), *whisper)),
                _ => None,
            })
            .collect()
    }

    pub(super) fn payloads_from(&self, member: MemberId, kind: Kind, direct: bool) -> Vec<(usize, Payload)> {
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

    pub(super) fn send(&mut self, c: usize, text: &str) {
        self.clients[c].send_text(text, NOW).unwrap();
        self.run();
    }
}

pub(super) fn three() -> (Room, usize, usize, usize) {
    let (mut room, a) = Room::create("alice");
    let b = room.join("bob", 200);
    let c = room.join("carol", 300);
    (room, a, b, c)
}

pub(super) fn could_not_verify(events: &[Event]) -> bool {
    events.iter().any(|e| matches!(e, Event::CouldNotVerify { .. }))
}
