//! One HTTP/1.1 request on a bare TCP stream, so that a test sees the status, every header and the body as sent.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::EVENT_DEADLINE;

/// An HTTP response read off the socket.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names in lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The body as text (none after a 101).
    pub body: String,
}

impl Response {
    fn parse(raw: &[u8]) -> io::Result<Self> {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status"))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok(Self {
            status,
            headers,
            body: body.to_owned(),
        })
    }

    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// One request to `addr` with `Connection: close` unless `headers` name a connection header;
/// the response ends at the end of its head after a 101, after as many bytes as its length says, or at the close.
pub async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n");
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("connection")) {
        request.push_str("connection: close\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let read = async {
        let mut raw = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await?;
            raw.extend_from_slice(&chunk[..n]);
            if n == 0 || is_complete(&raw) {
                return Ok::<_, io::Error>(raw);
            }
        }
    };
    let raw = tokio::time::timeout(EVENT_DEADLINE, read)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no HTTP response"))??;
    Response::parse(&raw)
}

/// A plain GET with `Connection: close`; returns the status and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let response = request(addr, "GET", path, &[]).await?;
    Ok((response.status, response.body))
}

/// Whether `raw` holds a whole response: its head, then nothing after a 101, or as many bytes as its length says.
fn is_complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    if raw.starts_with(b"HTTP/1.1 101") {
        return true;
    }
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    head.lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|len| len.trim().parse::<usize>().ok())
        .is_some_and(|len| raw.len() >= end + 4 + len)
}
