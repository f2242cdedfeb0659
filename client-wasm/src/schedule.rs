//! The key schedule: the room password stretched with Argon2id, then split by HKDF-SHA256 into the auth token and the room key.
//!
//! `salt = SHA-256("sanctum v1 argon2id salt" || room_id || link_secret || expiry_be64)`,
//! `stretched = Argon2id(password, salt, m = 64 MiB, t = 3, p = 1, 32 bytes)`,
//! `prk = HKDF-Extract(salt = room_id || link_secret, ikm = stretched)`,
//! `auth_token = HKDF-Expand(prk, "sanctum v1 auth token", 32)`, `room_key = HKDF-Expand(prk, "sanctum v1 room key", 32)`,
//! `channel_salt = HKDF-Expand(prk, "sanctum v1 channel salt", 32)`,
//! `verifier = SHA-256(auth_token)`.

use argon2::{Algorithm, Argon2, Params, Version};
use hkdf::Hkdf;
use sanctum_protocol::{AuthToken, RoomId, Verifier};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::label;
use crate::link::RoomLink;
use crate::secret::secret_bytes;

/// Argon2id memory cost in KiB (64 MiB), fixed by protocol version 1.
pub const ARGON2_M_COST_KIB: u32 = 64 * 1024;
/// Argon2id passes, fixed by protocol version 1.
pub const ARGON2_T_COST: u32 = 3;
/// Argon2id lanes, fixed by protocol version 1.
pub const ARGON2_P_COST: u32 = 1;
/// Length of the stretched password and of each derived key.
pub const KEY_LEN: usize = 32;
/// Longest password accepted, in bytes of UTF-8.
pub const MAX_PASSWORD_LEN: usize = 1024;

secret_bytes!(
    /// The key that seals the room's descriptor, hellos and answers; everyone with the link and the password has it.
    pub(crate) RoomKey, KEY_LEN
);
secret_bytes!(
    /// The HKDF salt of every pairwise channel in the room, derived apart from the room key so that each key has one job.
    pub(crate) ChannelSalt, KEY_LEN
);
secret_bytes!(
    /// The token a client presents to join; the relay keeps only its SHA-256.
    pub(crate) AuthTokenSecret, KEY_LEN
);
secret_bytes!(
    /// The Argon2id output, wiped as soon as HKDF has split it.
    pub(crate) Stretched, KEY_LEN
);

/// Why the key schedule could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The password is empty.
    #[error("the password is empty")]
    EmptyPassword,
    /// The password is longer than [`MAX_PASSWORD_LEN`] bytes.
    #[error("the password is too long")]
    PasswordTooLong,
    /// Argon2 could not run, which on a working system means it could not allocate its 64 MiB.
    #[error("key derivation failed")]
    Kdf,
}

/// Everything a member derives from the link and the password: the link itself, the room key and the auth token.
pub struct RoomSecrets {
    link: RoomLink,
    room_key: RoomKey,
    channel_salt: ChannelSalt,
    auth_token: AuthTokenSecret,
}

impl RoomSecrets {
    /// Runs the slow step: Argon2id over the password, salted by the link, then HKDF.
    pub fn derive(link: &RoomLink, password: &str) -> Result<Self, ScheduleError> {
        if password.is_empty() {
            return Err(ScheduleError::EmptyPassword);
        }
        if password.len() > MAX_PASSWORD_LEN {
            return Err(ScheduleError::PasswordTooLong);
        }
        let stretched = stretch(password.as_bytes(), &argon2_salt(link))?;
        Ok(Self::from_stretched(link.duplicate(), &stretched))
    }

    /// The fast half of the schedule, from the Argon2id output on.
    pub(crate) fn from_stretched(link: RoomLink, stretched: &Stretched) -> Self {
        let mut salt = Zeroizing::new([0u8; 16 + 32]);
        salt[..16].copy_from_slice(link.room_id_bytes());
        salt[16..].copy_from_slice(link.secret().expose());
        let hkdf = Hkdf::<Sha256>::new(Some(&salt[..]), stretched.expose());
        let mut auth = [0u8; KEY_LEN];
        let mut room = [0u8; KEY_LEN];
        let mut salt = [0u8; KEY_LEN];
        // Expanding 32 bytes from SHA-256 HKDF is always within its 8160-byte limit.
        let _ = hkdf.expand(label::AUTH_TOKEN, &mut auth);
        let _ = hkdf.expand(label::ROOM_KEY, &mut room);
        let _ = hkdf.expand(label::CHANNEL_SALT, &mut salt);
        Self {
            link,
            room_key: RoomKey::from_bytes(room),
            channel_salt: ChannelSalt::from_bytes(salt),
            auth_token: AuthTokenSecret::from_bytes(auth),
        }
    }

    /// Rebuilds secrets from a resume blob's parts.
    pub(crate) fn from_parts(
        link: RoomLink,
        room_key: RoomKey,
        channel_salt: ChannelSalt,
        auth_token: AuthTokenSecret,
    ) -> Self {
        Self {
            link,
            room_key,
            channel_salt,
            auth_token,
        }
    }

    /// The link these secrets belong to.
    pub fn link(&self) -> &RoomLink {
        &self.link
    }

    /// The room's id.
    pub fn room_id(&self) -> RoomId {
        self.link.room_id()
    }

    /// The auth token in the wire type, for a `join` frame; the one place the secret leaves its newtype.
    pub fn auth_token(&self) -> AuthToken {
        AuthToken(*self.auth_token.expose())
    }

    /// SHA-256 of the auth token, for a `create` frame.
    pub fn verifier(&self) -> Verifier {
        Verifier(Sha256::digest(self.auth_token.expose()).into())
    }

    pub(crate) fn room_key(&self) -> &RoomKey {
        &self.room_key
    }

    pub(crate) fn channel_salt(&self) -> &ChannelSalt {
        &self.channel_salt
    }

    pub(crate) fn auth_token_secret(&self) -> &AuthTokenSecret {
        &self.auth_token
    }

    /// A second copy, for a session that must outlive the handle the caller keeps.
    pub(crate) fn duplicate(&self) -> Self {
        Self {
            link: self.link.duplicate(),
            room_key: self.room_key.duplicate(),
            channel_salt: self.channel_salt.duplicate(),
            auth_token: self.auth_token.duplicate(),
        }
    }
}

impl std::fmt::Debug for RoomSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomSecrets")
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

/// The Argon2id salt: SHA-256 over the label, room id, link secret and expiry, so a tampered expiry yields other keys.
pub(crate) fn argon2_salt(link: &RoomLink) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(label::ARGON2_SALT);
    hash.update(link.room_id_bytes());
    hash.update(link.secret().expose());
    hash.update(link.expires_at().to_be_bytes());
    hash.finalize().into()
}

/// Argon2id with the version-1 parameters.
pub(crate) fn stretch(password: &[u8], salt: &[u8; 32]) -> Result<Stretched, ScheduleError> {
    let params =
        Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, Some(KEY_LEN)).map_err(|_| ScheduleError::Kdf)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = [0u8; KEY_LEN];
    argon
        .hash_password_into(password, salt, &mut out)
        .map_err(|_| ScheduleError::Kdf)?;
    Ok(Stretched::from_bytes(out))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::link::LinkSecret;

    /// Secrets from fixed bytes without Argon2, for tests that need many rooms quickly.
    pub(crate) fn fixed_secrets(seed: u8) -> RoomSecrets {
        let link = RoomLink::from_parts([seed; 16], LinkSecret::from_bytes([seed ^ 0x5a; 32]), 4_000_000_000);
        RoomSecrets::from_stretched(link, &Stretched::from_bytes([seed ^ 0xa5; 32]))
    }

    #[test]
    fn rfc9106_argon2id_vector() {
        // RFC 9106 §5.3: Argon2id with a secret and associated data, m = 32 KiB, t = 3, p = 4.
        let ad = [4u8; 12];
        let params = argon2::ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .output_len(32)
            .data(argon2::AssociatedData::new(&ad).unwrap())
            .build()
            .unwrap();
        let argon = Argon2::new_with_secret(&[3u8; 8], Algorithm::Argon2id, Version::V0x13, params).unwrap();
        let mut out = [0u8; 32];
        argon.hash_password_into(&[1u8; 32], &[2u8; 16], &mut out).unwrap();
        assert_eq!(
            hex::encode(out),
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
    }

    #[test]
    fn rfc5869_hkdf_vector() {
        // RFC 5869 A.1, test case 1.
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let mut okm = [0u8; 42];
        Hkdf::<Sha256>::new(Some(&salt), &ikm).expand(&info, &mut okm).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn derivation_uses_the_real_parameters_and_depends_on_every_input() {
        let link = fixed_secrets(1).link.duplicate();
        let a = RoomSecrets::derive(&link, "correct horse battery staple").unwrap();
        let b = RoomSecrets::derive(&link, "correct horse battery staple").unwrap();
        assert!(a.room_key == b.room_key && a.auth_token == b.auth_token);
        assert!(a.room_key.expose() != a.auth_token.expose());
        let other_password = RoomSecrets::derive(&link, "correct horse battery stapl").unwrap();
        assert!(a.room_key != other_password.room_key && a.auth_token != other_password.auth_token);
        let moved = RoomLink::from_parts([1; 16], LinkSecret::from_bytes([1 ^ 0x5a; 32]), 4_000_000_001);
        let other_expiry = RoomSecrets::derive(&moved, "correct horse battery staple").unwrap();
        assert!(a.auth_token != other_expiry.auth_token);
        let other_secret = RoomLink::from_parts([1; 16], LinkSecret::from_bytes([0; 32]), 4_000_000_000);
        assert!(
            a.auth_token
                != RoomSecrets::derive(&other_secret, "correct horse battery staple")
                    .unwrap()
                    .auth_token
        );
        assert_eq!(a.verifier().0, <[u8; 32]>::from(Sha256::digest(a.auth_token().0)));
    }

    #[test]
    fn password_bounds() {
        let link = fixed_secrets(1).link.duplicate();
        assert_eq!(RoomSecrets::derive(&link, "").err(), Some(ScheduleError::EmptyPassword));
        let long = "x".repeat(MAX_PASSWORD_LEN + 1);
        assert_eq!(
            RoomSecrets::derive(&link, &long).err(),
            Some(ScheduleError::PasswordTooLong)
        );
        // The strength estimate, a crate of its own, refuses exactly the passwords the schedule refuses as too long.
        assert_eq!(MAX_PASSWORD_LEN, sanctum_strength::MAX_PASSWORD_LEN);
    }

    #[test]
    fn debug_omits_keys() {
        let secrets = fixed_secrets(7);
        let text = format!("{secrets:?} {:?} {:?}", secrets.room_key, secrets.auth_token);
        assert!(
            text.contains("RoomKey(redacted)") && text.contains("AuthTokenSecret(redacted)"),
            "{text}"
        );
        assert!(
            !text.contains('[') && !text.contains(&hex::encode(secrets.room_key.expose())),
            "{text}"
        );
    }
}
