//! Browser bindings for the Web Worker: opaque handles over the core, plain JavaScript values out, errors converted in one place.
//!
//! Only the Worker imports these bindings. Key material never crosses into JavaScript except as the opaque resume blob
//! (which DESIGN.md lets the page keep) and the derivation Worker's answer to its parent Worker.

// wasm-bindgen exports what is `pub` in this private module; the items are reachable from JavaScript, not from Rust.
#![allow(unreachable_pub)]

use std::collections::BTreeMap;
use std::fmt::Display;

use js_sys::{Array, Object, Reflect, Uint8Array};
use rand_core::OsRng;
use sanctum_protocol::{ClientFrame, MemberId, RelayFrame};
use wasm_bindgen::prelude::*;

use crate::attachment::{AttachmentError, MAX_ATTACHMENT_LEN};
use crate::link::{LinkError, RoomLink};
use crate::resume::{ResumeError, decode_resume, encode_resume};
use crate::schedule::{RoomSecrets, ScheduleError};
use crate::session::{EndReason, Event, LeaveReason, MemberInfo, Session, SessionError};
use crate::strength::password_strength as estimate;

/// An error as the Worker sees it: a stable `code` for the page's plain words, and a message.
struct Failure {
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(code: &'static str, message: impl Display) -> Self {
        Self {
            code,
            message: message.to_string(),
        }
    }
}

/// The one place where errors become JavaScript: an `Error` with a `code` property.
impl From<Failure> for JsValue {
    fn from(failure: Failure) -> Self {
        let error = js_sys::Error::new(&failure.message);
        // Setting a property on a fresh Error object cannot fail.
        let _ = Reflect::set(&error, &"code".into(), &failure.code.into());
        error.into()
    }
}

impl From<LinkError> for Failure {
    fn from(error: LinkError) -> Self {
        let code = match error {
            LinkError::Expired => "link_expired",
            LinkError::UnsupportedVersion => "unsupported_version",
            LinkError::Malformed | LinkError::BadLifetime => "link_invalid",
        };
        Self::new(code, error)
    }
}

impl From<ScheduleError> for Failure {
    fn from(error: ScheduleError) -> Self {
        let code = match error {
            ScheduleError::EmptyPassword | ScheduleError::PasswordTooLong => "bad_password",
            ScheduleError::Kdf => "derive",
        };
        Self::new(code, error)
    }
}

impl From<ResumeError> for Failure {
    fn from(error: ResumeError) -> Self {
        let code = match error {
            ResumeError::Expired => "link_expired",
            ResumeError::Malformed | ResumeError::AliasTooLong => "resume_invalid",
        };
        Self::new(code, error)
    }
}

impl From<SessionError> for Failure {
    fn from(error: SessionError) -> Self {
        let code = match error {
            SessionError::Ended | SessionError::NotJoined => "not_in_room",
            SessionError::Expired => "link_expired",
            SessionError::UnknownMember => "unknown_member",
            SessionError::BadAlias => "alias_invalid",
            SessionError::BadRoomName => "room_name_invalid",
            SessionError::TooLong => "too_long",
            SessionError::Attachment(AttachmentError::BadSize) => "attachment_too_large",
            SessionError::Attachment(_) => "attachment_invalid",
            SessionError::Exhausted => "exhausted",
        };
        Self::new(code, error)
    }
}

type Result<T> = std::result::Result<T, Failure>;

/// Milliseconds since the Unix epoch from JavaScript's `Date.now()`, clamped to a sane range.
fn millis(now_ms: f64) -> u64 {
    if now_ms.is_finite() && now_ms > 0.0 {
        now_ms as u64
    } else {
        0
    }
}

/// A plain JavaScript object built field by field.
struct Fields(Object);

impl Fields {
    fn new() -> Self {
        Self(Object::new())
    }

    fn set(self, key: &str, value: impl Into<JsValue>) -> Self {
        // Defining a data property on a plain object cannot fail.
        let _ = Reflect::set(&self.0, &key.into(), &value.into());
        self
    }

    fn done(self) -> JsValue {
        self.0.into()
    }
}

/// The core's password estimate as `{score, acceptable, feedback}`.
#[wasm_bindgen]
pub fn password_strength(password: &str, alias: &str, room_name: &str) -> JsValue {
    // A password built from what the other members see (the alias, the room name, the app's name) is easier to guess.
    let inputs: Vec<&str> = ["sanctum", alias, room_name]
        .into_iter()
        .filter(|input| !input.is_empty())
        .collect();
    let strength = estimate(password, &inputs);
    let mut feedback: Vec<String> = strength.warning.into_iter().collect();
    feedback.extend(strength.suggestions);
    Fields::new()
        .set("score", u32::from(strength.score))
        .set("acceptable", strength.acceptable)
        .set("feedback", feedback.join(" "))
        .done()
}

/// Checks a link without a password; returns the room's expiry in milliseconds since the epoch.
#[wasm_bindgen]
pub fn check_link(link: &str, now_ms: f64) -> std::result::Result<f64, JsValue> {
    let parsed = RoomLink::parse(link, millis(now_ms)).map_err(Failure::from)?;
    Ok(parsed.expires_at() as f64 * 1000.0)
}

/// A fresh room link's fragment (without `#`) for a room that lives `lifetime_secs` seconds.
#[wasm_bindgen]
pub fn new_link(lifetime_secs: u32, now_ms: f64) -> std::result::Result<String, JsValue> {
    let link = RoomLink::generate(&mut OsRng, lifetime_secs, millis(now_ms)).map_err(Failure::from)?;
    Ok(link.to_fragment().to_string())
}

/// Stretches the password with Argon2id and returns the room's secrets as a resume blob, for the parent Worker only.
///
/// This runs in the short-lived derivation Worker, whose wasm memory (Argon2's 64 MiB) goes away with it.
#[wasm_bindgen]
pub fn derive_room_secrets(link: &str, password: &str, now_ms: f64) -> std::result::Result<String, JsValue> {
    let link = RoomLink::parse(link, millis(now_ms)).map_err(Failure::from)?;
    let secrets = RoomSecrets::derive(&link, password).map_err(Failure::from)?;
    let blob = encode_resume(&secrets, "").map_err(Failure::from)?;
    Ok(blob.to_string())
}

/// One session in one room, held by the Worker as an opaque handle; the keys inside never leave the wasm memory.
#[wasm_bindgen]
pub struct Client {
    inner: Session,
    /// The room name a creator chose, used by the create frame.
    room_name: String,
    /// Aliases of every member seen in this session, so that notices can name members after they are gone.
    aliases: BTreeMap<MemberId, String>,
}

/// Prints the session's state without a single key.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[wasm_bindgen]
impl Client {
    /// A session that will create the room, from the derivation Worker's secrets.
    pub fn create(secrets: &str, alias: &str, room_name: &str, now_ms: f64) -> std::result::Result<Client, JsValue> {
        let (secrets, _) = decode_resume(secrets, millis(now_ms)).map_err(Failure::from)?;
        Ok(Self::start(&secrets, alias, room_name)?)
    }

    /// A session that will join the room, from the derivation Worker's secrets.
    pub fn join(secrets: &str, alias: &str, now_ms: f64) -> std::result::Result<Client, JsValue> {
        let (secrets, _) = decode_resume(secrets, millis(now_ms)).map_err(Failure::from)?;
        Ok(Self::start(&secrets, alias, "")?)
    }

    /// A new session in the room of a resume blob (after a refresh or a dropped connection), with the blob's alias.
    pub fn resume(blob: &str, now_ms: f64) -> std::result::Result<Client, JsValue> {
        let (secrets, alias) = decode_resume(blob, millis(now_ms)).map_err(Failure::from)?;
        Ok(Self::start(&secrets, &alias, "")?)
    }

    fn start(secrets: &RoomSecrets, alias: &str, room_name: &str) -> Result<Client> {
        let inner = Session::new(secrets, alias, OsRng)?;
        Ok(Client {
            inner,
            room_name: room_name.to_owned(),
            aliases: BTreeMap::new(),
        })
    }

    /// The `create` frame's text.
    pub fn create_frame(&mut self, now_ms: f64) -> std::result::Result<String, JsValue> {
        let frame = self
            .inner
            .create_frame(&self.room_name, millis(now_ms))
            .map_err(Failure::from)?;
        Ok(frame.encode())
    }

    /// The `join` frame's text.
    pub fn join_frame(&mut self, now_ms: f64) -> std::result::Result<String, JsValue> {
        Ok(self.inner.join_frame(millis(now_ms)).map_err(Failure::from)?.encode())
    }

    /// The opaque resume blob for the page's sessionStorage: room secrets and alias, never session keys or messages.
    pub fn resume_blob(&self) -> std::result::Result<String, JsValue> {
        Ok(self.inner.resume_blob().map_err(Failure::from)?.to_string())
    }

    /// Handles one text frame from the relay; returns `{send, events}`.
    pub fn receive(&mut self, text: &str, now_ms: f64) -> JsValue {
        let events = match RelayFrame::decode(text) {
            Ok(frame) => self.inner.handle(frame, millis(now_ms)),
            Err(_) => Vec::new(),
        };
        self.output(events, Vec::new())
    }

    /// Enforces the room's expiry by this client's clock; call it about once a second.
    pub fn tick(&mut self, now_ms: f64) -> JsValue {
        let events = self.inner.tick(millis(now_ms));
        self.output(events, Vec::new())
    }

    /// Sends a text message to the room; the output holds it as the sender's own message.
    pub fn send_text(&mut self, text: &str, now_ms: f64) -> std::result::Result<JsValue, JsValue> {
        self.inner.send_text(text, millis(now_ms)).map_err(Failure::from)?;
        let own = self.own_message(text, None, now_ms);
        Ok(self.output(Vec::new(), vec![own]))
    }

    /// Sends a text that only `member` can read.
    pub fn whisper(&mut self, member: MemberId, text: &str, now_ms: f64) -> std::result::Result<JsValue, JsValue> {
        self.inner
            .whisper(member, text, millis(now_ms))
            .map_err(Failure::from)?;
        let own = self.own_message(text, Some(member), now_ms);
        Ok(self.output(Vec::new(), vec![own]))
    }

    /// Seals an attachment into its start item and chunks; the Worker paces the frames.
    pub fn attach(
        &mut self,
        name: &str,
        mime: &str,
        bytes: &[u8],
        now_ms: f64,
    ) -> std::result::Result<JsValue, JsValue> {
        self.inner
            .send_attachment(name, mime, bytes, millis(now_ms))
            .map_err(Failure::from)?;
        let own = Fields::new()
            .set("type", "attachment")
            .set("from", self.own_member())
            .set("mine", true)
            .set("name", name)
            .set("mime", mime)
            .set("bytes", Uint8Array::from(bytes))
            .set("time", now_ms)
            .done();
        Ok(self.output(Vec::new(), vec![own]))
    }

    /// Kicks a member: signed in-band for every client, and the relay's kick.
    pub fn kick(&mut self, member: MemberId, now_ms: f64) -> std::result::Result<JsValue, JsValue> {
        let events = self.inner.kick(member, millis(now_ms)).map_err(Failure::from)?;
        Ok(self.output(events, Vec::new()))
    }

    /// Purges the room for everyone.
    pub fn purge(&mut self, now_ms: f64) -> std::result::Result<JsValue, JsValue> {
        let events = self.inner.purge(millis(now_ms)).map_err(Failure::from)?;
        Ok(self.output(events, Vec::new()))
    }

    /// Leaves with a signed goodbye carrying the farewell.
    pub fn leave(&mut self, farewell: &str, now_ms: f64) -> std::result::Result<JsValue, JsValue> {
        let events = self.inner.leave(farewell, millis(now_ms)).map_err(Failure::from)?;
        Ok(self.output(events, Vec::new()))
    }
}

impl Client {
    fn own_member(&self) -> JsValue {
        let fingerprint = self.inner.fingerprint();
        let duplicate = self
            .inner
            .members()
            .iter()
            .any(|m| m.alias.trim().eq_ignore_ascii_case(self.inner.alias().trim()));
        Fields::new()
            .set("id", self.inner.member_id().unwrap_or(0))
            .set("alias", self.inner.alias())
            .set("fingerprint", fingerprint)
            .set("self", true)
            .set("duplicate", duplicate)
            .done()
    }

    fn member(info: &MemberInfo) -> JsValue {
        Fields::new()
            .set("id", info.member)
            .set("alias", info.alias.as_str())
            .set("fingerprint", info.fingerprint.as_str())
            .set("self", false)
            .set("duplicate", info.duplicate_alias)
            .done()
    }

    /// A member as the page shows it: accepted members in full, departed ones by the alias last seen.
    fn member_by_id(&self, id: MemberId) -> JsValue {
        if Some(id) == self.inner.member_id() {
            return self.own_member();
        }
        if let Some(info) = self.inner.members().iter().find(|m| m.member == id) {
            return Self::member(info);
        }
        Fields::new()
            .set("id", id)
            .set("alias", self.alias_of(id))
            .set("fingerprint", "")
            .set("self", false)
            .set("duplicate", false)
            .done()
    }

    fn alias_of(&self, id: MemberId) -> String {
        self.aliases.get(&id).cloned().unwrap_or_else(|| format!("member {id}"))
    }

    fn members(&self) -> Array {
        let list = Array::new();
        if self.inner.member_id().is_some() && !self.inner.is_ended() {
            list.push(&self.own_member());
        }
        for info in self.inner.members() {
            list.push(&Self::member(&info));
        }
        list
    }

    fn own_message(&self, text: &str, to: Option<MemberId>, now_ms: f64) -> JsValue {
        Fields::new()
            .set("type", "message")
            .set("from", self.own_member())
            .set("mine", true)
            .set("whisper", to.is_some())
            .set("to", to.map_or(JsValue::NULL, |id| self.member_by_id(id)))
            .set("farewell", false)
            .set("text", text)
            .set("time", now_ms)
            .done()
    }

    fn notice(kind: &str, text: String) -> JsValue {
        Fields::new()
            .set("type", "notice")
            .set("kind", kind)
            .set("text", text)
            .done()
    }

    /// The core's events as plain objects for the page, after `extra` ones, with frames to send.
    fn output(&mut self, events: Vec<Event>, extra: Vec<JsValue>) -> JsValue {
        let list: Array = extra.into_iter().collect();
        let mut members_changed = false;
        for event in events {
            members_changed |= self.convert(event, &list);
        }
        if members_changed {
            list.push(
                &Fields::new()
                    .set("type", "members")
                    .set("members", self.members())
                    .done(),
            );
        }
        let send: Array = self
            .inner
            .take_outgoing()
            .iter()
            .map(|frame: &ClientFrame| JsValue::from(frame.encode()))
            .collect();
        Fields::new().set("send", send).set("events", list).done()
    }

    /// Converts one event, pushing what the page shows onto `out`; returns whether the member list changed.
    fn convert(&mut self, event: Event, out: &Array) -> bool {
        match event {
            Event::Joined {
                expires_at, room_name, ..
            } => {
                let entered = Fields::new()
                    .set("type", "entered")
                    .set("self", self.own_member())
                    .set("members", self.members())
                    .set("room_name", room_name)
                    .set("expires_at_ms", expires_at as f64 * 1000.0)
                    .set("max_attachment", MAX_ATTACHMENT_LEN as f64)
                    .done();
                out.push(&entered);
                false
            }
            Event::MemberAccepted(info) => {
                self.aliases.insert(info.member, info.alias.clone());
                out.push(&Self::notice(
                    "join",
                    format!("{} joined · key {}", info.alias, info.fingerprint),
                ));
                if info.duplicate_alias {
                    out.push(&Self::notice(
                        "duplicate",
                        format!(
                            "Two members use the alias {}: compare their keys before trusting either.",
                            info.alias
                        ),
                    ));
                }
                true
            }
            Event::MemberLeft { member, alias, reason } => {
                self.aliases.insert(member, alias.clone());
                let text = match reason {
                    LeaveReason::Left { farewell } => {
                        if !farewell.is_empty() {
                            out.push(
                                &Fields::new()
                                    .set("type", "message")
                                    .set("from", self.member_by_id(member))
                                    .set("mine", false)
                                    .set("whisper", false)
                                    .set("to", JsValue::NULL)
                                    .set("farewell", true)
                                    .set("text", farewell)
                                    .set("time", js_sys::Date::now())
                                    .done(),
                            );
                        }
                        format!("{alias} left")
                    }
                    LeaveReason::Kicked { by: Some(by) } if Some(by) == self.inner.member_id() => {
                        format!("You removed {alias} from the room")
                    }
                    LeaveReason::Kicked { by: Some(by) } => {
                        format!("{} removed {alias} from the room", self.alias_of(by))
                    }
                    LeaveReason::Kicked { by: None } => format!("{alias} was removed from the room"),
                    LeaveReason::Dropped => format!("{alias} lost their connection"),
                };
                out.push(&Self::notice("leave", text));
                true
            }
            Event::Message {
                from,
                text,
                sent_at,
                whisper,
                ..
            } => {
                out.push(
                    &Fields::new()
                        .set("type", "message")
                        .set("from", self.member_by_id(from))
                        .set("mine", false)
                        .set("whisper", whisper)
                        .set("to", if whisper { self.own_member() } else { JsValue::NULL })
                        .set("farewell", false)
                        .set("text", text)
                        .set("time", sent_at as f64)
                        .done(),
                );
                false
            }
            Event::Attachment {
                from,
                name,
                mime,
                bytes,
                sent_at,
                ..
            } => {
                out.push(
                    &Fields::new()
                        .set("type", "attachment")
                        .set("from", self.member_by_id(from))
                        .set("mine", false)
                        .set("name", name)
                        .set("mime", mime)
                        .set("bytes", Uint8Array::from(&bytes[..]))
                        .set("time", sent_at as f64)
                        .done(),
                );
                false
            }
            Event::Expiring { seconds } => {
                out.push(&Fields::new().set("type", "expiring").set("seconds", seconds).done());
                false
            }
            Event::CouldNotVerify { from } => {
                out.push(&Self::notice(
                    "unverified",
                    format!(
                        "Something sent as from {} could not be verified and is not shown.",
                        self.alias_of(from)
                    ),
                ));
                false
            }
            Event::RelayError { code, message } => {
                out.push(
                    &Fields::new()
                        .set("type", "relay_error")
                        .set("code", code.as_str())
                        .set("text", message)
                        .done(),
                );
                false
            }
            Event::Ended { reason } => {
                let me = self.inner.member_id();
                let (reason, by, code) = match reason {
                    EndReason::Left => ("left", None, None),
                    EndReason::Kicked { by } => ("kicked", by, None),
                    EndReason::Purged { by } if by.is_some() && by == me => ("purged_by_you", None, None),
                    EndReason::Purged { by } => ("purged", by, None),
                    EndReason::Expired => ("expired", None, None),
                    EndReason::Refused { code } => ("refused", None, Some(code.as_str())),
                    EndReason::Unverifiable => ("unverifiable", None, None),
                };
                out.push(
                    &Fields::new()
                        .set("type", "ended")
                        .set("reason", reason)
                        .set("by", by.map_or(JsValue::NULL, |id| JsValue::from(self.alias_of(id))))
                        .set("code", code.map_or(JsValue::NULL, JsValue::from))
                        .done(),
                );
                true
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------------
// Bench: `cargo xtask bench` times these from a Worker in bench/wasm/; the app never calls them.
// They run `benches/crypto/ops.rs`, the very code the native Criterion benches run, so the two sides compare like for like.

#[path = "../benches/crypto/ops.rs"]
mod bench_ops;

/// The name under which `benches/crypto/ops.rs` reaches the crate's public API, as it does in the native bench.
use crate as client;

/// One client operation, prepared in batches outside the timed region and run inside it.
#[wasm_bindgen]
pub struct BenchFixture {
    inner: bench_ops::Fixture,
}

impl std::fmt::Debug for BenchFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BenchFixture")
    }
}

#[wasm_bindgen]
impl BenchFixture {
    /// Sets up `op` (one of `bench_ops()`) at `now_ms`; derives the room's keys once with Argon2id.
    #[wasm_bindgen(constructor)]
    pub fn new(op: &str, now_ms: f64) -> std::result::Result<BenchFixture, JsValue> {
        let inner = bench_ops::Fixture::new(op, now_ms as u64).map_err(bench_failure)?;
        Ok(Self { inner })
    }

    /// Makes the inputs of the next `n` operations.
    pub fn prepare(&mut self, n: u32) -> std::result::Result<(), JsValue> {
        self.inner.prepare(n as usize).map_err(bench_failure)
    }

    /// Runs the prepared operations and returns how many succeeded (all of them, or an error).
    pub fn run(&mut self) -> std::result::Result<u32, JsValue> {
        let done = self.inner.run().map_err(bench_failure)?;
        Ok(u32::try_from(done).unwrap_or(u32::MAX))
    }
}

fn bench_failure(error: String) -> JsValue {
    Failure::new("bench_failed", error).into()
}

/// The names of the operations `BenchFixture` knows.
#[wasm_bindgen]
pub fn bench_ops() -> Array {
    bench_ops::OPS.iter().map(|op| JsValue::from_str(op)).collect()
}
