//! Received attachments, held in memory until the user saves one to a path they typed, or the session ends.
//!
//! Nothing is written anywhere unless asked; a save never overwrites an existing file, so a hostile file name
//! (which is never used as a path) cannot aim at one either.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Most bytes of received attachments held for saving; the oldest are forgotten first beyond it.
pub(crate) const MAX_HELD_BYTES: usize = 64 * 1024 * 1024;

/// A received attachment; what the sender said about it is shown when it arrives.
#[derive(Debug)]
pub(crate) struct Received {
    /// SHA-256 of the bytes, lowercase hex.
    pub(crate) sha256: String,
    /// The bytes, wiped when dropped.
    pub(crate) bytes: Zeroizing<Vec<u8>>,
}

/// The attachments received in this session, numbered from 1.
#[derive(Debug, Default)]
pub(crate) struct Held {
    items: Vec<Option<Received>>,
    bytes: usize,
}

impl Held {
    /// Holds an attachment and returns its number.
    pub(crate) fn hold(&mut self, bytes: &[u8]) -> usize {
        while self.bytes + bytes.len() > MAX_HELD_BYTES {
            let Some(oldest) = self.items.iter_mut().find_map(Option::take) else {
                break;
            };
            self.bytes -= oldest.bytes.len();
        }
        self.bytes += bytes.len();
        self.items.push(Some(Received {
            sha256: Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect(),
            bytes: Zeroizing::new(bytes.to_vec()),
        }));
        self.items.len()
    }

    /// Attachment `index`, if still held.
    pub(crate) fn get(&self, index: usize) -> Option<&Received> {
        index
            .checked_sub(1)
            .and_then(|i| self.items.get(i))
            .and_then(Option::as_ref)
    }

    /// Writes attachment `index` to a new file at `path`.
    pub(crate) fn save(&self, index: usize, path: &Path) -> std::io::Result<()> {
        let received = self
            .get(index)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such attachment is held"))?;
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
        file.write_all(&received.bytes)?;
        file.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_only_to_a_new_file_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut held = Held::default();
        let index = held.hold(b"abc");
        assert_eq!(index, 1);
        assert_eq!(
            held.get(1).unwrap().sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let path = dir.path().join("out.txt");
        held.save(1, &path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        let again = held.save(1, &path).unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(
            held.save(2, &dir.path().join("x")).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        held.hold(&vec![0; MAX_HELD_BYTES]);
        assert!(held.get(1).is_none(), "the oldest is forgotten to stay under the bound");
        assert!(held.get(2).is_some());
    }
}
