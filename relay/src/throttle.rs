//! Rate limiters: creates per address, failed joins per connection and per address, frames per connection.
//!
//! Everything is counted in memory, in tables of bounded size, and never logged.
//! Addresses are reduced to an [`AddressKey`] (IPv6 grouped by /64) whose `Debug` prints nothing of the address.
//! Nothing here is keyed by room, so no outsider can lock a room's real members out.

use std::collections::HashMap;
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
/// Entries per address table; when full, stale entries are dropped first, then arbitrary ones.
const MAX_TABLE_ENTRIES: usize = 65_536;

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
    creates: HashMap<AddressKey, Window>,
    failures: HashMap<AddressKey, Failures>,
}

/// Makes room for one more entry in `table`, dropping stale entries first and, if none is stale, an arbitrary one.
///
/// Dropping an arbitrary entry forgives one address early; the alternative, refusing everyone, would let whoever
/// controls many addresses deny service to all.
fn make_room<V>(table: &mut HashMap<AddressKey, V>, is_stale: impl Fn(&V) -> bool) {
    if table.len() < MAX_TABLE_ENTRIES {
        return;
    }
    table.retain(|_, value| !is_stale(value));
    if table.len() >= MAX_TABLE_ENTRIES
        && let Some(key) = table.keys().next().copied()
    {
        table.remove(&key);
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
    pub(crate) fn try_create(&self, key: AddressKey, now: Instant) -> bool {
        let mut tables = self.tables();
        if !tables.creates.contains_key(&key) {
            make_room(&mut tables.creates, |w| w.is_stale(now, MINUTE));
        }
        tables
            .creates
            .entry(key)
            .or_insert_with(|| Window::new(now))
            .try_count(now, MINUTE, self.creates_per_minute)
    }

    /// Whether `key` may attempt a join now, or must wait out its backoff.
    pub(crate) fn may_join(&self, key: AddressKey, now: Instant) -> bool {
        self.tables()
            .failures
            .get(&key)
            .is_none_or(|failures| now >= failures.blocked_until)
    }

    /// Counts a failed join from `key`; past the limit, each failure doubles the wait before its next attempt.
    pub(crate) fn record_failed_join(&self, key: AddressKey, now: Instant) {
        let mut tables = self.tables();
        if !tables.failures.contains_key(&key) {
            make_room(&mut tables.failures, |f| {
                now.saturating_duration_since(f.last) >= FAILURE_MEMORY && now >= f.blocked_until
            });
        }
        let entry = tables.failures.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            blocked_until: now,
        });
        if now.saturating_duration_since(entry.last) >= FAILURE_MEMORY {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if entry.count >= self.failed_joins {
            let doublings = (entry.count - self.failed_joins).min(16);
            let wait = BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_MAX);
            entry.blocked_until = now + wait;
        }
    }
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

    /// Takes one token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
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
        assert!((0..3).all(|_| bucket.try_take(now)));
        assert!(!bucket.try_take(now));
        assert!(bucket.try_take(now + Duration::from_millis(500)));
        assert!(!bucket.try_take(now + Duration::from_millis(500)));
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
        assert!(tables.creates.len() <= MAX_TABLE_ENTRIES);
        assert!(tables.failures.len() <= MAX_TABLE_ENTRIES);
    }
}
