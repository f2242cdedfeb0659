//! Rate limiters: creates per address, failed joins per connection and per address, frames per connection.
//!
//! Everything is counted in memory, in tables of bounded size, and never logged.
//! Addresses are reduced to an [`AddressKey`] (IPv6 grouped by /64) whose `Debug` prints nothing of the address.
//! Nothing here is keyed by room, so no outsider can lock a room's real members out.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};
use tokio::time::Instant;

use crate::metrics::Metrics;

/// The window of the per-minute counters.
pub(crate) const MINUTE: Duration = Duration::from_secs(60);
/// The first wait imposed on an address that reached its failed-join limit; it doubles with each further failure.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest wait imposed on an address between join attempts.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How long an address's failed joins are remembered after its last failure.
pub(crate) const FAILURE_MEMORY: Duration = Duration::from_secs(900);
/// The window in which refused frames count toward closing a flooding connection.
pub(crate) const FLOOD_WINDOW: Duration = Duration::from_secs(10);
/// Entries per address table.
const MAX_TABLE_ENTRIES: usize = 65_536;
/// Entries a full table looks at, oldest first, to make room for a new one.
const EVICTION_PROBES: usize = 8;

/// The unit that per-address limits count: an IPv4 address, or the /64 prefix of an IPv6 address.
///
/// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AddressKey(u128);

impl AddressKey {
    /// The key of one client address.
    pub(crate) fn from_ip(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self((0xffff_u128 << 32) | u128::from(u32::from(v4))),
            IpAddr::V6(v6) => Self(u128::from(v6) & !u128::from(u64::MAX)),
        }
    }

    /// The client's address: the socket's peer, or, when that peer is a trusted proxy, the address its
    /// forwarding header names (the right-most entry that is not itself a trusted proxy).
    ///
    /// A trusted proxy's request without a usable header counts as the proxy's own address.
    pub(crate) fn of_client(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr], header: &HeaderName) -> Self {
        let peer_ip = peer.ip().to_canonical();
        if !trusted.iter().any(|t| t.to_canonical() == peer_ip) {
            return Self::from_ip(peer_ip);
        }
        let entries: Vec<Option<IpAddr>> = headers
            .get_all(header)
            .iter()
            .flat_map(|value| value.to_str().unwrap_or("").split(','))
            .map(parse_forwarded_entry)
            .collect();
        // Entries left of the first untrusted one were written by the client and prove nothing, so the walk
        // stops there; if that entry cannot be read, the proxy's own address is the safe answer.
        let client = entries
            .into_iter()
            .rev()
            .find(|entry| !entry.is_some_and(|ip| trusted.iter().any(|t| t.to_canonical() == ip.to_canonical())))
            .flatten();
        Self::from_ip(client.unwrap_or(peer_ip))
    }
}

impl fmt::Debug for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AddressKey(..)")
    }
}

/// One entry of `X-Forwarded-For` (`203.0.113.7`, `2001:db8::1`) or of `Forwarded` (`for="[2001:db8::1]:443"`).
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let mut text = entry.trim();
    if let Some(pair) = text.split(';').find_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        key.eq_ignore_ascii_case("for").then_some(value)
    }) {
        text = pair.trim();
    }
    let text = text.trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    // A bracketed IPv6 address without a port, as `Forwarded` writes it.
    text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// A counter over a fixed window: at most `limit` events from the window's first event until `window` later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    start: Instant,
    count: u32,
}

impl Window {
    /// An empty window.
    pub(crate) fn new(now: Instant) -> Self {
        Self { start: now, count: 0 }
    }

    fn roll(&mut self, now: Instant, window: Duration) {
        if now.saturating_duration_since(self.start) >= window {
            *self = Self::new(now);
        }
    }

    /// Counts one event if fewer than `limit` happened in the current window, and says whether it was allowed.
    pub(crate) fn try_count(&mut self, now: Instant, window: Duration, limit: u32) -> bool {
        self.roll(now, window);
        if self.count >= limit {
            return false;
        }
        self.count += 1;
        true
    }

    /// Counts one event that cannot be refused (a departure), so that it still weighs on later joins.
    pub(crate) fn count(&mut self, now: Instant, window: Duration) {
        self.roll(now, window);
        self.count = self.count.saturating_add(1);
    }

    fn is_stale(&self, now: Instant, window: Duration) -> bool {
        now.saturating_duration_since(self.start) >= window
    }
}

/// Failed joins of one address, and until when it must wait.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Instant,
}

/// The per-address tables, shared by every connection.
#[derive(Debug)]
pub(crate) struct AddressLimits {
    creates_per_minute: u32,
    failed_joins: u32,
    tables: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    creates: Table<Window>,
    failures: Table<Failures>,
}

/// A map of bounded size whose entries are looked at for eviction in the order they came, a few at a time.
///
/// Making room never scans the whole map: each new key looks at no more than [`EVICTION_PROBES`] of the oldest
/// entries, drops the first that may go, and sends the others to the back of the line. An entry that must stay
/// (an address waiting out its backoff) is never dropped; when none of the probed entries may go, the new key is
/// not tracked and the caller decides what that means.
#[derive(Debug)]
struct Table<V> {
    entries: HashMap<AddressKey, V>,
    /// Every key of `entries`, once, oldest first.
    order: VecDeque<AddressKey>,
    capacity: usize,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Self::with_capacity(MAX_TABLE_ENTRIES)
    }
}

impl<V> Table<V> {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn get(&self, key: &AddressKey) -> Option<&V> {
        self.entries.get(key)
    }

    /// The entry of `key`, made with `make` if there is none and room can be made; `None` if the table is full of
    /// entries that `may_go` says must stay.
    fn entry(&mut self, key: AddressKey, may_go: impl Fn(&V) -> bool, make: impl FnOnce() -> V) -> Option<&mut V> {
        if !self.entries.contains_key(&key) {
            if self.entries.len() >= self.capacity {
                self.evict_one(may_go)?;
            }
            self.entries.insert(key, make());
            self.order.push_back(key);
        }
        self.entries.get_mut(&key)
    }

    /// Drops one of the oldest entries that may go, looking at no more than a few.
    fn evict_one(&mut self, may_go: impl Fn(&V) -> bool) -> Option<()> {
        for _ in 0..EVICTION_PROBES.min(self.order.len()) {
            let key = self.order.pop_front()?;
            if self.entries.get(&key).is_some_and(&may_go) {
                self.entries.remove(&key);
                return Some(());
            }
            self.order.push_back(key);
        }
        None
    }
}

impl AddressLimits {
    /// Empty tables for the given limits.
    pub(crate) fn new(creates_per_minute: u32, failed_joins: u32) -> Self {
        Self {
            creates_per_minute,
            failed_joins,
            tables: Mutex::new(Tables::default()),
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding this lock cannot leave the tables inconsistent, so a poisoned lock is used as is.
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a create attempt from `key`, and says whether it is within the per-minute limit.
    ///
    /// An address that used up its creates keeps its entry until its minute is over. When the table holds nothing
    /// else, a new address is let through untracked: the live rooms each address may hold still bound it.
    pub(crate) fn try_create(&self, key: AddressKey, now: Instant) -> bool {
        let limit = self.creates_per_minute;
        let mut tables = self.tables();
        let may_go = |w: &Window| w.is_stale(now, MINUTE) || w.count < limit;
        match tables.creates.entry(key, may_go, || Window::new(now)) {
            Some(window) => window.try_count(now, MINUTE, limit),
            None => true,
        }
    }

    /// Whether `key` may attempt a join now, or must wait out its backoff.
    pub(crate) fn may_join(&self, key: AddressKey, now: Instant) -> bool {
        self.tables()
            .failures
            .get(&key)
            .is_none_or(|failures| now >= failures.blocked_until)
    }

    /// Counts a failed join from `key`; past the limit, each failure doubles the wait before its next attempt.
    ///
    /// An address waiting out its backoff is never forgotten before the wait ends; one below its limit may be, which
    /// forgives it no more than a fresh address would get. When every entry is waiting, a new address's failure is
    /// not recorded, and only the per-connection limit applies to it until entries come free.
    pub(crate) fn record_failed_join(&self, key: AddressKey, now: Instant) {
        let limit = self.failed_joins;
        let mut tables = self.tables();
        let may_go = |f: &Failures| now >= f.blocked_until && (f.count < limit || is_forgotten(f, now));
        let fresh = Failures {
            count: 0,
            last: now,
            blocked_until: now,
        };
        let Some(entry) = tables.failures.entry(key, may_go, || fresh) else {
            return;
        };
        if is_forgotten(entry, now) {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if entry.count >= limit {
            let doublings = (entry.count - limit).min(16);
            let wait = BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_MAX);
            entry.blocked_until = now + wait;
        }
    }
}

/// Whether an address's failures are old enough to be forgotten.
fn is_forgotten(failures: &Failures, now: Instant) -> bool {
    now.saturating_duration_since(failures.last) >= FAILURE_MEMORY
}

/// The open WebSocket connections, overall and per address, counted before the upgrade.
#[derive(Debug)]
pub(crate) struct ConnectionSlots {
    max: usize,
    per_address: u32,
    metrics: Arc<Metrics>,
    /// Open connections per address; an address leaves the table with its last connection, so the table holds at
    /// most `max` entries.
    open: Mutex<HashMap<AddressKey, u32>>,
}

/// Why a connection was refused a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSlot {
    /// The relay holds its maximum of connections.
    Relay,
    /// This address holds its maximum of connections.
    Address,
}

/// One slot of the connection limits, released when the connection ends.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    slots: Arc<ConnectionSlots>,
    key: AddressKey,
}

impl ConnectionSlots {
    /// Slots for at most `max` connections, `per_address` of them from any one address.
    pub(crate) fn new(max: usize, per_address: u32, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            max,
            per_address,
            metrics,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for a connection from `key`, if both its address and the relay are under their limits.
    pub(crate) fn try_acquire(self: &Arc<Self>, key: AddressKey) -> Result<ConnectionPermit, NoSlot> {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // The address's own limit first: an address over it hears so even when the relay is full too.
        if open.get(&key).is_some_and(|count| *count >= self.per_address) {
            return Err(NoSlot::Address);
        }
        if self.metrics.connections.load(Ordering::Relaxed) >= self.max as i64 {
            return Err(NoSlot::Relay);
        }
        *open.entry(key).or_insert(0) += 1;
        // The gauge moves under the table's lock, so that two upgrades cannot both take the last slot.
        self.metrics.connections.fetch_add(1, Ordering::Relaxed);
        Ok(ConnectionPermit {
            slots: self.clone(),
            key,
        })
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
        self.slots.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A token bucket for one connection's frames: `rate` per second on average, `burst` at once.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Takes `n` tokens if there are that many; takes none otherwise.
    pub(crate) fn try_take_n(&mut self, now: Instant, n: u32) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        let n = f64::from(n);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use axum::http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv6_is_grouped_by_64_and_mapped_ipv4_counts_as_ipv4() {
        assert_eq!(
            AddressKey::from_ip(ip("2001:db8:1:2:aaaa::1")),
            AddressKey::from_ip(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            AddressKey::from_ip(ip("2001:db8:1:2::1")),
            AddressKey::from_ip(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            AddressKey::from_ip(ip("::ffff:192.0.2.1")),
            AddressKey::from_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
        );
        assert_ne!(
            AddressKey::from_ip(ip("192.0.2.1")),
            AddressKey::from_ip(ip("192.0.2.2"))
        );
        assert_eq!(format!("{:?}", AddressKey::from_ip(ip("192.0.2.1"))), "AddressKey(..)");
    }

    #[test]
    fn forwarding_header_is_believed_only_from_trusted_proxies() {
        let proxy: SocketAddr = "10.0.0.1:5555".parse().unwrap();
        // Configured as written in a flag; header names are case-insensitive.
        let xff = HeaderName::try_from("X-Forwarded-For").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.9, 203.0.113.7"));
        let trusted = [ip("10.0.0.1")];
        assert_eq!(
            AddressKey::of_client(proxy, &headers, &trusted, &xff),
            AddressKey::from_ip(ip("203.0.113.7"))
        );
        assert_eq!(
            AddressKey::of_client(proxy, &headers, &[], &xff),
            AddressKey::from_ip(ip("10.0.0.1"))
        );
        // A chain of trusted proxies is skipped from the right.
        let trusted = [ip("10.0.0.1"), ip("203.0.113.7")];
        assert_eq!(
            AddressKey::of_client(proxy, &headers, &trusted, &xff),
            AddressKey::from_ip(ip("198.51.100.9"))
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "forwarded",
            HeaderValue::from_static("for=\"[2001:db8::7]:443\";proto=https"),
        );
        assert_eq!(
            AddressKey::of_client(
                proxy,
                &headers,
                &[ip("10.0.0.1")],
                &HeaderName::from_static("forwarded")
            ),
            AddressKey::from_ip(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)))
        );
        // An unreadable entry appended after the client's own never lets the client's entry through.
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.9, unknown"));
        assert_eq!(
            AddressKey::of_client(proxy, &headers, &[ip("10.0.0.1")], &xff),
            AddressKey::from_ip(ip("10.0.0.1"))
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(
            AddressKey::of_client(proxy, &headers, &[ip("10.0.0.1")], &xff),
            AddressKey::from_ip(ip("10.0.0.1"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failed_joins_impose_a_growing_backoff_on_the_address_only() {
        let limits = AddressLimits::new(10, 3);
        let guesser = AddressKey::from_ip(ip("192.0.2.1"));
        let member = AddressKey::from_ip(ip("192.0.2.2"));
        let start = Instant::now();
        for _ in 0..2 {
            limits.record_failed_join(guesser, start);
            assert!(limits.may_join(guesser, start));
        }
        limits.record_failed_join(guesser, start);
        assert!(!limits.may_join(guesser, start));
        assert!(limits.may_join(member, start));
        assert!(limits.may_join(guesser, start + BACKOFF_BASE));
        limits.record_failed_join(guesser, start + BACKOFF_BASE);
        assert!(!limits.may_join(guesser, start + BACKOFF_BASE * 2));
        assert!(limits.may_join(guesser, start + BACKOFF_BASE * 3));
        // Failures are forgotten after a quiet period.
        let later = start + FAILURE_MEMORY * 2;
        limits.record_failed_join(guesser, later);
        assert!(limits.may_join(guesser, later));
    }

    #[tokio::test(start_paused = true)]
    async fn creates_are_limited_per_address_per_minute() {
        let limits = AddressLimits::new(2, 3);
        let a = AddressKey::from_ip(ip("192.0.2.1"));
        let b = AddressKey::from_ip(ip("192.0.2.2"));
        let now = Instant::now();
        assert!(limits.try_create(a, now));
        assert!(limits.try_create(a, now));
        assert!(!limits.try_create(a, now));
        assert!(limits.try_create(b, now));
        assert!(limits.try_create(a, now + MINUTE));
    }

    #[tokio::test(start_paused = true)]
    async fn token_bucket_allows_the_burst_then_the_rate() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(2, 3, now);
        assert!((0..3).all(|_| bucket.try_take_n(now, 1)));
        assert!(!bucket.try_take_n(now, 1));
        assert!(bucket.try_take_n(now + Duration::from_millis(500), 1));
        assert!(!bucket.try_take_n(now + Duration::from_millis(500), 1));
        // A message sent in three frames costs three tokens, all or none.
        let later = now + Duration::from_secs(2);
        assert!(!bucket.try_take_n(later, 4));
        assert!(bucket.try_take_n(later, 3));
    }

    #[test]
    fn connection_slots_are_bounded_overall_and_per_address_and_released_on_drop() {
        let metrics = Arc::new(Metrics::default());
        let slots = ConnectionSlots::new(3, 2, metrics.clone());
        let a = AddressKey::from_ip(ip("2001:db8:1:2::1"));
        let a_neighbour = AddressKey::from_ip(ip("2001:db8:1:2::ffff"));
        let b = AddressKey::from_ip(ip("192.0.2.2"));
        let first = slots.try_acquire(a).unwrap();
        let _second = slots.try_acquire(a).unwrap();
        assert_eq!(slots.try_acquire(a_neighbour).err(), Some(NoSlot::Address));
        let _third = slots.try_acquire(b).unwrap();
        assert_eq!(slots.try_acquire(b).err(), Some(NoSlot::Relay));
        assert_eq!(slots.try_acquire(a).err(), Some(NoSlot::Address));
        assert_eq!(metrics.connections.load(Ordering::Relaxed), 3);
        drop(first);
        assert_eq!(metrics.connections.load(Ordering::Relaxed), 2);
        let _again = slots.try_acquire(a_neighbour).unwrap();
        assert_eq!(slots.open.lock().unwrap().len(), 2);
    }

    #[test]
    fn address_tables_stay_bounded() {
        let limits = AddressLimits::new(1, 1);
        let now = Instant::now();
        for n in 0..(MAX_TABLE_ENTRIES as u32 + 10) {
            let key = AddressKey::from_ip(IpAddr::V4(Ipv4Addr::from(n)));
            limits.try_create(key, now);
            limits.record_failed_join(key, now);
        }
        let tables = limits.tables();
        assert!(tables.creates.entries.len() <= MAX_TABLE_ENTRIES);
        assert!(tables.failures.entries.len() <= MAX_TABLE_ENTRIES);
        assert_eq!(tables.failures.order.len(), tables.failures.entries.len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_address_is_never_flushed_out_by_many_new_ones() {
        let limits = AddressLimits::new(1, 2);
        let guesser = AddressKey::from_ip(ip("2001:db8:1::1"));
        let start = Instant::now();
        limits.record_failed_join(guesser, start);
        limits.record_failed_join(guesser, start);
        assert!(!limits.may_join(guesser, start));
        // Far more /64s of the same /48 than the table holds, each failing once and then again.
        for round in 0..2 {
            for n in 0..(MAX_TABLE_ENTRIES as u128 + 1000) {
                let key = AddressKey::from_ip(IpAddr::V6(Ipv6Addr::from(
                    0x2001_0db8_0001_0000_0000_0000_0000_0000 + ((n + 1) << 64),
                )));
                limits.record_failed_join(key, start + Duration::from_millis(round));
            }
        }
        assert!(!limits.may_join(guesser, start + BACKOFF_BASE / 2));
        assert!(limits.may_join(guesser, start + BACKOFF_BASE));
        // The same for an address that used up its creates.
        let creator = AddressKey::from_ip(ip("192.0.2.1"));
        assert!(limits.try_create(creator, start));
        assert!(!limits.try_create(creator, start));
        for n in 0..(MAX_TABLE_ENTRIES as u32 + 1000) {
            limits.try_create(AddressKey::from_ip(IpAddr::V4(Ipv4Addr::from((n + 1) << 8))), start);
        }
        assert!(!limits.try_create(creator, start + Duration::from_secs(30)));
        assert!(limits.try_create(creator, start + MINUTE));
    }
}
