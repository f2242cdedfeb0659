//! Byte fields of the envelope, each carried as unpadded base64url text.
//!
//! Fixed-size fields reject any other length while decoding, and variable fields reject anything over their bound,
//! so a decoded frame never holds more than the protocol allows.
//! `Debug` never prints a token or a verifier, and prints only the length of opaque bytes,
//! so that a frame written to a log by mistake leaks nothing.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::limits::{AUTH_TOKEN_LEN, MAX_DESCRIPTOR_LEN, MAX_PAYLOAD_LEN, ROOM_ID_LEN, VERIFIER_LEN, base64url_len};

fn serialize_b64<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&URL_SAFE_NO_PAD.encode(bytes))
}

/// Decodes base64url text of at most `max` bytes, refusing longer text before decoding any of it.
fn deserialize_b64<'de, D: Deserializer<'de>>(deserializer: D, max: usize) -> Result<Vec<u8>, D::Error> {
    struct B64Visitor(usize);

    impl Visitor<'_> for B64Visitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "base64url text of at most {} bytes", self.0)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            if text.len() > base64url_len(self.0) {
                return Err(E::custom(format_args!("byte field longer than {} bytes", self.0)));
            }
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| E::custom("byte field is not unpadded base64url"))
        }
    }

    deserializer.deserialize_str(B64Visitor(max))
}

macro_rules! fixed_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr, redacted = $redacted:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length of this field in bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serialize_b64(&self.0, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let bytes = deserialize_b64(deserializer, $len)?;
                let array: [u8; $len] = bytes.try_into().map_err(|_| {
                    de::Error::custom(concat!(stringify!($name), " must be exactly ", stringify!($len), " bytes"))
                })?;
                Ok(Self(array))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if $redacted {
                    f.write_str(concat!(stringify!($name), "(redacted)"))
                } else {
                    f.write_str(concat!(stringify!($name), "(..)"))
                }
            }
        }
    };
}

fixed_bytes!(
    /// A room's id: 16 random bytes chosen by its creator.
    RoomId, ROOM_ID_LEN, redacted = false
);
fixed_bytes!(
    /// The room-auth token a client presents to join; the relay hashes it and compares the hash in constant time.
    AuthToken, AUTH_TOKEN_LEN, redacted = true
);
fixed_bytes!(
    /// SHA-256 of a room's auth token, registered by the creator; the relay stores nothing else about the password.
    Verifier, VERIFIER_LEN, redacted = true
);

/// Whether `byte` is a character of the base64url alphabet, written as range comparisons without branches so that a
/// loop over a payload compiles to vector instructions (a lookup table cannot be vectorised without gathers).
#[inline(always)]
fn is_b64url_char(byte: u8) -> bool {
    // Setting bit 5 maps 'A'..='Z' onto 'a'..='z' and no byte outside the letters onto a letter.
    ((byte | 0x20).wrapping_sub(b'a') < 26) | (byte.wrapping_sub(b'0') < 10) | (byte == b'-') | (byte == b'_')
}

/// Whether `text` is canonical unpadded base64url, exactly what [`URL_SAFE_NO_PAD`] decodes: only the alphabet, no
/// length that leaves a lone character, and zero bits where the last character overhangs the bytes.
///
/// Checking without decoding lets the relay forward a payload's text as it came, never decoding and re-encoding it.
fn is_canonical_b64url(text: &str) -> bool {
    fn value(byte: u8) -> Option<u8> {
        match byte {
            b'A'..=b'Z' => Some(byte - b'A'),
            b'a'..=b'z' => Some(byte - b'a' + 26),
            b'0'..=b'9' => Some(byte - b'0' + 52),
            b'-' => Some(62),
            b'_' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    // Every payload the relay forwards passes here, so the loop has no branch to leave early and vectorises: a profile
    // of a 10-member room once put almost a third of the relay's work in a byte-at-a-time version of it.
    if !bytes.iter().fold(true, |ok, &b| ok & is_b64url_char(b)) {
        return false;
    }
    // The bits of the last character that fall past the final byte must be zero.
    let spare_bits = match bytes.len() % 4 {
        0 => return true,
        1 => return false,
        2 => 0b1111,
        _ => 0b11,
    };
    bytes
        .last()
        .and_then(|b| value(*b))
        .is_some_and(|v| v & spare_bits == 0)
}

macro_rules! bounded_bytes {
    ($(#[$meta:meta])* $name:ident, $max:expr) => {
        $(#[$meta])*
        ///
        /// It keeps the base64url text it travels as: the relay checks it and forwards it as it came, and only a
        /// client that reads the bytes decodes them, once.
        #[derive(Clone, Default)]
        pub struct $name {
            /// Canonical unpadded base64url of at most `MAX_LEN` bytes.
            text: String,
            bytes: std::sync::OnceLock<Vec<u8>>,
        }

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn new(bytes: Vec<u8>) -> Result<Self, Vec<u8>> {
                if bytes.len() > Self::MAX_LEN {
                    return Err(bytes);
                }
                Ok(Self {
                    text: URL_SAFE_NO_PAD.encode(&bytes),
                    bytes: std::sync::OnceLock::from(bytes),
                })
            }

            /// Takes canonical unpadded base64url text of at most `MAX_LEN` bytes as it is, without decoding it.
            pub fn from_text(text: &str) -> Option<Self> {
                (text.len() <= base64url_len($max) && is_canonical_b64url(text)).then(|| Self {
                    text: text.to_owned(),
                    bytes: std::sync::OnceLock::new(),
                })
            }

            pub fn as_bytes(&self) -> &[u8] {
                // The text was checked to be canonical base64url, so decoding cannot fail.
                self.bytes
                    .get_or_init(|| URL_SAFE_NO_PAD.decode(&self.text).unwrap_or_default())
            }

            pub fn into_bytes(self) -> Vec<u8> {
                let Self { text, bytes } = self;
                bytes
                    .into_inner()
                    .unwrap_or_else(|| URL_SAFE_NO_PAD.decode(&text).unwrap_or_default())
            }

            /// The canonical unpadded base64url text it travels as, which JSON never needs to escape.
            pub fn as_text(&self) -> &str {
                &self.text
            }

            /// The number of bytes, known from the text's length without decoding it.
            pub fn len(&self) -> usize {
                self.text.len() * 3 / 4
            }

            pub fn is_empty(&self) -> bool {
                self.text.is_empty()
            }
        }

        // Canonical text and bytes correspond one to one, so comparing the text compares the bytes.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.text == other.text
            }
        }

        impl Eq for $name {}

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.text)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct TextVisitor;

                impl Visitor<'_> for TextVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "base64url text of at most {} bytes", $max)
                    }

                    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                        if text.len() > base64url_len($max) {
                            return Err(E::custom(format_args!("byte field longer than {} bytes", $max)));
                        }
                        $name::from_text(text).ok_or_else(|| E::custom("byte field is not unpadded base64url"))
                    }
                }

                deserializer.deserialize_str(TextVisitor)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({} bytes)"), self.len())
            }
        }
    };
}

bounded_bytes!(
    /// A sealed item relayed between members, at most [`MAX_PAYLOAD_LEN`] bytes.
    Payload, MAX_PAYLOAD_LEN
);
bounded_bytes!(
    /// A room's sealed descriptor (name, expiry and the like), at most [`MAX_DESCRIPTOR_LEN`] bytes.
    Descriptor, MAX_DESCRIPTOR_LEN
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_fields_reject_other_lengths() {
        assert!(serde_json::from_str::<RoomId>("\"AAAAAAAAAAAAAAAAAAAAAA\"").is_ok());
        assert!(serde_json::from_str::<RoomId>("\"AAAAAAAAAAAAAAAAAAAA\"").is_err());
        assert!(serde_json::from_str::<RoomId>("\"AAAAAAAAAAAAAAAAAAAAAAAA\"").is_err());
        assert!(serde_json::from_str::<RoomId>("\"AAAAAAAAAAAAAAAAAAAAA=\"").is_err());
        assert!(serde_json::from_str::<RoomId>("\"AAAAAAAAAAAAAAAAAAAAA+\"").is_err());
        assert!(serde_json::from_str::<RoomId>("17").is_err());
    }

    #[test]
    fn payload_bound_is_enforced_while_decoding() {
        let max = URL_SAFE_NO_PAD.encode(vec![7u8; MAX_PAYLOAD_LEN]);
        let over = URL_SAFE_NO_PAD.encode(vec![7u8; MAX_PAYLOAD_LEN + 1]);
        assert_eq!(
            serde_json::from_str::<Payload>(&format!("\"{max}\""))
                .map(|p| p.len())
                .ok(),
            Some(MAX_PAYLOAD_LEN)
        );
        assert!(serde_json::from_str::<Payload>(&format!("\"{over}\"")).is_err());
        assert!(Payload::new(vec![0; MAX_PAYLOAD_LEN + 1]).is_err());
    }

    #[test]
    fn the_alphabet_check_accepts_exactly_the_base64url_alphabet() {
        for byte in 0..=u8::MAX {
            let expected = byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_';
            assert_eq!(is_b64url_char(byte), expected, "byte {byte:#04x}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_text_check_accepts_exactly_what_the_decoder_accepts(text in "[A-Za-z0-9_=+/-]{0,12}") {
            proptest::prop_assert_eq!(is_canonical_b64url(&text), URL_SAFE_NO_PAD.decode(&text).is_ok());
        }

        #[test]
        fn any_text_is_checked_as_the_decoder_checks_it(text in "\\PC{0,12}") {
            proptest::prop_assert_eq!(is_canonical_b64url(&text), URL_SAFE_NO_PAD.decode(&text).is_ok());
        }

        #[test]
        fn payloads_round_trip_through_their_text(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let payload = Payload::new(bytes.clone()).unwrap_or_default();
            let json = serde_json::to_string(&payload).unwrap_or_default();
            let back: Payload = serde_json::from_str(&json).unwrap_or_default();
            proptest::prop_assert_eq!(back.len(), bytes.len());
            proptest::prop_assert_eq!(back.as_bytes(), &bytes[..]);
            proptest::prop_assert_eq!(&back, &payload);
            proptest::prop_assert_eq!(back.into_bytes(), bytes);
        }
    }

    #[test]
    fn the_relay_forwards_the_text_it_received() {
        let text = URL_SAFE_NO_PAD.encode(b"sealed item");
        let payload: Payload = serde_json::from_str(&format!("\"{text}\"")).unwrap_or_default();
        assert_eq!(
            serde_json::to_string(&payload).unwrap_or_default(),
            format!("\"{text}\"")
        );
        // A non-canonical last character (spare bits set) is refused, like the decoder refuses it.
        assert!(serde_json::from_str::<Payload>("\"AB\"").is_err());
        assert!(serde_json::from_str::<Payload>("\"AA\"").is_ok());
    }

    #[test]
    fn debug_never_prints_secret_bytes() {
        let token = AuthToken([0xab; AUTH_TOKEN_LEN]);
        let verifier = Verifier([0xcd; VERIFIER_LEN]);
        let payload = Payload::new(b"attack at dawn".to_vec()).unwrap_or_default();
        let text = format!("{token:?} {verifier:?} {payload:?}");
        assert!(!text.contains("171") && !text.contains("ab") && !text.contains("attack"));
        assert_eq!(format!("{payload:?}"), "Payload(14 bytes)");
    }
}
