//! Padding of every plaintext to one of a few size buckets, so that a sealed item's length says little about its content.
//!
//! A padded plaintext is `len (u32 BE) || inner || zeros`, and its total length is the smallest bucket that fits.

/// Sizes, in bytes, of padded plaintexts; the last is the largest plaintext the protocol seals.
pub const BUCKETS: [usize; 5] = [256, 1024, 4096, 16 * 1024, 32 * 1024];

/// Length of the prefix that records the inner length.
pub(crate) const LEN_PREFIX: usize = 4;

/// The largest inner plaintext (body and signature) that fits the largest bucket.
pub const MAX_INNER_LEN: usize = BUCKETS[BUCKETS.len() - 1] - LEN_PREFIX;

/// Why a plaintext could not be padded or unpadded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaddingError {
    /// The plaintext is larger than the largest bucket.
    #[error("plaintext larger than the largest padding bucket")]
    TooLarge,
    /// A padded plaintext is not in canonical form.
    #[error("malformed padding")]
    Malformed,
}

/// The bucket that holds `inner_len` bytes of inner plaintext.
pub(crate) fn bucket_for(inner_len: usize) -> Result<usize, PaddingError> {
    let needed = inner_len.checked_add(LEN_PREFIX).ok_or(PaddingError::TooLarge)?;
    BUCKETS
        .iter()
        .copied()
        .find(|&b| b >= needed)
        .ok_or(PaddingError::TooLarge)
}

/// Pads `inner` to its bucket, in a buffer of its own (sealing pads into the item's buffer with [`pad_into`]).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn pad(inner: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, PaddingError> {
    let mut out = zeroize::Zeroizing::new(Vec::new());
    pad_into(&mut out, &[inner])?;
    Ok(out)
}

/// Appends the concatenation of `parts`, padded as [`pad`] pads it, to `out`.
///
/// `out` grows once, by exactly the bucket, so that a caller who reserved that much never has a copy of the plaintext
/// left behind by a reallocation.
pub(crate) fn pad_into(out: &mut Vec<u8>, parts: &[&[u8]]) -> Result<(), PaddingError> {
    let inner_len = parts.iter().map(|part| part.len()).sum();
    let bucket = bucket_for(inner_len)?;
    let len = u32::try_from(inner_len).map_err(|_| PaddingError::TooLarge)?;
    out.reserve_exact(bucket);
    let end = out.len() + bucket;
    out.extend_from_slice(&len.to_be_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
    out.resize(end, 0);
    Ok(())
}

/// Removes the padding, refusing anything but the exact form [`pad`] produces.
pub(crate) fn unpad(padded: &[u8]) -> Result<&[u8], PaddingError> {
    if padded.len() < LEN_PREFIX {
        return Err(PaddingError::Malformed);
    }
    let (prefix, rest) = padded.split_at(LEN_PREFIX);
    let mut len_bytes = [0u8; LEN_PREFIX];
    len_bytes.copy_from_slice(prefix);
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| PaddingError::Malformed)?;
    if len > rest.len() || bucket_for(len) != Ok(padded.len()) {
        return Err(PaddingError::Malformed);
    }
    let (inner, zeros) = rest.split_at(len);
    if zeros.iter().any(|&b| b != 0) {
        return Err(PaddingError::Malformed);
    }
    Ok(inner)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bucket_edges() {
        assert_eq!(bucket_for(0), Ok(256));
        assert_eq!(bucket_for(252), Ok(256));
        assert_eq!(bucket_for(253), Ok(1024));
        assert_eq!(bucket_for(MAX_INNER_LEN), Ok(32 * 1024));
        assert_eq!(bucket_for(MAX_INNER_LEN + 1), Err(PaddingError::TooLarge));
        assert_eq!(bucket_for(usize::MAX), Err(PaddingError::TooLarge));
    }

    #[test]
    fn non_canonical_padding_is_refused() {
        let mut padded = pad(b"hello").map(|p| p.to_vec()).unwrap_or_default();
        padded[100] = 1;
        assert_eq!(unpad(&padded), Err(PaddingError::Malformed));
        // A short plaintext padded to a larger bucket than needed is not canonical.
        let mut big = vec![0u8; 1024];
        big[3] = 5;
        assert_eq!(unpad(&big), Err(PaddingError::Malformed));
        let mut over = vec![0u8; 256];
        over[2] = 1;
        assert_eq!(unpad(&over), Err(PaddingError::Malformed));
        assert_eq!(unpad(&[0, 0]), Err(PaddingError::Malformed));
        assert_eq!(unpad(&[0u8; 300]), Err(PaddingError::Malformed));
    }

    proptest! {
        #[test]
        fn pad_round_trips_to_a_bucket(inner in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let padded = pad(&inner).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(BUCKETS.contains(&padded.len()));
            prop_assert_eq!(unpad(&padded), Ok(&inner[..]));
        }

        #[test]
        fn unpad_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let _ = unpad(&bytes);
        }
    }
}
