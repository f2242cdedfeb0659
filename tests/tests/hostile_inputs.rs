//! The hostile-input table: a real relay is driven through malformed, oversized, out-of-order and abusive inputs.
//!
//! For every row the test asserts the documented error code or close code, that the relay is still up and healthy,
//! that a canary room on the same relay exchanges frames before and after as if nothing happened, and that the
//! relay's own gauges (connections, rooms, members, queued bytes) come back to their baseline, so that memory is bounded.
//! The same table, row for row, is in `docs/threat-model.md`; a test below checks that the two agree.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use sanctum_protocol::{
    ClientFrame, CloseCode, Descriptor, ErrorCode, MAX_DESCRIPTOR_LEN, MAX_PAYLOAD_LEN, PROTOCOL_VERSION, RelayFrame,
    RoomState,
};
use sanctum_relay::Config;
use sanctum_testkit::canary::Canary;
use sanctum_testkit::http::http_get;
use sanctum_testkit::keys::{RoomKeys, payload};
use sanctum_testkit::member::{Pumped, connect, create, from_address, join};
use sanctum_testkit::raw_ws::{self, Event, Options, RawWs, UpgradeError, opcode};
use sanctum_testkit::relay::TestRelay;
use tokio::io::AsyncWriteExt;

/// The frame limit of the relays under test: the default, 64 KiB.
const MAX_FRAME: usize = 64 * 1024;
/// Frames one message may be split into (the relay's `MAX_FRAGMENTS`).
const MAX_FRAGMENTS: usize = 64;
/// Members per room on the main relay, small so that a full room is cheap to make.
const MAX_MEMBERS: u32 = 4;
/// Joins and departures per room per minute on the main relay.
const MAX_MEMBERSHIP_EVENTS: u32 = 12;
/// Creates per address per minute on the main relay.
const CREATES_PER_MINUTE: u32 = 4;
/// Locks per room per minute on the main relay: the default.
const LOCKS_PER_MINUTE: u32 = 3;

/// What a row expects the relay to answer, and what the row observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// An `error` frame with this code; the connection stays open.
    Error(ErrorCode),
    /// An `error` frame with this code, then a close frame with this code.
    ErrorThenClose(ErrorCode, u16),
    /// A close frame with this code.
    Close(u16),
    /// Several attempts: the first ones refused with one code, the later ones with another.
    Then(ErrorCode, ErrorCode),
    /// Several attempts: accepted up to the configured limit, refused with this code past it.
    PastLimit(ErrorCode),
    /// The upgrade was answered with this HTTP status.
    Http(u16),
    /// The relay closed the TCP connection without a WebSocket exchange.
    TcpClosed,
    /// The connection was still open when the test stopped waiting.
    StillOpen,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(code) => write!(f, "error `{}`", code.as_str()),
            Self::ErrorThenClose(code, close) => write!(f, "error `{}`, close {close}", code.as_str()),
            Self::Close(close) => write!(f, "close {close}"),
            Self::Then(first, then) => write!(f, "error `{}`, then `{}`", first.as_str(), then.as_str()),
            Self::PastLimit(code) => write!(f, "accepted up to the limit, then error `{}`", code.as_str()),
            Self::Http(status) => write!(f, "HTTP {status}"),
            Self::TcpClosed => f.write_str("TCP connection closed"),
            Self::StillOpen => f.write_str("connection left open"),
        }
    }
}

/// What a row needs: the relay, a block of client addresses of its own, and the canary room it must not touch.
#[derive(Debug, Clone)]
struct Ctx {
    addr: SocketAddr,
    metrics: SocketAddr,
    row: usize,
    canary: RoomKeys,
}

impl Ctx {
    /// Connection options that make the relay see the client as address number `k` of this row.
    fn options(&self, k: u32) -> Options {
        from_address(&format!("10.{}.{}.{}", self.row / 256, self.row % 256, k % 256 + 1))
    }

    /// A connection from address `k` of this row, past the welcome.
    async fn connect(&self, k: u32) -> io::Result<RawWs> {
        connect(self.addr, &self.options(k)).await
    }
}

type RowFuture = Pin<Box<dyn Future<Output = io::Result<Outcome>> + Send>>;

/// One row of the table.
struct Case {
    name: &'static str,
    input: &'static str,
    expect: Outcome,
    run: Box<dyn Fn(Ctx) -> RowFuture + Send + Sync>,
}

fn case<F, Fut>(name: &'static str, input: &'static str, expect: Outcome, run: F) -> Case
where
    F: Fn(Ctx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<Outcome>> + Send + 'static,
{
    Case {
        name,
        input,
        expect,
        run: Box::new(move |ctx| Box::pin(run(ctx))),
    }
}

impl Case {
    /// The row as it appears in `docs/threat-model.md`.
    fn markdown(&self) -> String {
        format!("| `{}` | {} | {} |", self.name, self.input, self.expect)
    }
}

/// Reads the next event and says what it was, as an outcome.
async fn observe(ws: &mut RawWs) -> io::Result<Outcome> {
    loop {
        return match ws.next().await? {
            Event::Frame(RelayFrame::Error { code, .. }) => Ok(Outcome::Error(code)),
            Event::Close(Some(code)) => Ok(Outcome::Close(code)),
            Event::Close(None) | Event::Eof => Ok(Outcome::TcpClosed),
            Event::Ping => continue,
            other => Err(io::Error::other(format!("unexpected {other:?}"))),
        };
    }
}

/// Reads an error frame and then the close frame that must follow it.
async fn observe_error_then_close(ws: &mut RawWs) -> io::Result<Outcome> {
    match observe(ws).await? {
        Outcome::Error(code) => match ws.closed().await? {
            Some(close) => Ok(Outcome::ErrorThenClose(code, close)),
            None => Ok(Outcome::Error(code)),
        },
        other => Ok(other),
    }
}

/// Sends `text` on a fresh connection that is in no room and observes the answer.
async fn text_alone(ctx: Ctx, text: String) -> io::Result<Outcome> {
    let mut ws = ctx.connect(0).await?;
    ws.send_text(&text).await?;
    observe(&mut ws).await
}

/// Sends `frame` on a fresh connection that is in no room and observes the answer.
async fn frame_alone(ctx: Ctx, frame: ClientFrame) -> io::Result<Outcome> {
    text_alone(ctx, frame.encode()).await
}

/// Creates a fresh room on a fresh connection and returns both.
async fn own_room(ctx: &Ctx, k: u32) -> io::Result<(RawWs, RoomKeys)> {
    let keys = RoomKeys::fresh();
    let mut ws = ctx.connect(k).await?;
    create(&mut ws, &keys, 600).await?;
    Ok((ws, keys))
}

/// Purges the room `ws` is in and waits until the relay closes it, so that the room's state is gone.
async fn purge(ws: &mut RawWs) -> io::Result<()> {
    ws.send(&ClientFrame::Purge).await?;
    match ws.closed().await? {
        Some(code) if code == CloseCode::Purged.code() => Ok(()),
        other => Err(io::Error::other(format!("purge ended with close {other:?}"))),
    }
}

/// Sends `frame` as a member of a fresh room, observes the answer, then purges the room.
async fn as_member(ctx: Ctx, frame: ClientFrame) -> io::Result<Outcome> {
    let (mut ws, _) = own_room(&ctx, 0).await?;
    ws.send(&frame).await?;
    let outcome = observe(&mut ws).await?;
    purge(&mut ws).await?;
    Ok(outcome)
}

/// A create frame's JSON with one field replaced by raw JSON text.
fn create_with(field: &str, raw: &str) -> String {
    let keys = RoomKeys::fresh();
    let mut value: serde_json::Value = serde_json::from_str(&keys.create(60).encode()).unwrap_or_default();
    value[field] = serde_json::from_str(raw).unwrap_or(serde_json::Value::Null);
    value.to_string()
}

/// A join frame's JSON with one field replaced by raw JSON text.
fn join_with(field: &str, raw: &str) -> String {
    let keys = RoomKeys::fresh();
    let mut value: serde_json::Value = serde_json::from_str(&keys.join().encode()).unwrap_or_default();
    value[field] = serde_json::from_str(raw).unwrap_or(serde_json::Value::Null);
    value.to_string()
}

/// A lock to the token of `keys`, with a small descriptor.
fn lock_frame(keys: &RoomKeys) -> ClientFrame {
    ClientFrame::Lock {
        verifier: keys.verifier(),
        descriptor: Descriptor::new(b"sealed descriptor".to_vec()).unwrap_or_default(),
    }
}

/// A lock frame's JSON with one field replaced by raw JSON text.
fn lock_with(field: &str, raw: &str) -> String {
    let mut value: serde_json::Value =
        serde_json::from_str(&lock_frame(&RoomKeys::fresh()).encode()).unwrap_or_default();
    value[field] = serde_json::from_str(raw).unwrap_or(serde_json::Value::Null);
    value.to_string()
}

/// base64url without padding, written here so that the table does not depend on the encoder it tests.
fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Rows that need no more than the main relay's limits.
fn main_rows() -> Vec<Case> {
    use ErrorCode::*;
    use Outcome::*;
    vec![
        // Not an envelope at all.
        case("not_json", "text that is not JSON", Error(BadFrame), |ctx| {
            text_alone(ctx, "hello".into())
        }),
        case("empty_text", "an empty text message", Error(BadFrame), |ctx| {
            text_alone(ctx, String::new())
        }),
        case("json_null", "`null`", Error(BadFrame), |ctx| {
            text_alone(ctx, "null".into())
        }),
        case(
            "json_array",
            "a frame in sequence form, `[\"purge\"]`",
            Error(BadFrame),
            |ctx| text_alone(ctx, r#"["purge"]"#.into()),
        ),
        case("json_string", "a bare JSON string", Error(BadFrame), |ctx| {
            text_alone(ctx, r#""purge""#.into())
        }),
        case("missing_type", "an object without `type`", Error(BadFrame), |ctx| {
            text_alone(ctx, "{}".into())
        }),
        case("unknown_type", "an unknown `type`", Error(BadFrame), |ctx| {
            text_alone(ctx, r#"{"type":"shout"}"#.into())
        }),
        case("type_wrong_case", "`type` in capitals", Error(BadFrame), |ctx| {
            text_alone(ctx, r#"{"type":"PURGE"}"#.into())
        }),
        case("type_not_string", "`type` is a number", Error(BadFrame), |ctx| {
            text_alone(ctx, r#"{"type":7}"#.into())
        }),
        case(
            "truncated_json",
            "a create frame cut in the middle",
            Error(BadFrame),
            |ctx| {
                let text = RoomKeys::fresh().create(60).encode();
                text_alone(ctx, text[..text.len() / 2].to_owned())
            },
        ),
        case(
            "trailing_garbage",
            "a valid frame followed by more text",
            Error(BadFrame),
            |ctx| text_alone(ctx, r#"{"type":"purge"} {"type":"purge"}"#.into()),
        ),
        case("missing_field", "a join without `token`", Error(BadFrame), |ctx| {
            let text = join_with("token", "0");
            text_alone(ctx, text.replace(",\"token\":0", "").replace("\"token\":0,", ""))
        }),
        case(
            "wrong_field_type",
            "a join whose `room` is a number",
            Error(BadFrame),
            |ctx| text_alone(ctx, join_with("room", "12345")),
        ),
        case(
            "version_as_string",
            "`v` as the string `\"1\"`",
            Error(BadFrame),
            |ctx| text_alone(ctx, join_with("v", r#""1""#)),
        ),
        case("negative_version", "`v` of -1", Error(BadFrame), |ctx| {
            text_alone(ctx, join_with("v", "-1"))
        }),
        case("version_overflow", "`v` of 65536, past `u16`", Error(BadFrame), |ctx| {
            text_alone(ctx, join_with("v", "65536"))
        }),
        case(
            "fractional_lifetime",
            "a create with `lifetime` 1.5",
            Error(BadFrame),
            |ctx| text_alone(ctx, create_with("lifetime", "1.5")),
        ),
        case(
            "invalid_base64",
            "a token with characters outside base64url",
            Error(BadFrame),
            |ctx| text_alone(ctx, join_with("token", r#""!!!!!!!!""#)),
        ),
        case("padded_base64", "a room id with `=` padding", Error(BadFrame), |ctx| {
            let padded = format!("\"{}==\"", b64(&[7u8; 16]));
            text_alone(ctx, join_with("room", &padded))
        }),
        case(
            "standard_base64",
            "a room id in the `+` and `/` alphabet",
            Error(BadFrame),
            |ctx| text_alone(ctx, join_with("room", r#""+/+/+/+/+/+/+/+/+/+/+w""#)),
        ),
        case("short_room_id", "a room id of 15 bytes", Error(BadFrame), |ctx| {
            text_alone(ctx, join_with("room", &format!("\"{}\"", b64(&[1u8; 15]))))
        }),
        case("long_token", "a token of 33 bytes", Error(BadFrame), |ctx| {
            text_alone(ctx, join_with("token", &format!("\"{}\"", b64(&[1u8; 33]))))
        }),
        case(
            "short_verifier",
            "a create whose verifier is 31 bytes",
            Error(BadFrame),
            |ctx| text_alone(ctx, create_with("verifier", &format!("\"{}\"", b64(&[1u8; 31])))),
        ),
        case(
            "oversized_descriptor",
            "a descriptor one byte over its bound",
            Error(BadFrame),
            |ctx| {
                text_alone(
                    ctx,
                    create_with(
                        "descriptor",
                        &format!("\"{}\"", b64(&vec![1u8; MAX_DESCRIPTOR_LEN + 1])),
                    ),
                )
            },
        ),
        case(
            "oversized_payload",
            "a broadcast payload one byte over its bound, within the frame limit",
            Error(BadFrame),
            |ctx| async move {
                let text = format!(
                    r#"{{"type":"broadcast","payload":"{}"}}"#,
                    b64(&vec![1u8; MAX_PAYLOAD_LEN + 1])
                );
                assert!(
                    text.len() < MAX_FRAME,
                    "the row must test the payload bound, not the frame limit"
                );
                let (mut ws, _) = own_room(&ctx, 0).await?;
                ws.send_text(&text).await?;
                let outcome = observe(&mut ws).await?;
                purge(&mut ws).await?;
                Ok(outcome)
            },
        ),
        case(
            "member_id_overflow",
            "a kick of member 4294967296, past `u32`",
            Error(BadFrame),
            |ctx| text_alone(ctx, r#"{"type":"kick","member":4294967296}"#.into()),
        ),
        case("negative_member_id", "a kick of member -1", Error(BadFrame), |ctx| {
            text_alone(ctx, r#"{"type":"kick","member":-1}"#.into())
        }),
        case(
            "invalid_base64_payload",
            "a broadcast whose payload has characters outside base64url",
            Error(BadFrame),
            |ctx| text_alone(ctx, r#"{"type":"broadcast","payload":"!!!"}"#.into()),
        ),
        case(
            "non_canonical_payload",
            "a broadcast whose payload's last character has bits set past its bytes",
            Error(BadFrame),
            |ctx| text_alone(ctx, r#"{"type":"broadcast","payload":"AB"}"#.into()),
        ),
        case(
            "duplicate_field",
            "a kick naming `member` twice",
            Error(BadFrame),
            |ctx| text_alone(ctx, r#"{"type":"kick","member":1,"member":2}"#.into()),
        ),
        case(
            "deep_nesting",
            "an unknown field nested 10,000 arrays deep",
            Error(BadFrame),
            |ctx| {
                let text = format!(r#"{{"type":"purge","x":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
                text_alone(ctx, text)
            },
        ),
        case(
            "binary_message",
            "a binary WebSocket message",
            Error(BinaryFrame),
            |ctx| async move {
                let mut ws = ctx.connect(0).await?;
                ws.send_raw(opcode::BINARY, true, b"{\"type\":\"purge\"}").await?;
                observe(&mut ws).await
            },
        ),
        case(
            "invalid_utf8",
            "a text message that is not UTF-8",
            Close(CloseCode::InvalidText.code()),
            |ctx| async move {
                let mut ws = ctx.connect(0).await?;
                ws.send_raw(opcode::TEXT, true, &[0x7b, 0xff, 0xfe, 0x7d]).await?;
                Ok(ws.closed().await?.map_or(TcpClosed, Close))
            },
        ),
        case(
            "endless_empty_fragments",
            "a text message that never ends: empty continuation frames, a pong between each, past 64 frames",
            Close(CloseCode::PolicyViolation.code()),
            |ctx| async move {
                let mut ws = ctx.connect(0).await?;
                ws.send_raw(opcode::TEXT, false, b"{").await?;
                for _ in 0..=MAX_FRAGMENTS {
                    // A write may fail once the relay has closed: the close frame is what the row awaits.
                    if ws.send_raw(opcode::CONTINUATION, false, b"").await.is_err()
                        || ws.send_raw(opcode::PONG, true, b"").await.is_err()
                    {
                        break;
                    }
                }
                Ok(ws.closed().await?.map_or(TcpClosed, Close))
            },
        ),
        case(
            "fragments_count_against_rate",
            "two messages of 60 frames each, within the burst of 100 frames as messages but not as frames",
            Then(NotInRoom, RateLimited),
            |ctx| async move {
                let mut ws = ctx.connect(0).await?;
                let mut codes = Vec::new();
                for _ in 0..2 {
                    ws.send_raw(opcode::TEXT, false, b"{\"type\":").await?;
                    for _ in 0..58 {
                        ws.send_raw(opcode::CONTINUATION, false, b"").await?;
                    }
                    ws.send_raw(opcode::CONTINUATION, true, b"\"purge\"}").await?;
                    match observe(&mut ws).await? {
                        Error(code) => codes.push(code),
                        other => return Ok(other),
                    }
                }
                Ok(match codes[..] {
                    [first, then] => Then(first, then),
                    _ => TcpClosed,
                })
            },
        ),
        case(
            "oversized_frame",
            "a text message one byte over the frame limit",
            ErrorThenClose(FrameTooLarge, 1009),
            |ctx| async move {
                let mut ws = ctx.connect(0).await?;
                ws.send_text(&"x".repeat(MAX_FRAME + 1)).await?;
                observe_error_then_close(&mut ws).await
            },
        ),
        case(
            "oversized_fragments",
            "a message over the limit in small fragments",
            ErrorThenClose(FrameTooLarge, 1009),
            |ctx| async move {
                let mut ws = ctx.connect(0).await?;
                let fragment = vec![b'x'; 4096];
                ws.send_raw(opcode::TEXT, false, &fragment).await?;
                for _ in 0..MAX_FRAME / fragment.len() {
                    ws.send_raw(opcode::CONTINUATION, false, &fragment).await?;
                }
                ws.send_raw(opcode::CONTINUATION, true, &fragment).await?;
                observe_error_then_close(&mut ws).await
            },
        ),
        case(
            "huge_length_header",
            "a frame header announcing 2^62 bytes, then nothing",
            ErrorThenClose(FrameTooLarge, 1009),
            |ctx| async move {
                let mut ws = ctx.connect(0).await?;
                let mut header = vec![0x81, 0x80 | 127];
                header.extend_from_slice(&(1u64 << 62).to_be_bytes());
                header.extend_from_slice(&[1, 2, 3, 4]);
                ws.send_bytes(&header).await?;
                observe_error_then_close(&mut ws).await
            },
        ),
        case(
            "repeated_bad_frames",
            "16 malformed frames on one connection",
            ErrorThenClose(BadFrame, 1008),
            |ctx| async move {
                let mut ws = ctx.connect(0).await?;
                for _ in 0..16 {
                    ws.send_text("{").await?;
                }
                for _ in 0..15 {
                    match observe(&mut ws).await? {
                        Error(BadFrame) => {}
                        other => return Ok(other),
                    }
                }
                observe_error_then_close(&mut ws).await
            },
        ),
        // Well-formed frames the relay must refuse.
        case(
            "wrong_version_create",
            "a create with protocol version 2",
            Error(UnsupportedVersion),
            |ctx| {
                let keys = RoomKeys::fresh();
                let ClientFrame::Create {
                    room,
                    verifier,
                    lifetime,
                    descriptor,
                    ..
                } = keys.create(60)
                else {
                    unreachable!("create makes a create")
                };
                frame_alone(
                    ctx,
                    ClientFrame::Create {
                        v: PROTOCOL_VERSION + 1,
                        room,
                        verifier,
                        lifetime,
                        descriptor,
                    },
                )
            },
        ),
        case(
            "wrong_version_join",
            "a join with protocol version 0",
            Error(UnsupportedVersion),
            |ctx| {
                let keys = RoomKeys::fresh();
                frame_alone(
                    ctx,
                    ClientFrame::Join {
                        v: 0,
                        room: keys.room,
                        token: keys.token,
                    },
                )
            },
        ),
        case(
            "zero_lifetime",
            "a create with a lifetime of 0 seconds",
            Error(BadRequest),
            |ctx| frame_alone(ctx, RoomKeys::fresh().create(0)),
        ),
        case(
            "broadcast_before_join",
            "a broadcast on a connection in no room",
            Error(NotInRoom),
            |ctx| {
                frame_alone(
                    ctx,
                    ClientFrame::Broadcast {
                        payload: payload(1, 16),
                    },
                )
            },
        ),
        case(
            "direct_before_join",
            "a direct frame on a connection in no room",
            Error(NotInRoom),
            |ctx| {
                frame_alone(
                    ctx,
                    ClientFrame::Direct {
                        to: 1,
                        payload: payload(1, 16),
                    },
                )
            },
        ),
        case(
            "kick_before_join",
            "a kick on a connection in no room",
            Error(NotInRoom),
            |ctx| frame_alone(ctx, ClientFrame::Kick { member: 1 }),
        ),
        case(
            "purge_by_non_member",
            "a purge on a connection in no room",
            Error(NotInRoom),
            |ctx| frame_alone(ctx, ClientFrame::Purge),
        ),
        case(
            "leave_before_join",
            "a leave on a connection in no room",
            Error(NotInRoom),
            |ctx| frame_alone(ctx, ClientFrame::Leave),
        ),
        case(
            "join_before_create",
            "a join of a room that does not exist yet",
            Error(RoomNotFound),
            |ctx| frame_alone(ctx, RoomKeys::fresh().join()),
        ),
        case(
            "wrong_token",
            "a join with a wrong token",
            Error(BadToken),
            |ctx| async move {
                let (mut owner, keys) = own_room(&ctx, 0).await?;
                let wrong = ClientFrame::Join {
                    v: PROTOCOL_VERSION,
                    room: keys.room.clone(),
                    token: keys.wrong_token(),
                };
                let outcome = frame_alone(ctx, wrong).await?;
                purge(&mut owner).await?;
                Ok(outcome)
            },
        ),
        case(
            "create_existing_id",
            "a create of a live room's id",
            Error(RoomExists),
            |ctx| async move {
                let (mut owner, keys) = own_room(&ctx, 0).await?;
                let outcome = frame_alone(ctx, keys.create(60)).await?;
                purge(&mut owner).await?;
                Ok(outcome)
            },
        ),
        case(
            "create_twice",
            "a second create on a connection already in a room",
            Error(AlreadyInRoom),
            |ctx| as_member(ctx, RoomKeys::fresh().create(60)),
        ),
        case(
            "join_while_member",
            "a join of the canary room by a member of another room",
            Error(AlreadyInRoom),
            |ctx| {
                let canary = ctx.canary.join();
                as_member(ctx, canary)
            },
        ),
        case(
            "direct_to_other_room",
            "a direct frame to a member id that exists only in another room",
            Error(UnknownMember),
            |ctx| {
                as_member(
                    ctx,
                    ClientFrame::Direct {
                        to: 2,
                        payload: payload(1, 16),
                    },
                )
            },
        ),
        case(
            "direct_to_self",
            "a direct frame to oneself",
            Error(UnknownMember),
            |ctx| {
                as_member(
                    ctx,
                    ClientFrame::Direct {
                        to: 1,
                        payload: payload(1, 16),
                    },
                )
            },
        ),
        case("kick_self", "a kick of oneself", Error(BadRequest), |ctx| {
            as_member(ctx, ClientFrame::Kick { member: 1 })
        }),
        case(
            "kick_unknown",
            "a kick of a member id never assigned",
            Error(UnknownMember),
            |ctx| as_member(ctx, ClientFrame::Kick { member: 99 }),
        ),
        case("kick_zero", "a kick of member 0", Error(UnknownMember), |ctx| {
            as_member(ctx, ClientFrame::Kick { member: 0 })
        }),
        case(
            "kick_other_room",
            "a kick of a member id that exists only in another room",
            Error(UnknownMember),
            |ctx| as_member(ctx, ClientFrame::Kick { member: 2 }),
        ),
        case(
            "lock_before_join",
            "a lock on a connection in no room",
            Error(NotInRoom),
            |ctx| frame_alone(ctx, lock_frame(&RoomKeys::fresh())),
        ),
        case(
            "lock_short_verifier",
            "a lock whose verifier is 31 bytes",
            Error(BadFrame),
            |ctx| async move {
                let (mut ws, _) = own_room(&ctx, 0).await?;
                ws.send_text(&lock_with("verifier", &format!("\"{}\"", b64(&[7u8; 31]))))
                    .await?;
                let outcome = observe(&mut ws).await?;
                purge(&mut ws).await?;
                Ok(outcome)
            },
        ),
        case(
            "lock_oversized_descriptor",
            "a lock whose descriptor is one byte over its bound",
            Error(BadFrame),
            |ctx| async move {
                let (mut ws, _) = own_room(&ctx, 0).await?;
                let descriptor = format!("\"{}\"", b64(&vec![1u8; MAX_DESCRIPTOR_LEN + 1]));
                ws.send_text(&lock_with("descriptor", &descriptor)).await?;
                let outcome = observe(&mut ws).await?;
                purge(&mut ws).await?;
                Ok(outcome)
            },
        ),
        case(
            "lock_flood",
            "locks in one room past its locks per minute",
            PastLimit(RateLimited),
            |ctx| async move {
                let (mut ws, _) = own_room(&ctx, 0).await?;
                let mut refused = None;
                for _ in 0..=LOCKS_PER_MINUTE {
                    ws.send(&lock_frame(&RoomKeys::fresh())).await?;
                    match ws.frame().await? {
                        RelayFrame::Locked => {}
                        RelayFrame::Error { code, .. } => {
                            refused = Some(code);
                            break;
                        }
                        other => return Err(io::Error::other(format!("unexpected {other:?}"))),
                    }
                }
                purge(&mut ws).await?;
                Ok(refused.map_or(Error(BadRequest), PastLimit))
            },
        ),
        case(
            "old_token_after_lock",
            "a join with the room's token from before a member locked it",
            Error(BadToken),
            |ctx| async move {
                let (mut owner, keys) = own_room(&ctx, 0).await?;
                let locked = RoomKeys::fresh();
                owner.send(&lock_frame(&locked)).await?;
                match owner.frame().await? {
                    RelayFrame::Locked => {}
                    other => return Err(io::Error::other(format!("expected locked, got {other:?}"))),
                }
                let outcome = frame_alone(ctx, keys.join()).await?;
                purge(&mut owner).await?;
                Ok(outcome)
            },
        ),
        case(
            "join_purged_room",
            "a join, with the right token, of a purged room",
            Error(RoomGone),
            |ctx| async move {
                let (mut owner, keys) = own_room(&ctx, 0).await?;
                purge(&mut owner).await?;
                frame_alone(ctx, keys.join()).await
            },
        ),
        case(
            "create_purged_id",
            "a create of a purged room's id before its expiry",
            Error(RoomExists),
            |ctx| async move {
                let (mut owner, keys) = own_room(&ctx, 0).await?;
                purge(&mut owner).await?;
                frame_alone(ctx, keys.create(60)).await
            },
        ),
        case(
            "join_full_room",
            "a join of a room that holds its maximum of members",
            Error(RoomFull),
            |ctx| async move {
                let (mut owner, keys) = own_room(&ctx, 0).await?;
                let mut others = Vec::new();
                for k in 1..MAX_MEMBERS {
                    let mut ws = ctx.connect(k).await?;
                    join(&mut ws, &keys).await?;
                    others.push(ws);
                }
                let outcome = frame_alone(ctx, keys.join()).await?;
                purge(&mut owner).await?;
                Ok(outcome)
            },
        ),
        case(
            "membership_churn",
            "joins and leaves in one room past its membership events per minute",
            PastLimit(RoomBusy),
            |ctx| async move {
                let (mut owner, keys) = own_room(&ctx, 0).await?;
                let mut refused = None;
                // Each join and each departure is one event, the creator's own admission included.
                for k in 1..=MAX_MEMBERSHIP_EVENTS {
                    let mut ws = ctx.connect(k).await?;
                    ws.send(&keys.join()).await?;
                    match ws.frame().await? {
                        RelayFrame::Joined { .. } => {
                            ws.send(&ClientFrame::Leave).await?;
                            ws.closed().await?;
                        }
                        RelayFrame::Error { code, .. } => {
                            refused = Some(code);
                            break;
                        }
                        other => return Err(io::Error::other(format!("unexpected {other:?}"))),
                    }
                }
                purge(&mut owner).await?;
                Ok(refused.map_or(Error(BadRequest), PastLimit))
            },
        ),
        case(
            "create_flood",
            "creates from one address past its limit per minute",
            PastLimit(RateLimited),
            |ctx| async move {
                let mut codes = Vec::new();
                let mut rooms = Vec::new();
                for _ in 0..CREATES_PER_MINUTE + 2 {
                    let keys = RoomKeys::fresh();
                    let mut ws = ctx.connect(0).await?;
                    ws.send(&keys.create(60)).await?;
                    match ws.frame().await? {
                        RelayFrame::Created { .. } => rooms.push(ws),
                        RelayFrame::Error { code, .. } => codes.push(code),
                        other => return Err(io::Error::other(format!("unexpected {other:?}"))),
                    }
                }
                let allowed = rooms.len();
                for ws in &mut rooms {
                    purge(ws).await?;
                }
                Ok(
                    if allowed == CREATES_PER_MINUTE as usize && codes.iter().all(|c| *c == RateLimited) {
                        PastLimit(RateLimited)
                    } else {
                        Error(codes.first().copied().unwrap_or(BadRequest))
                    },
                )
            },
        ),
        case(
            "failed_joins_per_connection",
            "more wrong tokens on one connection than it may try, then the right one",
            Then(BadToken, RateLimited),
            |ctx| async move {
                let (mut owner, keys) = own_room(&ctx, 0).await?;
                let mut ws = ctx.connect(1).await?;
                let wrong = ClientFrame::Join {
                    v: PROTOCOL_VERSION,
                    room: keys.room.clone(),
                    token: keys.wrong_token(),
                };
                let mut codes = Vec::new();
                for _ in 0..sanctum_relay::Config::default().failed_joins_per_connection {
                    ws.send(&wrong).await?;
                    codes.push(observe(&mut ws).await?);
                }
                ws.send(&keys.join()).await?;
                let last = observe(&mut ws).await?;
                purge(&mut owner).await?;
                Ok(
                    if codes.iter().all(|c| *c == Error(BadToken)) && last == Error(RateLimited) {
                        Then(BadToken, RateLimited)
                    } else {
                        last
                    },
                )
            },
        ),
        case(
            "thousand_failed_joins",
            "1,000 joins with wrong tokens from one address, then a real member from another",
            Then(BadToken, RateLimited),
            |ctx| async move {
                let (mut owner, keys) = own_room(&ctx, 0).await?;
                let wrong = ClientFrame::Join {
                    v: PROTOCOL_VERSION,
                    room: keys.room.clone(),
                    token: keys.wrong_token(),
                };
                let (mut bad_token, mut rate_limited) = (0u32, 0u32);
                for _ in 0..100 {
                    let mut ws = ctx.connect(1).await?;
                    for _ in 0..10 {
                        ws.send(&wrong).await?;
                    }
                    for _ in 0..10 {
                        match observe(&mut ws).await? {
                            Error(BadToken) => bad_token += 1,
                            Error(RateLimited) => rate_limited += 1,
                            other => return Ok(other),
                        }
                    }
                }
                assert_eq!(bad_token + rate_limited, 1000);
                // Backoff starts at one second and doubles, so a few more guesses are checked while the loop runs.
                assert!(
                    bad_token <= sanctum_relay::Config::default().failed_joins_per_address + 8,
                    "{bad_token} guesses were checked; the address should have been slowed after {}",
                    sanctum_relay::Config::default().failed_joins_per_address
                );
                // The guesser's failures weigh on its own address, never on the room: a real member still gets in.
                let mut member = ctx.connect(2).await?;
                join(&mut member, &keys).await?;
                purge(&mut owner).await?;
                Ok(Then(BadToken, RateLimited))
            },
        ),
        case(
            "peek_unknown_rooms",
            "1,000 `peek`s at unknown room ids from one address, then a peek and a join by a real member from another",
            PastLimit(RateLimited),
            |ctx| async move {
                let (mut owner, keys) = own_room(&ctx, 0).await?;
                let (mut unknown, mut rate_limited) = (0u32, 0u32);
                for _ in 0..100 {
                    let mut ws = ctx.connect(1).await?;
                    for _ in 0..10 {
                        ws.send(&ClientFrame::Peek {
                            room: RoomKeys::fresh().room,
                        })
                        .await?;
                    }
                    for _ in 0..10 {
                        match ws.next().await? {
                            Event::Frame(RelayFrame::RoomStatus {
                                state: RoomState::Unknown,
                            }) => unknown += 1,
                            Event::Frame(RelayFrame::Error { code: RateLimited, .. }) => rate_limited += 1,
                            Event::Ping => {}
                            other => return Err(io::Error::other(format!("unexpected {other:?}"))),
                        }
                    }
                }
                assert_eq!(unknown + rate_limited, 1000);
                // An unknown id counts as a failed join: peeking is no cheaper a way to guess room ids than joining.
                assert!(
                    unknown <= sanctum_relay::Config::default().failed_joins_per_address + 8,
                    "{unknown} peeks were answered; the address should have been slowed after {}",
                    sanctum_relay::Config::default().failed_joins_per_address
                );
                // The room's real members are not slowed by it: they still see it live, and get in.
                let mut member = ctx.connect(2).await?;
                member
                    .send(&ClientFrame::Peek {
                        room: keys.room.clone(),
                    })
                    .await?;
                let seen = loop {
                    match member.next().await? {
                        Event::Ping => continue,
                        other => break other,
                    }
                };
                join(&mut member, &keys).await?;
                purge(&mut owner).await?;
                Ok(match seen {
                    Event::Frame(RelayFrame::RoomStatus { state: RoomState::Live }) if rate_limited > 0 => {
                        PastLimit(RateLimited)
                    }
                    _ => StillOpen,
                })
            },
        ),
        case(
            "frame_flood",
            "1,000 frames at once, far past the per-connection rate",
            ErrorThenClose(RateLimited, 4009),
            |ctx| async move {
                let (mut ws, keys) = own_room(&ctx, 0).await?;
                for _ in 0..1000 {
                    ws.send(&ClientFrame::Broadcast { payload: payload(1, 8) }).await?;
                }
                let mut refused = 0;
                let close = loop {
                    match ws.next().await? {
                        Event::Frame(RelayFrame::Error { code: RateLimited, .. }) => refused += 1,
                        Event::Close(code) => break code,
                        Event::Eof => break None,
                        _ => {}
                    }
                };
                // The flooder is gone but its room lives on until expiry: purge it so the gauges can settle.
                let mut other = ctx.connect(1).await?;
                join(&mut other, &keys).await?;
                purge(&mut other).await?;
                Ok(match close {
                    Some(code) if refused > 0 => ErrorThenClose(RateLimited, code),
                    Some(code) => Close(code),
                    None => TcpClosed,
                })
            },
        ),
    ]
}

/// The status a `/ws` upgrade with `options` gets: 101 when it succeeds.
async fn upgrade_status(ctx: &Ctx, options: &Options) -> io::Result<Outcome> {
    match RawWs::connect(ctx.addr, options).await {
        Ok(_) => Ok(Outcome::Http(101)),
        Err(UpgradeError::Status(status)) => Ok(Outcome::Http(status)),
        Err(UpgradeError::Io(error)) => Err(error),
    }
}

/// The status of an upgrade whose request carries `Origin: origin`, as a browser page on that origin sends it.
async fn upgrade_from_origin(ctx: Ctx, origin: &'static str) -> io::Result<Outcome> {
    let mut options = ctx.options(0);
    options.headers.push(("Origin".into(), origin.into()));
    upgrade_status(&ctx, &options).await
}

/// Sends `request` as raw HTTP and returns the response's status and head.
async fn raw_http(ctx: &Ctx, request: &str) -> io::Result<(u16, String)> {
    let mut stream = raw_ws::tcp(ctx.addr, &Options::default()).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = Vec::new();
    raw_ws::read_response_head(&mut stream, &mut buffer)
        .await
        .map_err(|error| match error {
            UpgradeError::Io(error) => error,
            UpgradeError::Status(status) => io::Error::other(format!("status {status}")),
        })
}

/// Rows about the HTTP upgrade and slow readers, on the main relay.
fn upgrade_rows() -> Vec<Case> {
    use Outcome::*;
    vec![
        case(
            "foreign_origin",
            "an upgrade from a browser page on another origin",
            Http(403),
            |ctx| upgrade_from_origin(ctx, "https://evil.example"),
        ),
        case(
            "null_origin",
            "an upgrade with `Origin: null` (a sandboxed frame or a file)",
            Http(403),
            |ctx| upgrade_from_origin(ctx, "null"),
        ),
        case(
            "not_an_upgrade",
            "a plain `GET /ws` without upgrade headers",
            Http(400),
            |ctx| async move {
                let (status, _) = raw_http(&ctx, &format!("GET /ws HTTP/1.1\r\nHost: {}\r\n\r\n", ctx.addr)).await?;
                Ok(Http(status))
            },
        ),
        case(
            "wrong_websocket_version",
            "an upgrade with `Sec-WebSocket-Version: 8`",
            Http(400),
            |ctx| async move {
                let request = raw_ws::upgrade_request(ctx.addr, &Options::default())
                    .replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
                let (status, _) = raw_http(&ctx, &request).await?;
                Ok(Http(status))
            },
        ),
        case(
            "deflate_offered",
            "an upgrade offering permessage-deflate (accepted, without compression)",
            Http(101),
            |ctx| async move {
                let options = Options {
                    headers: vec![(
                        "Sec-WebSocket-Extensions".into(),
                        "permessage-deflate; client_max_window_bits".into(),
                    )],
                    receive_buffer: None,
                };
                let (status, head) = raw_http(&ctx, &raw_ws::upgrade_request(ctx.addr, &options)).await?;
                assert!(
                    !head.to_ascii_lowercase().contains("sec-websocket-extensions"),
                    "the relay must not negotiate compression: {head}"
                );
                Ok(Http(status))
            },
        ),
        case(
            "metrics_on_public_listener",
            "`GET /metrics` on the public listener, where the proxy forwards everyone",
            Http(404),
            |ctx| async move {
                let (status, _) = http_get(ctx.addr, "/metrics").await?;
                Ok(Http(status))
            },
        ),
        case(
            "slow_reader",
            "a member that stops reading while the room broadcasts large frames",
            Close(CloseCode::SlowReader.code()),
            |ctx| async move {
                let (mut sender, keys) = own_room(&ctx, 0).await?;
                let mut options = ctx.options(1);
                options.receive_buffer = Some(4096);
                let mut reader = connect(ctx.addr, &options).await?;
                join(&mut reader, &keys).await?;
                let relay = MetricsProbe(ctx.metrics);
                let before = relay.slow_readers().await?;
                // Pace the sender under the frame rate, so the only limit it meets is the reader's queue.
                let mut tick = tokio::time::interval(Duration::from_millis(15));
                let big = payload(9, MAX_PAYLOAD_LEN);
                let mut sent = 0;
                while relay.slow_readers().await? == before {
                    assert!(sent < 2000, "the reader's queue never overflowed");
                    tick.tick().await;
                    sender.send(&ClientFrame::Broadcast { payload: big.clone() }).await?;
                    sent += 1;
                }
                // The sender hears that the reader dropped, and the reader's connection ends.
                loop {
                    match sender.next().await? {
                        Event::Frame(RelayFrame::MemberLeft { member: 2, .. }) => break,
                        Event::Frame(RelayFrame::Error { code, .. }) => return Ok(Error(code)),
                        _ => {}
                    }
                }
                let outcome = reader.closed().await?.map_or(TcpClosed, Close);
                purge(&mut sender).await?;
                Ok(outcome)
            },
        ),
    ]
}

/// Reads counters of a relay by address, for rows that need one.
struct MetricsProbe(SocketAddr);

impl MetricsProbe {
    async fn slow_readers(&self) -> io::Result<f64> {
        let (_, body) = http_get(self.0, "/metrics").await?;
        Ok(sanctum_testkit::metrics::Metrics::parse(&body).get("sanctum_slow_readers_total"))
    }
}

/// Rows about timeouts, on a relay with a one-second handshake timeout and a two-second idle timeout.
fn timeout_rows() -> Vec<Case> {
    use Outcome::*;
    vec![
        case(
            "handshake_timeout",
            "a connection that never creates or joins",
            Close(CloseCode::Timeout.code()),
            |ctx| async move {
                let mut ws = ctx.connect(0).await?;
                Ok(ws.closed().await?.map_or(TcpClosed, Close))
            },
        ),
        case(
            "idle_no_pong",
            "a member that never answers the relay's pings",
            Close(CloseCode::Timeout.code()),
            |ctx| async move {
                let (owner, keys) = own_room(&ctx, 0).await?;
                // The owner answers pings from a background task, as a live tab does, and outlives the silent member.
                let mut owner = Pumped::new(owner);
                let mut ws = ctx.connect(1).await?;
                join(&mut ws, &keys).await?;
                ws.auto_pong = false;
                let outcome = ws.closed().await?.map_or(TcpClosed, Close);
                owner.send(ClientFrame::Purge)?;
                loop {
                    match owner.next().await? {
                        Event::Close(_) | Event::Eof => break,
                        _ => {}
                    }
                }
                Ok(outcome)
            },
        ),
        case(
            "slowloris_upgrade",
            "100 upgrade requests whose headers never finish",
            TcpClosed,
            |ctx| async move {
                let mut streams = Vec::new();
                for _ in 0..100 {
                    let mut stream = raw_ws::tcp(ctx.addr, &Options::default()).await?;
                    stream
                        .write_all(b"GET /ws HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n")
                        .await?;
                    streams.push(stream);
                }
                // The relay drops each after its header read timeout; meanwhile they hold no WebSocket state.
                let mut open = 0;
                let deadline = tokio::time::Instant::now() + SLOW_REQUEST_WAIT;
                for stream in &mut streams {
                    if !closed_by_peer(stream, deadline).await? {
                        open += 1;
                    }
                }
                Ok(match open {
                    0 => TcpClosed,
                    100 => StillOpen,
                    _ => Error(ErrorCode::BadRequest),
                })
            },
        ),
        case(
            "lone_p",
            "a TCP connection that sends `P` and nothing more (the first byte of an HTTP/2 preface)",
            TcpClosed,
            |ctx| stalled_after(ctx, b"P"),
        ),
        case(
            "http2_preface",
            "the HTTP/2 connection preface and a SETTINGS frame, then nothing",
            TcpClosed,
            |ctx| {
                stalled_after(
                    ctx,
                    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
                )
            },
        ),
        case(
            "trickled_request_line",
            "an upgrade request sent one byte per second",
            TcpClosed,
            |ctx| async move {
                let mut stream = raw_ws::tcp(ctx.addr, &Options::default()).await?;
                let request = raw_ws::upgrade_request(ctx.addr, &Options::default());
                let deadline = tokio::time::Instant::now() + SLOW_REQUEST_WAIT;
                for byte in request.as_bytes() {
                    // A write may fail once the relay has closed: that is the answer awaited.
                    if stream.write_all(std::slice::from_ref(byte)).await.is_err() {
                        return Ok(TcpClosed);
                    }
                    let next = (tokio::time::Instant::now() + Duration::from_secs(1)).min(deadline);
                    if closed_by_peer(&mut stream, next).await? {
                        return Ok(TcpClosed);
                    }
                    if next == deadline {
                        return Ok(StillOpen);
                    }
                }
                Ok(Error(ErrorCode::BadRequest))
            },
        ),
        case("silent_tcp", "a TCP connection that sends nothing", TcpClosed, |ctx| {
            stalled_after(ctx, b"")
        }),
    ]
}

/// How long the slow-request rows wait for the relay to drop a request that never completes:
/// three times the handshake timeout of the relay they run against.
const SLOW_REQUEST_WAIT: Duration = Duration::from_secs(3);

/// Sends `bytes` (perhaps none) on a fresh TCP connection, then nothing: the relay must close it within its handshake
/// timeout.
async fn stalled_after(ctx: Ctx, bytes: &'static [u8]) -> io::Result<Outcome> {
    let mut stream = raw_ws::tcp(ctx.addr, &Options::default()).await?;
    stream.write_all(bytes).await?;
    let deadline = tokio::time::Instant::now() + SLOW_REQUEST_WAIT;
    Ok(if closed_by_peer(&mut stream, deadline).await? {
        Outcome::TcpClosed
    } else {
        Outcome::StillOpen
    })
}

/// Whether the peer closes `stream` before `deadline`.
async fn closed_by_peer(stream: &mut tokio::net::TcpStream, deadline: tokio::time::Instant) -> io::Result<bool> {
    use tokio::io::AsyncReadExt;
    let mut sink = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Err(_) => return Ok(false),
            Ok(Ok(0)) => return Ok(true),
            Ok(Ok(_)) => {}
            Ok(Err(error)) if error.kind() == io::ErrorKind::ConnectionReset => return Ok(true),
            Ok(Err(error)) => return Err(error),
        }
    }
}

/// Connections allowed on the small relay, the canary's two included.
const SMALL_MAX_CONNECTIONS: usize = 4;
/// Rooms allowed on the small relay, the canary's included.
const SMALL_MAX_ROOMS: usize = 2;

/// Connections allowed from one address on the small relay.
const SMALL_MAX_CONNECTIONS_PER_ADDRESS: u32 = 2;

/// Rows about relay-wide limits, on a relay with room for two rooms and four connections, two per address.
fn capacity_rows() -> Vec<Case> {
    use ErrorCode::*;
    use Outcome::*;
    vec![
        case(
            "too_many_rooms",
            "a create when the relay holds its maximum of rooms",
            Error(TooManyRooms),
            |ctx| async move {
                let (mut owner, _) = own_room(&ctx, 0).await?;
                let outcome = frame_alone(ctx, RoomKeys::fresh().create(60)).await?;
                purge(&mut owner).await?;
                Ok(outcome)
            },
        ),
        case(
            "too_many_connections",
            "a connection past the relay's maximum",
            Http(503),
            |ctx| async move {
                let _first = ctx.connect(0).await?;
                let _second = ctx.connect(1).await?;
                upgrade_status(&ctx, &ctx.options(2)).await
            },
        ),
        case(
            "too_many_connections_per_address",
            "a connection past the maximum from one address, while the relay has room",
            Http(429),
            |ctx| async move {
                let _first = ctx.connect(0).await?;
                let _second = ctx.connect(0).await?;
                upgrade_status(&ctx, &ctx.options(0)).await
            },
        ),
    ]
}

/// Rooms, tombstones included, that rooms created from one address may hold on the per-address relay.
const ROOMS_PER_ADDRESS: u32 = 2;

/// Rows about what one address may hold, on a relay that lets an address hold two rooms.
fn per_address_rows() -> Vec<Case> {
    use ErrorCode::*;
    use Outcome::*;
    vec![case(
        "rooms_per_address",
        "a create from an address whose earlier rooms, left empty, hold its share of the relay's rooms",
        PastLimit(RateLimited),
        |ctx| async move {
            let mut created = 0;
            let mut codes = Vec::new();
            for _ in 0..=ROOMS_PER_ADDRESS {
                let mut ws = ctx.connect(0).await?;
                // Two seconds: the empty rooms end soon after the row, as the gauges check.
                ws.send(&RoomKeys::fresh().create(2)).await?;
                match ws.frame().await? {
                    RelayFrame::Created { .. } => {
                        created += 1;
                        ws.send(&ClientFrame::Leave).await?;
                        ws.closed().await?;
                    }
                    RelayFrame::Error { code, .. } => codes.push(code),
                    other => return Err(io::Error::other(format!("unexpected {other:?}"))),
                }
            }
            Ok(if created == ROOMS_PER_ADDRESS && codes == [RateLimited] {
                PastLimit(RateLimited)
            } else {
                Error(codes.first().copied().unwrap_or(BadRequest))
            })
        },
    )]
}

/// The main relay: default limits except a few made small so that each limit is cheap to reach,
/// and 127.0.0.1 trusted as a proxy so that every row speaks from addresses of its own.
fn main_config() -> Config {
    Config {
        trusted_proxies: vec!["127.0.0.1".parse().expect("an address")],
        max_frame_bytes: MAX_FRAME,
        max_members: MAX_MEMBERS,
        max_membership_events: MAX_MEMBERSHIP_EVENTS,
        creates_per_minute: CREATES_PER_MINUTE,
        locks_per_minute: LOCKS_PER_MINUTE,
        frames_per_second: 100,
        frame_burst: 100,
        ..Config::default()
    }
}

/// Runs every row of `cases` against one relay, checking the canary, liveness and the gauges around each.
async fn run_table(relay: &TestRelay, cases: Vec<Case>, first_row: usize) -> Vec<String> {
    let mut canary = Canary::start(relay.addr, "10.255.255.1")
        .await
        .expect("the canary room starts");
    canary.check().await.expect("the canary exchanges frames");
    let baseline = relay.settle(|_| true).await.expect("metrics are readable");
    let mut failures = Vec::new();
    for (i, case) in cases.into_iter().enumerate() {
        let ctx = Ctx {
            addr: relay.addr,
            metrics: relay.metrics_addr,
            row: first_row + i,
            canary: canary.keys().clone(),
        };
        let started = std::time::Instant::now();
        let observed = tokio::time::timeout(Duration::from_secs(60), (case.run)(ctx)).await;
        eprintln!("{:<28} {:>6} ms", case.name, started.elapsed().as_millis());
        match observed {
            Ok(Ok(outcome)) if outcome == case.expect => {}
            Ok(Ok(outcome)) => failures.push(format!("{}: expected {}, observed {outcome}", case.name, case.expect)),
            Ok(Err(error)) => failures.push(format!("{}: the row failed: {error}", case.name)),
            Err(_) => failures.push(format!("{}: the row did not finish in 60 s", case.name)),
        }
        assert!(relay.is_running(), "{}: the relay stopped", case.name);
        assert!(relay.is_healthy().await, "{}: /healthz does not answer ok", case.name);
        let settled = relay
            .settle(|g| {
                g.connections == baseline.connections
                    && g.rooms == baseline.rooms
                    && g.members == baseline.members
                    && g.queued_bytes == baseline.queued_bytes
            })
            .await;
        if let Err(gauges) = settled {
            failures.push(format!(
                "{}: gauges did not return to {baseline:?}: {gauges:?}",
                case.name
            ));
        }
        if let Err(error) = canary.check().await {
            panic!("{}: the canary room was disturbed: {error}", case.name);
        }
    }
    failures
}

/// Every table, with the relay configuration it runs against.
fn tables() -> Vec<(&'static str, Config, Vec<Case>)> {
    vec![
        (
            "main",
            main_config(),
            main_rows().into_iter().chain(upgrade_rows()).collect(),
        ),
        (
            "timeouts",
            Config {
                handshake_timeout: Duration::from_secs(1),
                idle_timeout: Duration::from_secs(2),
                ..main_config()
            },
            timeout_rows(),
        ),
        (
            "capacity",
            Config {
                max_rooms: SMALL_MAX_ROOMS,
                max_connections: SMALL_MAX_CONNECTIONS,
                max_connections_per_address: SMALL_MAX_CONNECTIONS_PER_ADDRESS,
                ..main_config()
            },
            capacity_rows(),
        ),
        (
            "per address",
            Config {
                max_rooms_per_address: ROOMS_PER_ADDRESS,
                ..main_config()
            },
            per_address_rows(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_input_gets_its_documented_answer_and_touches_nothing_else() {
    let mut failures = Vec::new();
    let mut first_row = 0;
    let mut rows = 0;
    for (name, config, cases) in tables() {
        let count = cases.len();
        let relay = TestRelay::start(config).await;
        for failure in run_table(&relay, cases, first_row).await {
            failures.push(format!("[{name}] {failure}"));
        }
        let gauges = relay.metrics().await.expect("metrics").gauges();
        assert!(
            gauges.tombstones <= (count as f64),
            "[{name}] tombstones grew past the rows: {gauges:?}"
        );
        relay.stop().await.expect("the relay stops cleanly");
        first_row += count;
        rows += count;
    }
    assert!(
        rows >= 40,
        "the table must hold at least 40 hostile inputs, it holds {rows}"
    );
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Whether a Markdown line is a row of the hostile-input table: its first cell is one snake_case name in backticks.
fn is_table_row(line: &str) -> bool {
    line.strip_prefix("| `")
        .and_then(|rest| rest.split_once("` |"))
        .is_some_and(|(name, _)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// The table in `docs/threat-model.md` must list exactly these rows, with the same inputs and answers.
#[test]
fn the_threat_model_lists_the_same_table() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/threat-model.md"))
        .expect("docs/threat-model.md is readable");
    // Only the section of the table counts: other tables of the document have rows of the same shape.
    let section = doc
        .split("\n## ")
        .find(|part| part.starts_with("Hostile-input table"))
        .expect("docs/threat-model.md has a section \"Hostile-input table\"");
    let rows: Vec<String> = tables()
        .into_iter()
        .flat_map(|(_, _, cases)| cases)
        .map(|c| c.markdown())
        .collect();
    let missing: Vec<&String> = rows
        .iter()
        .filter(|row| !section.lines().any(|line| line == row.as_str()))
        .collect();
    let documented = section.lines().filter(|line| is_table_row(line)).count();
    assert!(
        missing.is_empty(),
        "docs/threat-model.md lacks these rows of the hostile-input table:\n{}",
        missing.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(
        documented,
        rows.len(),
        "docs/threat-model.md lists rows the test does not run"
    );
}

/// The main table again, against a relay whose rooms live in a real Redis shared with a second relay: the
/// guarantees hold with the backplane too, and the canary room, spread over both relays, is never disturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_table_holds_on_a_relay_sharing_rooms_through_redis() {
    let redis = sanctum_testkit::redis::RedisServer::start()
        .await
        .expect("redis-server starts");
    let config = Config {
        redis: Some(redis.url().parse().expect("a Redis URL")),
        redis_heartbeat: Duration::from_secs(2),
        ..main_config()
    };
    let other = TestRelay::start(config.clone()).await;
    let relay = TestRelay::start(config).await;
    // A member of the other relay in a room of its own, which no row may disturb either.
    let mut bystander = Canary::start(other.addr, "10.255.255.2")
        .await
        .expect("the bystander room starts");
    let failures = run_table(&relay, main_rows(), 0).await;
    bystander.check().await.expect("the other relay's room is undisturbed");
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
