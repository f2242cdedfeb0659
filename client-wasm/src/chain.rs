//! Symmetric chains: one-way key ratchets for sender chains and for each direction of a pairwise channel.
//!
//! One step from chain key `ck_i`: `mk_i = HKDF-Expand(ck_i, "sanctum v1 message key", 32)` seals message `i`,
//! and `ck_{i+1} = HKDF-Expand(ck_i, "sanctum v1 chain step", 32)` replaces `ck_i`, which is wiped.
//! Receivers accept strictly increasing counters and skip at most [`MAX_SKIP`] steps at once.

use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::Sha256;

use crate::label;
use crate::secret::secret_bytes;

/// Largest number of chain steps a receiver skips to reach one message's counter.
pub const MAX_SKIP: u32 = 1024;

secret_bytes!(
    /// A chain key: the ratchet's current position.
    pub(crate) ChainKey, 32
);
secret_bytes!(
    /// The key that seals exactly one message.
    pub(crate) MessageKey, 32
);

/// Why a chain could not produce a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The counter is not ahead of the chain (a replay or a reorder) or too far ahead.
    #[error("message counter out of window")]
    OutOfWindow,
    /// The chain has sealed its last message; a new generation is needed.
    #[error("chain exhausted")]
    Exhausted,
}

impl ChainKey {
    /// Draws a fresh random chain key.
    pub(crate) fn random(rng: &mut dyn CryptoRngCore) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// One ratchet step: the message key for this position and the next chain key.
    pub(crate) fn step(&self) -> (MessageKey, ChainKey) {
        // A 32-byte chain key is a valid HKDF pseudorandom key, and 32 bytes of output is within HKDF's bound.
        let hkdf = Hkdf::<Sha256>::from_prk(self.expose()).ok();
        let mut mk = [0u8; 32];
        let mut next = [0u8; 32];
        if let Some(hkdf) = hkdf {
            let _ = hkdf.expand(label::MESSAGE_KEY, &mut mk);
            let _ = hkdf.expand(label::CHAIN_STEP, &mut next);
        }
        (MessageKey::from_bytes(mk), ChainKey::from_bytes(next))
    }
}

/// The sending end of a chain.
pub(crate) struct SendChain {
    generation: u32,
    counter: u32,
    key: ChainKey,
}

impl SendChain {
    pub(crate) fn new(generation: u32, key: ChainKey) -> Self {
        Self {
            generation,
            counter: 0,
            key,
        }
    }

    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    /// The position to hand out: the counter of the next message and the chain key that seals it.
    pub(crate) fn position(&self) -> (u32, &ChainKey) {
        (self.counter, &self.key)
    }

    /// The key for the next message and its counter; the chain moves past it.
    pub(crate) fn next(&mut self) -> Result<(u32, MessageKey), ChainError> {
        let counter = self.counter;
        let after = counter.checked_add(1).ok_or(ChainError::Exhausted)?;
        let (mk, next) = self.key.step();
        self.key = next;
        self.counter = after;
        Ok((counter, mk))
    }
}

/// The receiving end of a chain: the position of the next counter it accepts.
pub(crate) struct RecvChain {
    generation: u32,
    next: u32,
    key: ChainKey,
}

/// A message key found ahead of the chain, with the chain position to commit once the message proves authentic.
pub(crate) struct Pending {
    pub(crate) key: MessageKey,
    counter: u32,
    skipped: u32,
    after: ChainKey,
}

impl Pending {
    /// How many counters this item skips past: items sealed in between that never reached the receiver.
    pub(crate) fn skipped(&self) -> u32 {
        self.skipped
    }
}

impl RecvChain {
    pub(crate) fn new(generation: u32, next: u32, key: ChainKey) -> Self {
        Self { generation, next, key }
    }

    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    /// Finds the key for `counter` without moving the chain, so a forged item cannot push the chain forward.
    pub(crate) fn key_for(&self, counter: u32) -> Result<Pending, ChainError> {
        if counter < self.next || counter - self.next > MAX_SKIP {
            return Err(ChainError::OutOfWindow);
        }
        let after_counter = counter.checked_add(1).ok_or(ChainError::OutOfWindow)?;
        let mut key = self.key.duplicate();
        for _ in self.next..counter {
            // Skipped message keys are dropped at once: a skipped message can never be opened later.
            key = key.step().1;
        }
        let (mk, after) = key.step();
        let _ = after_counter;
        Ok(Pending {
            key: mk,
            counter,
            skipped: counter - self.next,
            after,
        })
    }

    /// Moves the chain past a message that opened and verified; its key and every earlier one are gone.
    pub(crate) fn commit(&mut self, pending: Pending) {
        self.next = pending.counter.saturating_add(1);
        self.key = pending.after;
    }
}

#[cfg(test)]
impl RecvChain {
    pub(crate) fn key_for_test(&self) -> &ChainKey {
        &self.key
    }

    pub(crate) fn next_for_test(&self) -> u32 {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (SendChain, RecvChain) {
        (
            SendChain::new(2, ChainKey::from_bytes([7; 32])),
            RecvChain::new(2, 0, ChainKey::from_bytes([7; 32])),
        )
    }

    #[test]
    fn sender_and_receiver_agree_and_keys_differ_per_step() {
        let (mut send, mut recv) = pair();
        let mut seen = Vec::new();
        for i in 0..5 {
            let (counter, mk) = send.next().unwrap();
            assert_eq!(counter, i);
            let pending = recv.key_for(counter).unwrap();
            assert!(pending.key == mk);
            assert!(!seen.contains(mk.expose()));
            seen.push(*mk.expose());
            recv.commit(pending);
        }
    }

    #[test]
    fn replays_and_reorders_fail_and_skips_are_bounded() {
        let (mut send, mut recv) = pair();
        let keys: Vec<_> = (0..4).map(|_| send.next().unwrap()).collect();
        let pending = recv.key_for(2).unwrap();
        assert!(pending.key == keys[2].1);
        recv.commit(pending);
        assert_eq!(recv.key_for(2).err(), Some(ChainError::OutOfWindow), "replay");
        assert_eq!(recv.key_for(1).err(), Some(ChainError::OutOfWindow), "reorder");
        assert!(recv.key_for(3).unwrap().key == keys[3].1);
        assert!(recv.key_for(3 + MAX_SKIP).is_ok());
        assert_eq!(recv.key_for(4 + MAX_SKIP).err(), Some(ChainError::OutOfWindow));
        assert_eq!(recv.key_for(u32::MAX).err(), Some(ChainError::OutOfWindow));
    }

    #[test]
    fn uncommitted_lookups_do_not_move_the_chain() {
        let (mut send, recv) = pair();
        let (_, mk0) = send.next().unwrap();
        let _ = recv.key_for(50).unwrap();
        assert!(recv.key_for(0).unwrap().key == mk0);
    }

    #[test]
    fn a_handed_out_position_opens_later_messages_only() {
        let (mut send, _) = pair();
        let (_, _mk0) = send.next().unwrap();
        let (counter, key) = send.position();
        let recv = RecvChain::new(send.generation(), counter, key.duplicate());
        let (c1, mk1) = send.next().unwrap();
        assert!(recv.key_for(c1).unwrap().key == mk1);
        assert!(recv.key_for(0).is_err());
    }

    #[test]
    fn exhausted_chain_refuses_to_seal() {
        let mut send = SendChain {
            generation: 0,
            counter: u32::MAX,
            key: ChainKey::from_bytes([1; 32]),
        };
        assert_eq!(send.next().err(), Some(ChainError::Exhausted));
    }
}
