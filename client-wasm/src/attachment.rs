//! Attachments: files split into chunks that each fill the largest padding bucket, and reassembled with bounded buffers.
//!
//! A start message commits to the size, the number of chunks and
//! `digest = SHA-256("sanctum v1 attachment" || id || size u64 BE || bytes)`; the chunks follow in order and the
//! receiver checks the digest over the whole before showing anything.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::label;

/// Bytes of file data in each chunk (32 KiB less room for the chunk's header and signature).
pub const CHUNK_LEN: usize = 32 * 1024 - 256;
/// Largest attachment, in bytes.
pub const MAX_ATTACHMENT_LEN: usize = 8 * 1024 * 1024;
/// Most bytes a session holds in unfinished incoming attachments across all senders.
pub const MAX_INCOMING_BYTES: usize = 4 * MAX_ATTACHMENT_LEN;

/// Why an attachment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    /// Empty, or larger than [`MAX_ATTACHMENT_LEN`].
    #[error("attachments must be between 1 byte and 8 MiB")]
    BadSize,
    /// A start or chunk that does not follow the announced attachment, or a digest that does not match.
    #[error("attachment did not reassemble")]
    Corrupt,
    /// Too many bytes of unfinished attachments are held already.
    #[error("too many attachments in progress")]
    Busy,
}

/// The start of an attachment: everything but the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttachmentStart {
    pub(crate) id: [u8; 16],
    pub(crate) name: String,
    pub(crate) mime: String,
    pub(crate) size: u64,
    pub(crate) chunks: u32,
    pub(crate) digest: [u8; 32],
    /// Text shown with the attachment (an image's caption), with the formatting of a message; often empty.
    pub(crate) caption: String,
}

/// The digest that commits to a whole attachment.
pub(crate) fn digest(id: &[u8; 16], bytes: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(label::ATTACHMENT_DIGEST);
    hash.update(id);
    hash.update((bytes.len() as u64).to_be_bytes());
    hash.update(bytes);
    hash.finalize().into()
}

/// The number of chunks for `size` bytes.
pub(crate) fn chunk_count(size: usize) -> usize {
    size.div_ceil(CHUNK_LEN)
}

/// Describes an outgoing attachment; the caller then seals `bytes.chunks(CHUNK_LEN)` in order.
pub(crate) fn start_for(
    id: [u8; 16],
    name: &str,
    mime: &str,
    bytes: &[u8],
) -> Result<AttachmentStart, AttachmentError> {
    if bytes.is_empty() || bytes.len() > MAX_ATTACHMENT_LEN {
        return Err(AttachmentError::BadSize);
    }
    let chunks = u32::try_from(chunk_count(bytes.len())).map_err(|_| AttachmentError::BadSize)?;
    Ok(AttachmentStart {
        id,
        name: name.to_owned(),
        mime: mime.to_owned(),
        size: bytes.len() as u64,
        chunks,
        digest: digest(&id, bytes),
        caption: String::new(),
    })
}

/// An attachment being sent: its start is sealed at once, and each chunk only when the sender's scheduler reaches it.
///
/// Sealing chunk by chunk lets a text, a kick or a purge sent meanwhile take the next chain position and go out before
/// the rest of the file, instead of queuing behind chunks sealed in advance (receivers accept counters in order only).
pub struct Upload {
    pub(crate) id: [u8; 16],
    /// The one member it is whispered to, or `None` for the room.
    pub(crate) to: Option<sanctum_protocol::MemberId>,
    pub(crate) sent_at: u64,
    /// The file's plaintext, wiped on drop.
    bytes: Zeroizing<Vec<u8>>,
    next: u32,
    chunks: u32,
}

impl std::fmt::Debug for Upload {
    /// Shows progress only: the bytes are plaintext and never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("chunks", &self.chunks)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Upload {
    pub(crate) fn new(
        start: &AttachmentStart,
        to: Option<sanctum_protocol::MemberId>,
        bytes: &[u8],
        sent_at: u64,
    ) -> Self {
        Self {
            id: start.id,
            to,
            sent_at,
            bytes: Zeroizing::new(bytes.to_vec()),
            next: 0,
            chunks: start.chunks,
        }
    }

    /// The next chunk's index and data, if any remain.
    pub(crate) fn next_chunk(&self) -> Option<(u32, &[u8])> {
        let data = self.bytes.chunks(CHUNK_LEN).nth(self.next as usize)?;
        Some((self.next, data))
    }

    /// Marks the chunk returned by [`Upload::next_chunk`] as sealed.
    pub(crate) fn advance(&mut self) {
        self.next = self.next.saturating_add(1).min(self.chunks);
    }

    /// How many chunks the attachment has.
    pub fn chunks(&self) -> u32 {
        self.chunks
    }

    /// How many chunks are sealed so far.
    pub fn sent(&self) -> u32 {
        self.next
    }

    /// Whether every chunk is sealed.
    pub fn is_done(&self) -> bool {
        self.next >= self.chunks
    }
}

/// One attachment being received from one sender.
pub(crate) struct Incoming {
    pub(crate) start: AttachmentStart,
    pub(crate) sent_at: u64,
    /// Reassembled plaintext, allocated once at its full size on the first chunk so it never moves, and wiped on drop.
    data: Zeroizing<Vec<u8>>,
    next: u32,
}

impl std::fmt::Debug for Incoming {
    /// Shows progress only: the reassembled bytes are plaintext and never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("size", &self.start.size)
            .field("chunks", &self.start.chunks)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Incoming {
    /// Checks a start against the bounds; `held` is what the session already holds in other unfinished attachments.
    pub(crate) fn new(start: AttachmentStart, sent_at: u64, held: usize) -> Result<Self, AttachmentError> {
        let size = usize::try_from(start.size).map_err(|_| AttachmentError::BadSize)?;
        if size == 0 || size > MAX_ATTACHMENT_LEN || chunk_count(size) != start.chunks as usize {
            return Err(AttachmentError::BadSize);
        }
        if held.saturating_add(size) > MAX_INCOMING_BYTES {
            return Err(AttachmentError::Busy);
        }
        Ok(Self {
            start,
            sent_at,
            data: Zeroizing::new(Vec::new()),
            next: 0,
        })
    }

    /// Bytes this attachment will hold when complete, counted against [`MAX_INCOMING_BYTES`] from its start.
    pub(crate) fn reserved(&self) -> usize {
        usize::try_from(self.start.size).unwrap_or(MAX_ATTACHMENT_LEN)
    }

    /// Bytes received so far.
    pub(crate) fn received(&self) -> u64 {
        self.data.len() as u64
    }

    /// Adds the next chunk; returns the whole attachment once the last chunk arrives and the digest matches.
    pub(crate) fn push(&mut self, id: &[u8; 16], index: u32, data: &[u8]) -> Result<Option<Vec<u8>>, AttachmentError> {
        let size = self.reserved();
        let last = index.checked_add(1) == Some(self.start.chunks);
        let expected = if last {
            size - CHUNK_LEN * (self.start.chunks as usize - 1)
        } else {
            CHUNK_LEN
        };
        if *id != self.start.id || index != self.next || data.len() != expected {
            return Err(AttachmentError::Corrupt);
        }
        if self.data.capacity() == 0 {
            self.data.reserve_exact(size);
        }
        self.data.extend_from_slice(data);
        self.next += 1;
        if !last {
            return Ok(None);
        }
        if digest(&self.start.id, &self.data) != self.start.digest {
            return Err(AttachmentError::Corrupt);
        }
        Ok(Some(std::mem::take(&mut *self.data)))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reassemble(start: AttachmentStart, bytes: &[u8]) -> Result<Option<Vec<u8>>, AttachmentError> {
        let id = start.id;
        let mut incoming = Incoming::new(start, 0, 0)?;
        let mut out = None;
        for (i, chunk) in bytes.chunks(CHUNK_LEN).enumerate() {
            out = incoming.push(&id, i as u32, chunk)?;
        }
        Ok(out)
    }

    #[test]
    fn bounds() {
        assert_eq!(start_for([0; 16], "a", "b", &[]).err(), Some(AttachmentError::BadSize));
        assert_eq!(
            start_for([0; 16], "a", "b", &vec![0; MAX_ATTACHMENT_LEN + 1]).err(),
            Some(AttachmentError::BadSize)
        );
        let max = start_for([0; 16], "a", "b", &vec![0; MAX_ATTACHMENT_LEN]).unwrap();
        assert_eq!(max.chunks as usize, chunk_count(MAX_ATTACHMENT_LEN));
        let mut lying = max.clone();
        lying.chunks += 1;
        assert_eq!(Incoming::new(lying, 0, 0).err(), Some(AttachmentError::BadSize));
        assert_eq!(
            Incoming::new(max.clone(), 0, MAX_INCOMING_BYTES).err(),
            Some(AttachmentError::Busy)
        );
        let mut huge = max;
        huge.size = u64::MAX;
        assert!(Incoming::new(huge, 0, 0).is_err());
    }

    #[test]
    fn debug_omits_the_plaintext() {
        let bytes = b"top secret attachment bytes".to_vec();
        let start = start_for([4; 16], "secret-name.txt", "text/plain", &bytes).unwrap();
        let mut incoming = Incoming::new(start.clone(), 0, 0).unwrap();
        let mut half = Incoming::new(start_for([4; 16], "x", "y", &vec![7; CHUNK_LEN + 1]).unwrap(), 0, 0).unwrap();
        half.push(&[4; 16], 0, &[7; CHUNK_LEN]).unwrap();
        let text = format!("{incoming:?} {half:?}");
        assert!(!text.contains("secret") && !text.contains("7, 7"), "{text}");
        assert_eq!(incoming.push(&start.id, 0, &bytes), Ok(Some(bytes)));
    }

    #[test]
    fn corrupted_or_reordered_chunks_are_refused() {
        let bytes: Vec<u8> = (0..CHUNK_LEN * 2 + 10).map(|i| i as u8).collect();
        let start = start_for([3; 16], "f.bin", "application/octet-stream", &bytes).unwrap();
        assert_eq!(reassemble(start.clone(), &bytes), Ok(Some(bytes.clone())));
        let mut flipped = bytes.clone();
        flipped[CHUNK_LEN + 5] ^= 1;
        assert_eq!(reassemble(start.clone(), &flipped), Err(AttachmentError::Corrupt));
        let mut incoming = Incoming::new(start.clone(), 0, 0).unwrap();
        assert_eq!(
            incoming.push(&start.id, 1, &bytes[CHUNK_LEN..2 * CHUNK_LEN]),
            Err(AttachmentError::Corrupt)
        );
        assert_eq!(
            incoming.push(&[9; 16], 0, &bytes[..CHUNK_LEN]),
            Err(AttachmentError::Corrupt)
        );
        assert_eq!(
            incoming.push(&start.id, 0, &bytes[..CHUNK_LEN - 1]),
            Err(AttachmentError::Corrupt)
        );
    }

    proptest! {
        #[test]
        fn round_trip(len in 1usize..(3 * CHUNK_LEN), seed in any::<u8>()) {
            let bytes: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect();
            let start = start_for([seed; 16], "x", "y", &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(reassemble(start, &bytes), Ok(Some(bytes)));
        }
    }
}
