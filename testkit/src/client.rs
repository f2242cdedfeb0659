//! A well-behaved WebSocket client speaking the envelope through tokio-tungstenite, which answers pings while it reads.
//!
//! Tests that must misbehave use [`crate::raw_ws::RawWs`] instead.

use std::net::SocketAddr;

use futures_util::{SinkExt as _, StreamExt as _};
use sanctum_protocol::{ClientFrame, MemberId, Payload, RelayFrame};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::EVENT_DEADLINE;
use crate::keys::RoomKeys;
use crate::raw_ws::Event;

/// A WebSocket client speaking the envelope.
#[derive(Debug)]
pub struct Client {
    /// The socket, for tests that send what the helpers do not.
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Connects to `ws://addr/ws` with extra request headers and reads the welcome.
    pub async fn connect(addr: SocketAddr, headers: &[(&'static str, &str)]) -> Result<Self, tungstenite::Error> {
        let mut request = format!("ws://{addr}/ws").into_client_request()?;
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        // The client accepts anything the relay may send; the relay's own limits are what the tests exercise.
        let config = WebSocketConfig::default().max_message_size(None).max_frame_size(None);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
        let mut client = Self { ws };
        match client.frame().await {
            RelayFrame::Welcome(_) => Ok(client),
            other => panic!("the first frame must be the welcome, got {other:?}"),
        }
    }

    /// Sends one client frame.
    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_text(&frame.encode()).await;
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next frame, the close, or the end of the stream; pings are answered while reading.
    pub async fn next(&mut self) -> Event {
        loop {
            let message = tokio::time::timeout(EVENT_DEADLINE, self.ws.next())
                .await
                .expect("an event before the deadline");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Event::Frame(RelayFrame::decode(&text).expect("the relay sends valid frames"));
                }
                Some(Ok(Message::Close(frame))) => return Event::Close(frame.map(|f| u16::from(f.code))),
                Some(Ok(Message::Binary(_))) => panic!("the relay never sends binary frames"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Event::Eof,
            }
        }
    }

    /// The next frame; a close instead fails the test.
    pub async fn frame(&mut self) -> RelayFrame {
        match self.next().await {
            Event::Frame(frame) => frame,
            other => panic!("expected a frame, the connection ended with {other:?}"),
        }
    }

    /// The frames up to the close, and the close code (`None` when the stream ended without one).
    pub async fn until_close(&mut self) -> (Vec<RelayFrame>, Option<u16>) {
        let mut frames = Vec::new();
        loop {
            match self.next().await {
                Event::Frame(frame) => frames.push(frame),
                Event::Close(code) => return (frames, code),
                Event::Eof => return (frames, None),
                other => unreachable!("the client hides {other:?}"),
            }
        }
    }

    /// The next frame, which must be an error; returns its code's wire name.
    pub async fn error(&mut self) -> &'static str {
        match self.frame().await {
            RelayFrame::Error { code, .. } => code.as_str(),
            other => panic!("expected an error frame, got {other:?}"),
        }
    }

    /// Creates `room` and returns the creator's member id.
    pub async fn create(&mut self, room: &RoomKeys, lifetime: u32) -> MemberId {
        self.send(&room.create(lifetime)).await;
        match self.frame().await {
            RelayFrame::Created { member, .. } => member,
            other => panic!("expected created, got {other:?}"),
        }
    }

    /// Joins `room` with the right token; returns the member id and the members already present.
    pub async fn join(&mut self, room: &RoomKeys) -> (MemberId, Vec<MemberId>) {
        self.send(&room.join()).await;
        match self.frame().await {
            RelayFrame::Joined { member, members, .. } => (member, members),
            other => panic!("expected joined, got {other:?}"),
        }
    }

    /// Broadcasts `bytes`.
    pub async fn broadcast(&mut self, bytes: &[u8]) {
        self.send(&ClientFrame::Broadcast {
            payload: Payload::new(bytes.to_vec()).expect("payload within bounds"),
        })
        .await;
    }
}
