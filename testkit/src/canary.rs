//! Two members of one room that exchange frames before and after each hostile input, to show it touched no one else.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use sanctum_protocol::{ClientFrame, MemberId, Payload, RelayFrame};

use crate::keys::{RoomKeys, payload};
use crate::member::{Pumped, connect, connect_welcomed, create, from_address, join};
use crate::raw_ws::Event;

/// Two members of one room, exchanging frames before and after each hostile input to show that it did not touch them.
#[derive(Debug)]
pub struct Canary {
    keys: RoomKeys,
    first: Pumped,
    second: Pumped,
    round: u8,
    /// The least time between two checks that keeps the first member within the relay's frame rate.
    pace: Duration,
    /// When the last check began.
    last: Option<Instant>,
}

impl Canary {
    /// Creates a room with two members from `address`.
    pub async fn start(addr: SocketAddr, address: &str) -> io::Result<Self> {
        let keys = RoomKeys::fresh();
        let options = from_address(address);
        let (mut first, welcome) = connect_welcomed(addr, &options).await?;
        create(&mut first, &keys, 3600).await?;
        let mut second = connect(addr, &options).await?;
        join(&mut second, &keys).await?;
        match first.frame().await? {
            RelayFrame::MemberJoined { member: 2 } => {}
            other => return Err(io::Error::other(format!("expected member_joined, got {other:?}"))),
        }
        Ok(Self {
            keys,
            first: Pumped::new(first),
            second: Pumped::new(second),
            round: 0,
            pace: pace(welcome.max_frames_per_second),
            last: None,
        })
    }

    /// A broadcast each way and a direct frame: each must arrive intact, and nothing else may have arrived.
    ///
    /// The canary keeps within the frame rate the relay announced, as every client must: rows that take a millisecond
    /// each would otherwise spend the first member's token bucket, and the relay would rightly refuse the canary's own
    /// frames with `rate_limited`.
    pub async fn check(&mut self) -> io::Result<()> {
        if let Some(last) = self.last {
            tokio::time::sleep_until(last + self.pace).await;
        }
        self.last = Some(Instant::now());
        self.round = self.round.wrapping_add(1);
        let sent = payload(self.round, 64);
        self.first.send(ClientFrame::Broadcast { payload: sent.clone() })?;
        expect_frame(&mut self.second, 1, false, &sent).await?;
        let sent = payload(self.round, 96);
        self.second.send(ClientFrame::Broadcast { payload: sent.clone() })?;
        expect_frame(&mut self.first, 2, false, &sent).await?;
        let sent = payload(self.round, 128);
        self.first.send(ClientFrame::Direct {
            to: 2,
            payload: sent.clone(),
        })?;
        expect_frame(&mut self.second, 1, true, &sent).await
    }

    /// The canary room's keys.
    pub fn keys(&self) -> &RoomKeys {
        &self.keys
    }
}

/// The least time between two checks at `frames_per_second`: the first member sends two frames a check and answers
/// the relay's pings, so three frames' worth of the rate keeps it below the average the relay allows.
fn pace(frames_per_second: u32) -> Duration {
    Duration::from_secs(3) / frames_per_second.max(1)
}

/// Reads the next event of `member` and checks it is exactly this relayed frame.
async fn expect_frame(member: &mut Pumped, from: MemberId, direct: bool, payload: &Payload) -> io::Result<()> {
    let expected = RelayFrame::Frame {
        from,
        direct,
        payload: payload.clone(),
    };
    match member.next().await? {
        Event::Frame(frame) if frame == expected => Ok(()),
        other => Err(io::Error::other(format!(
            "canary expected its own frame, got {other:?}"
        ))),
    }
}
