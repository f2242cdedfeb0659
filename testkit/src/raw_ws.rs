//! A deliberately small WebSocket client written on a bare TCP stream, for tests that must misbehave.
//!
//! A well-behaved library cannot send what hostile-input tests need: a text frame that is not UTF-8, a half-written
//! upgrade request, a fragmented message, or a connection that never answers pings and never reads.
//! This client frames messages itself (RFC 6455 §5), answers pings only when asked to, and reads only when called,
//! so a test controls exactly what reaches the relay and when.
//! The well-behaved client is [`crate::client::Client`].

use std::io;
use std::net::SocketAddr;

use sanctum_protocol::{ClientFrame, RelayFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::EVENT_DEADLINE;

/// WebSocket opcodes (RFC 6455 §5.2).
pub mod opcode {
    /// Continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// A text message.
    pub const TEXT: u8 = 0x1;
    /// A binary message.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// What the relay sent, as this client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A text message that decodes as a relay frame.
    Frame(RelayFrame),
    /// A text message that does not decode as a relay frame.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping, when pings are not answered automatically.
    Ping,
    /// A close frame with its code, if it had one.
    Close(Option<u16>),
    /// The TCP stream ended (or was reset) without a close frame.
    Eof,
}

/// Why the upgrade did not succeed.
#[derive(Debug)]
pub enum UpgradeError {
    /// The TCP connection or a read failed.
    Io(io::Error),
    /// The relay answered with an HTTP status other than 101.
    Status(u16),
}

impl From<io::Error> for UpgradeError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Options of one connection.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra request headers, such as `Origin` or `X-Forwarded-For`, as `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// A small kernel receive buffer, so that a client that stops reading makes the relay's queue fill quickly.
    pub receive_buffer: Option<u32>,
}

/// One WebSocket connection driven by hand.
#[derive(Debug)]
pub struct RawWs {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Whether reads answer pings with pongs and hide them, as a browser does.
    pub auto_pong: bool,
}

/// The HTTP upgrade request for `/ws` with `options`' headers.
pub fn upgrade_request(addr: SocketAddr, options: &Options) -> String {
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in &options.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request
}

/// Opens a TCP connection to `addr`, with a small receive buffer when `options` asks for one.
pub async fn tcp(addr: SocketAddr, options: &Options) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(size) = options.receive_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    let stream = socket.connect(addr).await?;
    // Each write is one frame a test means to send now, never one to be held back for the next.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads an HTTP response head from `stream` and returns its status code and the raw head.
pub async fn read_response_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(u16, String), UpgradeError> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.drain(..end + 4);
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|code| code.parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status line"))?;
            return Ok((status, head));
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(EVENT_DEADLINE, stream.read(&mut chunk))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no HTTP response"))??;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before a response").into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

impl RawWs {
    /// Upgrades a new connection to `ws://addr/ws`; the welcome frame is left unread.
    pub async fn connect(addr: SocketAddr, options: &Options) -> Result<Self, UpgradeError> {
        let mut stream = tcp(addr, options).await?;
        stream.write_all(upgrade_request(addr, options).as_bytes()).await?;
        let mut buffer = Vec::new();
        let (status, _) = read_response_head(&mut stream, &mut buffer).await?;
        if status != 101 {
            return Err(UpgradeError::Status(status));
        }
        Ok(Self {
            stream,
            buffer,
            auto_pong: true,
        })
    }

    /// Sends one frame with the given opcode, FIN bit and payload, masked as a client must.
    pub async fn send_raw(&mut self, opcode: u8, fin: bool, payload: &[u8]) -> io::Result<()> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(if fin { 0x80 } else { 0 } | (opcode & 0x0f));
        match payload.len() {
            len @ 0..=125 => frame.push(0x80 | len as u8),
            len @ 126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        // A fixed mask is as valid as a random one to the relay; masking protects proxies, not this test.
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await
    }

    /// Writes bytes as they are, for frames this client would never build.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send_raw(opcode::TEXT, true, text.as_bytes()).await
    }

    /// Sends a client frame as a text message.
    pub async fn send(&mut self, frame: &ClientFrame) -> io::Result<()> {
        self.send_text(&frame.encode()).await
    }

    /// Sends a close frame with `code`.
    pub async fn send_close(&mut self, code: u16) -> io::Result<()> {
        self.send_raw(opcode::CLOSE, true, &code.to_be_bytes()).await
    }

    /// Reads the next event, waiting at most [`EVENT_DEADLINE`]; a stuck relay fails the test rather than hanging it.
    pub async fn next(&mut self) -> io::Result<Event> {
        loop {
            let event = match tokio::time::timeout(EVENT_DEADLINE, self.read_frame()).await {
                Ok(result) => result?,
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no frame from the relay")),
            };
            match event {
                RawFrame::Message(opcode::PING, payload) if self.auto_pong => {
                    // A pong that cannot be written means the relay is gone, which the next read reports.
                    let _ = self.send_raw(opcode::PONG, true, &payload).await;
                }
                RawFrame::Message(opcode::PING, _) => return Ok(Event::Ping),
                RawFrame::Message(opcode::PONG, _) => {}
                RawFrame::Message(opcode::CLOSE, payload) => {
                    let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    return Ok(Event::Close(code));
                }
                RawFrame::Message(opcode::TEXT, payload) => {
                    let text = String::from_utf8_lossy(&payload).into_owned();
                    return Ok(match RelayFrame::decode(&text) {
                        Ok(frame) => Event::Frame(frame),
                        Err(_) => Event::Text(text),
                    });
                }
                RawFrame::Message(_, payload) => return Ok(Event::Binary(payload)),
                RawFrame::Eof => return Ok(Event::Eof),
            }
        }
    }

    /// Reads the next relay frame, failing on anything else.
    pub async fn frame(&mut self) -> io::Result<RelayFrame> {
        match self.next().await? {
            Event::Frame(frame) => Ok(frame),
            other => Err(io::Error::other(format!("expected a relay frame, got {other:?}"))),
        }
    }

    /// Reads events until a close frame or the end of the stream, skipping frames, and returns the close code.
    pub async fn closed(&mut self) -> io::Result<Option<u16>> {
        loop {
            match self.next().await? {
                Event::Close(code) => return Ok(code),
                Event::Eof => return Ok(None),
                _ => {}
            }
        }
    }

    /// Reads one whole frame (RFC 6455 §5.2); server frames are never masked.
    async fn read_frame(&mut self) -> io::Result<RawFrame> {
        let mut fragments: Option<(u8, Vec<u8>)> = None;
        loop {
            let Some((fin, op, payload)) = self.read_one().await? else {
                return Ok(RawFrame::Eof);
            };
            if op == opcode::CONTINUATION {
                let (first, mut data) = fragments.take().unwrap_or((opcode::BINARY, Vec::new()));
                data.extend_from_slice(&payload);
                if fin {
                    return Ok(RawFrame::Message(first, data));
                }
                fragments = Some((first, data));
            } else if fin || op >= opcode::CLOSE {
                return Ok(RawFrame::Message(op, payload));
            } else {
                fragments = Some((op, payload));
            }
        }
    }

    async fn read_one(&mut self) -> io::Result<Option<(bool, u8, Vec<u8>)>> {
        if !self.fill(2).await? {
            return Ok(None);
        }
        let fin = self.buffer[0] & 0x80 != 0;
        let op = self.buffer[0] & 0x0f;
        let short = self.buffer[1] & 0x7f;
        let (header, len) = match short {
            126 => {
                if !self.fill(4).await? {
                    return Ok(None);
                }
                (4, u16::from_be_bytes([self.buffer[2], self.buffer[3]]) as usize)
            }
            127 => {
                if !self.fill(10).await? {
                    return Ok(None);
                }
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&self.buffer[2..10]);
                (10, u64::from_be_bytes(bytes) as usize)
            }
            len => (2, len as usize),
        };
        if !self.fill(header + len).await? {
            return Ok(None);
        }
        let payload = self.buffer[header..header + len].to_vec();
        self.buffer.drain(..header + len);
        Ok(Some((fin, op, payload)))
    }

    /// Reads until the buffer holds `n` bytes; false when the stream ends or is reset first.
    async fn fill(&mut self, n: usize) -> io::Result<bool> {
        while self.buffer.len() < n {
            let mut chunk = vec![0u8; (n - self.buffer.len()).max(16 * 1024)];
            match self.stream.read(&mut chunk).await {
                Ok(0) => return Ok(false),
                Ok(read) => self.buffer.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == io::ErrorKind::ConnectionReset => return Ok(false),
                Err(error) => return Err(error),
            }
        }
        Ok(true)
    }
}

/// One frame as read from the wire.
enum RawFrame {
    Message(u8, Vec<u8>),
    Eof,
}
