//! Two members of one room that exchange frames before and after each hostile input, to show it touched no one else.

use std::io;
use std::net::SocketAddr;

use sanctum_protocol::{ClientFrame, MemberId, Payload, RelayFrame};

use crate::keys::{RoomKeys, payload};
use crate::member::{Pumped, connect, create, from_address, join};
use crate::raw_ws::Event;

/// Two members of one room, exchanging frames before and after each hostile input to show that it did not touch them.
#[derive(Debug)]
pub struct Canary {
    keys: RoomKeys,
    first: Pumped,
    second: Pumped,
    round: u8,
}

impl Canary {
    /// Creates a room with two members from `address`.
    pub async fn start(addr: SocketAddr, address: &str) -> io::Result<Self> {
        let keys = RoomKeys::fresh();
        let options = from_address(address);
        let mut first = connect(addr, &options).await?;
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
        })
    }

    /// A broadcast each way and a direct frame: each must arrive intact, and nothing else may have arrived.
    pub async fn check(&mut self) -> io::Result<()> {
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
