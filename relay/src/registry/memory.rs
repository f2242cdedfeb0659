//! The in-memory registry: every room in this relay's memory, fanned out to local outboxes; the default.
//!
//! Locks: the registry's map is one `std::sync::Mutex`, each room another.
//! The map is taken before a room, never the other way, and neither is held across `.await`.
//! Broadcasts lock only their room, so rooms do not contend with each other.

use std::collections::{BTreeSet, HashMap};
use std::future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use sanctum_protocol::{
    AuthToken, Descriptor, LeftReason, MemberId, Payload, PurgeReason, ROOM_ID_LEN, RoomId, RoomState, Verifier,
};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::Refusal;
use crate::metrics::{self, Metrics};
use crate::outbox::Outbox;
use crate::room::{Room, RoomLimits, Tick};
use crate::throttle::AddressKey;

type RoomKey = [u8; ROOM_ID_LEN];
type SharedRoom = Arc<Mutex<Room>>;

/// Locks a mutex whose critical sections always leave it consistent, so that poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
enum Entry {
    /// A live room, and the one instant at which the timer task looks at it next.
    Live {
        room: SharedRoom,
        scheduled: Instant,
        creator: AddressKey,
    },
    /// A purged room's id, refused until the room's original expiry.
    Tombstone { until: Instant, creator: AddressKey },
}

#[derive(Debug, Default)]
struct State {
    rooms: HashMap<RoomKey, Entry>,
    /// Deadlines of warnings, expiries and tombstones, earliest first.
    timers: BTreeSet<(Instant, RoomKey)>,
    live: usize,
    tombstones: usize,
    /// Rooms and tombstones by the address that created them; an address leaves with its last one.
    by_creator: HashMap<AddressKey, u32>,
}

impl State {
    /// Forgets one room or tombstone of `creator`.
    fn release(&mut self, creator: AddressKey) {
        if let Some(count) = self.by_creator.get_mut(&creator) {
            *count -= 1;
            if *count == 0 {
                self.by_creator.remove(&creator);
            }
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    room_limits: RoomLimits,
    max_rooms: usize,
    max_rooms_per_address: u32,
    max_lifetime: u32,
    metrics: Arc<Metrics>,
    timer: Notify,
}

/// A cloneable handle to every room on this relay.
#[derive(Debug, Clone)]
pub(crate) struct Registry(Arc<Inner>);

/// One connection's place in one room; everything a member can do goes through it.
#[derive(Debug)]
pub(crate) struct Membership {
    registry: Registry,
    key: RoomKey,
    room: SharedRoom,
    member: MemberId,
    outbox: Outbox,
}

impl Registry {
    /// An empty registry with the room limits of `config`.
    pub(crate) fn new(config: &Config, metrics: Arc<Metrics>) -> Self {
        Self(Arc::new(Inner {
            state: Mutex::new(State::default()),
            room_limits: RoomLimits {
                max_members: config.max_members,
                max_membership_events: config.max_membership_events,
                locks_per_minute: config.locks_per_minute,
                expiry_warnings: config.expiry_warnings.as_slice().into(),
            },
            max_rooms: config.max_rooms,
            max_rooms_per_address: config.max_rooms_per_address,
            max_lifetime: config.max_lifetime,
            metrics,
            timer: Notify::new(),
        }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.0.state)
    }

    fn publish_counts(&self, state: &State) {
        self.0
            .metrics
            .rooms
            .store(state.live as i64, std::sync::atomic::Ordering::Relaxed);
        self.0
            .metrics
            .tombstones
            .store(state.tombstones as i64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Creates room `id` with `outbox`'s connection, from address `creator`, as member 1; the lifetime is clamped
    /// to the maximum.
    ///
    /// Rooms without members live until their expiry, and tombstones until theirs, so each address may hold only so
    /// many of the relay's room slots: otherwise a few addresses could hold them all.
    pub(crate) fn create(
        &self,
        id: &RoomId,
        verifier: &Verifier,
        lifetime: u32,
        descriptor: Descriptor,
        outbox: &Outbox,
        creator: AddressKey,
    ) -> Result<Membership, Refusal> {
        let now = Instant::now();
        let unix_now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let lifetime = lifetime.min(self.0.max_lifetime);
        let key = *id.as_bytes();
        let mut state = self.state();
        if state.rooms.contains_key(&key) {
            return Err(Refusal::RoomExists);
        }
        if state.rooms.len() >= self.0.max_rooms {
            return Err(Refusal::TooManyRooms);
        }
        if state
            .by_creator
            .get(&creator)
            .is_some_and(|count| *count >= self.0.max_rooms_per_address)
        {
            return Err(Refusal::RateLimited);
        }
        let mut room = Room::new(
            verifier,
            lifetime,
            descriptor,
            self.0.room_limits.clone(),
            now,
            unix_now,
            self.0.metrics.clone(),
        );
        let member = room.admit(outbox.clone(), true, now)?;
        let scheduled = room.next_deadline();
        let room = Arc::new(Mutex::new(room));
        state.rooms.insert(
            key,
            Entry::Live {
                room: room.clone(),
                scheduled,
                creator,
            },
        );
        *state.by_creator.entry(creator).or_insert(0) += 1;
        state.timers.insert((scheduled, key));
        state.live += 1;
        self.publish_counts(&state);
        drop(state);
        metrics::add(&self.0.metrics.rooms_created, 1);
        self.0.timer.notify_one();
        Ok(self.membership(key, room, member, outbox))
    }

    /// Joins room `id` with `token`.
    /// What the relay knows of room `id`, for `peek`: the same three answers a `join` could get, without a token.
    pub(crate) fn state_of(&self, id: &RoomId) -> RoomState {
        let room = match self.state().rooms.get(id.as_bytes()) {
            None => return RoomState::Unknown,
            Some(Entry::Tombstone { .. }) => return RoomState::Gone,
            Some(Entry::Live { room, .. }) => room.clone(),
        };
        if lock(&room).is_dead() {
            RoomState::Gone
        } else {
            RoomState::Live
        }
    }

    pub(crate) fn join(&self, id: &RoomId, token: &AuthToken, outbox: &Outbox) -> Result<Membership, Refusal> {
        let key = *id.as_bytes();
        let room = match self.state().rooms.get(&key) {
            None => return Err(Refusal::RoomNotFound),
            Some(Entry::Tombstone { .. }) => return Err(Refusal::RoomGone),
            Some(Entry::Live { room, .. }) => room.clone(),
        };
        let mut guard = lock(&room);
        if guard.is_dead() {
            return Err(Refusal::RoomGone);
        }
        if !guard.verify(token) {
            return Err(Refusal::BadToken);
        }
        let member = guard.admit(outbox.clone(), false, Instant::now())?;
        drop(guard);
        Ok(self.membership(key, room, member, outbox))
    }

    fn membership(&self, key: RoomKey, room: SharedRoom, member: MemberId, outbox: &Outbox) -> Membership {
        Membership {
            registry: self.clone(),
            key,
            room,
            member,
            outbox: outbox.clone(),
        }
    }

    /// Ends room `key` if it is still `room`: members are told and closed, and a purge leaves a tombstone.
    fn end(&self, key: RoomKey, room: &SharedRoom, reason: PurgeReason) {
        let mut state = self.state();
        let creator = match state.rooms.get(&key) {
            Some(Entry::Live {
                room: current, creator, ..
            }) if Arc::ptr_eq(current, room) => *creator,
            _ => return,
        };
        let mut guard = lock(room);
        guard.end(reason);
        let until = guard.deadline();
        drop(guard);
        state.live -= 1;
        if reason == PurgeReason::Purged {
            state.rooms.insert(key, Entry::Tombstone { until, creator });
            state.timers.insert((until, key));
            state.tombstones += 1;
        } else {
            state.rooms.remove(&key);
            state.release(creator);
        }
        self.publish_counts(&state);
        drop(state);
        self.0.metrics.room_ended(reason);
    }

    /// Sends the warnings and ends the rooms due at `now`, drops tombstones past their expiry,
    /// and says when to look again.
    pub(crate) fn fire_due(&self, now: Instant) -> Option<Instant> {
        let mut expired = Vec::new();
        let mut released = Vec::new();
        let mut state = self.state();
        let State {
            rooms,
            timers,
            tombstones,
            ..
        } = &mut *state;
        while let Some(&(when, key)) = timers.first() {
            if when > now {
                break;
            }
            timers.pop_first();
            match rooms.get_mut(&key) {
                Some(Entry::Live { room, scheduled, .. }) if *scheduled == when => match lock(room).tick(now) {
                    Tick::Until(next) => {
                        *scheduled = next;
                        timers.insert((next, key));
                    }
                    Tick::Expired => expired.push((key, room.clone())),
                },
                Some(Entry::Tombstone { until, creator }) if *until <= now => {
                    released.push(*creator);
                    rooms.remove(&key);
                    *tombstones -= 1;
                }
                _ => {}
            }
        }
        for creator in released {
            state.release(creator);
        }
        self.publish_counts(&state);
        drop(state);
        for (key, room) in expired {
            self.end(key, &room, PurgeReason::Expired);
        }
        self.state().timers.first().map(|(when, _)| *when)
    }

    /// The timer task: warnings, expiries and tombstone removal, until `cancel` fires.
    pub(crate) async fn run_timers(self, cancel: CancellationToken) {
        loop {
            let next = self.fire_due(Instant::now());
            let sleep = async {
                match next {
                    Some(when) => tokio::time::sleep_until(when).await,
                    None => future::pending().await,
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = sleep => {}
                () = self.0.timer.notified() => {}
            }
        }
    }
}

impl Membership {
    /// This connection's member id in the room.
    pub(crate) fn member(&self) -> MemberId {
        self.member
    }

    /// Sends `payload` to every other member.
    pub(crate) fn broadcast(&self, payload: Payload) {
        lock(&self.room).broadcast(self.member, payload, Instant::now());
    }

    /// Sends `payload` to member `to` alone.
    pub(crate) fn direct(&self, to: MemberId, payload: Payload) -> Result<(), Refusal> {
        lock(&self.room).direct(self.member, to, payload, Instant::now())
    }

    /// Disconnects member `target`.
    pub(crate) fn kick(&self, target: MemberId) -> Result<(), Refusal> {
        lock(&self.room).kick(self.member, target, Instant::now())
    }

    /// Locks the room with a new verifier and descriptor, if this connection is still in it.
    pub(crate) fn lock(&self, verifier: &Verifier, descriptor: Descriptor) -> Result<(), Refusal> {
        lock(&self.room).lock(self.member, &self.outbox, verifier, descriptor, Instant::now())
    }

    /// Purges the room for everyone, if this connection is still in it.
    pub(crate) fn purge(&self) {
        if lock(&self.room).holds(self.member, &self.outbox) {
            self.registry.end(self.key, &self.room, PurgeReason::Purged);
        }
    }

    /// Leaves the room; the others hear `reason`. Does nothing if this member was already removed.
    pub(crate) fn leave(&self, reason: LeftReason) {
        let mut room = lock(&self.room);
        if room.holds(self.member, &self.outbox) {
            room.remove(self.member, reason, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sanctum_protocol::{AUTH_TOKEN_LEN, CloseCode, RelayFrame};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::outbox::Next;

    fn config(max_rooms: usize) -> Config {
        Config {
            max_lifetime: 100,
            expiry_warnings: vec![30, 10],
            max_rooms,
            ..Config::default()
        }
    }

    fn address() -> AddressKey {
        AddressKey::from_ip("192.0.2.1".parse().unwrap())
    }

    fn verifier() -> Verifier {
        Verifier(Sha256::digest([5; AUTH_TOKEN_LEN]).into())
    }

    fn frames(outbox: &Outbox) -> Vec<RelayFrame> {
        let mut frames = Vec::new();
        while let Some(Next::Frame(text)) = outbox.try_next() {
            frames.push(RelayFrame::decode(&text).unwrap());
        }
        frames
    }

    #[tokio::test(start_paused = true)]
    async fn lifetimes_are_clamped_and_rooms_expire_with_warnings() {
        let metrics = Arc::new(Metrics::default());
        let registry = Registry::new(&config(10), metrics.clone());
        let cancel = CancellationToken::new();
        let timers = tokio::spawn(registry.clone().run_timers(cancel.clone()));
        let creator = Outbox::new(10_000, metrics.clone());
        let room = RoomId([1; ROOM_ID_LEN]);
        registry
            .create(&room, &verifier(), 9_999, Descriptor::default(), &creator, address())
            .unwrap();
        assert!(matches!(
            frames(&creator)[..],
            [RelayFrame::Created {
                member: 1,
                expires_in: 100,
                ..
            }]
        ));
        let joiner = Outbox::new(10_000, metrics.clone());
        registry.join(&room, &AuthToken([5; AUTH_TOKEN_LEN]), &joiner).unwrap();
        frames(&creator);
        frames(&joiner);

        tokio::time::sleep(Duration::from_secs(71)).await;
        assert_eq!(frames(&joiner), vec![RelayFrame::Expiring { seconds: 30 }]);
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(frames(&joiner), vec![RelayFrame::Expiring { seconds: 10 }]);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(
            frames(&joiner),
            vec![RelayFrame::Purged {
                reason: PurgeReason::Expired
            }]
        );
        assert_eq!(joiner.try_next(), Some(Next::Close(CloseCode::Expired)));
        // An expired room leaves no tombstone: the id is free again.
        assert_eq!(metrics.rooms.load(std::sync::atomic::Ordering::Relaxed), 0);
        assert_eq!(metrics.tombstones.load(std::sync::atomic::Ordering::Relaxed), 0);
        let again = Outbox::new(10_000, metrics.clone());
        assert!(
            registry
                .create(&room, &verifier(), 10, Descriptor::default(), &again, address())
                .is_ok()
        );
        cancel.cancel();
        timers.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn one_address_holds_at_most_its_share_of_rooms_and_tombstones_until_they_end() {
        let metrics = Arc::new(Metrics::default());
        let registry = Registry::new(
            &Config {
                max_rooms_per_address: 2,
                ..config(100)
            },
            metrics.clone(),
        );
        let cancel = CancellationToken::new();
        let timers = tokio::spawn(registry.clone().run_timers(cancel.clone()));
        let neighbour = AddressKey::from_ip("192.0.2.2".parse().unwrap());
        let outbox = Outbox::new(100_000, metrics.clone());
        let create = |seed: u8, lifetime: u32, from: AddressKey| {
            registry.create(
                &RoomId([seed; ROOM_ID_LEN]),
                &verifier(),
                lifetime,
                Descriptor::default(),
                &outbox,
                from,
            )
        };
        // An empty room and a purged one's tombstone both hold a slot.
        let purged = create(10, 20, address()).unwrap();
        purged.purge();
        let _empty = create(11, 50, address()).unwrap();
        assert_eq!(create(12, 50, address()).err(), Some(Refusal::RateLimited));
        assert!(create(13, 50, neighbour).is_ok());
        // The tombstone ends at the purged room's expiry, and its slot is the address's again.
        tokio::time::sleep(Duration::from_secs(21)).await;
        assert!(create(12, 50, address()).is_ok());
        assert_eq!(create(14, 50, address()).err(), Some(Refusal::RateLimited));
        cancel.cancel();
        timers.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_purged_id_stays_dead_until_its_original_expiry() {
        let metrics = Arc::new(Metrics::default());
        let registry = Registry::new(&config(2), metrics.clone());
        let cancel = CancellationToken::new();
        let timers = tokio::spawn(registry.clone().run_timers(cancel.clone()));
        let room = RoomId([2; ROOM_ID_LEN]);
        let creator = Outbox::new(10_000, metrics.clone());
        let membership = registry
            .create(&room, &verifier(), 50, Descriptor::default(), &creator, address())
            .unwrap();
        membership.purge();
        frames(&creator);
        assert_eq!(creator.try_next(), Some(Next::Close(CloseCode::Purged)));

        let other = Outbox::new(10_000, metrics.clone());
        let token = AuthToken([5; AUTH_TOKEN_LEN]);
        assert_eq!(registry.join(&room, &token, &other).err(), Some(Refusal::RoomGone));
        assert_eq!(
            registry
                .create(&room, &verifier(), 50, Descriptor::default(), &other, address())
                .err(),
            Some(Refusal::RoomExists)
        );
        // The tombstone counts toward the room limit.
        let third = RoomId([3; ROOM_ID_LEN]);
        assert!(
            registry
                .create(&third, &verifier(), 50, Descriptor::default(), &other, address())
                .is_ok()
        );
        let fourth = RoomId([4; ROOM_ID_LEN]);
        let late = Outbox::new(10_000, metrics.clone());
        assert_eq!(
            registry
                .create(&fourth, &verifier(), 50, Descriptor::default(), &late, address())
                .err(),
            Some(Refusal::TooManyRooms)
        );
        assert_eq!(metrics.tombstones.load(std::sync::atomic::Ordering::Relaxed), 1);

        tokio::time::sleep(Duration::from_secs(51)).await;
        assert_eq!(metrics.tombstones.load(std::sync::atomic::Ordering::Relaxed), 0);
        assert_eq!(registry.join(&room, &token, &late).err(), Some(Refusal::RoomNotFound));
        cancel.cancel();
        timers.await.unwrap();
    }
}
