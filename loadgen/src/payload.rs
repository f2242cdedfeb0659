//! The load generator's payloads: opaque random bytes that carry a small header the receivers read back.
//!
//! To a server a payload is as opaque as a sealed item: random bytes of a realistic padded size.
//! Its first [`HEADER_LEN`] bytes say who sent it, its sequence number and when it was sent,
//! so that every receiver can count deliveries, measure latency and spot loss and reordering.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sanctum_protocol::{ClientFrame, MemberId, Payload, RelayFrame};

/// Marks a payload as one of ours, so that a server that mangles bytes is caught rather than mismeasured.
const MAGIC: [u8; 4] = *b"SLG1";

/// Bytes of header at the start of every payload: magic, sender index, sequence number, send time.
pub const HEADER_LEN: usize = 24;

/// Characters of base64url that encode exactly the header (24 bytes are 32 characters, with no partial group).
const HEADER_B64_LEN: usize = HEADER_LEN / 3 * 4;

/// What a receiver learns from a payload's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Index of the sender within its room, as the load generator numbers them.
    pub sender: u32,
    /// The sender's sequence number, from 0.
    pub seq: u64,
    /// Send time in nanoseconds since the load generator's clock base.
    pub sent_ns: u64,
}

/// Builds a sender's broadcast frames: a fixed random body under a fresh header each time.
#[derive(Debug)]
pub struct PayloadWriter {
    bytes: Vec<u8>,
}

impl PayloadWriter {
    /// A writer of payloads of `len` bytes (at least [`HEADER_LEN`]) with a random body.
    pub fn new(len: usize) -> Self {
        let mut bytes = vec![0; len.max(HEADER_LEN)];
        rand::rng().fill_bytes(&mut bytes);
        Self { bytes }
    }

    /// The encoded text of a `broadcast` frame carrying `header`.
    pub fn broadcast(&mut self, header: Header) -> String {
        self.bytes[..4].copy_from_slice(&MAGIC);
        self.bytes[4..8].copy_from_slice(&header.sender.to_le_bytes());
        self.bytes[8..16].copy_from_slice(&header.seq.to_le_bytes());
        self.bytes[16..24].copy_from_slice(&header.sent_ns.to_le_bytes());
        // The payload length was checked against the protocol's bound when the run was configured.
        let payload = Payload::new(self.bytes.clone()).unwrap_or_default();
        ClientFrame::Broadcast { payload }.encode()
    }
}

/// A relayed `frame` as the receivers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The sender's member id, as the server gave it.
    pub from: MemberId,
    /// The payload's header.
    pub header: Header,
    /// Length of the payload in bytes.
    pub payload_len: usize,
}

/// Anything the servers send that is not one of our payloads.
#[derive(Debug)]
pub enum Incoming {
    /// One of our payloads.
    Delivery(Delivery),
    /// Some other valid relay frame (member joined, error, ...).
    Other(RelayFrame),
    /// A `frame` whose payload is not one of ours, or text that is not a relay frame.
    Garbled,
}

/// Reads one text message from a server.
///
/// Both servers encode a relayed frame as `{"type":"frame","from":N,"payload":"..."}`,
/// so this reads that shape directly and decodes only the header's 32 characters of base64url,
/// which keeps the receivers' CPU cost low while they share the machine with the server under test.
/// Any other text goes through the protocol's full decoder.
pub fn read(text: &str) -> Incoming {
    if let Some(delivery) = read_fast(text) {
        return Incoming::Delivery(delivery);
    }
    match RelayFrame::decode(text) {
        Ok(RelayFrame::Frame { from, payload, .. }) => match parse_header(payload.as_bytes()) {
            Some(header) => Incoming::Delivery(Delivery {
                from,
                header,
                payload_len: payload.len(),
            }),
            None => Incoming::Garbled,
        },
        Ok(frame) => Incoming::Other(frame),
        Err(_) => Incoming::Garbled,
    }
}

fn read_fast(text: &str) -> Option<Delivery> {
    let rest = text.strip_prefix(r#"{"type":"frame","from":"#)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let from: MemberId = rest[..digits].parse().ok()?;
    let b64 = rest[digits..].strip_prefix(r#","payload":""#)?.strip_suffix(r#""}"#)?;
    // A quote or backslash inside would mean another field or an escape: leave those to the full decoder.
    if b64.len() < HEADER_B64_LEN || b64.as_bytes().contains(&b'"') || b64.as_bytes().contains(&b'\\') {
        return None;
    }
    let head = URL_SAFE_NO_PAD.decode(&b64[..HEADER_B64_LEN]).ok()?;
    let header = parse_header(&head)?;
    Some(Delivery {
        from,
        header,
        payload_len: decoded_len(b64.len())?,
    })
}

fn parse_header(bytes: &[u8]) -> Option<Header> {
    let head = bytes.get(..HEADER_LEN)?;
    if head[..4] != MAGIC {
        return None;
    }
    let u32_at = |at: usize| head.get(at..at + 4)?.try_into().ok().map(u32::from_le_bytes);
    let u64_at = |at: usize| head.get(at..at + 8)?.try_into().ok().map(u64::from_le_bytes);
    Some(Header {
        sender: u32_at(4)?,
        seq: u64_at(8)?,
        sent_ns: u64_at(16)?,
    })
}

/// Bytes encoded by `chars` characters of unpadded base64url, or `None` for an impossible length.
fn decoded_len(chars: usize) -> Option<usize> {
    match chars % 4 {
        0 => Some(chars / 4 * 3),
        2 => Some(chars / 4 * 3 + 1),
        3 => Some(chars / 4 * 3 + 2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relayed(from: MemberId, broadcast: &str) -> String {
        let Ok(ClientFrame::Broadcast { payload }) = ClientFrame::decode(broadcast) else {
            panic!("not a broadcast: {broadcast}");
        };
        RelayFrame::Frame {
            from,
            direct: false,
            payload,
        }
        .encode()
    }

    #[test]
    fn header_round_trips_through_a_relayed_frame() {
        for len in [HEADER_LEN, 1024, 1025, 1026, sanctum_protocol::MAX_PAYLOAD_LEN] {
            let mut writer = PayloadWriter::new(len);
            let header = Header {
                sender: 7,
                seq: 1 << 40,
                sent_ns: 123_456_789,
            };
            let text = relayed(3, &writer.broadcast(header));
            let fast = read_fast(&text);
            assert_eq!(
                fast,
                Some(Delivery {
                    from: 3,
                    header,
                    payload_len: len
                })
            );
        }
    }

    #[test]
    fn other_encodings_of_a_frame_use_the_full_decoder() {
        let mut writer = PayloadWriter::new(64);
        let header = Header {
            sender: 1,
            seq: 2,
            sent_ns: 3,
        };
        let text = relayed(9, &writer.broadcast(header));
        let spaced = text.replacen(r#""from":9"#, r#""from": 9"#, 1);
        assert!(read_fast(&spaced).is_none());
        assert!(matches!(read(&spaced), Incoming::Delivery(Delivery { from: 9, header: h, .. }) if h == header));
    }

    #[test]
    fn foreign_payloads_and_frames_are_told_apart() {
        let foreign = RelayFrame::Frame {
            from: 1,
            direct: false,
            payload: Payload::new(vec![0; 100]).unwrap_or_default(),
        };
        assert!(matches!(read(&foreign.encode()), Incoming::Garbled));
        assert!(matches!(read("not json"), Incoming::Garbled));
        let joined = RelayFrame::MemberJoined { member: 4 }.encode();
        assert!(matches!(
            read(&joined),
            Incoming::Other(RelayFrame::MemberJoined { member: 4 })
        ));
    }
}
