//! One simulated member: its WebSocket, and the create and join handshakes of the real protocol.
//!
//! Joins use a token computed once per room: the bench measures the server, not Argon2,
//! so a room's keys are the test kit's random [`RoomKeys`], whose verifier is the token's SHA-256,
//! exactly what a client registers.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use sanctum_protocol::{ClientFrame, Descriptor, ErrorCode, MemberId, RelayFrame, Welcome};
use sanctum_testkit::keys::RoomKeys;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

/// A member's connection.
pub type Socket = WebSocketStream<TcpStream>;

/// How long a connect, create or join may take before the run gives up on it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Lifetime every bench room asks for; the relay clamps it to its maximum, which is far longer than a run.
const ROOM_LIFETIME_SECS: u32 = 3600;

/// Why a member could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The URL is not a `ws://host:port/path` URL.
    #[error("bad server url: {0}")]
    BadUrl(String),
    /// The TCP connection failed.
    #[error("connect failed: {0}")]
    Connect(#[from] std::io::Error),
    /// The WebSocket handshake or a later read failed.
    #[error("websocket error: {0}")]
    WebSocket(#[from] tungstenite::Error),
    /// The server closed the connection during setup.
    #[error("server closed the connection during setup")]
    Closed,
    /// The server refused a create or join.
    #[error("server refused: {code:?}: {message}")]
    Refused {
        /// The error frame's code.
        code: ErrorCode,
        /// The error frame's text.
        message: String,
    },
    /// The server sent something other than the expected frame.
    #[error("unexpected frame during setup: {0}")]
    Unexpected(String),
    /// Setup took longer than the handshake timeout.
    #[error("setup timed out")]
    Timeout,
}

/// Opens a WebSocket to `url` and reads the server's `welcome`.
pub async fn connect(url: &str) -> Result<(Socket, Welcome), SetupError> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, connect_inner(url))
        .await
        .map_err(|_| SetupError::Timeout)?
}

async fn connect_inner(url: &str) -> Result<(Socket, Welcome), SetupError> {
    let request = url
        .into_client_request()
        .map_err(|_| SetupError::BadUrl(url.to_owned()))?;
    let host = request.uri().host().ok_or_else(|| SetupError::BadUrl(url.to_owned()))?;
    let port = request.uri().port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port)).await?;
    // Latency is part of what is measured, so small frames must not wait for Nagle's algorithm.
    tcp.set_nodelay(true)?;
    let (mut ws, _response) = tokio_tungstenite::client_async_with_config(request, tcp, Some(socket_config())).await?;
    match next_frame(&mut ws).await? {
        RelayFrame::Welcome(welcome) => Ok((ws, welcome)),
        other => Err(SetupError::Unexpected(format!("{other:?}"))),
    }
}

/// The WebSocket settings of both the load generator and the ceiling server.
///
/// tungstenite's default 128 KiB read buffer is zeroed afresh on most reads once earlier frames still hold slices
/// of it, which costs more than the frames themselves at these rates; a buffer a little larger than a typical
/// read of a few frames avoids that without adding system calls.
pub fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES)
}

/// Read buffer size for [`socket_config`].
pub const READ_BUFFER_BYTES: usize = 16 * 1024;

/// Creates the room described by `keys` and returns the creator's member id.
pub async fn create(ws: &mut Socket, keys: &RoomKeys) -> Result<MemberId, SetupError> {
    let frame = keys.create_with(ROOM_LIFETIME_SECS, Descriptor::new(vec![0xd5; 256]).unwrap_or_default());
    handshake(ws, frame, |frame| match frame {
        RelayFrame::Created { member, .. } => Some(*member),
        _ => None,
    })
    .await
}

/// Joins the room described by `keys` with its token and returns the joiner's member id.
pub async fn join(ws: &mut Socket, keys: &RoomKeys) -> Result<MemberId, SetupError> {
    let frame = keys.join();
    handshake(ws, frame, |frame| match frame {
        RelayFrame::Joined { member, .. } => Some(*member),
        _ => None,
    })
    .await
}

async fn handshake(
    ws: &mut Socket,
    frame: ClientFrame,
    accept: impl Fn(&RelayFrame) -> Option<MemberId>,
) -> Result<MemberId, SetupError> {
    let exchange = async {
        ws.send(Message::text(frame.encode())).await?;
        loop {
            let reply = next_frame(ws).await?;
            if let Some(member) = accept(&reply) {
                return Ok(member);
            }
            match reply {
                RelayFrame::Error { code, message } => return Err(SetupError::Refused { code, message }),
                // Members who joined earlier may be announced before our own reply; they are expected.
                RelayFrame::MemberJoined { .. } => {}
                other => return Err(SetupError::Unexpected(format!("{other:?}"))),
            }
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .map_err(|_| SetupError::Timeout)?
}

/// Reads the next relay frame, skipping control messages.
async fn next_frame(ws: &mut Socket) -> Result<RelayFrame, SetupError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return RelayFrame::decode(&text).map_err(|_| SetupError::Unexpected(text.as_str().to_owned()));
            }
            Some(Ok(Message::Close(_))) | None => return Err(SetupError::Closed),
            Some(Ok(Message::Binary(_))) => return Err(SetupError::Unexpected("binary message".to_owned())),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
        }
    }
}
