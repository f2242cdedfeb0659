//! Protocol constants: versions, field lengths and the bounds every relay must accept.

/// The version of the wire envelope and of the key schedule it carries (`v` on the wire).
pub const PROTOCOL_VERSION: u16 = 1;

/// Length of a room id in bytes, chosen at random by the room's creator.
pub const ROOM_ID_LEN: usize = 16;

/// Length of the room-auth token a joining client presents.
pub const AUTH_TOKEN_LEN: usize = 32;

/// Length of the verifier, SHA-256 of the auth token, that a creator registers.
pub const VERIFIER_LEN: usize = 32;

/// Largest sealed room descriptor, in bytes before base64url.
pub const MAX_DESCRIPTOR_LEN: usize = 4096;

/// Largest opaque payload of a broadcast or direct frame, in bytes before base64url.
///
/// The client's largest padded item (32 KiB of plaintext) plus its header, nonce, signature and tag fits with room to spare.
pub const MAX_PAYLOAD_LEN: usize = 33 * 1024;

/// Longest JSON envelope text around a payload, with generous room for field names and member ids.
const ENVELOPE_OVERHEAD: usize = 128;

/// The smallest frame limit a relay may be configured with: a relayed frame carrying the largest payload.
///
/// A relay refuses to start with a lower limit, since it could not carry every item the protocol allows.
pub const MIN_FRAME_LIMIT: usize = base64url_len(MAX_PAYLOAD_LEN) + ENVELOPE_OVERHEAD;

/// Length of the unpadded base64url encoding of `n` bytes.
pub(crate) const fn base64url_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_frame_limit_fits_the_default_limit() {
        const { assert!(MIN_FRAME_LIMIT <= 64 * 1024) };
        assert_eq!(base64url_len(0), 0);
        assert_eq!(base64url_len(1), 2);
        assert_eq!(base64url_len(3), 4);
        assert_eq!(base64url_len(32), 43);
    }
}
