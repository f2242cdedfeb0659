//! The plaintext model: the body of each kind of sealed item and its byte-exact encoding.
//!
//! Hello, answer and hand-out bodies are fixed records; whisper and group bodies are a [`Message`]:
//! `tag u8 || sent_at u64 BE (milliseconds since the Unix epoch) || fields`.

use crate::attachment::{AttachmentStart, CHUNK_LEN};
use crate::codec::{CodecError, Reader, Writer};
use crate::seal::HEADER_LEN;
use crate::sign::SIGNATURE_LEN;
use crate::sign::SessionKey;
use zeroize::Zeroizing;

/// Longest alias on the wire, in bytes of UTF-8: [`crate::MAX_ALIAS_CHARS`] characters of up to 4 bytes each.
pub const MAX_ALIAS_LEN: usize = 4 * crate::text::MAX_ALIAS_CHARS;
/// Longest room name, in bytes of UTF-8.
pub const MAX_ROOM_NAME_LEN: usize = 128;
/// Longest text message or farewell, in bytes of UTF-8; it fits the largest padding bucket with its header and signature.
pub const MAX_TEXT_LEN: usize = 32 * 1024 - 512;
/// Longest farewell, in bytes of UTF-8; small enough that the goodbye travels inside a hand-out as its cause.
pub const MAX_FAREWELL_LEN: usize = 1024;
/// Length of a session nonce.
pub const SESSION_NONCE_LEN: usize = 32;
/// Longest attachment file name, in bytes of UTF-8.
pub const MAX_FILE_NAME_LEN: usize = 255;
/// Longest attachment media type, in bytes of UTF-8.
pub const MAX_MIME_LEN: usize = 127;
/// Longest attachment caption, in bytes of UTF-8: with the start's other fields at their longest (455 bytes), the
/// start still fits where the longest text does, so no limit of the padding or the frame changes.
pub const MAX_CAPTION_LEN: usize = MAX_TEXT_LEN - 512;

const TAG_TEXT: u8 = 1;
const TAG_GOODBYE: u8 = 2;
const TAG_KICK: u8 = 3;
const TAG_PURGE: u8 = 4;
const TAG_ATTACHMENT_START: u8 = 5;
const TAG_ATTACHMENT_CHUNK: u8 = 6;
const TAG_TRANSFER: u8 = 7;
const TAG_ATTACHMENT_CANCEL: u8 = 8;

/// Most ownership transfers a room's answers carry since its descriptor; the owner can hand ownership on no more often.
///
/// A newcomer checks the whole list link by link, so the bound keeps an answer within one padding bucket.
pub const MAX_OWNERSHIP_TRANSFERS: usize = 32;

/// Who may kick: the room's owner alone, or every accepted member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KickPolicy {
    /// Only the owner's signed kick is honoured (the default).
    #[default]
    Owner,
    /// Every accepted member's signed kick is honoured.
    Everyone,
}

impl KickPolicy {
    fn to_byte(self) -> u8 {
        match self {
            Self::Owner => 0,
            Self::Everyone => 1,
        }
    }

    fn from_byte(byte: u8) -> Result<Self, CodecError> {
        match byte {
            0 => Ok(Self::Owner),
            1 => Ok(Self::Everyone),
            _ => Err(CodecError::Malformed),
        }
    }
}

/// The sealed descriptor's body: `name str16 || expires_at u64 BE (seconds) || owner 32 ||
/// policy u8 (0 owner only, 1 every member) || sequence u32 BE`.
///
/// The item is signed by `owner`, the session key of the member that sealed it; `sequence` is the number of ownership
/// transfers before it (0 at creation), so the first transfer after it carries `sequence + 1` and no transfer signed
/// before it can be replayed as one after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DescriptorBody {
    pub(crate) name: String,
    pub(crate) expires_at: u64,
    pub(crate) owner: SessionKey,
    pub(crate) policy: KickPolicy,
    pub(crate) sequence: u32,
}

impl DescriptorBody {
    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, CodecError> {
        let mut w = Writer::new();
        w.str16(&self.name, MAX_ROOM_NAME_LEN)?
            .u64(self.expires_at)
            .raw(&self.owner)
            .u8(self.policy.to_byte())
            .u32(self.sequence);
        Ok(w.finish())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let body = Self {
            name: r.str16(MAX_ROOM_NAME_LEN)?,
            expires_at: r.u64()?,
            owner: r.array()?,
            policy: KickPolicy::from_byte(r.u8()?)?,
            sequence: r.u32()?,
        };
        r.end()?;
        Ok(body)
    }
}

/// What a session announces about itself in a hello or an answer:
/// `member u32 BE || session_key 32 || dh_key 32 || session_nonce 32 || alias str16`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Announce {
    pub(crate) member: u32,
    pub(crate) session: SessionKey,
    pub(crate) dh: [u8; 32],
    pub(crate) nonce: [u8; SESSION_NONCE_LEN],
    pub(crate) alias: String,
}

impl Announce {
    fn write(&self, w: &mut Writer) -> Result<(), CodecError> {
        w.u32(self.member)
            .raw(&self.session)
            .raw(&self.dh)
            .raw(&self.nonce)
            .str16(&self.alias, MAX_ALIAS_LEN)?;
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self {
            member: r.u32()?,
            session: r.array()?,
            dh: r.array()?,
            nonce: r.array()?,
            alias: r.str16(MAX_ALIAS_LEN)?,
        })
    }

    /// The body of a hello that claims no previous session.
    #[cfg(test)]
    pub(crate) fn encode_hello(&self) -> Result<Zeroizing<Vec<u8>>, CodecError> {
        HelloBody {
            announce: self.clone(),
            continuity: None,
        }
        .encode()
    }

    /// The announcement of a hello, whatever continuity it claims.
    #[cfg(test)]
    pub(crate) fn decode_hello(bytes: &[u8]) -> Result<Self, CodecError> {
        Ok(HelloBody::decode(bytes)?.announce)
    }
}

/// A resumed session's proof that it continues an earlier one: the earlier session key, and its Ed25519 signature over
/// `"sanctum v1 signature" || header(4, 2, 0, 1) || room_id || previous || 32 zero bytes || session_key || session_nonce`
/// (see [`continuity_header`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Continuity {
    pub(crate) previous: SessionKey,
    pub(crate) signature: [u8; SIGNATURE_LEN],
}

/// The header bytes a continuity signature covers: a hello's kind at counter 1, which no sealed hello carries, so the
/// signature can stand for nothing else.
pub(crate) fn continuity_header() -> [u8; HEADER_LEN] {
    crate::seal::Header::new(crate::seal::Kind::Hello, 0, 1).to_bytes()
}

/// A hello's body: `announce || u8(0)`, or `announce || u8(1) || previous 32 || signature 64` from a resumed session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HelloBody {
    pub(crate) announce: Announce,
    pub(crate) continuity: Option<Continuity>,
}

impl HelloBody {
    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, CodecError> {
        let mut w = Writer::new();
        self.announce.write(&mut w)?;
        match &self.continuity {
            None => w.u8(0),
            Some(c) => w.u8(1).raw(&c.previous).raw(&c.signature),
        };
        Ok(w.finish())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let announce = Announce::read(&mut r)?;
        let continuity = match r.u8()? {
            0 => None,
            1 => Some(Continuity {
                previous: r.array()?,
                signature: r.array()?,
            }),
            _ => return Err(CodecError::Malformed),
        };
        r.end()?;
        Ok(Self { announce, continuity })
    }
}

/// An answer's body: `announce || in_reply_to 32 || challenge 32 || count u8 || transfer*count`.
///
/// `in_reply_to` is the newcomer's session nonce, which proves the answer fresh to the newcomer; `challenge` is 32 fresh
/// random bytes the answerer chose for this newcomer alone, which the newcomer signs back in its confirm.
/// `transfers` are the signed ownership transfers since the descriptor, oldest first, each in the form of a hand-out's
/// cause (at most [`MAX_OWNERSHIP_TRANSFERS`]), which the newcomer checks link by link from the descriptor's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnswerBody {
    pub(crate) announce: Announce,
    pub(crate) in_reply_to: [u8; SESSION_NONCE_LEN],
    pub(crate) challenge: [u8; SESSION_NONCE_LEN],
    pub(crate) transfers: Vec<Cause>,
}

impl AnswerBody {
    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, CodecError> {
        let mut w = Writer::new();
        self.announce.write(&mut w)?;
        w.raw(&self.in_reply_to).raw(&self.challenge);
        if self.transfers.len() > MAX_OWNERSHIP_TRANSFERS {
            return Err(CodecError::TooLong);
        }
        w.u8(u8::try_from(self.transfers.len()).map_err(|_| CodecError::TooLong)?);
        for transfer in &self.transfers {
            transfer.write(&mut w)?;
        }
        Ok(w.finish())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let announce = Announce::read(&mut r)?;
        let in_reply_to = r.array()?;
        let challenge = r.array()?;
        let count = usize::from(r.u8()?);
        if count > MAX_OWNERSHIP_TRANSFERS {
            return Err(CodecError::Malformed);
        }
        let transfers = (0..count).map(|_| Cause::read(&mut r)).collect::<Result<_, _>>()?;
        r.end()?;
        Ok(Self {
            announce,
            in_reply_to,
            challenge,
            transfers,
        })
    }
}

/// A confirm's body: `in_reply_to 32`, the challenge of the answer it confirms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfirmBody {
    pub(crate) in_reply_to: [u8; SESSION_NONCE_LEN],
}

impl ConfirmBody {
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.raw(&self.in_reply_to);
        w.finish()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let in_reply_to = r.array()?;
        r.end()?;
        Ok(Self { in_reply_to })
    }
}

/// The signed group message that made a sender start a new generation (a goodbye or a kick), carried in the hand-out
/// so that a member the relay kept it from still learns it:
/// `signer 32 || header 10 || body bytes32 || signature 64`, where the signature is the one the group item carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cause {
    pub(crate) signer: SessionKey,
    pub(crate) header: [u8; HEADER_LEN],
    pub(crate) body: Vec<u8>,
    pub(crate) signature: [u8; SIGNATURE_LEN],
}

/// Longest body a cause carries: a goodbye with the longest farewell.
pub(crate) const MAX_CAUSE_BODY_LEN: usize = 1 + 8 + 4 + MAX_FAREWELL_LEN;

impl Cause {
    /// `signer 32 || header 10 || body bytes32 || signature 64`.
    pub(crate) fn write(&self, w: &mut Writer) -> Result<(), CodecError> {
        w.raw(&self.signer)
            .raw(&self.header)
            .bytes32(&self.body, MAX_CAUSE_BODY_LEN)?
            .raw(&self.signature);
        Ok(())
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self {
            signer: r.array()?,
            header: r.array()?,
            body: r.bytes32(MAX_CAUSE_BODY_LEN)?.to_vec(),
            signature: r.array()?,
        })
    }
}

/// A hand-out's body: `generation u32 BE || counter u32 BE || chain_key 32 || u8(0)` or
/// `... || u8(1) || cause`, the sender chain's current position and, for a new generation, what caused it.
pub(crate) struct HandoutBody {
    pub(crate) generation: u32,
    pub(crate) counter: u32,
    pub(crate) chain_key: Zeroizing<[u8; 32]>,
    pub(crate) cause: Option<Cause>,
}

impl HandoutBody {
    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, CodecError> {
        let mut w = Writer::new();
        w.u32(self.generation).u32(self.counter).raw(&self.chain_key[..]);
        match &self.cause {
            None => {
                w.u8(0);
            }
            Some(cause) => {
                w.u8(1);
                cause.write(&mut w)?;
            }
        }
        Ok(w.finish())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let generation = r.u32()?;
        let counter = r.u32()?;
        let chain_key = Zeroizing::new(r.array()?);
        let cause = match r.u8()? {
            0 => None,
            1 => Some(Cause::read(&mut r)?),
            _ => return Err(CodecError::Malformed),
        };
        r.end()?;
        Ok(Self {
            generation,
            counter,
            chain_key,
            cause,
        })
    }
}

/// A lock's body, the room's new secrets for one member:
/// `link_secret 32 || room_key 32 || channel_salt 32 || auth_token 32`.
///
/// The room id and the expiry stay; the new link is the old one with `link_secret` replaced.
pub(crate) struct LockBody {
    pub(crate) link_secret: Zeroizing<[u8; 32]>,
    pub(crate) room_key: Zeroizing<[u8; 32]>,
    pub(crate) channel_salt: Zeroizing<[u8; 32]>,
    pub(crate) auth_token: Zeroizing<[u8; 32]>,
}

impl LockBody {
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.raw(&self.link_secret[..])
            .raw(&self.room_key[..])
            .raw(&self.channel_salt[..])
            .raw(&self.auth_token[..]);
        w.finish()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let body = Self {
            link_secret: Zeroizing::new(r.array()?),
            room_key: Zeroizing::new(r.array()?),
            channel_salt: Zeroizing::new(r.array()?),
            auth_token: Zeroizing::new(r.array()?),
        };
        r.end()?;
        Ok(body)
    }
}

/// What a whisper or group message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Content {
    /// `1 || text bytes32`: a text message (a whisper is always text).
    Text(String),
    /// `2 || farewell bytes32` (at most [`MAX_FAREWELL_LEN`] bytes): the sender leaves the room.
    Goodbye(String),
    /// `3 || session_key 32`: the named session is excluded from every later generation.
    Kick(SessionKey),
    /// `4`: the room is purged; every member wipes its view and leaves.
    Purge,
    /// `5 || id 16 || name str16 || mime str16 || size u64 || chunks u32 || digest 32 || caption bytes32`: an
    /// attachment begins.
    AttachmentStart(AttachmentStart),
    /// `6 || id 16 || index u32 || data bytes32`: one chunk of an attachment, in order.
    AttachmentChunk { id: [u8; 16], index: u32, data: Vec<u8> },
    /// `7 || new_owner 32 || sequence u32`: the owner hands ownership to `new_owner`; `sequence` counts the room's
    /// transfers, one more than the descriptor's `sequence` for the first after it.
    Transfer { to: SessionKey, sequence: u32 },
    /// `8 || id 16`: the sender stopped the attachment `id` before its last chunk; receivers drop what they hold of it.
    AttachmentCancel { id: [u8; 16] },
}

/// A whisper's or group message's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) sent_at: u64,
    pub(crate) content: Content,
}

impl Message {
    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, CodecError> {
        let mut w = Writer::new();
        let tag = match &self.content {
            Content::Text(_) => TAG_TEXT,
            Content::Goodbye(_) => TAG_GOODBYE,
            Content::Kick(_) => TAG_KICK,
            Content::Purge => TAG_PURGE,
            Content::AttachmentStart(_) => TAG_ATTACHMENT_START,
            Content::AttachmentChunk { .. } => TAG_ATTACHMENT_CHUNK,
            Content::Transfer { .. } => TAG_TRANSFER,
            Content::AttachmentCancel { .. } => TAG_ATTACHMENT_CANCEL,
        };
        w.u8(tag).u64(self.sent_at);
        match &self.content {
            Content::Text(text) => {
                w.bytes32(text.as_bytes(), MAX_TEXT_LEN)?;
            }
            Content::Goodbye(text) => {
                w.bytes32(text.as_bytes(), MAX_FAREWELL_LEN)?;
            }
            Content::Kick(key) => {
                w.raw(key);
            }
            Content::Purge => {}
            Content::AttachmentStart(start) => {
                w.raw(&start.id)
                    .str16(&start.name, MAX_FILE_NAME_LEN)?
                    .str16(&start.mime, MAX_MIME_LEN)?
                    .u64(start.size)
                    .u32(start.chunks)
                    .raw(&start.digest)
                    .bytes32(start.caption.as_bytes(), MAX_CAPTION_LEN)?;
            }
            Content::AttachmentChunk { id, index, data } => {
                w.raw(id).u32(*index).bytes32(data, CHUNK_LEN)?;
            }
            Content::Transfer { to, sequence } => {
                w.raw(to).u32(*sequence);
            }
            Content::AttachmentCancel { id } => {
                w.raw(id);
            }
        }
        Ok(w.finish())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let tag = r.u8()?;
        let sent_at = r.u64()?;
        let text = |r: &mut Reader<'_>, max: usize| {
            String::from_utf8(r.bytes32(max)?.to_vec()).map_err(|_| CodecError::Malformed)
        };
        let content = match tag {
            TAG_TEXT => Content::Text(text(&mut r, MAX_TEXT_LEN)?),
            TAG_GOODBYE => Content::Goodbye(text(&mut r, MAX_FAREWELL_LEN)?),
            TAG_KICK => Content::Kick(r.array()?),
            TAG_PURGE => Content::Purge,
            TAG_ATTACHMENT_START => Content::AttachmentStart(AttachmentStart {
                id: r.array()?,
                name: r.str16(MAX_FILE_NAME_LEN)?,
                mime: r.str16(MAX_MIME_LEN)?,
                size: r.u64()?,
                chunks: r.u32()?,
                digest: r.array()?,
                caption: text(&mut r, MAX_CAPTION_LEN)?,
            }),
            TAG_ATTACHMENT_CHUNK => Content::AttachmentChunk {
                id: r.array()?,
                index: r.u32()?,
                data: r.bytes32(CHUNK_LEN)?.to_vec(),
            },
            TAG_TRANSFER => Content::Transfer {
                to: r.array()?,
                sequence: r.u32()?,
            },
            TAG_ATTACHMENT_CANCEL => Content::AttachmentCancel { id: r.array()? },
            _ => return Err(CodecError::Malformed),
        };
        r.end()?;
        Ok(Self { sent_at, content })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::padding::MAX_INNER_LEN;
    use crate::sign::SIGNATURE_LEN;

    fn largest_messages() -> Vec<Message> {
        vec![
            Message {
                sent_at: u64::MAX,
                content: Content::Text("x".repeat(MAX_TEXT_LEN)),
            },
            Message {
                sent_at: u64::MAX,
                content: Content::Goodbye("x".repeat(MAX_FAREWELL_LEN)),
            },
            Message {
                sent_at: u64::MAX,
                content: Content::AttachmentChunk {
                    id: [1; 16],
                    index: u32::MAX,
                    data: vec![0; CHUNK_LEN],
                },
            },
            Message {
                sent_at: u64::MAX,
                content: Content::AttachmentStart(AttachmentStart {
                    id: [1; 16],
                    name: "n".repeat(MAX_FILE_NAME_LEN),
                    mime: "m".repeat(MAX_MIME_LEN),
                    size: u64::MAX,
                    chunks: u32::MAX,
                    digest: [2; 32],
                    caption: "c".repeat(MAX_CAPTION_LEN),
                }),
            },
        ]
    }

    #[test]
    fn the_largest_bodies_fit_the_largest_bucket_with_a_signature() {
        for message in largest_messages() {
            let bytes = message.encode().unwrap();
            assert!(bytes.len() + SIGNATURE_LEN <= MAX_INNER_LEN, "{}", bytes.len());
            assert_eq!(Message::decode(&bytes).unwrap(), message);
        }
        let answer = AnswerBody {
            announce: Announce {
                member: 1,
                session: [1; 32],
                dh: [2; 32],
                nonce: [3; 32],
                alias: "a".repeat(MAX_ALIAS_LEN),
            },
            in_reply_to: [4; 32],
            challenge: [5; 32],
            transfers: vec![
                Cause {
                    signer: [6; 32],
                    header: [7; HEADER_LEN],
                    body: Message {
                        sent_at: u64::MAX,
                        content: Content::Transfer {
                            to: [8; 32],
                            sequence: u32::MAX,
                        },
                    }
                    .encode()
                    .unwrap()
                    .to_vec(),
                    signature: [9; SIGNATURE_LEN],
                };
                MAX_OWNERSHIP_TRANSFERS
            ],
        };
        let bytes = answer.encode().unwrap();
        assert!(bytes.len() + SIGNATURE_LEN <= MAX_INNER_LEN);
        assert_eq!(AnswerBody::decode(&bytes).unwrap(), answer);
        let mut too_many = answer.clone();
        too_many.transfers.push(answer.transfers[0].clone());
        assert!(too_many.encode().is_err());
        let mut count_too_high = bytes.to_vec();
        count_too_high[bytes.len() - MAX_OWNERSHIP_TRANSFERS * answer.transfers[0].body.len().wrapping_add(110) - 1] =
            33;
        assert!(AnswerBody::decode(&count_too_high).is_err());
        let goodbye = Message {
            sent_at: u64::MAX,
            content: Content::Goodbye("x".repeat(MAX_FAREWELL_LEN)),
        }
        .encode()
        .unwrap();
        assert_eq!(goodbye.len(), MAX_CAUSE_BODY_LEN);
        let handout = HandoutBody {
            generation: u32::MAX,
            counter: u32::MAX,
            chain_key: Zeroizing::new([6; 32]),
            cause: Some(Cause {
                signer: [7; 32],
                header: [8; HEADER_LEN],
                body: goodbye.to_vec(),
                signature: [9; SIGNATURE_LEN],
            }),
        };
        let bytes = handout.encode().unwrap();
        assert!(bytes.len() + SIGNATURE_LEN <= MAX_INNER_LEN);
        assert_eq!(HandoutBody::decode(&bytes).unwrap().cause, handout.cause);
    }

    #[test]
    fn a_caption_longer_than_its_limit_is_refused_both_ways() {
        let start = |caption: String| Message {
            sent_at: 0,
            content: Content::AttachmentStart(AttachmentStart {
                id: [1; 16],
                name: "a.png".into(),
                mime: "image/png".into(),
                size: 1,
                chunks: 1,
                digest: [2; 32],
                caption,
            }),
        };
        assert!(start("c".repeat(MAX_CAPTION_LEN + 1)).encode().is_err());
        let bytes = start("c".repeat(MAX_CAPTION_LEN)).encode().unwrap();
        // The same start with one more caption byte, its length field raised to match.
        let mut longer = bytes[..bytes.len() - MAX_CAPTION_LEN - 4].to_vec();
        longer.extend_from_slice(&u32::try_from(MAX_CAPTION_LEN + 1).unwrap().to_be_bytes());
        longer.extend(std::iter::repeat_n(b'c', MAX_CAPTION_LEN + 1));
        assert!(Message::decode(&longer).is_err());
        // A caption that is not UTF-8 is refused.
        let mut bad = start("ab".into()).encode().unwrap().to_vec();
        let last = bad.len() - 1;
        bad[last] = 0xff;
        assert!(Message::decode(&bad).is_err());
    }

    #[test]
    fn oversized_fields_are_refused() {
        let text = Message {
            sent_at: 0,
            content: Content::Text("x".repeat(MAX_TEXT_LEN + 1)),
        };
        assert!(text.encode().is_err());
        let farewell = Message {
            sent_at: 0,
            content: Content::Goodbye("x".repeat(MAX_FAREWELL_LEN + 1)),
        };
        assert!(farewell.encode().is_err());
        let long_alias = Announce {
            member: 1,
            session: [1; 32],
            dh: [2; 32],
            nonce: [3; 32],
            alias: "a".repeat(MAX_ALIAS_LEN + 1),
        };
        assert!(long_alias.encode_hello().is_err());
        assert!(
            DescriptorBody {
                name: "n".repeat(MAX_ROOM_NAME_LEN + 1),
                expires_at: 1,
                owner: [1; 32],
                policy: KickPolicy::Owner,
                sequence: 0,
            }
            .encode()
            .is_err()
        );
    }

    #[test]
    fn trailing_bytes_and_unknown_tags_are_refused() {
        let mut bytes = Message {
            sent_at: 5,
            content: Content::Purge,
        }
        .encode()
        .unwrap()
        .to_vec();
        assert!(Message::decode(&bytes).is_ok());
        bytes.push(0);
        assert!(Message::decode(&bytes).is_err());
        bytes.pop();
        bytes[0] = 99;
        assert!(Message::decode(&bytes).is_err());
        let hello = Announce {
            member: 1,
            session: [1; 32],
            dh: [2; 32],
            nonce: [3; 32],
            alias: "a".into(),
        };
        let mut bytes = hello.encode_hello().unwrap().to_vec();
        bytes.push(1);
        assert!(Announce::decode_hello(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn messages_round_trip(sent_at in any::<u64>(), text in ".{0,200}", key in any::<[u8; 32]>(), data in proptest::collection::vec(any::<u8>(), 0..500), which in 0u8..6) {
            let content = match which {
                0 => Content::Text(text),
                1 => Content::Goodbye(text),
                2 => Content::Kick(key),
                3 => Content::Purge,
                4 => Content::AttachmentCancel { id: [key[0]; 16] },
                _ => Content::AttachmentChunk { id: [7; 16], index: 3, data },
            };
            let message = Message { sent_at, content };
            let bytes = message.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Message::decode(&bytes), Ok(message));
        }

        #[test]
        fn announcements_round_trip(member in any::<u32>(), session in any::<[u8; 32]>(), nonce in any::<[u8; 32]>(), alias in ".{0,16}", challenge in any::<[u8; 32]>()) {
            let announce = Announce { member, session, dh: nonce, nonce, alias };
            let answer = AnswerBody { announce: announce.clone(), in_reply_to: session, challenge, transfers: Vec::new() };
            let bytes = answer.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(AnswerBody::decode(&bytes), Ok(answer));
            let bytes = announce.encode_hello().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Announce::decode_hello(&bytes), Ok(announce));
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Message::decode(&bytes);
            let _ = AnswerBody::decode(&bytes);
            let _ = Announce::decode_hello(&bytes);
            let _ = HandoutBody::decode(&bytes);
            let _ = ConfirmBody::decode(&bytes);
            let _ = DescriptorBody::decode(&bytes);
            let _ = LockBody::decode(&bytes);
        }
    }
}
