//! Sealed items: XChaCha20-Poly1305 over a padded plaintext, with associated data binding the item to its context.
//!
//! Wire layout of an item: `header (10 bytes) || nonce (24) || ciphertext || tag (16)`, where the header is
//! `version u8 || kind u8 || generation u32 BE || counter u32 BE`.
//! Associated data: `"sanctum v1 item" || header || room_id (16) || sender (32) || recipient (32)`.
//! The plaintext before padding is `body || signature (64)`: every kind is signed, the descriptor by the room's creator.

use ed25519_dalek::SigningKey;
use rand_core::CryptoRngCore;
use zeroize::Zeroize as _;

use crate::label;
use crate::padding::{self, BUCKETS};
use crate::sign::{self, SIGNATURE_LEN, SessionKey};

/// Version byte of every item: 5 since a sender can cancel an attachment (tag 8), which a version 4 client would read
/// as malformed (4 brought the signed descriptor naming the owner, the ownership transfers in answers, locks and
/// continuity in hellos, 3 the caption of an attachment start, 2 the challenge in answers, confirms, and the cause in
/// hand-outs).
pub const ITEM_VERSION: u8 = 5;
/// Length of an item's cleartext header.
pub const HEADER_LEN: usize = 10;
/// Length of the XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = sanctum_aead::NONCE_LEN;
/// Length of the Poly1305 tag.
pub const TAG_LEN: usize = sanctum_aead::TAG_LEN;
/// Length of the largest sealed item: header, nonce, the largest bucket and the tag.
pub const MAX_ITEM_LEN: usize = HEADER_LEN + NONCE_LEN + BUCKETS[BUCKETS.len() - 1] + TAG_LEN;
/// The sender or recipient field of the binding when there is none (broadcasts, and senders not yet known).
pub(crate) const NOBODY: SessionKey = [0; 32];

/// What an item is; the byte in its header, bound by the associated data and the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// The room's descriptor, under the room key, signed by the session that sealed it (the creator, or a locking owner).
    Descriptor = 1,
    /// A newcomer's broadcast hello, under the room key.
    Hello = 2,
    /// A member's answer to one newcomer's hello, under the room key, addressed to it.
    Answer = 3,
    /// A sender chain handed to one peer, under the pairwise chain.
    Handout = 4,
    /// A private message to one peer, under the pairwise chain.
    Whisper = 5,
    /// A message to the whole room (text, attachment, goodbye, kick, purge), under the sender chain.
    Group = 6,
    /// A newcomer's signature over the challenge of one member's answer, under the room key, addressed to it.
    Confirm = 7,
    /// The owner's new room secrets for one peer, when it locks the room, under the pairwise chain.
    Lock = 8,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Descriptor,
            2 => Self::Hello,
            3 => Self::Answer,
            4 => Self::Handout,
            5 => Self::Whisper,
            6 => Self::Group,
            7 => Self::Confirm,
            8 => Self::Lock,
            _ => return None,
        })
    }
}

/// An item's cleartext header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) generation: u32,
    pub(crate) counter: u32,
}

impl Header {
    pub(crate) fn new(kind: Kind, generation: u32, counter: u32) -> Self {
        Self {
            kind,
            generation,
            counter,
        }
    }

    pub(crate) fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = ITEM_VERSION;
        out[1] = self.kind as u8;
        out[2..6].copy_from_slice(&self.generation.to_be_bytes());
        out[6..10].copy_from_slice(&self.counter.to_be_bytes());
        out
    }

    /// Reads the header of a sealed item without opening it.
    pub(crate) fn parse(item: &[u8]) -> Result<Self, OpenError> {
        if item.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return Err(OpenError);
        }
        Self::parse_fields(&item[..HEADER_LEN])
    }

    /// Reads a header on its own, as a hand-out's cause carries it.
    pub(crate) fn parse_fields(item: &[u8]) -> Result<Self, OpenError> {
        if item.len() != HEADER_LEN || item[0] != ITEM_VERSION {
            return Err(OpenError);
        }
        let kind = Kind::from_byte(item[1]).ok_or(OpenError)?;
        let word = |at: usize| u32::from_be_bytes([item[at], item[at + 1], item[at + 2], item[at + 3]]);
        Ok(Self {
            kind,
            generation: word(2),
            counter: word(6),
        })
    }
}

/// Who an item is from and to, as its associated data binds it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding<'a> {
    pub(crate) room_id: &'a [u8; 16],
    /// The sender's session key, or [`NOBODY`] for items whose sender the receiver learns only by opening them.
    pub(crate) sender: &'a SessionKey,
    /// The recipient's session key, or [`NOBODY`] for broadcasts.
    pub(crate) recipient: &'a SessionKey,
}

/// Every way an item can fail to open: one opaque error, so that no failure tells an attacker more than another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("could not open item")]
pub struct OpenError;

/// Why an item could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The plaintext does not fit the largest padding bucket.
    #[error("message too large")]
    TooLarge,
}

fn aad(header: &[u8; HEADER_LEN], binding: &Binding<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(label::ITEM_AAD.len() + HEADER_LEN + 16 + 64);
    aad.extend_from_slice(label::ITEM_AAD);
    aad.extend_from_slice(header);
    aad.extend_from_slice(binding.room_id);
    aad.extend_from_slice(binding.sender);
    aad.extend_from_slice(binding.recipient);
    aad
}

/// Seals `body` under `key`: signs it when `signer` is given, pads it, and encrypts it with a random nonce.
pub(crate) fn seal(
    key: &[u8; 32],
    header: Header,
    binding: &Binding<'_>,
    body: &[u8],
    signer: Option<&SigningKey>,
    rng: &mut dyn CryptoRngCore,
) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    seal_with_nonce(key, header, binding, body, signer, &nonce)
}

/// [`seal`] with a given nonce; only test vectors choose the nonce.
pub(crate) fn seal_with_nonce(
    key: &[u8; 32],
    header: Header,
    binding: &Binding<'_>,
    body: &[u8],
    signer: Option<&SigningKey>,
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, SealError> {
    let header_bytes = header.to_bytes();
    let signature = signer.map(|signer| sign::sign(signer, &header_bytes, binding.room_id, binding.recipient, body));
    let signature = signature.as_ref().map_or(&[][..], |signature| &signature[..]);
    encrypt_item(key, &header_bytes, binding, &[body, signature], nonce)
}

/// Builds an item whose inner plaintext is `parts` one after the other, in one buffer of its final size (header,
/// nonce, padded plaintext, room for the tag), and encrypts the plaintext where it lies: no copy of it is left anywhere
/// to wipe.
fn encrypt_item(
    key: &[u8; 32],
    header_bytes: &[u8; HEADER_LEN],
    binding: &Binding<'_>,
    parts: &[&[u8]],
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, SealError> {
    let bucket = padding::bucket_for(parts.iter().map(|part| part.len()).sum()).map_err(|_| SealError::TooLarge)?;
    let mut item = Vec::with_capacity(HEADER_LEN + NONCE_LEN + bucket + TAG_LEN);
    item.extend_from_slice(header_bytes);
    item.extend_from_slice(nonce);
    padding::pad_into(&mut item, parts).map_err(|_| SealError::TooLarge)?;
    let aad = aad(header_bytes, binding);
    match sanctum_aead::seal_in_place(key, nonce, &aad, &mut item[HEADER_LEN + NONCE_LEN..]) {
        Ok(tag) => {
            item.extend_from_slice(&tag);
            Ok(item)
        }
        Err(sanctum_aead::Error) => {
            item.zeroize();
            Err(SealError::TooLarge)
        }
    }
}

/// An opened item: its header and its decrypted, still padded plaintext, whose inner part is body then signature.
pub(crate) struct Opened {
    pub(crate) header: Header,
    padded: sanctum_aead::Plaintext,
    /// The length of the inner part, which starts after the padding's length prefix.
    inner_len: usize,
}

impl Opened {
    fn inner(&self) -> &[u8] {
        &self.padded[padding::LEN_PREFIX..padding::LEN_PREFIX + self.inner_len]
    }

    /// The body, without the signature.
    pub(crate) fn body(&self) -> &[u8] {
        &self.inner()[..self.inner_len - SIGNATURE_LEN]
    }

    /// The signature the item carried.
    pub(crate) fn signature(&self) -> [u8; SIGNATURE_LEN] {
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(&self.inner()[self.inner_len - SIGNATURE_LEN..]);
        signature
    }

    /// Checks the signature against `signer`, the session the receiver believes sent the item, checking the key first.
    pub(crate) fn verify(&self, signer: &SessionKey, binding: &Binding<'_>) -> Result<sign::CheckedKey, OpenError> {
        let key = sign::CheckedKey::new(signer).map_err(|_| OpenError)?;
        self.verify_checked(&key, binding)?;
        Ok(key)
    }

    /// Checks the signature against a key that already passed its checks, the session the receiver believes sent it.
    pub(crate) fn verify_checked(&self, signer: &sign::CheckedKey, binding: &Binding<'_>) -> Result<(), OpenError> {
        signer
            .verify(
                &self.header.to_bytes(),
                binding.room_id,
                binding.recipient,
                self.body(),
                &self.signature(),
            )
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
impl Opened {
    /// The whole unpadded plaintext, body and signature.
    pub(crate) fn inner_for_test(&self) -> &[u8] {
        self.inner()
    }
}

/// Encrypts an already-built inner plaintext (body and signature) with no signing, as a forger would.
#[cfg(test)]
pub(crate) fn seal_raw_for_test(key: &[u8; 32], header: Header, binding: &Binding<'_>, inner: &[u8]) -> Vec<u8> {
    encrypt_item(key, &header.to_bytes(), binding, &[inner], &[7; NONCE_LEN]).unwrap_or_default()
}

/// Decrypts and unpads an item; the caller still verifies its signature with [`Opened::verify`].
pub(crate) fn open(key: &[u8; 32], item: &[u8], binding: &Binding<'_>) -> Result<Opened, OpenError> {
    let header = Header::parse(item)?;
    let (nonce, sealed) = item[HEADER_LEN..].split_at(NONCE_LEN);
    let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError)?;
    let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| OpenError)?;
    let aad = aad(&header.to_bytes(), binding);
    let mut padded = sanctum_aead::Plaintext::from(ciphertext.to_vec());
    sanctum_aead::open_in_place(key, nonce, &aad, &mut padded, tag).map_err(|_| OpenError)?;
    let inner_len = padding::unpad(&padded).map_err(|_| OpenError)?.len();
    if inner_len < SIGNATURE_LEN {
        return Err(OpenError);
    }
    Ok(Opened {
        header,
        padded,
        inner_len,
    })
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    const KEY: [u8; 32] = [9; 32];
    const ROOM: [u8; 16] = [1; 16];
    const SENDER_SEED: [u8; 32] = [2; 32];

    fn binding<'a>(sender: &'a SessionKey, recipient: &'a SessionKey) -> Binding<'a> {
        Binding {
            room_id: &ROOM,
            sender,
            recipient,
        }
    }

    #[test]
    fn largest_item_fits_the_relay_payload_bound() {
        const { assert!(MAX_ITEM_LEN <= sanctum_protocol::MAX_PAYLOAD_LEN) };
        let signer = SigningKey::from_bytes(&SENDER_SEED);
        let me = signer.verifying_key().to_bytes();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let body = vec![7u8; padding::MAX_INNER_LEN - SIGNATURE_LEN];
        let item = seal(
            &KEY,
            Header::new(Kind::Group, 1, 2),
            &binding(&me, &NOBODY),
            &body,
            Some(&signer),
            &mut rng,
        )
        .unwrap();
        assert_eq!(item.len(), MAX_ITEM_LEN);
        assert!(sanctum_protocol::Payload::new(item).is_ok());
        let too_big = vec![7u8; padding::MAX_INNER_LEN - SIGNATURE_LEN + 1];
        let err = seal(
            &KEY,
            Header::new(Kind::Group, 1, 2),
            &binding(&me, &NOBODY),
            &too_big,
            Some(&signer),
            &mut rng,
        );
        assert_eq!(err.err(), Some(SealError::TooLarge));
    }

    #[test]
    fn tampering_with_any_byte_fails_to_open() {
        let signer = SigningKey::from_bytes(&SENDER_SEED);
        let me = signer.verifying_key().to_bytes();
        let recipient = [5u8; 32];
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        for kind in [
            Kind::Descriptor,
            Kind::Hello,
            Kind::Answer,
            Kind::Handout,
            Kind::Whisper,
            Kind::Group,
            Kind::Confirm,
            Kind::Lock,
        ] {
            let b = binding(&me, &recipient);
            let item = seal(
                &KEY,
                Header::new(kind, 3, 4),
                &b,
                b"attack at dawn",
                Some(&signer),
                &mut rng,
            )
            .unwrap();
            let opened = open(&KEY, &item, &b).unwrap();
            assert_eq!(opened.body(), b"attack at dawn");
            assert_eq!(opened.header, Header::new(kind, 3, 4));
            assert!(opened.verify(&me, &b).is_ok());
            assert!(opened.verify(&recipient, &b).is_err());
            for i in 0..item.len() {
                let mut bad = item.clone();
                bad[i] ^= 0x01;
                assert_eq!(open(&KEY, &bad, &b).err(), Some(OpenError), "{kind:?} byte {i}");
            }
            assert!(open(&KEY, &item[..item.len() - 1], &b).is_err());
            assert!(open(&[8; 32], &item, &b).is_err());
            assert!(open(&KEY, &item, &binding(&NOBODY, &recipient)).is_err());
            assert!(open(&KEY, &item, &binding(&me, &NOBODY)).is_err());
            assert!(
                open(
                    &KEY,
                    &item,
                    &Binding {
                        room_id: &[0; 16],
                        sender: &me,
                        recipient: &recipient
                    }
                )
                .is_err()
            );
        }
    }

    #[test]
    fn short_or_unknown_items_are_refused() {
        let b = binding(&NOBODY, &NOBODY);
        assert!(open(&KEY, &[], &b).is_err());
        assert!(open(&KEY, &[1; 49], &b).is_err());
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let signer = SigningKey::from_bytes(&SENDER_SEED);
        let mut item = seal(
            &KEY,
            Header::new(Kind::Descriptor, 0, 0),
            &b,
            b"x",
            Some(&signer),
            &mut rng,
        )
        .unwrap();
        item[1] = 99;
        assert!(open(&KEY, &item, &b).is_err());
        item[1] = 1;
        item[0] = 1;
        assert!(open(&KEY, &item, &b).is_err());
    }

    #[test]
    fn a_signed_kind_without_room_for_a_signature_is_refused() {
        // An item that decrypts but whose padded plaintext is shorter than a signature must not panic or open.
        let b = binding(&NOBODY, &NOBODY);
        let item = seal_raw_for_test(&KEY, Header::new(Kind::Hello, 0, 0), &b, b"short");
        assert!(open(&KEY, &item, &b).is_err());
    }

    proptest::proptest! {
        #[test]
        fn seal_open_round_trips_at_every_size(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..5000),
            generation in proptest::prelude::any::<u32>(),
            counter in proptest::prelude::any::<u32>(),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let signer = SigningKey::from_bytes(&SENDER_SEED);
            let me = signer.verifying_key().to_bytes();
            let b = binding(&me, &NOBODY);
            let header = Header::new(Kind::Group, generation, counter);
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let item = seal(&KEY, header, &b, &body, Some(&signer), &mut rng).unwrap();
            proptest::prop_assert!(BUCKETS.iter().any(|bucket| item.len() == HEADER_LEN + NONCE_LEN + bucket + TAG_LEN));
            let opened = open(&KEY, &item, &b).unwrap();
            proptest::prop_assert_eq!(opened.header, header);
            proptest::prop_assert_eq!(opened.body(), &body[..]);
            proptest::prop_assert!(opened.verify(&me, &b).is_ok());
        }

        #[test]
        fn arbitrary_bytes_never_open_or_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            proptest::prop_assert!(open(&KEY, &bytes, &binding(&NOBODY, &NOBODY)).is_err());
        }
    }
}
