//! The room link: version, room id, link secret and expiry, carried in a URL fragment that browsers never send.
//!
//! Text form: `v1.<room_id>.<link_secret>.<expiry>`, where the ids are unpadded base64url (RFC 4648 §5)
//! and the expiry is the room's end in decimal seconds since the Unix epoch.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::CryptoRngCore;
use sanctum_protocol::{ROOM_ID_LEN, RoomId};
use zeroize::Zeroizing;

use crate::secret::secret_bytes;

/// Length of the link secret in bytes.
pub const LINK_SECRET_LEN: usize = 32;

/// The version tag that starts every v1 link.
pub const LINK_VERSION: &str = "v1";

/// Longest link text accepted, far above the 84 or so characters of a real link.
pub const MAX_LINK_LEN: usize = 256;

/// Latest expiry accepted (the start of the year 10000), so that arithmetic on it cannot overflow.
const MAX_EXPIRY: u64 = 253_402_300_800;

secret_bytes!(
    /// The 32 random bytes of a link that make the password guessable only by someone holding the link.
    pub(crate) LinkSecret, LINK_SECRET_LEN
);

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The text is not a link in any version this client knows.
    #[error("this is not a valid room link")]
    Malformed,
    /// The link names a version this client does not speak.
    #[error("this room link needs a newer version of the app")]
    UnsupportedVersion,
    /// The room's expiry has passed.
    #[error("this room link has expired")]
    Expired,
    /// A lifetime of zero, or one that runs past any sensible date.
    #[error("invalid room lifetime")]
    BadLifetime,
}

/// A parsed room link. It holds the link secret, so it is wiped on drop and never printed.
pub struct RoomLink {
    room_id: [u8; ROOM_ID_LEN],
    secret: LinkSecret,
    expires_at: u64,
}

impl RoomLink {
    /// Makes a link for a new room that lives `lifetime_secs` seconds from `now_ms`.
    pub fn generate(rng: &mut impl CryptoRngCore, lifetime_secs: u32, now_ms: u64) -> Result<Self, LinkError> {
        if lifetime_secs == 0 {
            return Err(LinkError::BadLifetime);
        }
        let expires_at = (now_ms / 1000)
            .checked_add(u64::from(lifetime_secs))
            .filter(|&t| t <= MAX_EXPIRY)
            .ok_or(LinkError::BadLifetime)?;
        let mut room_id = [0u8; ROOM_ID_LEN];
        rng.fill_bytes(&mut room_id);
        let mut secret = [0u8; LINK_SECRET_LEN];
        rng.fill_bytes(&mut secret);
        Ok(Self {
            room_id,
            secret: LinkSecret::from_bytes(secret),
            expires_at,
        })
    }

    /// Builds a link from its parts; used by resume blobs and test vectors.
    pub(crate) fn from_parts(room_id: [u8; ROOM_ID_LEN], secret: LinkSecret, expires_at: u64) -> Self {
        Self {
            room_id,
            secret,
            expires_at,
        }
    }

    /// Parses a link's text: the fragment alone, with or without its `#`, or a whole URL that ends in one.
    ///
    /// Refuses the link once its expiry has passed at `now_ms`.
    pub fn parse(text: &str, now_ms: u64) -> Result<Self, LinkError> {
        let text = text.trim();
        if text.len() > MAX_LINK_LEN {
            return Err(LinkError::Malformed);
        }
        let fragment = text.rsplit_once('#').map_or(text, |(_, f)| f);
        let mut parts = fragment.split('.');
        let version = parts.next().unwrap_or_default();
        if version != LINK_VERSION {
            let numbered =
                version.len() > 1 && version.starts_with('v') && version[1..].bytes().all(|b| b.is_ascii_digit());
            return Err(if numbered {
                LinkError::UnsupportedVersion
            } else {
                LinkError::Malformed
            });
        }
        let (Some(room), Some(secret), Some(expiry), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        let room_id: [u8; ROOM_ID_LEN] = decode_fixed(room)?;
        let secret = Zeroizing::new(decode_fixed::<LINK_SECRET_LEN>(secret)?);
        // Only canonical decimal: digits alone, no sign, no leading zero.
        if expiry.is_empty()
            || expiry.len() > 12
            || !expiry.bytes().all(|b| b.is_ascii_digit())
            || expiry.starts_with('0')
        {
            return Err(LinkError::Malformed);
        }
        let expires_at: u64 = expiry.parse().map_err(|_| LinkError::Malformed)?;
        if expires_at > MAX_EXPIRY {
            return Err(LinkError::Malformed);
        }
        let link = Self {
            room_id,
            secret: LinkSecret::from_bytes(*secret),
            expires_at,
        };
        if link.is_expired(now_ms) {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }

    /// The fragment text, without the `#`, to append to the app's own address.
    pub fn to_fragment(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{LINK_VERSION}.{}.{}.{}",
            URL_SAFE_NO_PAD.encode(self.room_id),
            URL_SAFE_NO_PAD.encode(self.secret.expose()),
            self.expires_at
        ))
    }

    /// The room's id as the wire carries it.
    pub fn room_id(&self) -> RoomId {
        RoomId(self.room_id)
    }

    pub(crate) fn room_id_bytes(&self) -> &[u8; ROOM_ID_LEN] {
        &self.room_id
    }

    pub(crate) fn secret(&self) -> &LinkSecret {
        &self.secret
    }

    /// The room's expiry in seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Whether the room's expiry has passed at `now_ms` (milliseconds since the Unix epoch).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms / 1000 >= self.expires_at
    }

    /// A copy for the room's secrets, which keep the link they were derived from; each copy is wiped on drop.
    pub(crate) fn duplicate(&self) -> Self {
        Self {
            room_id: self.room_id,
            secret: self.secret.duplicate(),
            expires_at: self.expires_at,
        }
    }
}

impl std::fmt::Debug for RoomLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomLink")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn decode_fixed<const N: usize>(text: &str) -> Result<[u8; N], LinkError> {
    if text.len() != (4 * N).div_ceil(3) {
        return Err(LinkError::Malformed);
    }
    let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(text).map_err(|_| LinkError::Malformed)?);
    let mut out = [0u8; N];
    if bytes.len() != N {
        return Err(LinkError::Malformed);
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn link() -> RoomLink {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        RoomLink::generate(&mut rng, 3600, NOW).unwrap()
    }

    #[test]
    fn round_trips_through_text_and_urls() {
        let link = link();
        let text = link.to_fragment();
        assert!(text.starts_with("v1.") && text.len() < 100);
        for form in [
            text.to_string(),
            format!("#{}", *text),
            format!("https://chat.example/#{}", *text),
        ] {
            let back = RoomLink::parse(&form, NOW).unwrap();
            assert_eq!(back.room_id(), link.room_id());
            assert_eq!(back.expires_at(), NOW / 1000 + 3600);
            assert_eq!(back.to_fragment(), text);
        }
    }

    #[test]
    fn refuses_expired_links() {
        let text = link().to_fragment();
        assert!(RoomLink::parse(&text, NOW + 3_599_999).is_ok());
        assert_eq!(RoomLink::parse(&text, NOW + 3_600_000).err(), Some(LinkError::Expired));
    }

    #[test]
    fn refuses_every_malformed_link() {
        let good = link().to_fragment().to_string();
        let parts: Vec<&str> = good.split('.').collect();
        let cases = [
            String::new(),
            "v1".into(),
            "v1...".into(),
            format!("{}.{}.{}", parts[0], parts[1], parts[2]),
            format!("{good}.x"),
            format!("v1.{}A.{}.{}", parts[1], parts[2], parts[3]),
            format!("v1.{}.{}A.{}", parts[1], parts[2], parts[3]),
            format!("v1.{}.{}.{}", &parts[1][1..], parts[2], parts[3]),
            format!("v1.{}=.{}.{}", parts[1], parts[2], parts[3]),
            format!("v1.{}.{}.+{}", parts[1], parts[2], parts[3]),
            format!("v1.{}.{}.0{}", parts[1], parts[2], parts[3]),
            format!("v1.{}.{}.{}0000000", parts[1], parts[2], parts[3]),
            format!("v1.{}.{}.", parts[1], parts[2]),
            format!("V1.{}.{}.{}", parts[1], parts[2], parts[3]),
            format!(
                "v1.{}.{}.{}",
                parts[1].replace(|c: char| c.is_alphanumeric(), "/"),
                parts[2],
                parts[3]
            ),
            "x".repeat(MAX_LINK_LEN + 1),
        ];
        for case in cases {
            assert_eq!(RoomLink::parse(&case, NOW).err(), Some(LinkError::Malformed), "{case}");
        }
        let v2 = format!("v2.{}.{}.{}", parts[1], parts[2], parts[3]);
        assert_eq!(RoomLink::parse(&v2, NOW).err(), Some(LinkError::UnsupportedVersion));
    }

    #[test]
    fn lifetime_bounds() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        assert_eq!(RoomLink::generate(&mut rng, 0, NOW).err(), Some(LinkError::BadLifetime));
        assert_eq!(
            RoomLink::generate(&mut rng, 1, u64::MAX).err(),
            Some(LinkError::BadLifetime)
        );
    }

    #[test]
    fn debug_omits_the_secret() {
        let link = link();
        let text = format!("{link:?}");
        let fragment = link.to_fragment();
        let parts: Vec<&str> = fragment.split('.').collect();
        assert!(!text.contains(parts[1]) && !text.contains(parts[2]), "{text}");
    }
}
