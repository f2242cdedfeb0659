//! The Redis registry: rooms shared by every relay pointed at the same Redis, memory only.
//!
//! Room state lives in Redis keys that expire with the room and changes only inside the atomic scripts of
//! [`scripts`]; frames and membership events travel on one pub/sub channel per room, which a relay subscribes to
//! only while it has members (or joins on their way) in that room; [`local`] applies them.
//! The channels are classic pub/sub, not sharded (`SSUBSCRIBE`): redis-rs 1.x pairs sharded confirmations with
//! requests only on cluster connections, and on one Redis server the two deliver alike. Every key and the channel
//! of a room share one hash tag, so a move to sharded channels on a cluster changes only the command names.
//! A relay talks to Redis over two RESP3 connections: one for commands, written by one task in order (so one
//! sender's frames keep their order), and one for subscriptions, whose pushes are delivered as they arrive.
//!
//! Failures: when Redis stops answering, every room connection here is closed with 4011 and creates and joins
//! are refused with `unavailable` until a new connection is made (at most every [`RECONNECT_MAX`]); nothing is
//! queued without bound meanwhile. Each connection takes a fresh relay id. A relay renews its heartbeat key every
//! third of `--redis-heartbeat`; any relay removes the members of a relay whose heartbeat expired.

mod ledger;
mod local;
mod scripts;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, IntoConnectionInfo as _, ProtocolVersion, PushInfo, PushKind, RedisError, Value};
use sanctum_protocol::{
    AuthToken, CloseCode, Descriptor, LeftReason, MemberId, Payload, PurgeReason, ROOM_ID_LEN, RelayFrame, RoomId,
    RoomState, Verifier,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, RedisUrl};
use crate::error::{Error, Refusal};
use crate::metrics::{self, Metrics};
use crate::outbox::Outbox;
use crate::throttle::AddressKey;
use ledger::{Ledger, Reservation};
use local::{Effects, LocalRoom, Pending};
use scripts::{RoomKeys, Script};

type RoomKey = [u8; ROOM_ID_LEN];

/// How long one Redis command may take before the backplane counts as lost.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a join waits for its own `joined` event after Redis admitted it.
const ADMISSION_TIMEOUT: Duration = Duration::from_secs(5);
/// The first and the longest wait between attempts to reach Redis again.
const RECONNECT_MIN: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Commands waiting for the writer task; beyond, frames are refused with `rate_limited`.
const QUEUE_COMMANDS: usize = 8192;
/// Commands the writer sends to Redis in one pipeline.
const BATCH: usize = 256;

/// Locks a mutex whose critical sections always leave it consistent, so that poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether a Redis error means the connection is lost rather than that one command failed.
fn is_lost(error: &RedisError) -> bool {
    error.is_io_error() || error.is_connection_dropped() || error.is_timeout() || error.is_unrecoverable_error()
}

/// A command for the writer task, in the order members asked for them.
#[derive(Debug)]
enum Op {
    Publish { channel: String, message: Vec<u8> },
    Run(Call),
}

/// One script with its keys and arguments.
#[derive(Debug)]
struct Call {
    script: Script,
    keys: Vec<String>,
    args: Vec<Vec<u8>>,
}

/// A subscription change, in the order the local rooms came and went.
#[derive(Debug)]
enum Sub {
    On(String, watch::Sender<bool>),
    Off(String),
}

/// One live connection to Redis, with the relay id it registered.
#[derive(Debug, Clone)]
struct Link {
    relay: Arc<str>,
    commands: MultiplexedConnection,
    ops: mpsc::Sender<Op>,
    subs: mpsc::Sender<Sub>,
    stop: CancellationToken,
}

#[derive(Debug, Default)]
struct State {
    link: Option<Link>,
    rooms: HashMap<RoomKey, LocalRoom>,
}

#[derive(Debug)]
struct Settings {
    max_members: u32,
    max_events: u32,
    locks_per_minute: u32,
    max_lifetime: u32,
    max_rooms: usize,
    warnings: Vec<u32>,
    heartbeat: Duration,
}

#[derive(Debug)]
struct Inner {
    client: redis::Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
    ledger: Mutex<Ledger>,
    up: AtomicBool,
    nonce: AtomicU64,
    lost: tokio::sync::Notify,
}

/// A cloneable handle to the Redis registry.
#[derive(Debug, Clone)]
pub(crate) struct Backplane(Arc<Inner>);

/// One connection's place in one Redis room.
#[derive(Debug)]
pub(crate) struct Membership {
    backplane: Backplane,
    key: RoomKey,
    keys: RoomKeys,
    member: MemberId,
    outbox: Outbox,
}

impl Backplane {
    /// Connects to Redis at `url`, refusing one that would write rooms to disk unless the configuration allows it.
    pub(crate) async fn connect(
        url: &RedisUrl,
        config: &Config,
        metrics: Arc<Metrics>,
        cancel: &CancellationToken,
    ) -> Result<Self, Error> {
        let info = url
            .as_str()
            .into_connection_info()
            .map_err(|_| Error::Backplane("the Redis URL cannot be read".into()))?;
        let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))
            .map_err(|_| Error::Backplane("the Redis URL cannot be read".into()))?;
        let inner = Arc::new(Inner {
            client,
            settings: Settings {
                max_members: config.max_members,
                max_events: config.max_membership_events,
                locks_per_minute: config.locks_per_minute,
                max_lifetime: config.max_lifetime,
                max_rooms: config.max_rooms,
                warnings: config.expiry_warnings.clone(),
                heartbeat: config.redis_heartbeat,
            },
            metrics,
            state: Mutex::new(State::default()),
            ledger: Mutex::new(Ledger::new(config.max_rooms, config.max_rooms_per_address)),
            up: AtomicBool::new(false),
            nonce: AtomicU64::new(1),
            lost: tokio::sync::Notify::new(),
        });
        let backplane = Self(inner);
        let mut probe = backplane
            .0
            .client
            .get_multiplexed_async_connection_with_config(&connection_config())
            .await
            .map_err(|e| Error::Backplane(format!("cannot reach Redis: {}", e.category())))?;
        check_persistence(&mut probe, config.redis_allow_persistence).await?;
        backplane
            .open_link(cancel)
            .await
            .map_err(|e| Error::Backplane(format!("cannot reach Redis: {}", e.category())))?;
        Ok(backplane)
    }

    /// Whether Redis answers: creates and joins are served.
    pub(crate) fn is_up(&self) -> bool {
        self.0.up.load(Ordering::Relaxed)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.0.state)
    }

    fn link(&self) -> Result<Link, Refusal> {
        self.state().link.clone().ok_or(Refusal::Unavailable)
    }

    /// Connects, registers a fresh relay id with its heartbeat, and starts the writer and subscription tasks.
    async fn open_link(&self, cancel: &CancellationToken) -> Result<(), RedisError> {
        let config = connection_config();
        let mut commands = self
            .0
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let relay: u64 = redis::cmd("INCR")
            .arg(scripts::RELAY_SEQ_KEY)
            .query_async(&mut commands)
            .await?;
        let relay: Arc<str> = relay.to_string().into();
        let weak = Arc::downgrade(&self.0);
        let id = relay.clone();
        let pushes = config.set_push_sender(move |info: PushInfo| {
            if let Some(inner) = weak.upgrade() {
                Backplane(inner).on_push(&id, info);
            }
            Ok::<(), Infallible>(())
        });
        let subscriber = self
            .0
            .client
            .get_multiplexed_async_connection_with_config(&pushes)
            .await?;
        self.heartbeat(&mut commands, &relay).await?;
        let stop = cancel.child_token();
        let (ops, ops_rx) = mpsc::channel(QUEUE_COMMANDS);
        let (subs, subs_rx) = mpsc::channel(QUEUE_COMMANDS);
        tokio::spawn(write_loop(
            Arc::downgrade(&self.0),
            relay.clone(),
            commands.clone(),
            ops_rx,
            stop.clone(),
        ));
        tokio::spawn(subscribe_loop(
            Arc::downgrade(&self.0),
            relay.clone(),
            subscriber,
            subs_rx,
            stop.clone(),
        ));
        self.state().link = Some(Link {
            relay,
            commands,
            ops,
            subs,
            stop,
        });
        self.0.up.store(true, Ordering::Relaxed);
        metrics::shift(&self.0.metrics.backplane_up, 1);
        Ok(())
    }

    /// Renews this relay's heartbeat and removes the members of relays whose heartbeat expired.
    async fn heartbeat(&self, commands: &mut MultiplexedConnection, relay: &str) -> Result<(), RedisError> {
        let start = Instant::now();
        let ttl = u64::try_from(self.0.settings.heartbeat.as_millis()).unwrap_or(u64::MAX);
        let (_, _, reaped): (Value, Value, u64) = redis::pipe()
            .cmd("SET")
            .arg(scripts::heartbeat_key(relay))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .cmd("SADD")
            .arg(scripts::RELAYS_KEY)
            .arg(relay)
            .cmd("EVAL")
            .arg(Script::Reap.source())
            .arg(0)
            .arg(self.0.settings.max_events)
            .query_async(commands)
            .await?;
        self.0.metrics.backplane_rtt.observe(start.elapsed());
        metrics::add(&self.0.metrics.backplane_reaped, reaped);
        Ok(())
    }

    /// Heartbeats while Redis answers; reconnects with a growing, capped wait when it does not.
    pub(crate) async fn run(self, cancel: CancellationToken) {
        let every = self.0.settings.heartbeat / 3;
        let mut wait = RECONNECT_MIN;
        loop {
            let link = self.state().link.clone();
            match link {
                Some(mut link) => {
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = self.0.lost.notified() => continue,
                        () = sleep(every) => {}
                    }
                    match timeout(COMMAND_TIMEOUT, self.heartbeat(&mut link.commands, &link.relay)).await {
                        Ok(Ok(())) => wait = RECONNECT_MIN,
                        Ok(Err(e)) if !is_lost(&e) => tracing::warn!(error = e.category(), "heartbeat refused"),
                        _ => self.fail(&link.relay),
                    }
                }
                None => {
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = sleep(wait) => {}
                    }
                    match timeout(COMMAND_TIMEOUT * 2, self.open_link(&cancel)).await {
                        Ok(Ok(())) => {
                            metrics::add(&self.0.metrics.backplane_reconnects, 1);
                            tracing::info!("backplane reconnected");
                        }
                        _ => wait = (wait * 2).min(RECONNECT_MAX),
                    }
                }
            }
        }
        let link = self.state().link.take();
        if let Some(link) = link {
            link.stop.cancel();
        }
    }

    /// Takes the backplane down after a failure of the link of relay `relay`: every local member is closed with
    /// 4011, every join on its way fails, and the run loop reconnects.
    fn fail(&self, relay: &str) {
        let mut state = self.state();
        if state.link.as_ref().is_none_or(|l| &*l.relay != relay) {
            return;
        }
        if let Some(link) = state.link.take() {
            link.stop.cancel();
        }
        let rooms = std::mem::take(&mut state.rooms);
        drop(state);
        self.0.up.store(false, Ordering::Relaxed);
        metrics::shift(&self.0.metrics.backplane_up, -1);
        tracing::warn!("lost the Redis backplane; room connections closed until it is back");
        for (_, mut room) in rooms {
            metrics::shift(&self.0.metrics.members, -room.abort(CloseCode::Unavailable));
        }
        self.publish_counts();
        self.0.lost.notify_one();
    }

    fn publish_counts(&self) {
        let rooms = self.state().rooms.len();
        self.0.metrics.rooms.store(rooms as i64, Ordering::Relaxed);
    }

    /// One push from the subscription connection: a room's event, or the connection's end.
    fn on_push(&self, relay: &str, info: PushInfo) {
        match info.kind {
            PushKind::Disconnection => self.fail(relay),
            PushKind::Message => {
                let [Value::BulkString(channel), Value::BulkString(message)] = &info.data[..] else {
                    return;
                };
                metrics::add(&self.0.metrics.backplane_received, 1);
                if let Some(key) = scripts::channel_room(channel).and_then(parse_hex) {
                    self.on_event(relay, key, message);
                }
            }
            _ => {}
        }
    }

    fn on_event(&self, relay: &str, key: RoomKey, message: &[u8]) {
        let Some((header, body)) = local::parse_message(message) else {
            return;
        };
        let mut state = self.state();
        if state.link.as_ref().is_none_or(|l| &*l.relay != relay) {
            return;
        }
        let Some(room) = state.rooms.get_mut(&key) else {
            return;
        };
        let effects = room.apply(relay, header, body, Instant::now());
        self.settle(state, key, effects);
    }

    /// Carries out what applying an event asked for, releasing the state lock first where Redis is involved.
    fn settle(&self, mut state: MutexGuard<'_, State>, key: RoomKey, effects: Effects) {
        metrics::shift(&self.0.metrics.members, effects.added - effects.removed);
        if let Some(reason) = effects.ended {
            self.0.metrics.room_ended(reason);
        }
        if let Some(deadline) = effects.deadline
            && let Some(room) = state.rooms.get(&key)
        {
            tokio::spawn(self.clone().run_timer(key, deadline, room.timer.clone()));
        }
        let keys = RoomKeys::new(&key);
        if effects.finished
            && let Some(room) = state.rooms.remove(&key)
        {
            room.timer.cancel();
            if let Some(link) = &state.link {
                let _ = link.subs.try_send(Sub::Off(keys.channel.clone()));
            }
        }
        let link = state.link.clone();
        let rooms = state.rooms.len();
        drop(state);
        self.0.metrics.rooms.store(rooms as i64, Ordering::Relaxed);
        if let Some(link) = link {
            for id in effects.dropped {
                enqueue(&link, self.leave_op(&keys, id, LeftReason::Dropped));
            }
        }
    }

    /// Warns the local members of room `key` at the configured offsets before `deadline`, then ends it here.
    async fn run_timer(self, key: RoomKey, deadline: Instant, stop: CancellationToken) {
        let now = Instant::now();
        let mut offsets: Vec<u32> = self.0.settings.warnings.clone();
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        offsets.dedup();
        let warnings = offsets
            .into_iter()
            .filter(|w| *w > 0)
            .filter_map(|w| Some((deadline.checked_sub(Duration::from_secs(w.into()))?, w)))
            .filter(|(when, _)| *when > now);
        for (when, seconds) in warnings {
            tokio::select! {
                () = stop.cancelled() => return,
                () = sleep_until(when) => {}
            }
            let mut state = self.state();
            let Some(room) = state.rooms.get_mut(&key) else {
                return;
            };
            let effects = room.warn(seconds);
            self.settle(state, key, effects);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = sleep_until(deadline) => {}
        }
        let mut state = self.state();
        let Some(room) = state.rooms.get_mut(&key) else {
            return;
        };
        let mut effects = Effects::default();
        room.end(PurgeReason::Expired, &mut effects);
        self.settle(state, key, effects);
    }

    /// Registers a join on its way in room `key`'s local view (subscribing when the view is new) and waits until
    /// the room's channel is subscribed, so that its own `joined` event cannot be missed.
    async fn expect(&self, link: &Link, key: RoomKey, keys: &RoomKeys, pending: Pending) -> Result<u64, Refusal> {
        let nonce = self.0.nonce.fetch_add(1, Ordering::Relaxed);
        let mut ready = {
            let mut state = self.state();
            if !state.rooms.contains_key(&key) {
                if state.rooms.len() >= self.0.settings.max_rooms {
                    return Err(Refusal::TooManyRooms);
                }
                let (tx, rx) = watch::channel(false);
                link.subs
                    .try_send(Sub::On(keys.channel.clone(), tx))
                    .map_err(|_| Refusal::Unavailable)?;
                state.rooms.insert(key, LocalRoom::new(rx));
            }
            let room = state.rooms.get_mut(&key).ok_or(Refusal::Unavailable)?;
            room.expect(nonce, pending);
            room.ready.clone()
        };
        self.publish_counts();
        match timeout(COMMAND_TIMEOUT, ready.wait_for(|ready| *ready)).await {
            Ok(Ok(_)) => Ok(nonce),
            _ => {
                self.abandon(key, nonce);
                Err(Refusal::Unavailable)
            }
        }
    }

    /// Forgets a join that failed before its `joined` event, and the room's view if nothing else keeps it.
    fn abandon(&self, key: RoomKey, nonce: u64) {
        let mut state = self.state();
        let Some(room) = state.rooms.get_mut(&key) else {
            return;
        };
        room.abandon(nonce);
        let effects = Effects {
            finished: room.is_idle(),
            ..Effects::default()
        };
        self.settle(state, key, effects);
    }

    /// Runs an admission script and waits for the member id its `joined` event brings.
    async fn admit(
        &self,
        mut link: Link,
        key: RoomKey,
        nonce: u64,
        call: Call,
        admitted: oneshot::Receiver<MemberId>,
    ) -> Result<MemberId, Refusal> {
        let start = Instant::now();
        let answer: Result<Result<Vec<String>, RedisError>, _> =
            timeout(COMMAND_TIMEOUT, script_cmd(&call).query_async(&mut link.commands)).await;
        self.0.metrics.backplane_rtt.observe(start.elapsed());
        let answer = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) if !is_lost(&e) => {
                tracing::warn!(error = e.category(), "admission script refused");
                self.abandon(key, nonce);
                return Err(Refusal::Unavailable);
            }
            _ => {
                self.fail(&link.relay);
                return Err(Refusal::Unavailable);
            }
        };
        match answer.first().map(String::as_str) {
            Some("ok") => {}
            other => {
                self.abandon(key, nonce);
                return Err(local::refusal(other.unwrap_or("")));
            }
        }
        match timeout(ADMISSION_TIMEOUT, admitted).await {
            Ok(Ok(member)) => Ok(member),
            // Dropping the receiver makes the `joined` event, if it still comes, remove the member again.
            _ => {
                self.abandon(key, nonce);
                Err(Refusal::Unavailable)
            }
        }
    }

    /// Creates room `id` with `outbox`'s connection, from address `creator`, as member 1.
    ///
    /// This relay's ledger bounds the rooms it lets be created, in all and per address, until their original expiry.
    pub(crate) async fn create(
        &self,
        id: &RoomId,
        verifier: &Verifier,
        lifetime: u32,
        descriptor: Descriptor,
        outbox: &Outbox,
        creator: AddressKey,
    ) -> Result<Membership, Refusal> {
        let lifetime = lifetime.min(self.0.settings.max_lifetime);
        // Counted from before the script runs, so that the place comes free no later than the room's own expiry.
        let now = Instant::now();
        let mut place = Place {
            backplane: self,
            reservation: Some(lock(&self.0.ledger).reserve(creator, now)?),
        };
        let membership = self.create_room(id, verifier, lifetime, descriptor, outbox).await?;
        place.keep(now, Duration::from_secs(lifetime.into()));
        Ok(membership)
    }

    /// Runs the create script and waits for the creator's admission.
    async fn create_room(
        &self,
        id: &RoomId,
        verifier: &Verifier,
        lifetime: u32,
        descriptor: Descriptor,
        outbox: &Outbox,
    ) -> Result<Membership, Refusal> {
        let link = self.link()?;
        let key = *id.as_bytes();
        let keys = RoomKeys::new(&key);
        let descriptor = serde_json::to_vec(&descriptor).map_err(|_| Refusal::Unavailable)?;
        let (done, admitted) = oneshot::channel();
        let pending = Pending {
            outbox: outbox.clone(),
            joining: false,
            done,
        };
        let nonce = self.expect(&link, key, &keys, pending).await?;
        let args = vec![
            verifier.as_bytes().to_vec(),
            lifetime.to_string().into_bytes(),
            descriptor,
            link.relay.as_bytes().to_vec(),
            nonce.to_string().into_bytes(),
            self.0.settings.max_events.to_string().into_bytes(),
            keys.channel.clone().into_bytes(),
            keys.hex.clone().into_bytes(),
            self.relay_rooms_ttl().into_bytes(),
        ];
        let script_keys = admission_keys(&keys, &link.relay);
        let member = self
            .admit(
                link,
                key,
                nonce,
                Call {
                    script: Script::Create,
                    keys: script_keys,
                    args,
                },
                admitted,
            )
            .await?;
        metrics::add(&self.0.metrics.rooms_created, 1);
        Ok(self.membership(key, keys, member, outbox))
    }

    /// Joins room `id` with `token`, compared here in constant time with the stored verifier.
    /// What Redis holds of room `id`, for `peek`: its state field, read as `join` reads it, and nothing else.
    pub(crate) async fn state_of(&self, id: &RoomId) -> Result<RoomState, Refusal> {
        let mut link = self.link()?;
        let keys = RoomKeys::new(id.as_bytes());
        let state: Result<Result<Option<Vec<u8>>, RedisError>, _> = timeout(
            COMMAND_TIMEOUT,
            redis::cmd("HGET")
                .arg(&keys.room)
                .arg("s")
                .query_async(&mut link.commands),
        )
        .await;
        match state {
            Ok(Ok(None)) => Ok(RoomState::Unknown),
            Ok(Ok(Some(s))) if s == b"live" => Ok(RoomState::Live),
            Ok(Ok(Some(_))) => Ok(RoomState::Gone),
            Ok(Err(e)) if !is_lost(&e) => Err(Refusal::Unavailable),
            _ => {
                self.fail(&link.relay);
                Err(Refusal::Unavailable)
            }
        }
    }

    pub(crate) async fn join(&self, id: &RoomId, token: &AuthToken, outbox: &Outbox) -> Result<Membership, Refusal> {
        let mut link = self.link()?;
        let key = *id.as_bytes();
        let keys = RoomKeys::new(&key);
        let fields: Result<Result<HashMap<String, Vec<u8>>, RedisError>, _> = timeout(
            COMMAND_TIMEOUT,
            redis::cmd("HGETALL").arg(&keys.room).query_async(&mut link.commands),
        )
        .await;
        let fields = match fields {
            Ok(Ok(fields)) => fields,
            Ok(Err(e)) if !is_lost(&e) => return Err(Refusal::Unavailable),
            _ => {
                self.fail(&link.relay);
                return Err(Refusal::Unavailable);
            }
        };
        match fields.get("s").map(Vec::as_slice) {
            None => return Err(Refusal::RoomNotFound),
            Some(b"live") => {}
            Some(_) => return Err(Refusal::RoomGone),
        }
        let stored = fields.get("v").map(Vec::as_slice).unwrap_or_default();
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if stored.len() != hash.len() || !bool::from(hash.ct_eq(stored)) {
            return Err(Refusal::BadToken);
        }
        let (done, admitted) = oneshot::channel();
        // The descriptor comes with the `joined` event, read in the same atomic step that checks the verifier.
        let pending = Pending {
            outbox: outbox.clone(),
            joining: true,
            done,
        };
        let nonce = self.expect(&link, key, &keys, pending).await?;
        let args = vec![
            stored.to_vec(),
            link.relay.as_bytes().to_vec(),
            nonce.to_string().into_bytes(),
            self.0.settings.max_members.to_string().into_bytes(),
            self.0.settings.max_events.to_string().into_bytes(),
            keys.channel.clone().into_bytes(),
            keys.hex.clone().into_bytes(),
            self.relay_rooms_ttl().into_bytes(),
        ];
        let script_keys = admission_keys(&keys, &link.relay);
        let member = self
            .admit(
                link,
                key,
                nonce,
                Call {
                    script: Script::Admit,
                    keys: script_keys,
                    args,
                },
                admitted,
            )
            .await?;
        Ok(self.membership(key, keys, member, outbox))
    }

    /// How long a relay's list of rooms outlives its last admission: the longest a room lives, plus a minute.
    fn relay_rooms_ttl(&self) -> String {
        ((u64::from(self.0.settings.max_lifetime) + 60) * 1000).to_string()
    }

    fn membership(&self, key: RoomKey, keys: RoomKeys, member: MemberId, outbox: &Outbox) -> Membership {
        Membership {
            backplane: self.clone(),
            key,
            keys,
            member,
            outbox: outbox.clone(),
        }
    }

    fn leave_op(&self, keys: &RoomKeys, id: MemberId, reason: LeftReason) -> Op {
        Op::Run(Call {
            script: Script::Leave,
            keys: vec![keys.room.clone(), keys.members.clone(), keys.events.clone()],
            args: vec![
                id.to_string().into_bytes(),
                local::Why::of(reason).as_bytes().to_vec(),
                keys.channel.clone().into_bytes(),
                self.0.settings.max_events.to_string().into_bytes(),
            ],
        })
    }
}

/// A place in this relay's ledger for a create on its way: given back if the create fails or is abandoned.
struct Place<'a> {
    backplane: &'a Backplane,
    reservation: Option<Reservation>,
}

impl Place<'_> {
    /// Keeps the place for the created room until `lifetime` from `start`.
    fn keep(&mut self, start: Instant, lifetime: Duration) {
        if let Some(reservation) = self.reservation.take() {
            lock(&self.backplane.0.ledger).settle(reservation, Some((start, lifetime)));
        }
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if let Some(reservation) = self.reservation.take() {
            lock(&self.backplane.0.ledger).settle(reservation, None);
        }
    }
}

/// Queues `op` for the writer; a membership change that finds the queue full waits for room on its own task.
fn enqueue(link: &Link, op: Op) {
    match link.ops.try_send(op) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(op)) => {
            let ops = link.ops.clone();
            tokio::spawn(async move {
                let _ = timeout(COMMAND_TIMEOUT, ops.send(op)).await;
            });
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

impl Membership {
    /// This connection's member id in the room.
    pub(crate) fn member(&self) -> MemberId {
        self.member
    }

    /// The link, if this member is still connected here and Redis answers.
    fn present(&self) -> Option<(Link, MutexGuard<'_, State>)> {
        let state = self.backplane.state();
        let link = state.link.clone()?;
        let room = state.rooms.get(&self.key)?;
        room.holds(self.member, &self.outbox).then_some((link, state))
    }

    fn publish(&self, link: &Link, to: Option<MemberId>, payload: Payload) -> Result<(), Refusal> {
        let frame = RelayFrame::Frame {
            from: self.member,
            direct: to.is_some(),
            payload,
        };
        let message = local::frame_message(self.member, to, &frame.encode());
        let op = Op::Publish {
            channel: self.keys.channel.clone(),
            message,
        };
        link.ops.try_send(op).map_err(|_| Refusal::RateLimited)
    }

    /// Sends `payload` to every other member, on every relay.
    pub(crate) fn broadcast(&self, payload: Payload) -> Result<(), Refusal> {
        let Some((link, state)) = self.present() else {
            return Ok(());
        };
        drop(state);
        self.publish(&link, None, payload)
    }

    /// Sends `payload` to member `to` alone; only the relay it is connected to delivers it.
    pub(crate) fn direct(&self, to: MemberId, payload: Payload) -> Result<(), Refusal> {
        let Some((link, state)) = self.present() else {
            return Ok(());
        };
        let known = state.rooms.get(&self.key).is_some_and(|room| room.knows(to));
        drop(state);
        if to == self.member || !known {
            return Err(Refusal::UnknownMember);
        }
        self.publish(&link, Some(to), payload)
    }

    /// Kicks member `target`, wherever it is connected.
    pub(crate) fn kick(&self, target: MemberId) -> Result<(), Refusal> {
        let Some((link, state)) = self.present() else {
            return Ok(());
        };
        let known = state.rooms.get(&self.key).is_some_and(|room| room.knows(target));
        drop(state);
        if target == self.member {
            return Err(Refusal::BadRequest("a member cannot kick itself; send leave instead"));
        }
        if !known {
            return Err(Refusal::UnknownMember);
        }
        let keys = &self.keys;
        enqueue(
            &link,
            Op::Run(Call {
                script: Script::Kick,
                keys: vec![keys.room.clone(), keys.members.clone(), keys.events.clone()],
                args: vec![
                    self.member.to_string().into_bytes(),
                    target.to_string().into_bytes(),
                    keys.channel.clone().into_bytes(),
                    self.backplane.0.settings.max_events.to_string().into_bytes(),
                ],
            }),
        );
        Ok(())
    }

    /// Locks the room on every relay: one script checks that this member is still in it through this relay and
    /// within the room's lock rate, then replaces the verifier and descriptor that every later join reads.
    ///
    /// It runs at once rather than behind this relay's queued frames, so that its answer comes back to the member.
    pub(crate) async fn lock(&self, verifier: &Verifier, descriptor: Descriptor) -> Result<(), Refusal> {
        let mut link = {
            let state = self.backplane.state();
            let Some(link) = state.link.clone() else {
                return Err(Refusal::Unavailable);
            };
            if !state
                .rooms
                .get(&self.key)
                .is_some_and(|room| room.holds(self.member, &self.outbox))
            {
                return Err(Refusal::NotInRoom);
            }
            link
        };
        let descriptor = serde_json::to_vec(&descriptor).map_err(|_| Refusal::Unavailable)?;
        let keys = &self.keys;
        let call = Call {
            script: Script::Lock,
            keys: vec![keys.room.clone(), keys.members.clone(), keys.locks.clone()],
            args: vec![
                self.member.to_string().into_bytes(),
                link.relay.as_bytes().to_vec(),
                verifier.as_bytes().to_vec(),
                descriptor,
                self.backplane.0.settings.locks_per_minute.to_string().into_bytes(),
            ],
        };
        let start = Instant::now();
        let answer: Result<Result<Vec<String>, RedisError>, _> =
            timeout(COMMAND_TIMEOUT, script_cmd(&call).query_async(&mut link.commands)).await;
        self.backplane.0.metrics.backplane_rtt.observe(start.elapsed());
        match answer {
            Ok(Ok(answer)) => match answer.first().map(String::as_str) {
                Some("ok") => {
                    metrics::add(&self.backplane.0.metrics.rooms_locked, 1);
                    let _ = self.outbox.send(&RelayFrame::Locked);
                    Ok(())
                }
                other => Err(local::refusal(other.unwrap_or(""))),
            },
            Ok(Err(e)) if !is_lost(&e) => {
                tracing::warn!(error = e.category(), "lock script refused");
                Err(Refusal::Unavailable)
            }
            _ => {
                self.backplane.fail(&link.relay);
                Err(Refusal::Unavailable)
            }
        }
    }

    /// Purges the room on every relay, if this connection is still in it.
    pub(crate) fn purge(&self) {
        let Some((link, state)) = self.present() else {
            return;
        };
        drop(state);
        let keys = &self.keys;
        enqueue(
            &link,
            Op::Run(Call {
                script: Script::Purge,
                keys: vec![
                    keys.room.clone(),
                    keys.members.clone(),
                    keys.events.clone(),
                    keys.locks.clone(),
                ],
                args: vec![self.member.to_string().into_bytes(), keys.channel.clone().into_bytes()],
            }),
        );
    }

    /// Leaves the room; every relay's members hear `reason` once Redis has recorded it.
    pub(crate) fn leave(&self, reason: LeftReason) {
        let Some((link, mut state)) = self.present() else {
            return;
        };
        let mut effects = Effects::default();
        if let Some(room) = state.rooms.get_mut(&self.key)
            && room.forget(self.member)
        {
            effects.removed = 1;
            effects.finished = room.is_idle();
        }
        enqueue(&link, self.backplane.leave_op(&self.keys, self.member, reason));
        self.backplane.settle(state, self.key, effects);
    }
}

/// The keys the create and admission scripts touch: the room's three and relay `relay`'s list of rooms.
fn admission_keys(keys: &RoomKeys, relay: &str) -> Vec<String> {
    vec![
        keys.room.clone(),
        keys.members.clone(),
        keys.events.clone(),
        scripts::relay_rooms_key(relay),
    ]
}

/// The command that runs `script` with `keys` and `args`.
fn script_cmd(call: &Call) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(call.script.source())
        .arg(call.keys.len())
        .arg(&call.keys)
        .arg(&call.args);
    cmd
}

/// Settings of every connection to Redis: bounded connect and command times.
fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
}

/// Refuses a Redis that would write rooms to disk (`save` or `appendonly`), unless `allow`; warns when it cannot tell.
async fn check_persistence(connection: &mut MultiplexedConnection, allow: bool) -> Result<(), Error> {
    let save: Result<HashMap<String, String>, _> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query_async(connection)
        .await;
    let appendonly: Result<HashMap<String, String>, _> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query_async(connection)
        .await;
    let (Ok(save), Ok(appendonly)) = (save, appendonly) else {
        tracing::warn!(
            "cannot read Redis's CONFIG (disabled or renamed): make sure it neither saves snapshots nor keeps an append-only file"
        );
        return Ok(());
    };
    let snapshots = save.get("save").is_some_and(|s| !s.trim().is_empty());
    let aof = appendonly
        .get("appendonly")
        .is_some_and(|a| a.eq_ignore_ascii_case("yes"));
    if !snapshots && !aof {
        return Ok(());
    }
    let what = match (snapshots, aof) {
        (true, true) => "save and appendonly are set",
        (true, false) => "save is set",
        _ => "appendonly is set",
    };
    if allow {
        tracing::warn!("Redis would write rooms to disk ({what}); starting anyway as --redis-allow-persistence asks");
        return Ok(());
    }
    Err(Error::Backplane(format!(
        "Redis would write rooms to disk ({what}); run it with --save '' --appendonly no, or pass --redis-allow-persistence"
    )))
}

fn parse_hex(hex: &[u8]) -> Option<RoomKey> {
    if hex.len() != ROOM_ID_LEN * 2 {
        return None;
    }
    let mut key = [0u8; ROOM_ID_LEN];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        key[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(key)
}

/// The writer task: sends queued commands to Redis in order, many per round trip, until the link stops.
async fn write_loop(
    inner: Weak<Inner>,
    relay: Arc<str>,
    mut connection: MultiplexedConnection,
    mut ops: mpsc::Receiver<Op>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let received = tokio::select! {
            () = stop.cancelled() => return,
            n = ops.recv_many(&mut batch, BATCH) => n,
        };
        if received == 0 {
            return;
        }
        let mut pipe = redis::pipe();
        let mut published = 0;
        for op in batch.drain(..) {
            match op {
                Op::Publish { channel, message } => {
                    published += 1;
                    pipe.cmd("PUBLISH").arg(channel).arg(message).ignore();
                }
                Op::Run(call) => {
                    pipe.add_command(script_cmd(&call)).ignore();
                }
            }
        }
        let Some(strong) = inner.upgrade() else {
            return;
        };
        metrics::add(&strong.metrics.backplane_published, published);
        drop(strong);
        let result: Result<(), RedisError> = pipe.query_async(&mut connection).await;
        if let Err(error) = result {
            if is_lost(&error) {
                if let Some(inner) = inner.upgrade() {
                    Backplane(inner).fail(&relay);
                }
                return;
            }
            tracing::warn!(error = error.category(), "backplane command refused");
        }
    }
}

/// The subscription task: subscribes and unsubscribes room channels in the order the local views came and went.
async fn subscribe_loop(
    inner: Weak<Inner>,
    relay: Arc<str>,
    mut connection: MultiplexedConnection,
    mut subs: mpsc::Receiver<Sub>,
    stop: CancellationToken,
) {
    loop {
        let sub = tokio::select! {
            () = stop.cancelled() => return,
            sub = subs.recv() => sub,
        };
        let result = match sub {
            None => return,
            Some(Sub::On(channel, ready)) => {
                let result = connection.subscribe(&channel).await;
                if result.is_ok() {
                    let _ = ready.send(true);
                }
                result
            }
            Some(Sub::Off(channel)) => connection.unsubscribe(&channel).await,
        };
        if let Err(error) = result {
            if let Some(inner) = inner.upgrade() {
                Backplane(inner).fail(&relay);
            }
            tracing::debug!(error = error.category(), "subscription failed");
            return;
        }
    }
}
