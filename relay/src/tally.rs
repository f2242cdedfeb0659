//! Counts every WebSocket data frame a client sends, fragments included, as the bytes arrive.
//!
//! tungstenite hands the relay whole messages: the continuation frames a message was split into, empty ones
//! included, never reach the reader one by one, so they could not be charged against the frame rate, and a message
//! that never ends would be read forever. [`Tally`] sits under tungstenite on the upgraded socket and reads only the
//! frame headers as they go by: the reader charges each message for every frame it took, and a message split into
//! more than [`MAX_FRAGMENTS`] frames ends the connection. Control frames (ping, pong, close) reach the reader as
//! messages of their own and are charged there.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from the socket at once while the client is sending.
///
/// tungstenite asks for at most its read buffer (2 KiB, to keep idle connections small) at a time, so a busy client's
/// every frame took a system call of its own, and one more to learn that nothing else was waiting: in a saturated room
/// of 10 the relay made 3.7 times as many reads as a server with a 16 KiB buffer. [`Tally`] reads up to this much and
/// hands it up as asked. Once the socket has nothing more to read, the buffer goes unless the client is busy (its
/// last read brought more than [`BUSY_READ_BYTES`]); a busy client's buffer goes at the connection's next ping, so
/// that a connection woken for its writes does not allocate and clear a buffer at every wake.
const READ_AHEAD_BYTES: usize = 16 * 1024;

/// A read bringing more than this, several frames at once, marks a busy client.
const BUSY_READ_BYTES: usize = 2 * 1024;

/// Frames one message may be split into; browsers and the native clients send each message as one frame.
pub(crate) const MAX_FRAGMENTS: u32 = 64;

/// The error a read returns once a message has more than [`MAX_FRAGMENTS`] frames.
#[derive(Debug, thiserror::Error)]
#[error("a message split into more than {MAX_FRAGMENTS} frames")]
pub(crate) struct TooManyFragments;

/// Data frames read and not yet charged, shared between the socket and the connection's reader, and the reader's
/// word that the read-ahead buffer should go.
#[derive(Debug, Default)]
pub(crate) struct Frames(AtomicU32, AtomicBool);

impl Frames {
    /// The data frames read since the last call, at least one: the message being charged is one of them.
    pub(crate) fn take(&self) -> u32 {
        self.0.swap(0, Ordering::Relaxed).max(1)
    }

    /// Asks the socket to let its read-ahead buffer go once it has nothing to read; the reader asks at every ping.
    pub(crate) fn release(&self) {
        self.1.store(true, Ordering::Relaxed);
    }
}

/// Where the parser is in the client's byte stream.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// Reading a frame header; `have` of its bytes are in `header`.
    Header { have: usize },
    /// Skipping the payload of the current frame.
    Payload { left: u64 },
}

/// A socket whose reads are watched for frame headers, and read ahead while the client is sending.
#[derive(Debug)]
pub(crate) struct Tally<S> {
    inner: S,
    frames: Arc<Frames>,
    header: [u8; 14],
    position: Position,
    /// Frames of the message in progress.
    fragments: u32,
    /// Whether the last read brought more than [`BUSY_READ_BYTES`].
    busy: bool,
    /// Bytes read from the socket: `ahead[start..end]` are not handed up yet. Empty, with no memory, while idle.
    ahead: Vec<u8>,
    start: usize,
    end: usize,
}

impl<S> Tally<S> {
    pub(crate) fn new(inner: S, frames: Arc<Frames>) -> Self {
        Self {
            inner,
            frames,
            header: [0; 14],
            position: Position::Header { have: 0 },
            fragments: 0,
            busy: false,
            ahead: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// Hands up as much of what was read ahead as `buf` takes, watching it go by.
    fn hand_up(&mut self, buf: &mut ReadBuf<'_>) -> io::Result<()> {
        let n = buf.remaining().min(self.end - self.start);
        let (start, end) = (self.start, self.start + n);
        self.start = end;
        // Moving the buffer out for a moment lets `observe` borrow the parser while it reads the bytes.
        let ahead = std::mem::take(&mut self.ahead);
        buf.put_slice(&ahead[start..end]);
        let watched = self.observe(&ahead[start..end]);
        self.ahead = ahead;
        watched.map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }

    /// Follows `bytes` through frame headers and payloads; an error once a message has too many frames.
    fn observe(&mut self, mut bytes: &[u8]) -> Result<(), TooManyFragments> {
        while !bytes.is_empty() {
            match self.position {
                Position::Payload { left } => {
                    let skip = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    bytes = &bytes[skip..];
                    let left = left - skip as u64;
                    self.position = if left == 0 {
                        Position::Header { have: 0 }
                    } else {
                        Position::Payload { left }
                    };
                }
                Position::Header { mut have } => {
                    let need = header_len(&self.header[..have]);
                    let take = (need - have).min(bytes.len());
                    self.header[have..have + take].copy_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    have += take;
                    // The length fields may say the header is longer than first thought.
                    if have < header_len(&self.header[..have]) {
                        self.position = Position::Header { have };
                        continue;
                    }
                    let left = self.on_header()?;
                    self.position = if left == 0 {
                        Position::Header { have: 0 }
                    } else {
                        Position::Payload { left }
                    };
                }
            }
        }
        Ok(())
    }

    /// Counts one complete header and returns its payload length.
    fn on_header(&mut self) -> Result<u64, TooManyFragments> {
        let fin = self.header[0] & 0x80 != 0;
        let opcode = self.header[0] & 0x0f;
        let len = match self.header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => u64::from_be_bytes(self.header[2..10].try_into().unwrap_or_default()),
            n => u64::from(n),
        };
        // Control frames are messages of their own, charged by the reader; only data frames are counted here.
        if opcode < 0x8 {
            self.frames.0.fetch_add(1, Ordering::Relaxed);
            self.fragments = if opcode == 0 {
                self.fragments.saturating_add(1)
            } else {
                1
            };
            if self.fragments > MAX_FRAGMENTS {
                return Err(TooManyFragments);
            }
            if fin {
                self.fragments = 0;
            }
        }
        Ok(len)
    }
}

/// The length of a frame header whose first bytes are `start`: 2, plus 2 or 8 for a long length, plus 4 for a mask.
fn header_len(start: &[u8]) -> usize {
    let Some(second) = start.get(1) else {
        return 2;
    };
    let length = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    2 + length + mask
}

impl<S: AsyncRead + Unpin> AsyncRead for Tally<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.start == this.end {
            if this.ahead.is_empty() {
                this.ahead = vec![0; READ_AHEAD_BYTES];
            }
            let mut ahead = ReadBuf::new(&mut this.ahead);
            match Pin::new(&mut this.inner).poll_read(cx, &mut ahead) {
                Poll::Ready(Ok(())) => {
                    (this.start, this.end) = (0, ahead.filled().len());
                    this.busy = this.end > BUSY_READ_BYTES;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    // Nothing more to read: a client that is not busy, or one past a ping, keeps no buffer.
                    if !this.busy || this.frames.1.swap(false, Ordering::Relaxed) {
                        this.ahead = Vec::new();
                        this.busy = false;
                    }
                    return Poll::Pending;
                }
            }
        }
        // Zero bytes read is the end of the stream, handed up as such.
        Poll::Ready(this.hand_up(buf))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tally<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out.extend(payload.iter().zip([1u8, 2, 3, 4].iter().cycle()).map(|(b, m)| b ^ m));
        out
    }

    #[test]
    fn every_data_frame_is_counted_however_the_bytes_are_cut() {
        let mut stream = Vec::new();
        stream.extend(frame(true, 0x1, b"whole"));
        stream.extend(frame(false, 0x1, &[b'x'; 300]));
        stream.extend(frame(false, 0x0, b""));
        stream.extend(frame(true, 0xa, b"pong"));
        stream.extend(frame(true, 0x0, &[b'y'; 70_000]));
        for cut in [1, 3, 7, 4096, stream.len()] {
            let frames = Arc::new(Frames::default());
            let mut tally = Tally::new((), frames.clone());
            for chunk in stream.chunks(cut) {
                tally.observe(chunk).unwrap();
            }
            assert_eq!(frames.0.load(Ordering::Relaxed), 4, "chunks of {cut}");
            assert!(matches!(tally.position, Position::Header { have: 0 }));
            assert_eq!(tally.fragments, 0);
        }
    }

    #[test]
    fn a_message_of_too_many_fragments_is_an_error() {
        let frames = Arc::new(Frames::default());
        let mut tally = Tally::new((), frames.clone());
        tally.observe(&frame(false, 0x1, b"a")).unwrap();
        for _ in 1..MAX_FRAGMENTS {
            tally.observe(&frame(false, 0x0, b"")).unwrap();
            tally.observe(&frame(true, 0xa, b"")).unwrap();
        }
        assert!(tally.observe(&frame(false, 0x0, b"")).is_err());
        assert_eq!(frames.take(), MAX_FRAGMENTS + 1);
        assert_eq!(frames.take(), 1);
    }

    /// A socket that has `chunks` to read, one per read, each `None` a moment with nothing to read.
    struct Chunks {
        chunks: std::collections::VecDeque<Option<Vec<u8>>>,
        reads: usize,
    }

    impl AsyncRead for Chunks {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            self.reads += 1;
            match self.chunks.pop_front() {
                Some(Some(chunk)) => {
                    buf.put_slice(&chunk);
                    Poll::Ready(Ok(()))
                }
                Some(None) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                None => Poll::Ready(Ok(())),
            }
        }
    }

    #[tokio::test]
    async fn a_sending_client_is_read_ahead_and_an_idle_one_holds_no_buffer() {
        use tokio::io::AsyncReadExt;

        let burst: Vec<u8> = (0..8).flat_map(|i| frame(true, 0x1, &[b'a' + i; 1400])).collect();
        let later = frame(true, 0x1, b"later");
        let frames = Arc::new(Frames::default());
        let socket = Chunks {
            chunks: [Some(burst.clone()), None, None, Some(later.clone()), None].into(),
            reads: 0,
        };
        let mut tally = Tally::new(socket, frames.clone());
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        let mut buf = [0; 2048];
        let mut pending = |tally: &mut Tally<Chunks>| {
            let mut buf = [0; 2048];
            Pin::new(tally)
                .poll_read(&mut cx, &mut ReadBuf::new(&mut buf))
                .is_pending()
        };
        // tungstenite asks for 2 KiB at a time.
        let mut got = Vec::new();
        while got.len() < burst.len() {
            let n = tally.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, burst, "the bytes come up as they were sent");
        assert_eq!(tally.inner.reads, 1, "one read from the socket for the whole burst");
        assert_eq!(frames.0.load(Ordering::Relaxed), 8);
        assert!(pending(&mut tally));
        assert_eq!(
            tally.ahead.capacity(),
            READ_AHEAD_BYTES,
            "a busy client keeps its buffer until a ping"
        );
        frames.release();
        assert!(pending(&mut tally));
        assert_eq!(
            tally.ahead.capacity(),
            0,
            "past a ping, with nothing to read, the buffer is gone"
        );
        let n = tally.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &later[..]);
        assert!(pending(&mut tally));
        assert_eq!(
            tally.ahead.capacity(),
            0,
            "a client that sent one small frame is not busy and keeps nothing"
        );
        assert_eq!(
            tally.read(&mut buf).await.unwrap(),
            0,
            "the end of the stream comes up as such"
        );
        assert_eq!(frames.take(), 9);
    }
}
