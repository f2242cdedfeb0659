//! The driver: one WebSocket to the relay, the client core's session, the paced outbox, and a front end.
//!
//! The core is sans-IO, so this is the only place that touches the network or the clock. Each turn of the loop
//! waits for whichever comes first (a relay frame, the front end's input, the once-a-second tick, the outbox's
//! next slot) and hands what the core produced to the outbox and the front end.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt};
use sanctum_client::{EndReason, Event, MAX_ATTACHMENT_LEN, RoomSecrets, Session, SessionError};
use sanctum_protocol::{ClientFrame, MemberId, RelayFrame};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::outbox::{Outbox, Sealed, Text};
use crate::password::{self, Secret};

/// The socket to the relay.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Frames per second assumed until the relay's welcome says otherwise.
const DEFAULT_FRAMES_PER_SECOND: u32 = 10;
/// The longest the last frames (goodbye, purge) may take to go out once the session has ended.
const FINAL_FLUSH: Duration = Duration::from_secs(3);
/// The longest the connection to the relay may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// What the user asked for, in terms of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send a text message to the room.
    Say(String),
    /// Whisper to one member.
    Whisper {
        /// The member.
        to: MemberId,
        /// The text.
        text: String,
    },
    /// Kick a member.
    Kick(MemberId),
    /// Make a member the room's owner.
    Transfer(MemberId),
    /// Remove a member and lock the room with a new password: the old link and password stop opening it.
    Lock {
        /// The member removed.
        member: MemberId,
        /// The password for the new link.
        password: Secret,
    },
    /// Purge the room.
    Purge,
    /// Leave with a farewell.
    Leave(String),
    /// Send the file at this path as an attachment, to the room or whispered to one member.
    Send {
        /// The file.
        path: PathBuf,
        /// The one member it is for, if any.
        to: Option<MemberId>,
    },
    /// Stop sending every file not yet wholly sent.
    CancelUploads,
    /// Save a held attachment to a new file.
    Save {
        /// Its number.
        index: usize,
        /// Where.
        path: PathBuf,
    },
}

/// The outcome of an action, for the front end to show.
#[derive(Debug)]
pub(crate) enum Report {
    /// A message or whisper was sealed and is leaving.
    Said {
        /// The text.
        text: String,
        /// The whisper's recipient.
        to: Option<MemberId>,
    },
    /// An attachment's start was sealed; its chunks follow as their turn comes.
    Sending {
        /// Its file name.
        name: String,
        /// Its size in bytes.
        size: usize,
        /// How many frames it takes.
        frames: usize,
    },
    /// An attachment's last chunk was sealed and is leaving.
    Sent {
        /// Its file name.
        name: String,
    },
    /// These files, in order, were stopped before their last chunk; none, when no file was being sent.
    Cancelled {
        /// Their file names.
        names: Vec<String>,
    },
    /// Attachment frames still to seal and send; `0` once the last one has gone.
    Progress(usize),
    /// The room was locked: everyone still in moves to this new link, which the relay has yet to confirm.
    Locked {
        /// The new link.
        link: Secret,
    },
    /// An action was refused.
    Failed(String),
    /// The connection dropped while the room lives: the client rejoins as a new session after this many seconds.
    Reconnecting {
        /// Seconds until the attempt.
        seconds: u64,
    },
}

/// How the room ended for this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// The session ended for this reason.
    Ended(EndReason),
    /// The relay closed the connection (or it broke) while the session was live.
    Disconnected,
}

/// A front end: the full-screen interface or the JSON line mode.
pub(crate) trait Frontend {
    /// What its input task sends: key presses, lines.
    type Input: Send + 'static;
    /// Shows the core's events.
    fn on_events(&mut self, session: &Session, events: &[Event], now_ms: u64);
    /// Turns input into actions.
    fn on_input(&mut self, input: Self::Input, now_ms: u64) -> Vec<Action>;
    /// Shows the outcome of an action.
    fn on_report(&mut self, session: &Session, report: Report, now_ms: u64);
    /// Saves a held attachment.
    fn save(&mut self, index: usize, path: &Path, now_ms: u64);
    /// Redraws, once per turn of the loop.
    fn render(&mut self, now_ms: u64) -> anyhow::Result<()>;
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Opens the WebSocket to the relay at `url` (`ws://` or `wss://`).
pub(crate) async fn connect(url: &str) -> anyhow::Result<Socket> {
    let (socket, _) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(url))
        .await
        .map_err(|_| anyhow::anyhow!("the relay at {url} did not answer within {CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("could not connect to the relay at {url}"))?;
    Ok(socket)
}

/// The media type to announce for a file, from its extension; receivers treat it as untrusted either way.
fn media_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match extension.as_str() {
        "txt" | "log" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        _ => "application/octet-stream",
    }
}

fn refusal(error: SessionError) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    chars
        .next()
        .map_or(text.clone(), |c| c.to_uppercase().chain(chars).collect())
        + "."
}

fn report(sealed: Sealed) -> Report {
    match sealed {
        Sealed::Said(Text { text, to }) => Report::Said { text, to },
        Sealed::Started { name, size, chunks } => Report::Sending {
            name,
            size,
            frames: chunks as usize + 1,
        },
        Sealed::Finished { name } => Report::Sent { name },
        Sealed::Refused(e) => Report::Failed(refusal(e)),
    }
}

/// Removes `member` and locks the room with `password`, as the browser app's "Remove and lock" does: the strength
/// rule of a new room applies to the password, the key schedule runs on a fresh link of this room, and the core hands
/// the new secrets to the remaining members and the new verifier to the relay, at the clock after the derivation.
/// Returns the new link, on `origin`.
async fn lock(
    session: &mut Session,
    member: MemberId,
    password: Secret,
    origin: &str,
) -> Result<(Vec<Event>, Secret), String> {
    if !session.is_owner() {
        return Err("only the room's owner can lock it.".into());
    }
    password::check_length(password.expose()).map_err(|e| format!("{e}."))?;
    if let Some(why) = password::weakness(password.expose(), session.alias(), session.room_name()) {
        return Err(why);
    }
    let link = session.fresh_link();
    let text = Secret::new(format!("{origin}/#{}", link.to_fragment().as_str()));
    // Argon2id takes a second or more: it runs off the runtime's threads, while this room's loop waits for it.
    let secrets = tokio::task::spawn_blocking(move || RoomSecrets::derive(&link, password.expose()))
        .await
        .map_err(|_| "the key derivation stopped.".to_owned())?
        .map_err(|e| format!("{e}."))?;
    let events = session
        .lock(Some(member), &secrets, now_ms())
        .map_err(|e| refusal(e).to_lowercase())?;
    Ok((events, text))
}

/// Carries out one action; returns the events it produced. `origin` is the app's origin, for a new link.
async fn act(
    session: &mut Session,
    outbox: &mut Outbox,
    frontend: &mut impl Frontend,
    action: Action,
    origin: &str,
    now: u64,
) -> Vec<Event> {
    let result = match action {
        Action::Say(text) => {
            outbox.push_text(Text { to: None, text });
            Ok(Vec::new())
        }
        Action::Whisper { to, text } => {
            outbox.push_text(Text { to: Some(to), text });
            Ok(Vec::new())
        }
        Action::Kick(member) => session.kick(member, now),
        Action::Transfer(member) => session.transfer(member, now),
        Action::Lock { member, password } => match lock(session, member, password, origin).await {
            Ok((events, link)) => {
                frontend.on_report(session, Report::Locked { link }, now);
                Ok(events)
            }
            Err(why) => {
                frontend.on_report(session, Report::Failed(format!("The room was not locked: {why}")), now);
                Ok(Vec::new())
            }
        },
        Action::Purge => session.purge(now),
        Action::Leave(farewell) => {
            // What was typed before leaving still goes, before the goodbye.
            for sealed in outbox.seal_texts(session, now) {
                frontend.on_report(session, report(sealed), now);
            }
            session.leave(&farewell, now)
        }
        Action::Save { index, path } => {
            frontend.save(index, &path, now);
            Ok(Vec::new())
        }
        Action::CancelUploads => {
            let names = outbox.cancel_uploads(session, now);
            frontend.on_report(session, Report::Cancelled { names }, now);
            Ok(Vec::new())
        }
        Action::Send { path, to } => {
            match read_attachment(&path).await {
                Ok((name, bytes)) => outbox.push_upload(to, name, media_type(&path).to_owned(), bytes),
                Err(e) => frontend.on_report(
                    session,
                    Report::Failed(format!("Could not send {}: {e:#}", path.display())),
                    now,
                ),
            }
            Ok(Vec::new())
        }
    };
    result.unwrap_or_else(|e| {
        frontend.on_report(session, Report::Failed(refusal(e)), now);
        Vec::new()
    })
}

async fn read_attachment(path: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    let metadata = tokio::fs::metadata(path).await?;
    anyhow::ensure!(metadata.is_file(), "not a file");
    anyhow::ensure!(
        metadata.len() <= MAX_ATTACHMENT_LEN as u64,
        "it is larger than the {} MiB attachments may be",
        MAX_ATTACHMENT_LEN >> 20
    );
    let bytes = tokio::fs::read(path).await?;
    let name = path
        .file_name()
        .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
    Ok((name, bytes))
}

/// Sends `frames` as they are, then closes the socket and waits for the relay's close, all within [`FINAL_FLUSH`].
async fn flush_and_close(socket: &mut Socket, frames: Vec<ClientFrame>) {
    let _ = tokio::time::timeout(FINAL_FLUSH, async {
        for frame in frames {
            if socket.send(Message::text(frame.encode())).await.is_err() {
                return;
            }
        }
        let _ = socket.close(None).await;
        // Read on until the relay's close: a process that exits with frames it never read resets the connection, and
        // a reset can discard the goodbye and the leave before the relay has read them.
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Runs the room until the session ends or the connection does.
///
/// `first` is the session's create or join frame; `input` carries the front end's input, and its end leaves the
/// room; `leave` fires on Ctrl-C or a termination signal and leaves the room at once.
pub(crate) async fn run<F: Frontend>(
    origin: &str,
    mut socket: Socket,
    session: &mut Session,
    first: ClientFrame,
    frontend: &mut F,
    input: &mut mpsc::UnboundedReceiver<F::Input>,
    leave: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> anyhow::Result<Finish> {
    let mut outbox = Outbox::new(DEFAULT_FRAMES_PER_SECOND, Instant::now());
    outbox.push_control([first]);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut input_open = true;
    let mut last_bulk = 0;
    loop {
        let mut events = Vec::new();
        let next_send = outbox.next_at();
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => match RelayFrame::decode(&text) {
                    Ok(frame) => {
                        if let RelayFrame::Welcome(welcome) = &frame {
                            outbox.set_limit(welcome.max_frames_per_second);
                        }
                        events = session.handle(frame, now_ms());
                    }
                    Err(_) => frontend.on_report(
                        session,
                        Report::Failed("The relay sent a frame this client does not understand; it was ignored.".into()),
                        now_ms(),
                    ),
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    events = session.tick(now_ms());
                    frontend.on_events(session, &events, now_ms());
                    frontend.render(now_ms())?;
                    if session.is_ended() {
                        return Ok(Finish::Ended(end_reason(&events).unwrap_or(EndReason::Expired)));
                    }
                    return Ok(Finish::Disconnected);
                }
                Some(Ok(_)) => {}
            },
            received = input.recv(), if input_open => match received {
                Some(received) => {
                    for action in frontend.on_input(received, now_ms()) {
                        events.extend(act(session, &mut outbox, frontend, action, origin, now_ms()).await);
                    }
                }
                // The input's end (a script closing stdin) leaves, as its controller is gone.
                None => {
                    input_open = false;
                    events = leave_now(session);
                }
            },
            () = &mut *leave => events = leave_now(session),
            _ = tick.tick() => events = session.tick(now_ms()),
            () = sleep_until(next_send), if next_send.is_some() => {
                let (frame, sealed) = outbox.pop(session, Instant::now(), now_ms());
                for sealed in sealed {
                    frontend.on_report(session, report(sealed), now_ms());
                }
                if let Some(frame) = frame {
                    socket.send(Message::text(frame.encode())).await.context("the connection to the relay broke")?;
                }
            }
        }
        outbox.push_control(session.take_outgoing());
        let bulk = outbox.bulk_len();
        if bulk != last_bulk {
            last_bulk = bulk;
            frontend.on_report(session, Report::Progress(bulk), now_ms());
        }
        frontend.on_events(session, &events, now_ms());
        if session.is_ended() || events.iter().any(|e| matches!(e, Event::Ended { .. })) {
            flush_and_close(&mut socket, outbox.drain_final()).await;
            frontend.render(now_ms())?;
            return Ok(Finish::Ended(end_reason(&events).unwrap_or(EndReason::Left)));
        }
        frontend.render(now_ms())?;
    }
}

/// Waits between attempts to reconnect after the connection dropped; after the last, the client gives up.
const RECONNECT_DELAYS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];

/// Runs the room like [`run`] and, when the connection drops while the room lives, rejoins as a new session, as
/// the browser app does: new session keys, so what was sent during the gap is never shown.
pub(crate) async fn stay<F: Frontend>(
    relay: &str,
    mut socket: Socket,
    mut session: Session,
    mut first: ClientFrame,
    frontend: &mut F,
    mut input: mpsc::UnboundedReceiver<F::Input>,
    leave: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Finish> {
    let mut leave = Box::pin(leave);
    let origin = crate::endpoint::app_origin(relay)?;
    loop {
        let finish = run(&origin, socket, &mut session, first, frontend, &mut input, &mut leave).await?;
        let live = session.member_id().is_some() && !session.secrets().link().is_expired(now_ms());
        if finish != Finish::Disconnected || !live {
            return Ok(finish);
        }
        let mut delays = RECONNECT_DELAYS.iter();
        socket = loop {
            let Some(delay) = delays.next() else {
                return Ok(Finish::Disconnected);
            };
            frontend.on_report(
                &session,
                Report::Reconnecting {
                    seconds: delay.as_secs(),
                },
                now_ms(),
            );
            frontend.render(now_ms())?;
            tokio::select! {
                () = tokio::time::sleep(*delay) => {}
                () = &mut leave => return Ok(Finish::Ended(EndReason::Left)),
            }
            if let Ok(socket) = connect(relay).await {
                break socket;
            }
        };
        let alias = session.alias().to_owned();
        session = crate::new_session(session.secrets(), &alias)?;
        first = session.join_frame(now_ms())?;
    }
}

/// Leaves at once with no farewell; before the room is entered there is no one to say goodbye to.
fn leave_now(session: &mut Session) -> Vec<Event> {
    let mut events = session.leave("", now_ms()).unwrap_or_default();
    if !session.is_ended() {
        events.push(Event::Ended {
            reason: EndReason::Left,
        });
    }
    events
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

fn end_reason(events: &[Event]) -> Option<EndReason> {
    events.iter().find_map(|e| match e {
        Event::Ended { reason } => Some(*reason),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_the_extension() {
        assert_eq!(media_type(Path::new("a/b.PNG")), "image/png");
        assert_eq!(media_type(Path::new("notes")), "application/octet-stream");
    }

    #[test]
    fn refusals_read_as_sentences() {
        assert_eq!(refusal(SessionError::UnknownMember), "No such member.");
    }
}
