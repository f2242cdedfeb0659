//! A room's id and credentials as tests and the load generator make them, and the frames that create and join it.
//!
//! The token is random bytes rather than the output of the client's key schedule: the relay sees only the token and
//! its SHA-256, so these keys exercise exactly what a real client registers, without Argon2's cost.

use rand::RngCore as _;
use sanctum_protocol::{
    AUTH_TOKEN_LEN, AuthToken, ClientFrame, Descriptor, PROTOCOL_VERSION, Payload, ROOM_ID_LEN, RoomId, Verifier,
};
use sha2::{Digest as _, Sha256};

/// The descriptor of a room made by [`RoomKeys::create`], which a joiner must get back byte for byte.
pub const DESCRIPTOR: &[u8] = b"sealed descriptor";

/// A room's id and the auth token its members present.
#[derive(Debug, Clone)]
pub struct RoomKeys {
    /// The room id.
    pub room: RoomId,
    /// The auth token members present; the creator registers its SHA-256.
    pub token: AuthToken,
}

impl RoomKeys {
    /// Fresh random keys: no two calls share a room id, so rooms of different tests, rows or processes never collide.
    pub fn fresh() -> Self {
        let mut rng = rand::rng();
        let mut room = [0u8; ROOM_ID_LEN];
        let mut token = [0u8; AUTH_TOKEN_LEN];
        rng.fill_bytes(&mut room);
        rng.fill_bytes(&mut token);
        Self {
            room: RoomId(room),
            token: AuthToken(token),
        }
    }

    /// Keys derived from `seed`, the same in every run, so that a test can name the same room twice on purpose.
    pub fn seeded(seed: u8) -> Self {
        let mut room = [0u8; ROOM_ID_LEN];
        for (i, byte) in room.iter_mut().enumerate() {
            *byte = seed
                .wrapping_mul(31)
                .wrapping_add((i as u8).wrapping_mul(7).wrapping_add(1));
        }
        let mut token = [0u8; AUTH_TOKEN_LEN];
        for (i, byte) in token.iter_mut().enumerate() {
            *byte = seed
                .wrapping_mul(17)
                .wrapping_add((i as u8).wrapping_mul(13).wrapping_add(5));
        }
        Self {
            room: RoomId(room),
            token: AuthToken(token),
        }
    }

    /// SHA-256 of the token, which the creator registers.
    pub fn verifier(&self) -> Verifier {
        Verifier(Sha256::digest(self.token.as_bytes()).into())
    }

    /// A token that is not this room's: the right one with its first byte flipped.
    pub fn wrong_token(&self) -> AuthToken {
        let mut bytes = *self.token.as_bytes();
        bytes[0] ^= 0xff;
        AuthToken(bytes)
    }

    /// The `create` frame for this room with `lifetime` seconds and the descriptor [`DESCRIPTOR`].
    pub fn create(&self, lifetime: u32) -> ClientFrame {
        self.create_with(lifetime, Descriptor::new(DESCRIPTOR.to_vec()).unwrap_or_default())
    }

    /// The `create` frame for this room with `lifetime` seconds and `descriptor`.
    pub fn create_with(&self, lifetime: u32, descriptor: Descriptor) -> ClientFrame {
        ClientFrame::Create {
            v: PROTOCOL_VERSION,
            room: self.room.clone(),
            verifier: self.verifier(),
            lifetime,
            descriptor,
        }
    }

    /// The `join` frame for this room with its right token.
    pub fn join(&self) -> ClientFrame {
        self.join_with(self.token.clone())
    }

    /// The `join` frame for this room with `token`.
    pub fn join_with(&self, token: AuthToken) -> ClientFrame {
        ClientFrame::Join {
            v: PROTOCOL_VERSION,
            room: self.room.clone(),
            token,
        }
    }
}

/// A payload of `len` bytes of `byte`, or an empty one past the protocol's bound.
pub fn payload(byte: u8, len: usize) -> Payload {
    Payload::new(vec![byte; len]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_keys_differ_and_the_verifier_is_the_tokens_sha256() {
        let (a, b) = (RoomKeys::fresh(), RoomKeys::fresh());
        assert_ne!(a.room, b.room);
        assert_eq!(a.verifier().0, <[u8; 32]>::from(Sha256::digest(a.token.as_bytes())));
        assert_ne!(a.wrong_token().as_bytes(), a.token.as_bytes());
    }

    #[test]
    fn seeded_keys_are_stable_and_distinct_per_seed() {
        assert_eq!(RoomKeys::seeded(7).room, RoomKeys::seeded(7).room);
        assert_ne!(RoomKeys::seeded(7).room, RoomKeys::seeded(8).room);
    }
}
