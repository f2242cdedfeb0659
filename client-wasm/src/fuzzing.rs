//! Entry points for the cargo-fuzz targets in `fuzz/`, compiled only with the `fuzzing` feature.
//!
//! The body decoders run only on plaintext that opened under a key, which random bytes never do,
//! so the fuzz targets reach them here directly.
//! Every function panics when a decoder accepts bytes that it would not produce itself,
//! because a body with two encodings could be re-sealed in a form that other clients read differently.

// A fuzz target reports a finding by panicking, so this module, compiled only for fuzzing, may.
#![allow(clippy::panic)]

use crate::attachment::{self, AttachmentStart, CHUNK_LEN, Incoming, MAX_ATTACHMENT_LEN};
use crate::message::{AnswerBody, ConfirmBody, Content, DescriptorBody, HandoutBody, HelloBody, LockBody, Message};
use crate::padding;
use crate::seal::Header;

/// Runs every body decoder on `bytes`; each body that decodes must encode back to exactly `bytes`.
pub fn decode_bodies(bytes: &[u8]) {
    if let Ok(message) = Message::decode(bytes) {
        let encoded = message.encode();
        assert_eq!(
            encoded.as_deref().map(|v| &v[..]).ok(),
            Some(bytes),
            "message {message:?}"
        );
    }
    if let Ok(hello) = HelloBody::decode(bytes) {
        let encoded = hello.encode();
        assert_eq!(encoded.as_deref().map(|v| &v[..]).ok(), Some(bytes), "hello");
    }
    if let Ok(answer) = AnswerBody::decode(bytes) {
        let encoded = answer.encode();
        assert_eq!(encoded.as_deref().map(|v| &v[..]).ok(), Some(bytes), "answer");
    }
    if let Ok(handout) = HandoutBody::decode(bytes) {
        let encoded = handout.encode();
        assert_eq!(encoded.as_deref().map(|v| &v[..]).ok(), Some(bytes), "hand-out");
    }
    if let Ok(lock) = LockBody::decode(bytes) {
        assert_eq!(&lock.encode()[..], bytes, "lock");
    }
    if let Ok(confirm) = ConfirmBody::decode(bytes) {
        assert_eq!(&confirm.encode()[..], bytes, "confirm");
    }
    if let Ok(descriptor) = DescriptorBody::decode(bytes) {
        let encoded = descriptor.encode();
        assert_eq!(
            encoded.as_deref().map(|v| &v[..]).ok(),
            Some(bytes),
            "descriptor {descriptor:?}"
        );
    }
}

/// Runs the padding check and the cleartext header parser on `bytes`; what unpads must pad back to `bytes`.
pub fn unpad_and_header(bytes: &[u8]) {
    if let Ok(inner) = padding::unpad(bytes) {
        let padded = padding::pad(inner);
        assert_eq!(padded.as_deref().map(|v| &v[..]).ok(), Some(bytes), "padding");
        decode_bodies(inner);
    }
    if let Ok(header) = Header::parse(bytes) {
        assert_eq!(&header.to_bytes()[..], &bytes[..crate::seal::HEADER_LEN], "item header");
    }
}

/// Feeds an attachment start and a run of chunks, all decoded from `bytes`, to the reassembly a session runs.
///
/// `bytes` is: `flags u8 || size u32 BE || data`, where `data` is the attachment; flag bit 0 asks for the right
/// digest (so that reassembly can complete), bit 1 for the chunks in reverse order, bit 2 for one chunk twice,
/// and bit 3 for one chunk cut short.
/// Each chunk travels through the message encoder and decoder, as it does between two sessions.
pub fn attachment(bytes: &[u8]) {
    if bytes.len() < 5 {
        return;
    }
    let flags = bytes[0];
    let declared = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
    let data = &bytes[5..];
    let id = [7u8; 16];
    let digest = if flags & 1 == 1 {
        attachment::digest(&id, data)
    } else {
        [0u8; 32]
    };
    let size = if flags & 16 == 16 {
        declared % (MAX_ATTACHMENT_LEN + 2)
    } else {
        data.len()
    };
    let start = AttachmentStart {
        id,
        name: "fuzz.bin".to_owned(),
        mime: "application/octet-stream".to_owned(),
        size: size as u64,
        chunks: u32::try_from(attachment::chunk_count(size)).unwrap_or(u32::MAX),
        digest,
        caption: String::new(),
    };
    let message = Message {
        sent_at: 1,
        content: Content::AttachmentStart(start),
    };
    let Ok(encoded) = message.encode() else { return };
    let Ok(Message {
        content: Content::AttachmentStart(start),
        ..
    }) = Message::decode(&encoded)
    else {
        panic!("an encoded attachment start did not decode");
    };
    let Ok(mut incoming) = Incoming::new(start, 1, 0) else {
        return;
    };
    let mut chunks: Vec<(u32, &[u8])> = data.chunks(CHUNK_LEN).enumerate().map(|(i, c)| (i as u32, c)).collect();
    if flags & 2 == 2 {
        chunks.reverse();
    }
    if flags & 4 == 4
        && let Some(first) = chunks.first().copied()
    {
        chunks.insert(1.min(chunks.len()), first);
    }
    if flags & 8 == 8
        && let Some(last) = chunks.last_mut()
    {
        last.1 = &last.1[..last.1.len() / 2];
    }
    for (index, chunk) in chunks {
        let message = Message {
            sent_at: 1,
            content: Content::AttachmentChunk {
                id,
                index,
                data: chunk.to_vec(),
            },
        };
        let Ok(encoded) = message.encode() else { return };
        let Ok(Message {
            content: Content::AttachmentChunk { id, index, data },
            ..
        }) = Message::decode(&encoded)
        else {
            panic!("an encoded attachment chunk did not decode");
        };
        match incoming.push(&id, index, &data) {
            Ok(Some(whole)) => {
                assert_eq!(whole, bytes[5..], "a completed attachment differs from what was sent");
                return;
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
}
