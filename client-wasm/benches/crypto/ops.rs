//! The client operations the bench times, shared by the native criterion benches and the browser's bench exports.
//!
//! Natively this file is a module of `benches/crypto.rs`; the wasm build includes it from `src/wasm.rs`,
//! so the browser times exactly the same code. It uses only the crate's public API, reached as `super::client`,
//! and the current time comes from the caller because wasm32 has no system clock of its own.
//! Each run is split in two: `prepare` makes the inputs of `n` operations and is not timed, `run` does them and is.

use rand_core::OsRng;
use sanctum_protocol::{ClientFrame, Descriptor, MemberId, RelayFrame};

use super::client::{BUCKETS, Event, HEADER_LEN, MAX_TEXT_LEN, NONCE_LEN, RoomLink, RoomSecrets, Session, TAG_LEN};

include!("names.rs");

/// The password every fixture derives its room's keys from.
const PASSWORD: &str = "correct horse battery staple, benchmarked";

/// The creator's and the joiner's member ids in the fixture's room.
const CREATOR: MemberId = 1;
const JOINER: MemberId = 2;

/// A failed fixture step, as text for the bench's output.
pub(crate) type BenchResult<T> = Result<T, String>;

fn fail(step: &str, error: impl std::fmt::Display) -> String {
    format!("{step}: {error}")
}

/// One operation, ready to be prepared and run again and again.
pub(crate) struct Fixture {
    op: Op,
    now_ms: u64,
    link: RoomLink,
    secrets: RoomSecrets,
    descriptor: Descriptor,
    /// Inputs made by `prepare` and used up by `run`.
    creators: Vec<Session>,
    frames: Vec<RelayFrame>,
    prepared: usize,
}

enum Op {
    Argon2,
    Hello,
    PairwiseSetup,
    Seal { pair: Box<Pair>, text: String },
    Open { pair: Box<Pair>, text: String },
}

/// A creator and a joiner who accepted each other and hold each other's sender chains.
struct Pair {
    creator: Session,
    joiner: Session,
}

impl Fixture {
    /// Derives the room's keys once (one Argon2id run) and sets up what `op` needs.
    pub(crate) fn new(op: &str, now_ms: u64) -> BenchResult<Self> {
        let link = RoomLink::generate(&mut OsRng, 3600, now_ms).map_err(|e| fail("link", e))?;
        let secrets = RoomSecrets::derive(&link, PASSWORD).map_err(|e| fail("derive", e))?;
        let mut fixture = Self {
            op: Op::Argon2,
            now_ms,
            link,
            secrets,
            descriptor: Descriptor::default(),
            creators: Vec::new(),
            frames: Vec::new(),
            prepared: 0,
        };
        // The creator's `create` frame carries the sealed descriptor that joiners are handed.
        let (_creator, descriptor) = fixture.creator()?;
        fixture.descriptor = descriptor;
        fixture.op = match op {
            "argon2id_v1" => Op::Argon2,
            "hello" => Op::Hello,
            "pairwise_setup" => Op::PairwiseSetup,
            "seal_1k" | "open_1k" | "seal_32k" | "open_32k" => {
                let bucket = if op.ends_with("1k") {
                    BUCKETS[1]
                } else {
                    BUCKETS[BUCKETS.len() - 1]
                };
                // A separate session finds the text length, so that the pair's chains start at zero.
                let (mut probe, _) = fixture.creator()?;
                let text = text_filling(&mut probe, bucket, now_ms)?;
                let pair = Box::new(fixture.pair()?);
                if op.starts_with("seal") {
                    Op::Seal { pair, text }
                } else {
                    Op::Open { pair, text }
                }
            }
            other => return Err(format!("no operation named {other:?}")),
        };
        Ok(fixture)
    }

    /// Makes the inputs of the next `n` operations.
    pub(crate) fn prepare(&mut self, n: usize) -> BenchResult<()> {
        self.creators.clear();
        self.frames.clear();
        match &mut self.op {
            Op::Argon2 | Op::Hello | Op::Seal { .. } => {}
            Op::PairwiseSetup => {
                // Each creator has answered a fresh joiner's hello, and the joiner has confirmed: what is timed is the
                // creator accepting the confirm, which sets up the pairwise channel and hands out its sender chain.
                for _ in 0..n {
                    let (mut creator, _) = creator(&self.secrets, self.now_ms)?;
                    let (mut joiner, hello) = self.joiner_hello()?;
                    creator.handle(hello, self.now_ms);
                    for answer in directs(creator.take_outgoing(), CREATOR) {
                        joiner.handle(answer, self.now_ms);
                    }
                    let confirm = directs(joiner.take_outgoing(), JOINER)
                        .into_iter()
                        .next()
                        .ok_or_else(|| "the joiner sent no confirm".to_owned())?;
                    self.creators.push(creator);
                    self.frames.push(confirm);
                }
            }
            Op::Open { pair, text } => {
                for _ in 0..n {
                    pair.creator.send_text(text, self.now_ms).map_err(|e| fail("send", e))?;
                    for frame in pair.creator.take_outgoing() {
                        if let ClientFrame::Broadcast { payload } = frame {
                            self.frames.push(RelayFrame::Frame {
                                from: CREATOR,
                                direct: false,
                                payload,
                            });
                        }
                    }
                }
            }
        }
        self.prepared = n;
        Ok(())
    }

    /// Performs the prepared operations and checks that each did its work.
    pub(crate) fn run(&mut self) -> BenchResult<usize> {
        let n = self.prepared;
        let now_ms = self.now_ms;
        let mut done = 0;
        match &mut self.op {
            Op::Argon2 => {
                for _ in 0..n {
                    RoomSecrets::derive(&self.link, PASSWORD).map_err(|e| fail("derive", e))?;
                    done += 1;
                }
            }
            Op::Hello => {
                for _ in 0..n {
                    let (_, hello) = joiner_hello(&self.secrets, &self.descriptor, now_ms)?;
                    done += usize::from(matches!(hello, RelayFrame::Frame { .. }));
                }
            }
            Op::PairwiseSetup => {
                for (creator, confirm) in self.creators.iter_mut().zip(self.frames.drain(..)) {
                    let events = creator.handle(confirm, now_ms);
                    let accepted = events.iter().any(|e| matches!(e, Event::MemberAccepted(_)));
                    // Accepting a confirmed newcomer hands it the sender chain over the new channel.
                    let handed = !creator.take_outgoing().is_empty();
                    done += usize::from(accepted && handed);
                }
            }
            Op::Seal { pair, text } => {
                for _ in 0..n {
                    pair.creator.send_text(text, now_ms).map_err(|e| fail("send", e))?;
                    done += pair.creator.take_outgoing().len();
                }
            }
            Op::Open { pair, .. } => {
                for frame in self.frames.drain(..) {
                    let events = pair.joiner.handle(frame, now_ms);
                    done += events.iter().filter(|e| matches!(e, Event::Message { .. })).count();
                }
            }
        }
        self.prepared = 0;
        if done == n {
            Ok(n)
        } else {
            Err(format!("only {done} of {n} operations succeeded"))
        }
    }

    fn creator(&self) -> BenchResult<(Session, Descriptor)> {
        creator(&self.secrets, self.now_ms)
    }

    fn joiner_hello(&self) -> BenchResult<(Session, RelayFrame)> {
        joiner_hello(&self.secrets, &self.descriptor, self.now_ms)
    }

    /// A creator and a joiner, with every frame between them delivered as a relay would.
    fn pair(&self) -> BenchResult<Pair> {
        let (mut creator, _) = self.creator()?;
        let (mut joiner, hello) = self.joiner_hello()?;
        creator.handle(RelayFrame::MemberJoined { member: JOINER }, self.now_ms);
        let mut queue = vec![(CREATOR, hello)];
        while let Some((to, frame)) = queue.pop() {
            let (receiver, from) = if to == CREATOR {
                (&mut creator, JOINER)
            } else {
                (&mut joiner, CREATOR)
            };
            receiver.handle(frame, self.now_ms);
            for out in receiver.take_outgoing() {
                let (direct, payload) = match out {
                    ClientFrame::Broadcast { payload } => (false, payload),
                    ClientFrame::Direct { payload, .. } => (true, payload),
                    _ => continue,
                };
                queue.insert(
                    0,
                    (
                        from,
                        RelayFrame::Frame {
                            from: to,
                            direct,
                            payload,
                        },
                    ),
                );
            }
        }
        Ok(Pair { creator, joiner })
    }
}

/// The direct frames among `frames`, as the relay delivers them from `from`.
fn directs(frames: Vec<ClientFrame>, from: MemberId) -> Vec<RelayFrame> {
    frames
        .into_iter()
        .filter_map(|frame| match frame {
            ClientFrame::Direct { payload, .. } => Some(RelayFrame::Frame {
                from,
                direct: true,
                payload,
            }),
            _ => None,
        })
        .collect()
}

/// A session that created the room and is its only member, and the descriptor it registered.
fn creator(secrets: &RoomSecrets, now_ms: u64) -> BenchResult<(Session, Descriptor)> {
    let mut session = Session::new(secrets, "alice", OsRng).map_err(|e| fail("session", e))?;
    let descriptor = match session.create_frame("bench", now_ms).map_err(|e| fail("create", e))? {
        ClientFrame::Create { descriptor, .. } => descriptor,
        _ => return Err("create_frame made no create frame".to_owned()),
    };
    let expires_at = secrets.link().expires_at();
    session.handle(
        RelayFrame::Created {
            member: CREATOR,
            expires_at,
            expires_in: u32::try_from(expires_at.saturating_sub(now_ms / 1000)).unwrap_or(u32::MAX),
        },
        now_ms,
    );
    Ok((session, descriptor))
}

/// A new session that joined as member 2, and its hello as the relay delivers it to the creator.
fn joiner_hello(secrets: &RoomSecrets, descriptor: &Descriptor, now_ms: u64) -> BenchResult<(Session, RelayFrame)> {
    let mut session = Session::new(secrets, "bob", OsRng).map_err(|e| fail("session", e))?;
    session.join_frame(now_ms).map_err(|e| fail("join", e))?;
    let expires_at = secrets.link().expires_at();
    session.handle(
        RelayFrame::Joined {
            member: JOINER,
            members: vec![CREATOR],
            expires_at,
            expires_in: u32::try_from(expires_at.saturating_sub(now_ms / 1000)).unwrap_or(u32::MAX),
            descriptor: descriptor.clone(),
        },
        now_ms,
    );
    let hello = session.take_outgoing().into_iter().find_map(|frame| match frame {
        ClientFrame::Broadcast { payload } => Some(RelayFrame::Frame {
            from: JOINER,
            direct: false,
            payload,
        }),
        _ => None,
    });
    let hello = hello.ok_or_else(|| "joining made no hello".to_owned())?;
    Ok((session, hello))
}

/// The longest text whose sealed message lands in `bucket`, found by sealing candidates from `session`.
fn text_filling(session: &mut Session, bucket: usize, now_ms: u64) -> BenchResult<String> {
    let sealed_len = HEADER_LEN + NONCE_LEN + bucket + TAG_LEN;
    let mut seal_len = |len: usize| -> BenchResult<usize> {
        session
            .send_text(&"x".repeat(len), now_ms)
            .map_err(|e| fail("send", e))?;
        let frames = session.take_outgoing();
        match frames.first() {
            Some(ClientFrame::Broadcast { payload }) => Ok(payload.len()),
            _ => Err("send_text made no broadcast".to_owned()),
        }
    };
    // Binary search for the largest length that still seals to this bucket's size.
    let (mut low, mut high) = (0, MAX_TEXT_LEN.min(bucket));
    if seal_len(low)? > sealed_len {
        return Err(format!("even an empty message is larger than the {bucket}-byte bucket"));
    }
    while low < high {
        let mid = (low + high).div_ceil(2);
        if seal_len(mid)? <= sealed_len {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    if seal_len(low)? != sealed_len {
        return Err(format!("no text length seals to the {bucket}-byte bucket"));
    }
    Ok("x".repeat(low))
}
