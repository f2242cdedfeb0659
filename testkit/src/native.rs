//! A native Sanctum client for end-to-end tests: the real client core driven over a real WebSocket to a real relay.
//!
//! Each client runs as its own task, like a browser tab's Worker: it reads relay frames, hands them to its
//! `Session`, sends what the session queues, and reports events to the test, which sends it commands.
//! Every text frame in either direction is recorded, so tests can assert what the relay saw.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use sanctum_client::rand_core::OsRng;
use sanctum_client::{EndReason, Event, LeaveReason, RoomSecrets, Session};
use sanctum_protocol::{MemberId, RelayFrame};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::EVENT_DEADLINE;

/// What the test asks a client to do.
#[derive(Debug)]
pub enum Command {
    /// Send a text message to the room.
    Text(String),
    /// Whisper to one member.
    Whisper(MemberId, String),
    /// Leave with a farewell.
    Leave(String),
    /// Send an attachment: name, media type, bytes.
    Attachment(String, String, Vec<u8>),
    /// Kick a member.
    Kick(MemberId),
    /// Purge the room.
    Purge,
}

/// Every text frame one client exchanged with the relay, in order.
#[derive(Debug, Default, Clone)]
pub struct Wire {
    /// Frames the client sent.
    pub sent: Vec<String>,
    /// Frames the relay sent it.
    pub received: Vec<String>,
}

/// A running client.
#[derive(Debug)]
pub struct NativeClient {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<Event>,
    /// What crossed the socket.
    pub wire: Arc<Mutex<Wire>>,
    task: JoinHandle<()>,
    /// Every event seen so far, including those consumed by [`NativeClient::expect`].
    pub seen: Vec<Event>,
    /// Events seen but not yet matched by an `expect`, so that waits need not follow arrival order.
    backlog: Vec<Event>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl NativeClient {
    /// Connects to the relay at `addr` and creates the room (`room_name`) when `create` is set, or joins it.
    pub async fn start(
        addr: SocketAddr,
        secrets: &RoomSecrets,
        alias: &str,
        create: Option<&str>,
    ) -> anyhow::Result<Self> {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
        let mut session = Session::new(secrets, alias, OsRng)?;
        let first = match create {
            Some(name) => session.create_frame(name, now_ms())?,
            None => session.join_frame(now_ms())?,
        };
        let wire = Arc::new(Mutex::new(Wire::default()));
        let (command_tx, mut command_rx) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let task_wire = wire.clone();
        let task = tokio::spawn(async move {
            let mut queue = vec![first];
            loop {
                for frame in queue.drain(..) {
                    let text = frame.encode();
                    if let Ok(mut wire) = task_wire.lock() {
                        wire.sent.push(text.clone());
                    }
                    if ws.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                if session.is_ended() {
                    let _ = ws.close(None).await;
                    return;
                }
                tokio::select! {
                    message = ws.next() => {
                        let text = match message {
                            Some(Ok(Message::Text(text))) => text.to_string(),
                            Some(Ok(_)) => continue,
                            _ => return,
                        };
                        if let Ok(mut wire) = task_wire.lock() {
                            wire.received.push(text.clone());
                        }
                        let Ok(frame) = RelayFrame::decode(&text) else { continue };
                        for event in session.handle(frame, now_ms()) {
                            let _ = event_tx.send(event);
                        }
                    }
                    command = command_rx.recv() => {
                        let now = now_ms();
                        let result = match command {
                            Some(Command::Text(text)) => session.send_text(&text, now).map(|()| Vec::new()),
                            Some(Command::Whisper(to, text)) => session.whisper(to, &text, now).map(|()| Vec::new()),
                            Some(Command::Leave(farewell)) => session.leave(&farewell, now),
                            Some(Command::Attachment(name, mime, bytes)) => {
                                session.send_attachment(&name, &mime, &bytes, now).map(|()| Vec::new())
                            }
                            Some(Command::Kick(member)) => session.kick(member, now),
                            Some(Command::Purge) => session.purge(now),
                            None => return,
                        };
                        for event in result.unwrap_or_default() {
                            let _ = event_tx.send(event);
                        }
                    }
                }
                queue.extend(session.take_outgoing());
            }
        });
        Ok(Self {
            commands: command_tx,
            events: event_rx,
            wire,
            task,
            seen: Vec::new(),
            backlog: Vec::new(),
        })
    }

    /// Sends a command to the client's task.
    pub fn command(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Waits for an event matching `want` (the oldest unmatched one first), failing after [`EVENT_DEADLINE`].
    pub async fn expect(&mut self, what: &str, want: impl Fn(&Event) -> bool) -> anyhow::Result<Event> {
        if let Some(at) = self.backlog.iter().position(&want) {
            return Ok(self.backlog.remove(at));
        }
        let deadline = tokio::time::Instant::now() + EVENT_DEADLINE;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| anyhow::anyhow!("timed out waiting for {what}; saw {:?}", self.seen))?
                .ok_or_else(|| anyhow::anyhow!("client stopped while waiting for {what}; saw {:?}", self.seen))?;
            self.seen.push(event.clone());
            if want(&event) {
                return Ok(event);
            }
            self.backlog.push(event);
        }
    }

    /// This client's member id, from its `Joined` event.
    pub fn member(&self) -> Option<MemberId> {
        self.seen.iter().find_map(|e| match e {
            Event::Joined { member, .. } => Some(*member),
            _ => None,
        })
    }

    /// Waits for the client's task to finish (after it left or was ended).
    pub async fn finished(self) -> (Vec<Event>, Wire) {
        let mut seen = self.seen;
        let mut events = self.events;
        let _ = tokio::time::timeout(EVENT_DEADLINE, self.task).await;
        while let Ok(event) = events.try_recv() {
            seen.push(event);
        }
        let wire = self.wire.lock().map(|w| w.clone()).unwrap_or_default();
        (seen, wire)
    }
}

/// Whether `event` says the client is in the room.
pub fn joined(event: &Event) -> bool {
    matches!(event, Event::Joined { .. })
}

/// Whether `event` says the client accepted the member called `alias`.
pub fn accepted(alias: &'static str) -> impl Fn(&Event) -> bool {
    move |event| matches!(event, Event::MemberAccepted(info) if info.alias == alias)
}

/// Whether `event` is the message `text`, whispered or sent to the room as `whisper` says.
pub fn message(text: &'static str, whisper: bool) -> impl Fn(&Event) -> bool {
    move |event| matches!(event, Event::Message { text: t, whisper: w, .. } if t == text && *w == whisper)
}

/// Three clients in one room: the first creates it as `room_name` on `addrs[0]`, the second and third join on
/// `addrs[1]` and `addrs[2]`; returned once each has accepted the others, each waiting on the newest acceptance.
pub async fn three_in_a_room(
    addrs: [SocketAddr; 3],
    secrets: &RoomSecrets,
    aliases: [&'static str; 3],
    room_name: &str,
) -> anyhow::Result<[NativeClient; 3]> {
    let [first, second, third] = aliases;
    let mut alice = NativeClient::start(addrs[0], secrets, first, Some(room_name)).await?;
    alice.expect(&format!("{first} in the room"), joined).await?;
    let mut bob = NativeClient::start(addrs[1], secrets, second, None).await?;
    bob.expect(&format!("{second} accepts {first}"), accepted(first))
        .await?;
    let mut carol = NativeClient::start(addrs[2], secrets, third, None).await?;
    carol
        .expect(&format!("{third} accepts {second}"), accepted(second))
        .await?;
    alice
        .expect(&format!("{first} accepts {third}"), accepted(third))
        .await?;
    bob.expect(&format!("{second} accepts {third}"), accepted(third))
        .await?;
    Ok([alice, bob, carol])
}

/// `kicker` kicks `kicked`: its session ends as kicked, `witness` sees it leave as kicked, and `text`, sent by
/// `kicker` afterwards in a generation without it, reaches `witness`. Returns every event `kicked` saw, for the
/// caller to check that `text` is not among them.
pub async fn kick(
    kicker: &mut NativeClient,
    kicked: NativeClient,
    witness: &mut NativeClient,
    text: &'static str,
) -> anyhow::Result<Vec<Event>> {
    let mut kicked = kicked;
    let kicked_id = kicked
        .member()
        .ok_or_else(|| anyhow::anyhow!("the kicked client has no member id"))?;
    kicker.command(Command::Kick(kicked_id));
    kicked
        .expect("the kicked client is kicked", |e| {
            matches!(
                e,
                Event::Ended {
                    reason: EndReason::Kicked { .. }
                }
            )
        })
        .await?;
    witness
        .expect(
            "the witness sees the kick",
            |e| matches!(e, Event::MemberLeft { reason: LeaveReason::Kicked { .. }, member, .. } if *member == kicked_id),
        )
        .await?;
    kicker.command(Command::Text(text.into()));
    witness
        .expect("the witness reads the kicker's new generation", message(text, false))
        .await?;
    let (events, _) = kicked.finished().await;
    Ok(events)
}

/// `purger` purges the room: `other` sees it purged, both finish, and a newcomer with `secrets` at `addr` is refused.
/// Returns every event `purger` saw.
pub async fn purge(
    purger: NativeClient,
    mut other: NativeClient,
    addr: SocketAddr,
    secrets: &RoomSecrets,
) -> anyhow::Result<Vec<Event>> {
    purger.command(Command::Purge);
    other
        .expect("the other member sees the purge", |e| {
            matches!(
                e,
                Event::Ended {
                    reason: EndReason::Purged { .. }
                }
            )
        })
        .await?;
    let (purger_events, _) = purger.finished().await;
    let _ = other.finished().await;
    let mut late = NativeClient::start(addr, secrets, "Latecomer", None).await?;
    let refused = late
        .expect("the purged room is refused", |e| matches!(e, Event::Ended { .. }))
        .await?;
    anyhow::ensure!(
        matches!(
            refused,
            Event::Ended {
                reason: EndReason::Refused { .. }
            }
        ),
        "{refused:?}"
    );
    Ok(purger_events)
}
