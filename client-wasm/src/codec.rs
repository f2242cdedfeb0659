//! A small length-prefixed binary codec for plaintexts, with a bound check on every read.
//!
//! Integers are big-endian; short strings carry a `u16` length, long byte strings a `u32` length.
//! A reader must consume its input exactly, so every encoding has one byte form.

use zeroize::Zeroizing;

/// Why a plaintext could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The bytes end before the value does, have bytes left over, or hold a value out of its bounds.
    #[error("malformed plaintext")]
    Malformed,
    /// A value is too long for its field.
    #[error("value too long for its field")]
    TooLong,
}

/// Builds a plaintext in memory that is wiped on drop, and that leaves no unwiped copy behind when it grows.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Zeroizing<Vec<u8>>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn u8(&mut self, value: u8) -> &mut Self {
        self.raw(&[value])
    }

    pub(crate) fn u16(&mut self, value: u16) -> &mut Self {
        self.raw(&value.to_be_bytes())
    }

    pub(crate) fn u32(&mut self, value: u32) -> &mut Self {
        self.raw(&value.to_be_bytes())
    }

    pub(crate) fn u64(&mut self, value: u64) -> &mut Self {
        self.raw(&value.to_be_bytes())
    }

    /// Appends `bytes`. When they do not fit, the plaintext so far moves to a buffer at least twice as large and the
    /// old one is wiped as it is dropped: a `Vec` growing in place would free its old buffer unwiped.
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        let needed = self.buf.len() + bytes.len();
        if needed > self.buf.capacity() {
            let mut larger = Zeroizing::new(Vec::with_capacity(needed.max(2 * self.buf.capacity()).max(64)));
            larger.extend_from_slice(&self.buf);
            self.buf = larger;
        }
        self.buf.extend_from_slice(bytes);
        self
    }

    /// A UTF-8 string of at most `max` bytes with a `u16` length.
    pub(crate) fn str16(&mut self, text: &str, max: usize) -> Result<&mut Self, CodecError> {
        let len = u16::try_from(text.len()).map_err(|_| CodecError::TooLong)?;
        if text.len() > max {
            return Err(CodecError::TooLong);
        }
        self.u16(len);
        Ok(self.raw(text.as_bytes()))
    }

    /// Bytes of at most `max` with a `u32` length.
    pub(crate) fn bytes32(&mut self, bytes: &[u8], max: usize) -> Result<&mut Self, CodecError> {
        let len = u32::try_from(bytes.len()).map_err(|_| CodecError::TooLong)?;
        if bytes.len() > max {
            return Err(CodecError::TooLong);
        }
        self.u32(len);
        Ok(self.raw(bytes))
    }

    pub(crate) fn finish(self) -> Zeroizing<Vec<u8>> {
        self.buf
    }
}

/// Reads a plaintext front to back, refusing to read past its end.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.rest.len() < n {
            return Err(CodecError::Malformed);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(crate) fn str16(&mut self, max: usize) -> Result<String, CodecError> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(CodecError::Malformed);
        }
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CodecError::Malformed)
    }

    pub(crate) fn bytes32(&mut self, max: usize) -> Result<&'a [u8], CodecError> {
        let len = usize::try_from(self.u32()?).map_err(|_| CodecError::Malformed)?;
        if len > max {
            return Err(CodecError::Malformed);
        }
        self.take(len)
    }

    /// Succeeds only when every byte was read.
    pub(crate) fn end(self) -> Result<(), CodecError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(CodecError::Malformed)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn reads_are_bounded() {
        let mut r = Reader::new(&[0, 5, b'a']);
        assert_eq!(r.str16(64), Err(CodecError::Malformed));
        let mut r = Reader::new(&[0, 1, b'a', 9]);
        assert_eq!(r.str16(64).as_deref(), Ok("a"));
        assert_eq!(r.end(), Err(CodecError::Malformed));
        let mut r = Reader::new(&[0, 3, b'a', b'b', b'c']);
        assert_eq!(r.str16(2), Err(CodecError::Malformed));
        let mut r = Reader::new(&[0, 2, 0xff, 0xfe]);
        assert_eq!(r.str16(8), Err(CodecError::Malformed));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.bytes32(usize::MAX), Err(CodecError::Malformed));
    }

    #[test]
    fn writes_are_bounded() {
        assert_eq!(Writer::new().str16("abc", 2).err(), Some(CodecError::TooLong));
        assert_eq!(Writer::new().bytes32(&[0; 9], 8).err(), Some(CodecError::TooLong));
    }

    proptest! {
        #[test]
        fn round_trip(a in any::<u8>(), b in any::<u16>(), c in any::<u32>(), d in any::<u64>(), s in ".{0,40}", v in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut w = Writer::new();
            w.u8(a).u16(b).u32(c).u64(d);
            w.str16(&s, 200).map_err(|e| TestCaseError::fail(e.to_string()))?;
            w.bytes32(&v, 300).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let bytes = w.finish();
            let mut r = Reader::new(&bytes);
            prop_assert_eq!(r.u8(), Ok(a));
            prop_assert_eq!(r.u16(), Ok(b));
            prop_assert_eq!(r.u32(), Ok(c));
            prop_assert_eq!(r.u64(), Ok(d));
            prop_assert_eq!(r.str16(200), Ok(s));
            prop_assert_eq!(r.bytes32(300), Ok(&v[..]));
            prop_assert_eq!(r.end(), Ok(()));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            let _ = r.str16(16);
            let _ = r.bytes32(16);
            let _ = r.u64();
        }
    }
}
