//! A load run: set up every room, hold the connections, drive traffic through a measurement window, and report.
//!
//! The phases are separate calls so that the process driving the bench can sample the server between them:
//! [`Session::setup`] connects, creates and joins; [`Session::traffic`] sends, measures and drains;
//! [`Session::close`] says goodbye.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use sanctum_protocol::{MAX_PAYLOAD_LEN, MemberId, RelayFrame};
use sanctum_testkit::keys::RoomKeys;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::member::{self, SetupError, Socket};
use crate::payload::{self, Header, Incoming, PayloadWriter};
use crate::stats::{Latency, LatencyShards, ReceiverStats, Report, own_cpu_seconds};

/// How the members send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Nobody sends; the connections are held open.
    Idle,
    /// Every member sends as fast as it can while at most `window` of its broadcasts are undelivered to some member.
    Saturated {
        /// Broadcasts a sender may have in flight to its slowest receiver.
        window: u64,
    },
    /// All members together send `per_second` broadcasts per second, spread evenly over members and time.
    Rate {
        /// Aggregate broadcasts per second.
        per_second: f64,
    },
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Saturated { .. } => "saturated",
            Self::Rate { .. } => "rate",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The server's WebSocket URL, e.g. `ws://127.0.0.1:8080/ws`.
    pub url: String,
    /// Rooms to create.
    pub rooms: usize,
    /// Members in each room, the creator included.
    pub members: usize,
    /// Payload size in bytes.
    pub payload_len: usize,
    /// How the members send.
    pub load: Load,
    /// Traffic before the measurement window opens.
    pub warmup: Duration,
    /// Length of the measurement window (for idle runs: how long the connections are held).
    pub duration: Duration,
    /// Longest wait, after sending stops, for the deliveries still on their way.
    pub drain: Duration,
    /// Connections being set up at once.
    pub connect_concurrency: usize,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration cannot be run.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// A member could not connect, create or join.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// A moment of the run that the driving process may want to sample the server at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The measurement window opened.
    WindowStart,
    /// The measurement window closed; sending stops now.
    WindowEnd,
}

/// State every receiver shares.
#[derive(Debug)]
struct Shared {
    base: Instant,
    delivered: AtomicU64,
    window_start_ns: AtomicU64,
    window_end_ns: AtomicU64,
    latency: LatencyShards,
    stop_reading: CancellationToken,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// State the members of one room share: who is who, and how far each receiver has read each sender.
#[derive(Debug)]
struct RoomShared {
    ids: Vec<MemberId>,
    /// `acks[sender * n + receiver]`: one past the highest sequence number `receiver` has read from `sender`.
    acks: Vec<AtomicU64>,
    sent: Vec<AtomicU64>,
    wake: Vec<Notify>,
}

impl RoomShared {
    fn new(ids: Vec<MemberId>) -> Self {
        let n = ids.len();
        Self {
            acks: (0..n * n).map(|_| AtomicU64::new(0)).collect(),
            sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
            wake: (0..n).map(|_| Notify::new()).collect(),
            ids,
        }
    }

    fn n(&self) -> usize {
        self.ids.len()
    }

    /// How far the slowest receiver has read `sender`.
    fn slowest_ack(&self, sender: usize) -> u64 {
        let n = self.n();
        (0..n)
            .filter(|&receiver| receiver != sender)
            .map(|receiver| self.acks[sender * n + receiver].load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX)
    }

    fn expected_by(&self, receiver: usize) -> u64 {
        (0..self.n())
            .filter(|&sender| sender != receiver)
            .map(|sender| self.sent[sender].load(Ordering::Acquire))
            .sum()
    }
}

type Sink = SplitSink<Socket, Message>;
type Stream = SplitStream<Socket>;
type ReaderResult = (usize, usize, ReceiverStats);

/// A set of rooms whose members are connected and joined.
#[derive(Debug)]
pub struct Session {
    config: RunConfig,
    shared: Arc<Shared>,
    rooms: Vec<Arc<RoomShared>>,
    /// Per room, per member index.
    sinks: Vec<Vec<Option<Sink>>>,
    readers: JoinSet<ReaderResult>,
    setup_secs: f64,
}

impl Session {
    /// Connects every member, creates every room and joins the other members to it, then starts reading.
    pub async fn setup(config: RunConfig) -> Result<Self, RunError> {
        if config.rooms == 0 || config.members == 0 {
            return Err(RunError::Config("rooms and members must be at least 1"));
        }
        if config.load != Load::Idle && config.members < 2 {
            return Err(RunError::Config("traffic needs at least 2 members per room"));
        }
        if !(payload::HEADER_LEN..=MAX_PAYLOAD_LEN).contains(&config.payload_len) {
            return Err(RunError::Config(
                "payload size must be between the header size and the protocol's maximum",
            ));
        }
        if let Load::Rate { per_second } = config.load
            && !(per_second.is_finite() && per_second > 0.0)
        {
            return Err(RunError::Config("rate must be a positive number"));
        }
        let started = Instant::now();
        let connect_permits = Arc::new(Semaphore::new(config.connect_concurrency.max(1)));
        let mut setups = JoinSet::new();
        for room in 0..config.rooms {
            let url = config.url.clone();
            let members = config.members;
            let permits = Arc::clone(&connect_permits);
            setups.spawn(async move { (room, set_up_room(url, members, permits).await) });
        }
        let mut joined: Vec<Vec<(MemberId, Socket)>> = (0..config.rooms).map(|_| Vec::new()).collect();
        while let Some(result) = setups.join_next().await {
            let Ok((room, members)) = result else {
                return Err(RunError::Config("a setup task panicked"));
            };
            joined[room] = members?;
        }

        let shared = Arc::new(Shared {
            base: Instant::now(),
            delivered: AtomicU64::new(0),
            window_start_ns: AtomicU64::new(u64::MAX),
            window_end_ns: AtomicU64::new(u64::MAX),
            latency: LatencyShards::new(16),
            stop_reading: CancellationToken::new(),
        });
        let mut rooms = Vec::with_capacity(config.rooms);
        let mut sinks = Vec::with_capacity(config.rooms);
        let mut readers = JoinSet::new();
        let mut receiver_number = 0;
        for (room_index, members) in joined.into_iter().enumerate() {
            let room = Arc::new(RoomShared::new(members.iter().map(|(id, _)| *id).collect()));
            let mut room_sinks = Vec::with_capacity(members.len());
            for (index, (_, socket)) in members.into_iter().enumerate() {
                let (sink, stream) = socket.split();
                room_sinks.push(Some(sink));
                let reader = Reader {
                    room_index,
                    index,
                    shard: receiver_number,
                    room: Arc::clone(&room),
                    shared: Arc::clone(&shared),
                    payload_len: config.payload_len,
                };
                receiver_number += 1;
                readers.spawn(reader.run(stream));
            }
            rooms.push(room);
            sinks.push(room_sinks);
        }
        Ok(Self {
            config,
            shared,
            rooms,
            sinks,
            readers,
            setup_secs: started.elapsed().as_secs_f64(),
        })
    }

    /// Connections this session holds.
    pub fn connections(&self) -> usize {
        self.rooms.iter().map(|room| room.n()).sum()
    }

    /// Sends for the warm-up and the measurement window, drains, stops reading and reports.
    pub async fn traffic(&mut self, mut on_event: impl FnMut(Event)) -> Report {
        let config = self.config.clone();
        let stop_sending = CancellationToken::new();
        let mut senders = JoinSet::new();
        let total_members = self.connections();
        let traffic_start = tokio::time::Instant::now();
        let mut sender_number = 0usize;
        for (room_index, room) in self.rooms.iter().enumerate() {
            for index in 0..room.n() {
                let Some(sink) = self.sinks[room_index][index].take() else {
                    continue;
                };
                let sender = Sender {
                    room_index,
                    index,
                    room: Arc::clone(room),
                    shared: Arc::clone(&self.shared),
                    writer: PayloadWriter::new(config.payload_len),
                    stop: stop_sending.clone(),
                };
                match config.load {
                    Load::Idle => self.sinks[room_index][index] = Some(sink),
                    Load::Saturated { window } => {
                        senders.spawn(sender.saturated(sink, window));
                    }
                    Load::Rate { per_second } => {
                        let period = Duration::from_secs_f64(total_members as f64 / per_second);
                        let offset = Duration::from_secs_f64(sender_number as f64 / per_second);
                        senders.spawn(sender.rate(sink, traffic_start + offset, period));
                    }
                }
                sender_number += 1;
            }
        }

        tokio::time::sleep_until(traffic_start + config.warmup).await;
        let window_opened = Instant::now();
        self.shared
            .window_start_ns
            .store(self.shared.now_ns(), Ordering::Release);
        let delivered_at_start = self.shared.delivered.load(Ordering::Acquire);
        let sent_at_start = self.total_sent();
        let cpu_at_start = own_cpu_seconds();
        on_event(Event::WindowStart);

        tokio::time::sleep_until(traffic_start + config.warmup + config.duration).await;
        self.shared.window_end_ns.store(self.shared.now_ns(), Ordering::Release);
        let delivered_at_end = self.shared.delivered.load(Ordering::Acquire);
        let window_secs = window_opened.elapsed().as_secs_f64();
        let window_sent = self.total_sent() - sent_at_start;
        let loadgen_cpu_secs = own_cpu_seconds().zip(cpu_at_start).map(|(end, start)| end - start);
        on_event(Event::WindowEnd);

        stop_sending.cancel();
        while let Some(result) = senders.join_next().await {
            if let Ok((room_index, index, sink)) = result {
                self.sinks[room_index][index] = Some(sink);
            }
        }
        let expected = self.total_expected();
        let drain_deadline = tokio::time::Instant::now() + config.drain;
        while self.shared.delivered.load(Ordering::Acquire) < expected && tokio::time::Instant::now() < drain_deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.shared.stop_reading.cancel();

        let mut report = Report {
            mode: config.load.name().to_owned(),
            rooms: config.rooms,
            members: config.members,
            connections: self.connections(),
            payload_bytes: config.payload_len,
            window: match config.load {
                Load::Saturated { window } => Some(window),
                _ => None,
            },
            rate: match config.load {
                Load::Rate { per_second } => Some(per_second),
                _ => None,
            },
            setup_secs: self.setup_secs,
            window_secs,
            sent: self.total_sent(),
            window_sent,
            expected,
            window_delivered: delivered_at_end - delivered_at_start,
            deliveries_per_sec: (delivered_at_end - delivered_at_start) as f64 / window_secs,
            loadgen_cpu_secs,
            ..Report::default()
        };
        while let Some(result) = self.readers.join_next().await {
            let Ok((room_index, index, stats)) = result else {
                report.garbled += 1;
                continue;
            };
            let room = &self.rooms[room_index];
            let received: u64 = stats.received.iter().sum();
            report.delivered += received;
            report.lost += (0..room.n())
                .filter(|&sender| sender != index)
                .map(|sender| {
                    room.sent[sender]
                        .load(Ordering::Acquire)
                        .saturating_sub(stats.received[sender])
                })
                .sum::<u64>();
            report.reordered += stats.reordered;
            report.misattributed += stats.misattributed;
            report.wrong_size += stats.wrong_size;
            report.garbled += stats.garbled;
            report.disconnected += u64::from(stats.disconnected);
            for (name, count) in stats.events {
                *report.events.entry(name).or_default() += count;
            }
        }
        report.latency = Latency::from_histogram(&self.shared.latency.merged());
        report
    }

    /// Closes every connection with a normal close frame.
    ///
    /// The reading halves are gone by now; the writing half alone sends the close frame.
    pub async fn close(mut self) {
        self.shared.stop_reading.cancel();
        while self.readers.join_next().await.is_some() {}
        let mut closing = JoinSet::new();
        for sink in self.sinks.into_iter().flatten().flatten() {
            closing.spawn(async move {
                let mut sink = sink;
                let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
            });
        }
        while closing.join_next().await.is_some() {}
    }

    fn total_sent(&self) -> u64 {
        self.rooms
            .iter()
            .flat_map(|room| room.sent.iter())
            .map(|sent| sent.load(Ordering::Acquire))
            .sum()
    }

    fn total_expected(&self) -> u64 {
        self.rooms
            .iter()
            .map(|room| (0..room.n()).map(|receiver| room.expected_by(receiver)).sum::<u64>())
            .sum()
    }
}

/// Connects a room's creator and creates the room, then connects and joins the other members concurrently.
async fn set_up_room(
    url: String,
    members: usize,
    permits: Arc<Semaphore>,
) -> Result<Vec<(MemberId, Socket)>, SetupError> {
    let keys = RoomKeys::fresh();
    // Several comma-separated URLs (relays sharing rooms through Redis) take the room's members in turn.
    let urls: Vec<String> = url.split(',').map(str::to_owned).collect();
    let creator = {
        let _permit = permits.acquire().await.map_err(|_| SetupError::Closed)?;
        let (mut socket, _welcome) = member::connect(&urls[0]).await?;
        let id = member::create(&mut socket, &keys).await?;
        (id, socket)
    };
    let mut joins = JoinSet::new();
    for index in 1..members {
        let url = urls[index % urls.len()].clone();
        let keys = keys.clone();
        let permits = Arc::clone(&permits);
        joins.spawn(async move {
            let _permit = permits.acquire().await.map_err(|_| SetupError::Closed)?;
            let (mut socket, _welcome) = member::connect(&url).await?;
            let id = member::join(&mut socket, &keys).await?;
            Ok::<_, SetupError>((id, socket))
        });
    }
    let mut joined = vec![creator];
    while let Some(result) = joins.join_next().await {
        joined.push(result.map_err(|_| SetupError::Closed)??);
    }
    Ok(joined)
}

/// One member's sending half.
struct Sender {
    room_index: usize,
    index: usize,
    room: Arc<RoomShared>,
    shared: Arc<Shared>,
    writer: PayloadWriter,
    stop: CancellationToken,
}

impl Sender {
    async fn saturated(mut self, mut sink: Sink, window: u64) -> (usize, usize, Sink) {
        let mut seq = 0u64;
        'sending: while !self.stop.is_cancelled() {
            while seq.saturating_sub(self.room.slowest_ack(self.index)) >= window {
                tokio::select! {
                    () = self.room.wake[self.index].notified() => {}
                    () = self.stop.cancelled() => break 'sending,
                }
            }
            if !self.send(&mut sink, seq).await {
                break;
            }
            seq += 1;
        }
        (self.room_index, self.index, sink)
    }

    async fn rate(mut self, mut sink: Sink, start: tokio::time::Instant, period: Duration) -> (usize, usize, Sink) {
        let mut ticks = tokio::time::interval_at(start, period);
        // A sender that fell behind catches up, so that the aggregate rate is what was asked for.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut seq = 0u64;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = self.stop.cancelled() => break,
            }
            if !self.send(&mut sink, seq).await {
                break;
            }
            seq += 1;
        }
        (self.room_index, self.index, sink)
    }

    /// Sends broadcast `seq` and counts it; false when the connection is gone.
    async fn send(&mut self, sink: &mut Sink, seq: u64) -> bool {
        let header = Header {
            sender: u32::try_from(self.index).unwrap_or(u32::MAX),
            seq,
            sent_ns: self.shared.now_ns(),
        };
        let text = self.writer.broadcast(header);
        if sink.send(Message::text(text)).await.is_err() {
            return false;
        }
        self.room.sent[self.index].store(seq + 1, Ordering::Release);
        true
    }
}

/// One member's receiving half.
struct Reader {
    room_index: usize,
    index: usize,
    shard: usize,
    room: Arc<RoomShared>,
    shared: Arc<Shared>,
    payload_len: usize,
}

impl Reader {
    async fn run(self, mut stream: Stream) -> ReaderResult {
        let mut stats = ReceiverStats::new(self.room.n());
        let stop = self.shared.stop_reading.clone();
        loop {
            let message = tokio::select! {
                message = stream.next() => message,
                () = stop.cancelled() => break,
            };
            match message {
                Some(Ok(Message::Text(text))) => self.on_text(&text, &mut stats),
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or(1005, |frame| u16::from(frame.code));
                    stats.event(format!("close_{code}"));
                    stats.disconnected = true;
                    break;
                }
                Some(Ok(Message::Binary(_))) => stats.garbled += 1,
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    stats.event(format!("read_error: {error}"));
                    stats.disconnected = true;
                    break;
                }
                None => {
                    stats.event("eof".to_owned());
                    stats.disconnected = true;
                    break;
                }
            }
        }
        (self.room_index, self.index, stats)
    }

    fn on_text(&self, text: &str, stats: &mut ReceiverStats) {
        match payload::read(text) {
            Incoming::Delivery(delivery) => {
                let now = self.shared.now_ns();
                let expected_from = self.room.ids.get(delivery.header.sender as usize).copied();
                let Some((sender, ack)) = stats.record(&delivery, expected_from, self.payload_len) else {
                    return;
                };
                self.shared.delivered.fetch_add(1, Ordering::AcqRel);
                let sent = delivery.header.sent_ns;
                if sent >= self.shared.window_start_ns.load(Ordering::Acquire)
                    && sent < self.shared.window_end_ns.load(Ordering::Acquire)
                {
                    self.shared.latency.record(self.shard, now.saturating_sub(sent));
                }
                let n = self.room.n();
                self.room.acks[sender * n + self.index].store(ack, Ordering::Release);
                self.room.wake[sender].notify_one();
            }
            Incoming::Other(RelayFrame::MemberJoined { .. }) => {}
            Incoming::Other(RelayFrame::Error { code, .. }) => stats.event(format!("error_{}", code.as_str())),
            Incoming::Other(other) => stats.event(
                format!("{other:?}")
                    .split([' ', '{', '('])
                    .next()
                    .unwrap_or("other")
                    .to_owned(),
            ),
            Incoming::Garbled => stats.garbled += 1,
        }
    }
}
