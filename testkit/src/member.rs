//! A member on a hand-framed connection ([`RawWs`]): connect and read the welcome, create, join,
//! and a connection pumped by a task of its own, as a live browser tab reads.

use std::io;
use std::net::SocketAddr;

use sanctum_protocol::{ClientFrame, MemberId, RelayFrame, Welcome};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::EVENT_DEADLINE;
use crate::keys::RoomKeys;
use crate::raw_ws::{Event, Options, RawWs, UpgradeError};

/// Connection options that make the relay, when it trusts 127.0.0.1 as a proxy, see the client as `address`.
pub fn from_address(address: &str) -> Options {
    Options {
        headers: vec![("X-Forwarded-For".to_owned(), address.to_owned())],
        receive_buffer: None,
    }
}

/// Connects and reads the welcome frame.
pub async fn connect(addr: SocketAddr, options: &Options) -> io::Result<RawWs> {
    connect_welcomed(addr, options).await.map(|(ws, _)| ws)
}

/// Connects, and returns the connection with the welcome frame it read: the relay's limits.
pub async fn connect_welcomed(addr: SocketAddr, options: &Options) -> io::Result<(RawWs, Welcome)> {
    let mut ws = RawWs::connect(addr, options).await.map_err(|error| match error {
        UpgradeError::Io(error) => error,
        UpgradeError::Status(status) => io::Error::other(format!("upgrade refused with {status}")),
    })?;
    match ws.frame().await? {
        RelayFrame::Welcome(welcome) => Ok((ws, welcome)),
        other => Err(io::Error::other(format!("expected welcome, got {other:?}"))),
    }
}

/// Creates the room of `keys` on `ws` and returns the creator's member id.
pub async fn create(ws: &mut RawWs, keys: &RoomKeys, lifetime: u32) -> io::Result<MemberId> {
    ws.send(&keys.create(lifetime)).await?;
    match ws.frame().await? {
        RelayFrame::Created { member, .. } => Ok(member),
        other => Err(io::Error::other(format!("expected created, got {other:?}"))),
    }
}

/// Joins the room of `keys` on `ws` and returns the joiner's member id.
pub async fn join(ws: &mut RawWs, keys: &RoomKeys) -> io::Result<MemberId> {
    ws.send(&keys.join()).await?;
    match ws.frame().await? {
        RelayFrame::Joined { member, .. } => Ok(member),
        other => Err(io::Error::other(format!("expected joined, got {other:?}"))),
    }
}

/// A connection driven by a background task that reads continuously and answers pings, as a live browser tab does,
/// so that it survives idle timeouts between the moments a test looks at it.
#[derive(Debug)]
pub struct Pumped {
    commands: mpsc::UnboundedSender<ClientFrame>,
    events: mpsc::UnboundedReceiver<Event>,
    task: JoinHandle<()>,
}

impl Pumped {
    /// Hands `ws` to a background task.
    pub fn new(mut ws: RawWs) -> Self {
        let (commands, mut inbox) = mpsc::unbounded_channel::<ClientFrame>();
        let (outbox, events) = mpsc::unbounded_channel();
        ws.auto_pong = true;
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    command = inbox.recv() => match command {
                        Some(frame) => {
                            if ws.send(&frame).await.is_err() {
                                let _ = outbox.send(Event::Eof);
                                return;
                            }
                        }
                        None => return,
                    },
                    // `next` only appends whole reads to its buffer, so dropping it for a command loses nothing.
                    event = ws.next() => match event {
                        Ok(Event::Eof) => {
                            let _ = outbox.send(Event::Eof);
                            return;
                        }
                        Ok(event) => {
                            let _ = outbox.send(event);
                        }
                        Err(error) if error.kind() == io::ErrorKind::TimedOut => {}
                        Err(_) => {
                            let _ = outbox.send(Event::Eof);
                            return;
                        }
                    },
                }
            }
        });
        Self { commands, events, task }
    }

    /// Sends a frame.
    pub fn send(&self, frame: ClientFrame) -> io::Result<()> {
        self.commands
            .send(frame)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the connection is gone"))
    }

    /// The next event, waiting at most [`EVENT_DEADLINE`].
    pub async fn next(&mut self) -> io::Result<Event> {
        match tokio::time::timeout(EVENT_DEADLINE, self.events.recv()).await {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Ok(Event::Eof),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no event")),
        }
    }
}

impl Pumped {
    /// Takes every event that already arrived, without waiting; a long-running driver calls it to keep memory flat.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            events.push(event);
        }
        events
    }
}

impl Drop for Pumped {
    fn drop(&mut self) {
        self.task.abort();
    }
}
