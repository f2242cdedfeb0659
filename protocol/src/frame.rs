//! The frames themselves: what a client may send, and what the relay sends back.

use serde::{Deserialize, Serialize};

use crate::bytes::{AuthToken, Descriptor, Payload, RoomId, Verifier};
use crate::code::ErrorCode;

/// A member's id within one room, assigned by the relay on create or join, starting at 1 and never reused in that room.
pub type MemberId = u32;

/// A frame from a client to the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Create a room and become its first member.
    Create {
        /// Protocol version the client speaks.
        v: u16,
        /// The new room's id.
        room: RoomId,
        /// SHA-256 of the room's auth token.
        verifier: Verifier,
        /// Requested lifetime in seconds; the relay clamps it to its maximum.
        lifetime: u32,
        /// The room's sealed descriptor, handed to everyone who joins.
        descriptor: Descriptor,
    },
    /// Join an existing room.
    Join {
        /// Protocol version the client speaks.
        v: u16,
        /// The room's id.
        room: RoomId,
        /// The room's auth token.
        token: AuthToken,
    },
    /// Send a payload to every other member of the room.
    Broadcast {
        /// The sealed item.
        payload: Payload,
    },
    /// Send a payload to one other member of the room.
    Direct {
        /// The recipient's member id.
        to: MemberId,
        /// The sealed item.
        payload: Payload,
    },
    /// Disconnect another member.
    Kick {
        /// The member to disconnect.
        member: MemberId,
    },
    /// Purge the room for everyone.
    Purge,
    /// Leave the room.
    Leave,
    /// Lock the room: from now on a join needs the token whose SHA-256 is `verifier`, and joiners get `descriptor`.
    /// Only a current member may send it; the relay rate-limits it per room.
    /// The members that remain learn the new link secret and room key from the locking member over their
    /// pairwise channels, never from the relay: the relay sees only the new verifier and the new sealed descriptor.
    Lock {
        /// SHA-256 of the room's new auth token.
        verifier: Verifier,
        /// The room's descriptor sealed under the new room key.
        descriptor: Descriptor,
    },
    /// Ask whether a room id is live, gone or unknown, before asking a person for the password.
    /// The relay learns nothing a `join` would not tell it: the id, from the same connection.
    Peek {
        /// The room's id.
        room: RoomId,
    },
}

/// What the relay knows of a room id, in answer to `peek`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomState {
    /// The room lives: a `join` with the right token gets in.
    Live,
    /// The room was purged (or is being ended); its id stays dead until the room's original expiry.
    Gone,
    /// The relay holds no such room: never created here, expired, or forgotten by a restart.
    Unknown,
}

/// Why a member is no longer in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    /// The member sent `leave`.
    Left,
    /// Another member kicked it.
    Kicked,
    /// Its connection closed or was cut without a `leave`.
    Dropped,
}

/// Why a room is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeReason {
    /// A member purged it.
    Purged,
    /// It reached its expiry.
    Expired,
}

/// The relay's first frame on every connection: its version and the limits a client must respect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// Protocol version the relay speaks.
    pub v: u16,
    /// Largest frame, in bytes of JSON text, the relay accepts.
    pub max_frame: u32,
    /// Largest lifetime, in seconds, the relay grants.
    pub max_lifetime: u32,
    /// Largest number of members in one room.
    pub max_members: u32,
    /// Frames per second a connection may send on average.
    pub max_frames_per_second: u32,
    /// Frames a connection may send at once above that average: the depth of the relay's token bucket.
    /// Absent (0) from a relay that predates it; clients then assume no burst beyond one frame.
    #[serde(default)]
    pub frame_burst: u32,
}

/// A frame from the relay to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RelayFrame {
    /// The first frame on every connection.
    Welcome(Welcome),
    /// The room was created and the sender is its first member.
    Created {
        /// The creator's member id.
        member: MemberId,
        /// Expiry granted, in seconds since the Unix epoch.
        expires_at: u64,
        /// Lifetime granted, in seconds from now, for clients whose clock is off.
        expires_in: u32,
    },
    /// The sender joined the room.
    Joined {
        /// The joiner's member id.
        member: MemberId,
        /// The other members present, in the order they joined.
        members: Vec<MemberId>,
        /// The room's expiry, in seconds since the Unix epoch.
        expires_at: u64,
        /// Seconds left, for clients whose clock is off.
        expires_in: u32,
        /// The room's sealed descriptor.
        descriptor: Descriptor,
    },
    /// A payload from another member.
    Frame {
        /// The sender's member id, as the relay knows it.
        from: MemberId,
        /// Whether the sender addressed it to this member alone.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        direct: bool,
        /// The sealed item, byte for byte as the sender sent it.
        payload: Payload,
    },
    /// Another member joined.
    MemberJoined {
        /// Its member id.
        member: MemberId,
    },
    /// Another member is gone.
    MemberLeft {
        /// Its member id.
        member: MemberId,
        /// Why.
        reason: LeftReason,
    },
    /// This member was kicked; the relay closes the connection next.
    Kicked {
        /// The member who kicked it.
        by: MemberId,
    },
    /// The room expires soon.
    Expiring {
        /// Seconds left.
        seconds: u32,
    },
    /// The room is gone; the relay closes the connection next.
    Purged {
        /// Why.
        reason: PurgeReason,
    },
    /// The relay took this member's `lock`: the old verifier no longer admits anyone.
    Locked,
    /// The answer to `peek`.
    RoomStatus {
        /// What the relay knows of the room id.
        state: RoomState,
    },
    /// A frame was refused.
    Error {
        /// The stable code.
        code: ErrorCode,
        /// A human-readable explanation, never echoing the client's input.
        message: String,
    },
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The text is not one valid frame.
    Malformed,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed frame")
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one JSON object; serde would also take the sequence form of a tagged enum, which the protocol does not allow.
fn decode_object<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
    if !text.trim_start().starts_with('{') {
        return Err(DecodeError::Malformed);
    }
    serde_json::from_str(text).map_err(|_| DecodeError::Malformed)
}

impl ClientFrame {
    /// Decodes one client frame from the text of a WebSocket message.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        match Self::decode_as_encoded(text) {
            Some(frame) => Ok(frame),
            None => decode_object(text),
        }
    }

    /// Recognises `broadcast` and `direct` in exactly the text [`ClientFrame::encode`] writes, without a JSON parser.
    ///
    /// Every message travels in one of these two frames, so the relay decodes them on its hottest path; a JSON parser
    /// would scan the payload's text once more, and the payload's own check already refuses any quote or backslash.
    /// Anything else, including the same frames with other spacing or key order, is left to the parser: this only
    /// ever answers what the parser would, and `None` means "ask the parser", never "malformed".
    fn decode_as_encoded(text: &str) -> Option<Self> {
        let rest = text.strip_suffix(r#""}"#)?;
        if let Some(payload) = rest.strip_prefix(r#"{"type":"broadcast","payload":""#) {
            let payload = Payload::from_text(payload)?;
            return Some(Self::Broadcast { payload });
        }
        let (to, payload) = rest
            .strip_prefix(r#"{"type":"direct","to":"#)?
            .split_once(r#","payload":""#)?;
        // JSON's own form of a number: digits only, and no leading zero (Rust's parser would also take "+1" and "01").
        let canonical = to.bytes().all(|b| b.is_ascii_digit()) && (to == "0" || !to.starts_with('0'));
        let to = if canonical { to.parse().ok()? } else { return None };
        let payload = Payload::from_text(payload)?;
        Some(Self::Direct { to, payload })
    }

    /// Encodes this frame as the text of one WebSocket message.
    pub fn encode(&self) -> String {
        // Serializing these types cannot fail: every field is a string, a number, a bool or a list of numbers.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl RelayFrame {
    /// Decodes one relay frame from the text of a WebSocket message.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        decode_object(text)
    }

    /// Encodes this frame as the text of one WebSocket message.
    pub fn encode(&self) -> String {
        match self {
            // The frame every delivery carries, written out directly: serde_json would scan the payload for
            // characters to escape, and base64url text has none. The text is the same as serde_json's, byte for byte.
            Self::Frame { from, direct, payload } => {
                let text = payload.as_text();
                let mut out = String::with_capacity(text.len() + 64);
                out.push_str(r#"{"type":"frame","from":"#);
                out.push_str(&from.to_string());
                if *direct {
                    out.push_str(r#","direct":true"#);
                }
                out.push_str(r#","payload":""#);
                out.push_str(text);
                out.push_str(r#""}"#);
                out
            }
            // Serializing these types cannot fail: every field is a string, a number, a bool or a list of numbers.
            _ => serde_json::to_string(self).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::limits::{MAX_PAYLOAD_LEN, MIN_FRAME_LIMIT};

    #[test]
    fn examples_from_the_protocol_document_decode() {
        let create = r#"{"type":"create","v":1,"room":"AAECAwQFBgcICQoLDA0ODw","verifier":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","lifetime":3600,"descriptor":"c2VhbGVk"}"#;
        assert!(matches!(
            ClientFrame::decode(create),
            Ok(ClientFrame::Create {
                v: 1,
                lifetime: 3600,
                ..
            })
        ));
        assert_eq!(ClientFrame::decode(r#"{"type":"purge"}"#), Ok(ClientFrame::Purge));
        assert_eq!(
            RelayFrame::decode(r#"{"type":"member_left","member":4,"reason":"kicked"}"#),
            Ok(RelayFrame::MemberLeft {
                member: 4,
                reason: LeftReason::Kicked
            })
        );
    }

    #[test]
    fn welcome_announces_the_burst_and_reads_an_older_relay_without_it() {
        let now = r#"{"type":"welcome","v":1,"max_frame":262144,"max_lifetime":3600,"max_members":50,"max_frames_per_second":20,"frame_burst":60}"#;
        let Ok(RelayFrame::Welcome(welcome)) = RelayFrame::decode(now) else {
            panic!("a welcome with frame_burst decodes");
        };
        assert_eq!((welcome.max_frames_per_second, welcome.frame_burst), (20, 60));
        assert_eq!(RelayFrame::Welcome(welcome).encode(), now);
        let older = r#"{"type":"welcome","v":1,"max_frame":262144,"max_lifetime":3600,"max_members":50,"max_frames_per_second":20}"#;
        assert!(matches!(
            RelayFrame::decode(older),
            Ok(RelayFrame::Welcome(Welcome { frame_burst: 0, .. }))
        ));
    }

    #[test]
    fn peek_and_its_answer_round_trip() {
        let peek = r#"{"type":"peek","room":"AAECAwQFBgcICQoLDA0ODw"}"#;
        let Ok(ClientFrame::Peek { room }) = ClientFrame::decode(peek) else {
            panic!("peek decodes");
        };
        assert_eq!(ClientFrame::Peek { room }.encode(), peek);
        for (state, text) in [
            (RoomState::Live, r#"{"type":"room_status","state":"live"}"#),
            (RoomState::Gone, r#"{"type":"room_status","state":"gone"}"#),
            (RoomState::Unknown, r#"{"type":"room_status","state":"unknown"}"#),
        ] {
            assert_eq!(RelayFrame::RoomStatus { state }.encode(), text);
            assert_eq!(RelayFrame::decode(text), Ok(RelayFrame::RoomStatus { state }));
        }
        assert!(ClientFrame::decode(r#"{"type":"peek"}"#).is_err());
        assert!(RelayFrame::decode(r#"{"type":"room_status","state":"maybe"}"#).is_err());
    }

    #[test]
    fn lock_and_its_answer_round_trip() {
        let lock =
            r#"{"type":"lock","verifier":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","descriptor":"c2VhbGVk"}"#;
        let Ok(frame @ ClientFrame::Lock { .. }) = ClientFrame::decode(lock) else {
            panic!("lock decodes");
        };
        assert_eq!(frame.encode(), lock);
        assert_eq!(RelayFrame::Locked.encode(), r#"{"type":"locked"}"#);
        assert_eq!(RelayFrame::decode(r#"{"type":"locked"}"#), Ok(RelayFrame::Locked));
        assert!(ClientFrame::decode(r#"{"type":"lock","verifier":"AAAA","descriptor":"c2VhbGVk"}"#).is_err());
        assert!(ClientFrame::decode(r#"{"type":"lock","descriptor":"c2VhbGVk"}"#).is_err());
    }

    #[test]
    fn malformed_frames_are_refused() {
        for text in [
            "",
            "null",
            "{}",
            r#"{"type":"shout"}"#,
            r#"{"type":"kick"}"#,
            r#"{"type":"kick","member":-1}"#,
            r#"{"type":"kick","member":4294967296}"#,
            r#"{"type":"broadcast","payload":"!!"}"#,
            r#"{"type":"broadcast","payload":"AB"}"#,
            r#"{"type":"broadcast","payload":"A\"}"#,
            r#"{"type":"direct","to":01,"payload":"AA"}"#,
            r#"{"type":"direct","to":+1,"payload":"AA"}"#,
            r#"{"type":"direct","to":4294967296,"payload":"AA"}"#,
            r#"{"type":"join","v":1,"room":"AAEC","token":"AAAA"}"#,
            r#"["purge"]"#,
        ] {
            assert_eq!(ClientFrame::decode(text), Err(DecodeError::Malformed), "{text}");
        }
    }

    #[test]
    fn largest_relayed_frame_fits_the_minimum_frame_limit() {
        let frame = RelayFrame::Frame {
            from: u32::MAX,
            direct: true,
            payload: Payload::new(vec![0xff; MAX_PAYLOAD_LEN]).unwrap_or_default(),
        };
        assert!(frame.encode().len() <= MIN_FRAME_LIMIT);
        let direct = ClientFrame::Direct {
            to: u32::MAX,
            payload: Payload::new(vec![0xff; MAX_PAYLOAD_LEN]).unwrap_or_default(),
        };
        assert!(direct.encode().len() <= MIN_FRAME_LIMIT);
    }

    #[test]
    fn broadcast_frames_are_not_marked_direct() {
        let frame = RelayFrame::Frame {
            from: 2,
            direct: false,
            payload: Payload::new(b"x".to_vec()).unwrap_or_default(),
        };
        assert_eq!(frame.encode(), r#"{"type":"frame","from":2,"payload":"eA"}"#);
    }

    proptest! {
        #[test]
        fn client_frames_round_trip(to in any::<u32>(), bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let frame = ClientFrame::Direct { to, payload: Payload::new(bytes).unwrap_or_default() };
            prop_assert_eq!(ClientFrame::decode(&frame.encode()), Ok(frame));
        }

        #[test]
        fn a_relayed_frame_is_encoded_as_serde_json_would(
            from in any::<u32>(),
            direct in any::<bool>(),
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let frame = RelayFrame::Frame { from, direct, payload: Payload::new(bytes).unwrap_or_default() };
            prop_assert_eq!(frame.encode(), serde_json::to_string(&frame).unwrap_or_default());
            prop_assert_eq!(RelayFrame::decode(&frame.encode()), Ok(frame));
        }

        #[test]
        fn the_encoded_form_is_decoded_without_the_parser_and_as_the_parser_would(
            to in any::<u32>(),
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let payload = Payload::new(bytes).unwrap_or_default();
            for frame in [ClientFrame::Broadcast { payload: payload.clone() }, ClientFrame::Direct { to, payload: payload.clone() }] {
                let text = frame.encode();
                prop_assert_eq!(ClientFrame::decode_as_encoded(&text), Some(frame.clone()));
                prop_assert_eq!(decode_object::<ClientFrame>(&text), Ok(frame));
            }
        }

        /// Text close to the encoded form, cut and spliced from its pieces: whatever the shortcut takes, the parser
        /// takes the same way.
        #[test]
        fn the_shortcut_never_answers_other_than_the_parser(
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just(r#"{"type":"broadcast","payload":""#.to_owned()),
                    Just(r#"{"type":"direct","to":"#.to_owned()),
                    Just(r#","payload":""#.to_owned()),
                    Just(r#""}"#.to_owned()),
                    Just(r#"\""#.to_owned()),
                    "[0+-]?[0-9]{0,11}",
                    "[A-Za-z0-9_=+/ \\\"-]{0,8}",
                ],
                1..7,
            ),
        ) {
            let text = pieces.concat();
            if let Some(frame) = ClientFrame::decode_as_encoded(&text) {
                prop_assert_eq!(decode_object::<ClientFrame>(&text), Ok(frame));
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,256}") {
            let _ = ClientFrame::decode(&text);
            let _ = RelayFrame::decode(&text);
        }
    }
}
