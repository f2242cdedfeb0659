//! The room registry and fan-out: the one seam between connection handling and room state.
//!
//! A connection sees only [`Registry::create`], [`Registry::join`] and the [`Membership`] they return
//! (broadcast, direct, kick, lock, purge, leave), and hears back only through its [`Outbox`].
//! Behind the seam sit two registries with the same meaning: [`memory`], every room in this relay's memory (the
//! default), and [`crate::backplane`], rooms shared with every relay pointed at the same Redis (`--redis`).
//! `connection.rs` does not know which one it talks to.

pub(crate) mod memory;

use std::sync::Arc;

use sanctum_protocol::{AuthToken, Descriptor, LeftReason, MemberId, Payload, RoomId, RoomState, Verifier};
use tokio_util::sync::CancellationToken;

use crate::backplane::{self, Backplane};
use crate::config::Config;
use crate::error::{Error, Refusal};
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::throttle::AddressKey;

/// A cloneable handle to the rooms this relay serves.
#[derive(Debug, Clone)]
pub(crate) enum Registry {
    /// Rooms in this relay's memory.
    Memory(memory::Registry),
    /// Rooms in Redis, shared with other relays.
    Redis(Backplane),
}

/// One connection's place in one room; everything a member can do goes through it.
#[derive(Debug)]
pub(crate) enum Membership {
    /// A member of a room in this relay's memory.
    Memory(memory::Membership),
    /// A member of a room in Redis.
    Redis(backplane::Membership),
}

impl Registry {
    /// The registry `config` asks for: Redis when `--redis` is given (checked and connected here), memory otherwise.
    pub(crate) async fn open(
        config: &Config,
        metrics: Arc<Metrics>,
        cancel: &CancellationToken,
    ) -> Result<Self, Error> {
        match &config.redis {
            None => Ok(Self::Memory(memory::Registry::new(config, metrics))),
            Some(url) => Ok(Self::Redis(Backplane::connect(url, config, metrics, cancel).await?)),
        }
    }

    /// Creates room `id` with `outbox`'s connection as member 1; the lifetime is clamped to the maximum.
    pub(crate) async fn create(
        &self,
        id: &RoomId,
        verifier: &Verifier,
        lifetime: u32,
        descriptor: Descriptor,
        outbox: &Outbox,
        creator: AddressKey,
    ) -> Result<Membership, Refusal> {
        match self {
            Self::Memory(registry) => registry
                .create(id, verifier, lifetime, descriptor, outbox, creator)
                .map(Membership::Memory),
            // Boxed, so that every connection's reader future stays as small as the memory path needs.
            // The room limits count the rooms created through this relay; see the operating guide.
            Self::Redis(backplane) => Box::pin(backplane.create(id, verifier, lifetime, descriptor, outbox, creator))
                .await
                .map(Membership::Redis),
        }
    }

    /// Whether room `id` is live, gone or unknown, for `peek`.
    pub(crate) async fn state_of(&self, id: &RoomId) -> Result<RoomState, Refusal> {
        match self {
            Self::Memory(registry) => Ok(registry.state_of(id)),
            Self::Redis(backplane) => Box::pin(backplane.state_of(id)).await,
        }
    }

    /// Joins room `id` with `token`.
    pub(crate) async fn join(&self, id: &RoomId, token: &AuthToken, outbox: &Outbox) -> Result<Membership, Refusal> {
        match self {
            Self::Memory(registry) => registry.join(id, token, outbox).map(Membership::Memory),
            Self::Redis(backplane) => Box::pin(backplane.join(id, token, outbox)).await.map(Membership::Redis),
        }
    }

    /// The registry's background work (timers; for Redis also heartbeats and reconnection) until `cancel` fires.
    pub(crate) async fn run(self, cancel: CancellationToken) {
        match self {
            Self::Memory(registry) => registry.run_timers(cancel).await,
            Self::Redis(backplane) => backplane.run(cancel).await,
        }
    }

    /// Whether the registry can serve creates and joins now: always in memory, while Redis answers otherwise.
    pub(crate) fn is_available(&self) -> bool {
        match self {
            Self::Memory(_) => true,
            Self::Redis(backplane) => backplane.is_up(),
        }
    }
}

impl Membership {
    /// This connection's member id in the room.
    pub(crate) fn member(&self) -> MemberId {
        match self {
            Self::Memory(m) => m.member(),
            Self::Redis(m) => m.member(),
        }
    }

    /// Sends `payload` to every other member.
    pub(crate) fn broadcast(&self, payload: Payload) -> Result<(), Refusal> {
        match self {
            Self::Memory(m) => {
                m.broadcast(payload);
                Ok(())
            }
            Self::Redis(m) => m.broadcast(payload),
        }
    }

    /// Sends `payload` to member `to` alone.
    pub(crate) fn direct(&self, to: MemberId, payload: Payload) -> Result<(), Refusal> {
        match self {
            Self::Memory(m) => m.direct(to, payload),
            Self::Redis(m) => m.direct(to, payload),
        }
    }

    /// Disconnects member `target`.
    pub(crate) fn kick(&self, target: MemberId) -> Result<(), Refusal> {
        match self {
            Self::Memory(m) => m.kick(target),
            Self::Redis(m) => m.kick(target),
        }
    }

    /// Locks the room: later joins need the token whose hash is `verifier` and get `descriptor`.
    /// Only a member still in the room may, within the room's lock rate; the locking member hears `locked`.
    pub(crate) async fn lock(&self, verifier: &Verifier, descriptor: Descriptor) -> Result<(), Refusal> {
        match self {
            Self::Memory(m) => m.lock(verifier, descriptor),
            Self::Redis(m) => Box::pin(m.lock(verifier, descriptor)).await,
        }
    }

    /// Purges the room for everyone, if this connection is still in it.
    pub(crate) fn purge(&self) {
        match self {
            Self::Memory(m) => m.purge(),
            Self::Redis(m) => m.purge(),
        }
    }

    /// Leaves the room; the others hear `reason`. Does nothing if this member was already removed.
    pub(crate) fn leave(&self, reason: LeftReason) {
        match self {
            Self::Memory(m) => m.leave(reason),
            Self::Redis(m) => m.leave(reason),
        }
    }
}
