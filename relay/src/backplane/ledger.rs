//! The rooms this relay created in Redis, each held until its original expiry, so that `--max-rooms` and
//! `--max-rooms-per-address` bound what one relay lets its clients create, as they do in memory.
//!
//! The ledger stays in this relay's memory and never reaches Redis, which must not learn client addresses:
//! behind N relays an address can hold up to N times its share, as the operating guide says.
//! A room holds its place until its original expiry whether it lives, is purged (its tombstone lasts until then) or
//! empties, exactly as a room and its tombstone hold their place in the in-memory registry.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Refusal;
use crate::throttle::AddressKey;

/// Rooms created through this relay whose original expiry has not passed, by creating address.
#[derive(Debug)]
pub(super) struct Ledger {
    max_rooms: usize,
    max_per_address: u32,
    /// Original expiries, earliest first, with a sequence number that keeps equal instants apart.
    until: BTreeMap<(Instant, u64), AddressKey>,
    by_address: HashMap<AddressKey, u32>,
    /// Creates admitted here whose script has not answered yet.
    reserved: usize,
    next: u64,
}

/// A place taken for a create on its way; [`Ledger::settle`] turns it into a room or gives it back.
#[derive(Debug)]
#[must_use]
pub(super) struct Reservation {
    address: AddressKey,
}

impl Ledger {
    pub(super) fn new(max_rooms: usize, max_per_address: u32) -> Self {
        Self {
            max_rooms,
            max_per_address,
            until: BTreeMap::new(),
            by_address: HashMap::new(),
            reserved: 0,
            next: 0,
        }
    }

    /// Forgets rooms whose original expiry is past.
    fn prune(&mut self, now: Instant) {
        while let Some(entry) = self.until.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let address = entry.remove();
            self.release(address);
        }
    }

    fn release(&mut self, address: AddressKey) {
        if let Some(count) = self.by_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.by_address.remove(&address);
            }
        }
    }

    /// Takes a place for a room that `address` creates: `too_many_rooms` when this relay's rooms are at their
    /// maximum, `rate_limited` when this address's are.
    pub(super) fn reserve(&mut self, address: AddressKey, now: Instant) -> Result<Reservation, Refusal> {
        self.prune(now);
        if self.until.len() + self.reserved >= self.max_rooms {
            return Err(Refusal::TooManyRooms);
        }
        let count = self.by_address.entry(address).or_insert(0);
        if *count >= self.max_per_address {
            return Err(Refusal::RateLimited);
        }
        *count += 1;
        self.reserved += 1;
        Ok(Reservation { address })
    }

    /// Records the created room until `lifetime` from `now`, or gives the place back when the create failed.
    pub(super) fn settle(&mut self, reservation: Reservation, created: Option<(Instant, Duration)>) {
        self.reserved -= 1;
        match created {
            Some((now, lifetime)) => {
                self.until.insert((now + lifetime, self.next), reservation.address);
                self.next += 1;
            }
            None => self.release(reservation.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> AddressKey {
        AddressKey::from_ip(std::net::IpAddr::from([192, 0, 2, last]))
    }

    #[tokio::test(start_paused = true)]
    async fn rooms_hold_their_place_until_their_original_expiry_per_address_and_in_all() {
        let mut ledger = Ledger::new(3, 2);
        let now = Instant::now();
        let (a, b) = (address(1), address(2));
        let first = ledger.reserve(a, now).unwrap();
        ledger.settle(first, Some((now, Duration::from_secs(10))));
        let second = ledger.reserve(a, now).unwrap();
        // A failed create gives its place back.
        assert_eq!(ledger.reserve(a, now).map(|_| ()), Err(Refusal::RateLimited));
        ledger.settle(second, None);
        let second = ledger.reserve(a, now).unwrap();
        ledger.settle(second, Some((now, Duration::from_secs(60))));
        assert_eq!(ledger.reserve(a, now).map(|_| ()), Err(Refusal::RateLimited));
        let third = ledger.reserve(b, now).unwrap();
        ledger.settle(third, Some((now, Duration::from_secs(60))));
        assert_eq!(ledger.reserve(b, now).map(|_| ()), Err(Refusal::TooManyRooms));
        // The ten-second room's place comes free at its expiry, not before.
        let later = now + Duration::from_secs(9);
        assert_eq!(ledger.reserve(a, later).map(|_| ()), Err(Refusal::TooManyRooms));
        let later = now + Duration::from_secs(10);
        let again = ledger.reserve(a, later).unwrap();
        ledger.settle(again, None);
        assert_eq!(ledger.by_address.len(), 2);
        ledger.prune(now + Duration::from_secs(60));
        assert!(ledger.by_address.is_empty() && ledger.until.is_empty());
    }
}
