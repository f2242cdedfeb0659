//! The resume blob: what a page keeps in `sessionStorage` so that a refreshed tab rejoins as a new session.
//!
//! Layout before base64url: `version u8 (3) || room_id 16 || link_secret 32 || expires_at u64 BE || room_key 32 ||
//! channel_salt 32 || auth_token 32 || (u8(0) | u8(1) || signing_seed 32) || alias str16`.
//! The signing seed is the session's Ed25519 key, so that the session a refreshed tab starts can prove it continues
//! this one; the blob never holds X25519 keys, chains or messages, so a refreshed tab reads nothing sent before it
//! rejoined.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::link::{LinkSecret, RoomLink};
use crate::message::MAX_ALIAS_LEN;
use crate::schedule::{AuthTokenSecret, ChannelSalt, RoomKey, RoomSecrets};

/// Version byte of the blob layout: 3 since it may carry the session's signing key.
pub const RESUME_VERSION: u8 = 3;

/// Longest blob text accepted.
const MAX_RESUME_TEXT: usize = 512;

/// Why a resume blob was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// Not a blob this version wrote.
    #[error("the saved session is not valid")]
    Malformed,
    /// The room's expiry has passed.
    #[error("the room has expired")]
    Expired,
    /// The alias is too long for a blob.
    #[error("alias too long")]
    AliasTooLong,
}

/// Encodes the secrets and alias as blob text, without a session key; the text is wiped when dropped.
pub fn encode_resume(secrets: &RoomSecrets, alias: &str) -> Result<Zeroizing<String>, ResumeError> {
    encode_resume_with(secrets, alias, None)
}

/// What a resume blob holds: the room's secrets, the alias, and the signing key of the session that wrote it.
pub struct Resumed {
    /// The room's secrets.
    pub secrets: RoomSecrets,
    /// The alias.
    pub alias: String,
    /// The signing key of the session that wrote the blob, when it was a session's.
    pub(crate) previous: Option<SigningKey>,
}

impl std::fmt::Debug for Resumed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resumed")
            .field("previous_session", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

/// Encodes the secrets, the alias and, when given, the session's signing key as blob text; wiped when dropped.
pub(crate) fn encode_resume_with(
    secrets: &RoomSecrets,
    alias: &str,
    signing: Option<&SigningKey>,
) -> Result<Zeroizing<String>, ResumeError> {
    let link = secrets.link();
    let mut w = Writer::new();
    w.u8(RESUME_VERSION)
        .raw(link.room_id_bytes())
        .raw(link.secret().expose())
        .u64(link.expires_at())
        .raw(secrets.room_key().expose())
        .raw(secrets.channel_salt().expose())
        .raw(secrets.auth_token_secret().expose());
    match signing {
        Some(key) => w.u8(1).raw(&key.to_bytes()[..]),
        None => w.u8(0),
    };
    w.str16(alias, MAX_ALIAS_LEN).map_err(|_| ResumeError::AliasTooLong)?;
    let bytes = w.finish();
    Ok(Zeroizing::new(URL_SAFE_NO_PAD.encode(&bytes[..])))
}

/// Decodes blob text into the room's secrets and the alias, refusing it once the room's expiry has passed at `now_ms`.
pub fn decode_resume(text: &str, now_ms: u64) -> Result<(RoomSecrets, String), ResumeError> {
    let resumed = decode_resumed(text, now_ms)?;
    Ok((resumed.secrets, resumed.alias))
}

/// Decodes blob text with the signing key it may carry, refusing it once the room's expiry has passed at `now_ms`.
pub fn decode_resumed(text: &str, now_ms: u64) -> Result<Resumed, ResumeError> {
    if text.len() > MAX_RESUME_TEXT {
        return Err(ResumeError::Malformed);
    }
    let bytes = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| ResumeError::Malformed)?,
    );
    let mut r = Reader::new(&bytes);
    let parse = |r: &mut Reader<'_>| -> Result<_, crate::codec::CodecError> {
        if r.u8()? != RESUME_VERSION {
            return Err(crate::codec::CodecError::Malformed);
        }
        let room_id = r.array::<16>()?;
        let secret = LinkSecret::from_bytes(r.array()?);
        let expires_at = r.u64()?;
        let room_key = RoomKey::from_bytes(r.array()?);
        let salt = ChannelSalt::from_bytes(r.array()?);
        let token = AuthTokenSecret::from_bytes(r.array()?);
        let previous = match r.u8()? {
            0 => None,
            1 => Some(SigningKey::from_bytes(&Zeroizing::new(r.array::<32>()?))),
            _ => return Err(crate::codec::CodecError::Malformed),
        };
        let alias = r.str16(MAX_ALIAS_LEN)?;
        Ok((
            RoomLink::from_parts(room_id, secret, expires_at),
            room_key,
            salt,
            token,
            previous,
            alias,
        ))
    };
    let (link, room_key, salt, token, previous, alias) = parse(&mut r).map_err(|_| ResumeError::Malformed)?;
    r.end().map_err(|_| ResumeError::Malformed)?;
    if link.is_expired(now_ms) {
        return Err(ResumeError::Expired);
    }
    Ok(Resumed {
        secrets: RoomSecrets::from_parts(link, room_key, salt, token),
        alias,
        previous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::tests::fixed_secrets;

    #[test]
    fn round_trips_and_refuses_tampering() {
        let secrets = fixed_secrets(3);
        let text = encode_resume(&secrets, "alice").unwrap();
        let (back, alias) = decode_resume(&text, 0).unwrap();
        assert_eq!(alias, "alice");
        assert!(back.room_key() == secrets.room_key() && back.auth_token_secret() == secrets.auth_token_secret());
        assert_eq!(back.link().to_fragment(), secrets.link().to_fragment());
        let expired = secrets.link().expires_at() * 1000;
        assert_eq!(decode_resume(&text, expired).err(), Some(ResumeError::Expired));
        for bad in [&text[..text.len() - 1], &format!("{}AA", *text), "", "!!"] {
            assert_eq!(decode_resume(bad, 0).err(), Some(ResumeError::Malformed), "{bad}");
        }
        let mut bytes = URL_SAFE_NO_PAD.decode(text.as_bytes()).unwrap();
        bytes[0] = 2;
        assert_eq!(
            decode_resume(&URL_SAFE_NO_PAD.encode(&bytes), 0).err(),
            Some(ResumeError::Malformed)
        );
        assert_eq!(
            encode_resume(&secrets, &"a".repeat(crate::message::MAX_ALIAS_LEN + 1)).err(),
            Some(ResumeError::AliasTooLong)
        );
    }

    #[test]
    fn layout_matches_the_document() {
        // blob = u8(3) || room_id || link_secret || u64(expires_at) || room_key || channel_salt || auth_token ||
        //        (u8(0) | u8(1) || signing_seed) || str16(alias)
        let secrets = fixed_secrets(5);
        let link = secrets.link();
        let head = [
            &[3u8][..],
            link.room_id_bytes(),
            link.secret().expose(),
            &link.expires_at().to_be_bytes(),
            secrets.room_key().expose(),
            secrets.channel_salt().expose(),
            &secrets.auth_token().0,
        ]
        .concat();
        let by_hand = [&head[..], &[0], &[0, 3], b"eve"].concat();
        assert_eq!(
            *encode_resume(&secrets, "eve").unwrap(),
            URL_SAFE_NO_PAD.encode(by_hand)
        );
        let key = SigningKey::from_bytes(&[7; 32]);
        let with_key = [&head[..], &[1], &[7; 32], &[0, 3], b"eve"].concat();
        let text = encode_resume_with(&secrets, "eve", Some(&key)).unwrap();
        assert_eq!(*text, URL_SAFE_NO_PAD.encode(with_key));
        let back = decode_resumed(&text, 0).unwrap();
        assert_eq!(back.previous.map(|k| k.to_bytes()), Some([7; 32]));
        let mut bad = [&head[..], &[2], &[7; 32], &[0, 3], b"eve"].concat();
        assert_eq!(
            decode_resumed(&URL_SAFE_NO_PAD.encode(&bad), 0).err(),
            Some(ResumeError::Malformed),
            "a key flag other than 0 or 1"
        );
        bad.truncate(head.len() + 20);
        assert_eq!(
            decode_resumed(&URL_SAFE_NO_PAD.encode(&bad), 0).err(),
            Some(ResumeError::Malformed)
        );
    }

    #[test]
    fn holds_exactly_the_room_secrets_and_alias() {
        let text = encode_resume(&fixed_secrets(3), "alice").unwrap();
        let len = URL_SAFE_NO_PAD.decode(text.as_bytes()).unwrap().len();
        assert_eq!(len, 1 + 16 + 32 + 8 + 32 + 32 + 32 + 1 + 2 + 5);
    }
}
