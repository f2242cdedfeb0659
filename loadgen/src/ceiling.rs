//! The ceiling: the barest fan-out server that the load generator can drive, to measure the machine's practical limit.
//!
//! It answers `create` and `join` with frames of the relay's shape and relays every broadcast to the other
//! connections that named the same room id, and does nothing else: no verifier, no limits, no lifetime, no metrics,
//! unbounded queues, and broadcasts rewritten by splicing text rather than decoding their payloads.
//! Grouping by room id is the least it can do to deliver each broadcast to the same receivers as the relay.
//! Each connection has one reader task and one writer task that batches whatever is queued into one flush.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt as _, StreamExt as _};
use sanctum_protocol::{
    ClientFrame, Descriptor, ErrorCode, MAX_PAYLOAD_LEN, MemberId, PROTOCOL_VERSION, RelayFrame, RoomId, Welcome,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// What the ceiling announces in its `welcome` and grants in `created`.
const LIFETIME_SECS: u32 = 3600;

/// The exact text a broadcast starts with when encoded by the protocol crate.
const BROADCAST_PREFIX: &str = r#"{"type":"broadcast","payload":""#;

#[derive(Debug, Default)]
struct Room {
    next_id: AtomicU32,
    descriptor: Mutex<Descriptor>,
    members: RwLock<Vec<(MemberId, UnboundedSender<Message>)>>,
}

type Rooms = Arc<Mutex<HashMap<RoomId, Arc<Room>>>>;

/// Accepts WebSocket connections on `listener` until `shutdown` completes.
pub async fn run(listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
    let rooms = Rooms::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Running out of file descriptors is transient; the bench sizes its runs to avoid it.
                    continue;
                };
                tokio::spawn(serve(stream, Arc::clone(&rooms)));
            }
            () = &mut shutdown => return Ok(()),
        }
    }
}

async fn serve(stream: TcpStream, rooms: Rooms) {
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(crate::member::socket_config())).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let welcome = RelayFrame::Welcome(Welcome {
        v: PROTOCOL_VERSION,
        max_frame: u32::MAX,
        max_lifetime: LIFETIME_SECS,
        max_members: u32::MAX,
        max_frames_per_second: u32::MAX,
        frame_burst: u32::MAX,
    });
    if sink.send(Message::text(welcome.encode())).await.is_err() {
        return;
    }

    let (room, me) = loop {
        let text = match stream.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            Some(Ok(_)) => continue,
        };
        let (reply, entered) = enter(&rooms, &text);
        if sink.send(Message::text(reply.encode())).await.is_err() {
            return;
        }
        if let Some(entered) = entered {
            break entered;
        }
    };

    let (queue, queued) = unbounded_channel();
    room.members
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((me, queue));
    let writer = tokio::spawn(write(sink, queued));

    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) if !relay(&room, me, &text) => break,
            Message::Close(_) => break,
            _ => {}
        }
    }

    let mut members = room.members.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    members.retain(|(id, _)| *id != me);
    drop(members);
    writer.abort();
}

/// Handles a create or join: the reply, and the room and member id when the connection is now in a room.
fn enter(rooms: &Rooms, text: &str) -> (RelayFrame, Option<(Arc<Room>, MemberId)>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let expires_at = now + u64::from(LIFETIME_SECS);
    match ClientFrame::decode(text) {
        Ok(ClientFrame::Create { room, descriptor, .. }) => {
            let entry = Arc::new(Room::default());
            *entry.descriptor.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = descriptor;
            let member = entry.next_id.fetch_add(1, Ordering::Relaxed) + 1;
            rooms
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(room, Arc::clone(&entry));
            let reply = RelayFrame::Created {
                member,
                expires_at,
                expires_in: LIFETIME_SECS,
            };
            (reply, Some((entry, member)))
        }
        Ok(ClientFrame::Join { room, .. }) => {
            let entry = rooms
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get(&room)
                .cloned();
            let Some(entry) = entry else {
                return (refusal(ErrorCode::RoomNotFound), None);
            };
            let member = entry.next_id.fetch_add(1, Ordering::Relaxed) + 1;
            let members = entry
                .members
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .iter()
                .map(|(id, _)| *id)
                .collect();
            let descriptor = entry
                .descriptor
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            let reply = RelayFrame::Joined {
                member,
                members,
                expires_at,
                expires_in: LIFETIME_SECS,
                descriptor,
            };
            (reply, Some((entry, member)))
        }
        Ok(_) => (refusal(ErrorCode::NotInRoom), None),
        Err(_) => (refusal(ErrorCode::BadFrame), None),
    }
}

fn refusal(code: ErrorCode) -> RelayFrame {
    RelayFrame::Error {
        code,
        message: code.as_str().to_owned(),
    }
}

/// Relays one frame from member `me`; false when the member leaves.
fn relay(room: &Room, me: MemberId, text: &str) -> bool {
    if let Some(rest) = text.strip_prefix(BROADCAST_PREFIX) {
        let mut out = String::with_capacity(rest.len() + 40);
        out.push_str(r#"{"type":"frame","from":"#);
        let _ = write!(out, "{me}");
        out.push_str(r#","payload":""#);
        out.push_str(rest);
        fan_out(room, me, None, Utf8Bytes::from(out));
        return true;
    }
    match ClientFrame::decode(text) {
        Ok(ClientFrame::Broadcast { payload }) => fan_out(room, me, None, frame(me, false, payload.into_bytes())),
        Ok(ClientFrame::Direct { to, payload }) => fan_out(room, me, Some(to), frame(me, true, payload.into_bytes())),
        Ok(ClientFrame::Leave) => return false,
        _ => {}
    }
    true
}

fn frame(from: MemberId, direct: bool, payload: Vec<u8>) -> Utf8Bytes {
    // The payload came out of a decoded frame, so it is within the protocol's bound.
    debug_assert!(payload.len() <= MAX_PAYLOAD_LEN);
    let payload = sanctum_protocol::Payload::new(payload).unwrap_or_default();
    Utf8Bytes::from(RelayFrame::Frame { from, direct, payload }.encode())
}

/// Queues the same bytes for every member but the sender, or for `to` alone.
fn fan_out(room: &Room, me: MemberId, to: Option<MemberId>, text: Utf8Bytes) {
    let members = room.members.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    for (id, queue) in members.iter() {
        if *id != me && to.is_none_or(|to| to == *id) {
            let _ = queue.send(Message::Text(text.clone()));
        }
    }
}

/// Writes queued frames, flushing once per batch rather than once per frame.
async fn write(mut sink: SplitSink<WebSocketStream<TcpStream>, Message>, mut queued: UnboundedReceiver<Message>) {
    while let Some(message) = queued.recv().await {
        if sink.feed(message).await.is_err() {
            return;
        }
        while let Ok(message) = queued.try_recv() {
            if sink.feed(message).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
