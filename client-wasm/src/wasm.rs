//! Browser bindings for the Web Worker: opaque handles over the core, and pure conversion of its values to JavaScript.
//!
//! Only the Worker imports these bindings. Key material never crosses into JavaScript except as the opaque resume blob
//! (which DESIGN.md lets the page keep) and the derivation Worker's answer to its parent Worker.
//! Events keep the names and fields of the Rust [`Event`] variants (see `contract.rs` and `web/codes.js`); no English
//! is written here: the page's words live in `web/strings.js`.

// wasm-bindgen exports what is `pub` in this private module; the items are reachable from JavaScript, not from Rust.
#![allow(unreachable_pub)]

use std::fmt::Display;

use js_sys::{Array, Object, Reflect, Uint8Array};
use rand_core::OsRng;
use sanctum_protocol::{ClientFrame, LeftReason, MemberId, RelayFrame, RoomState};
use wasm_bindgen::prelude::*;

use crate::attachment::{MAX_ATTACHMENT_LEN, Upload as CoreUpload};
use crate::contract::{FailureCode, event_name};
use crate::link::RoomLink;
use crate::message::KickPolicy;
use crate::resume::{decode_resume, decode_resumed, encode_resume};
use crate::schedule::RoomSecrets;
use crate::session::{AttachmentDrop, Attempt, EndReason, Event, LeaveReason, MemberInfo, Session, Timing};
use crate::text::AliasError;

#[cfg(feature = "bench")]
mod bench;

/// An error as the Worker sees it: a stable `code` (see `contract.rs`) for the page's words, and the core's message.
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

    fn of<E: FailureCode + Display>(error: E) -> Self {
        Self::new(error.failure_code(), error)
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

fn fail<E: FailureCode + Display>(error: E) -> JsValue {
    Failure::of(error).into()
}

type Result<T> = std::result::Result<T, JsValue>;

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

    /// An object whose `type` is `name`: an event or a reason, named after its Rust variant.
    fn typed(name: &str) -> Self {
        Self::new().set("type", name)
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

fn optional_member(member: Option<MemberId>) -> JsValue {
    member.map_or(JsValue::NULL, JsValue::from)
}

/// Checks a link without a password; returns the room's expiry in milliseconds since the epoch.
#[wasm_bindgen]
pub fn check_link(link: &str, now_ms: f64) -> Result<f64> {
    let parsed = RoomLink::parse(link, millis(now_ms)).map_err(fail)?;
    Ok(parsed.expires_at() as f64 * 1000.0)
}

/// The `peek` frame for a link's room, which asks the relay whether the room is live, gone or unknown.
#[wasm_bindgen]
pub fn peek_frame(link: &str, now_ms: f64) -> Result<String> {
    let parsed = RoomLink::parse(link, millis(now_ms)).map_err(fail)?;
    Ok(ClientFrame::Peek { room: parsed.room_id() }.encode())
}

/// The state in a `room_status` frame (`"live"`, `"gone"` or `"unknown"`), or null when `text` is not one.
#[wasm_bindgen]
pub fn parse_room_status(text: &str) -> JsValue {
    match RelayFrame::decode(text) {
        Ok(RelayFrame::RoomStatus { state }) => JsValue::from_str(match state {
            RoomState::Live => "live",
            RoomState::Gone => "gone",
            RoomState::Unknown => "unknown",
        }),
        _ => JsValue::NULL,
    }
}

/// A fresh room link's fragment (without `#`) for a room that lives `lifetime_secs` seconds.
#[wasm_bindgen]
pub fn new_link(lifetime_secs: u32, now_ms: f64) -> Result<String> {
    let link = RoomLink::generate(&mut OsRng, lifetime_secs, millis(now_ms)).map_err(fail)?;
    Ok(link.to_fragment().to_string())
}

/// The relay's first frame as `{v, max_frame, max_lifetime, max_members, max_frames_per_second, frame_burst}`, or null when
/// `text` is not a `welcome` frame.
#[wasm_bindgen]
pub fn parse_welcome(text: &str) -> JsValue {
    match RelayFrame::decode(text) {
        Ok(RelayFrame::Welcome(welcome)) => Fields::new()
            .set("v", welcome.v)
            .set("max_frame", welcome.max_frame)
            .set("max_lifetime", welcome.max_lifetime)
            .set("max_members", welcome.max_members)
            .set("max_frames_per_second", welcome.max_frames_per_second)
            .set("frame_burst", welcome.frame_burst)
            .done(),
        _ => JsValue::NULL,
    }
}

/// The one alias rule: `null` when the core accepts `alias`, else why not (`"Empty"`, `"TooLong"` or `"Disguising"`).
#[wasm_bindgen]
pub fn alias_problem(alias: &str) -> JsValue {
    match crate::text::check_alias(alias) {
        Ok(_) => JsValue::NULL,
        Err(AliasError::Empty) => JsValue::from("Empty"),
        Err(AliasError::TooLong) => JsValue::from("TooLong"),
        Err(AliasError::Disguising) => JsValue::from("Disguising"),
    }
}

/// The most characters an alias may have.
#[wasm_bindgen]
pub fn max_alias_chars() -> u32 {
    crate::text::MAX_ALIAS_CHARS as u32
}

/// The largest attachment the core sends or accepts, in bytes.
#[wasm_bindgen]
pub fn max_attachment() -> f64 {
    MAX_ATTACHMENT_LEN as f64
}

/// The longest farewell a goodbye carries, in bytes of UTF-8: the core refuses a goodbye with a longer one, so the page
/// checks against this before leaving instead of repeating the number.
#[wasm_bindgen]
pub fn max_farewell_bytes() -> u32 {
    crate::MAX_FAREWELL_LEN as u32
}

/// Stretches the password with Argon2id and returns the room's secrets as a resume blob, for the parent Worker only.
///
/// This runs in the short-lived derivation Worker, whose wasm memory (Argon2's 64 MiB) goes away with it.
#[wasm_bindgen]
pub fn derive_room_secrets(link: &str, password: &str, now_ms: f64) -> Result<String> {
    let link = RoomLink::parse(link, millis(now_ms)).map_err(fail)?;
    let secrets = RoomSecrets::derive(&link, password).map_err(fail)?;
    let blob = encode_resume(&secrets, "").map_err(fail)?;
    Ok(blob.to_string())
}

/// An attachment being sent, held by the Worker as an opaque handle; its plaintext stays in the wasm memory.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Upload {
    inner: CoreUpload,
}

#[wasm_bindgen]
impl Upload {
    /// How many chunks the attachment has.
    pub fn chunks(&self) -> u32 {
        self.inner.chunks()
    }

    /// How many chunks are sealed so far.
    pub fn sent(&self) -> u32 {
        self.inner.sent()
    }

    /// Whether every chunk is sealed.
    pub fn done(&self) -> bool {
        self.inner.is_done()
    }
}

thread_local! {
    /// The look-alike module's skeleton function, once the Worker has handed it over: the core takes a plain function,
    /// and a Worker has one thread.
    static SKELETON: std::cell::RefCell<Option<js_sys::Function>> = const { std::cell::RefCell::new(None) };
}

/// The skeleton of `text` by the look-alike module; the text itself when that module is missing or fails, which leaves
/// the core's case rule.
fn skeleton_from_js(text: &str) -> String {
    SKELETON
        .with_borrow(|skeleton| {
            skeleton
                .as_ref()?
                .call1(&JsValue::NULL, &JsValue::from_str(text))
                .ok()?
                .as_string()
        })
        .unwrap_or_else(|| text.to_owned())
}

/// One session in one room, held by the Worker as an opaque handle; the keys inside never leave the wasm memory.
#[wasm_bindgen]
pub struct Client {
    inner: Session,
    /// The room name a creator chose, used by the create frame.
    room_name: String,
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
    /// A session that will create the room, from the derivation Worker's secrets; it owns the room, and
    /// `everyone_kicks` lets every member kick (anyone but the owner) instead of the owner alone.
    pub fn create(secrets: &str, alias: &str, room_name: &str, everyone_kicks: bool, now_ms: f64) -> Result<Client> {
        let (secrets, _) = decode_resume(secrets, millis(now_ms)).map_err(fail)?;
        let mut client = Self::start(&secrets, alias, room_name)?;
        let policy = if everyone_kicks {
            KickPolicy::Everyone
        } else {
            KickPolicy::Owner
        };
        client.inner.set_kick_policy(policy).map_err(fail)?;
        Ok(client)
    }

    /// A session that will join the room, from the derivation Worker's secrets.
    pub fn join(secrets: &str, alias: &str, now_ms: f64) -> Result<Client> {
        let (secrets, _) = decode_resume(secrets, millis(now_ms)).map_err(fail)?;
        Self::start(&secrets, alias, "")
    }

    /// A new session in the room of a resume blob (after a refresh or a dropped connection), with the blob's alias;
    /// its hello is also signed by the previous session's key, so members who knew that session see it reconnect.
    pub fn resume(blob: &str, now_ms: f64) -> Result<Client> {
        let resumed = decode_resumed(blob, millis(now_ms)).map_err(fail)?;
        let inner = Session::resume(resumed, OsRng).map_err(fail)?;
        Ok(Client {
            inner,
            room_name: String::new(),
        })
    }

    fn start(secrets: &RoomSecrets, alias: &str, room_name: &str) -> Result<Client> {
        let inner = Session::new(secrets, alias, OsRng).map_err(fail)?;
        Ok(Client {
            inner,
            room_name: room_name.to_owned(),
        })
    }

    /// The `create` frame's text.
    pub fn create_frame(&mut self, now_ms: f64) -> Result<String> {
        let frame = self.inner.create_frame(&self.room_name, millis(now_ms)).map_err(fail)?;
        Ok(frame.encode())
    }

    /// The `join` frame's text.
    pub fn join_frame(&mut self, now_ms: f64) -> Result<String> {
        Ok(self.inner.join_frame(millis(now_ms)).map_err(fail)?.encode())
    }

    /// The opaque resume blob for the page's sessionStorage: room secrets and alias, never session keys or messages.
    pub fn resume_blob(&self) -> Result<String> {
        Ok(self.inner.resume_blob().map_err(fail)?.to_string())
    }

    /// The room's current link as a whole URL fragment without `#`: the one this session entered with, or the new one
    /// once the room was locked, whoever locked it; a session rebuilt from a resume blob has it too.
    pub fn link(&self) -> String {
        self.inner.secrets().link().to_fragment().to_string()
    }

    /// This session: `{member, alias, fingerprint, duplicate_alias, owner, everyone_kicks}`, with `member` null
    /// before the relay assigned one, `duplicate_alias` set when an accepted member's alias looks like this one,
    /// `owner` whether this session owns the room and `everyone_kicks` the room's kick policy.
    pub fn identity(&self) -> JsValue {
        Fields::new()
            .set("member", optional_member(self.inner.member_id()))
            .set("alias", self.inner.alias())
            .set("fingerprint", self.inner.fingerprint())
            .set("duplicate_alias", self.inner.own_alias_looks_alike())
            .set("owner", self.inner.is_owner())
            .set("everyone_kicks", self.inner.kick_policy() == KickPolicy::Everyone)
            .done()
    }

    /// Compares aliases from now on by `skeleton`, the look-alike module's function (a string in, its UTS #39 skeleton
    /// out), which the Worker loads once the room is joined; until then only aliases equal but for case are flagged.
    pub fn use_skeleton(&mut self, skeleton: js_sys::Function) {
        SKELETON.with_borrow_mut(|slot| *slot = Some(skeleton));
        self.inner.set_skeleton(skeleton_from_js);
    }

    /// The members this session accepts, as `MemberAccepted` carries them; call it when membership changed.
    pub fn members(&self) -> Array {
        self.inner.members().iter().map(member_info).collect()
    }

    /// Handles one text frame from the relay; returns `{send, events}`.
    ///
    /// Text that is not a relay frame is ignored, as the core ignores frames that do not fit its state.
    pub fn receive(&mut self, text: &str, now_ms: f64) -> JsValue {
        let events = match RelayFrame::decode(text) {
            Ok(frame) => self.inner.handle(frame, millis(now_ms)),
            Err(_) => Vec::new(),
        };
        self.output(events)
    }

    /// Enforces the room's expiry by this client's clock; call it about once a second.
    pub fn tick(&mut self, now_ms: f64) -> JsValue {
        let events = self.inner.tick(millis(now_ms));
        self.output(events)
    }

    /// Seals a text message for the room; returns `{send, events}`.
    pub fn send_text(&mut self, text: &str, now_ms: f64) -> Result<JsValue> {
        self.inner.send_text(text, millis(now_ms)).map_err(fail)?;
        Ok(self.output(Vec::new()))
    }

    /// Seals a text that only `member` can read.
    pub fn whisper(&mut self, member: MemberId, text: &str, now_ms: f64) -> Result<JsValue> {
        self.inner.whisper(member, text, millis(now_ms)).map_err(fail)?;
        Ok(self.output(Vec::new()))
    }

    /// Starts an attachment for the room, or whispered to `to` when it is a member id, with a caption (empty for
    /// none); seals its start item, which `take_frames` then returns. Each chunk is sealed by `send_chunk` when the
    /// Worker's scheduler reaches it.
    pub fn attach(
        &mut self,
        to: Option<MemberId>,
        name: &str,
        mime: &str,
        caption: &str,
        bytes: &[u8],
        now_ms: f64,
    ) -> Result<Upload> {
        let inner = self
            .inner
            .start_attachment_with_caption(to, name, mime, caption, bytes, millis(now_ms))
            .map_err(fail)?;
        Ok(Upload { inner })
    }

    /// Seals the next chunk of `upload`; returns `{send, events}`.
    pub fn send_chunk(&mut self, upload: &mut Upload, now_ms: f64) -> Result<JsValue> {
        self.inner.send_chunk(&mut upload.inner, millis(now_ms)).map_err(fail)?;
        Ok(self.output(Vec::new()))
    }

    /// Stops `upload` before its last chunk: seals the cancel its receivers drop it by; returns `{send, events}`.
    pub fn cancel_upload(&mut self, upload: &Upload, now_ms: f64) -> Result<JsValue> {
        self.inner
            .cancel_attachment(&upload.inner, millis(now_ms))
            .map_err(fail)?;
        Ok(self.output(Vec::new()))
    }

    /// Frames the core queued outside a call that returns them (an attachment's start).
    pub fn take_frames(&mut self) -> Array {
        self.frames()
    }

    /// Kicks a member: signed in-band for every client, and the relay's kick.
    pub fn kick(&mut self, member: MemberId, now_ms: f64) -> Result<JsValue> {
        let events = self.inner.kick(member, millis(now_ms)).map_err(fail)?;
        Ok(self.output(events))
    }

    /// Hands ownership of the room to `member`; only the owner may.
    pub fn transfer(&mut self, member: MemberId, now_ms: f64) -> Result<JsValue> {
        let events = self.inner.transfer(member, millis(now_ms)).map_err(fail)?;
        Ok(self.output(events))
    }

    /// A fresh link for locking this room (same room id and expiry, new link secret), as a whole URL fragment without
    /// `#`; the Worker runs the key schedule on it with the new password, then calls `lock`.
    pub fn fresh_link(&mut self) -> String {
        self.inner.fresh_link().to_fragment().to_string()
    }

    /// Removes `kick` (a member id, or undefined) and locks the room with `secrets`, the derivation Worker's answer for
    /// the fresh link and the new password; only the owner may. Returns `{send, events}`; the page then takes a new
    /// resume blob.
    pub fn lock(&mut self, kick: Option<MemberId>, secrets: &str, now_ms: f64) -> Result<JsValue> {
        let (secrets, _) = decode_resume(secrets, millis(now_ms)).map_err(fail)?;
        let events = self.inner.lock(kick, &secrets, millis(now_ms)).map_err(fail)?;
        Ok(self.output(events))
    }

    /// Purges the room for everyone.
    pub fn purge(&mut self, now_ms: f64) -> Result<JsValue> {
        let events = self.inner.purge(millis(now_ms)).map_err(fail)?;
        Ok(self.output(events))
    }

    /// Leaves with a signed goodbye carrying the farewell.
    pub fn leave(&mut self, farewell: &str, now_ms: f64) -> Result<JsValue> {
        let events = self.inner.leave(farewell, millis(now_ms)).map_err(fail)?;
        Ok(self.output(events))
    }
}

impl Client {
    fn frames(&mut self) -> Array {
        self.inner
            .take_outgoing()
            .iter()
            .map(|frame: &ClientFrame| JsValue::from(frame.encode()))
            .collect()
    }

    /// The core's events as plain objects, with the frames to send.
    fn output(&mut self, events: Vec<Event>) -> JsValue {
        let events: Array = events.into_iter().map(event).collect();
        Fields::new().set("send", self.frames()).set("events", events).done()
    }
}

fn member_info(info: &MemberInfo) -> JsValue {
    Fields::new()
        .set("member", info.member)
        .set("alias", info.alias.as_str())
        .set("fingerprint", info.fingerprint.as_str())
        .set("duplicate_alias", info.duplicate_alias)
        .set("owner", info.owner)
        .set("kickable", info.kickable)
        .done()
}

fn leave_reason(reason: LeaveReason) -> JsValue {
    match reason {
        LeaveReason::Left { farewell } => Fields::typed("Left").set("farewell", farewell),
        LeaveReason::Kicked { by } => Fields::typed("Kicked").set("by", by),
        // The relay's word alone: the page words it as the relay's report, never as a member's action.
        LeaveReason::RelayReported { reason } => Fields::typed("RelayReported").set(
            "said",
            match reason {
                LeftReason::Left => "Left",
                LeftReason::Kicked => "Kicked",
                LeftReason::Dropped => "Dropped",
            },
        ),
    }
    .done()
}

fn end_reason(reason: EndReason) -> JsValue {
    match reason {
        EndReason::Left => Fields::typed("Left"),
        EndReason::Kicked { by } => Fields::typed("Kicked").set("by", by),
        EndReason::RemovedByRelay => Fields::typed("RemovedByRelay"),
        EndReason::Purged { by } => Fields::typed("Purged").set("by", optional_member(by)),
        EndReason::Expired => Fields::typed("Expired"),
        EndReason::Refused { code } => Fields::typed("Refused").set("code", code.as_str()),
        EndReason::Unverifiable => Fields::typed("Unverifiable"),
    }
    .done()
}

/// Adds the receive time, the sender's time clamped to it, and whether the two differ by more than a minute.
fn with_timing(fields: Fields, timing: Timing) -> Fields {
    fields
        .set("received_at", timing.received_at as f64)
        .set("sent_at", timing.sent_at as f64)
        .set("clock_differs", timing.clock_differs)
}

/// One event as `{type, ...fields}`: the Rust variant's name and fields, times as numbers.
fn event(event: Event) -> JsValue {
    let fields = Fields::typed(event_name(&event));
    match event {
        Event::Joined {
            member,
            expires_at,
            room_name,
        } => fields
            .set("member", member)
            .set("expires_at", expires_at as f64)
            .set("room_name", room_name),
        Event::MemberAccepted(info) | Event::MemberPresent(info) => fields
            .set("member", info.member)
            .set("alias", info.alias)
            .set("fingerprint", info.fingerprint)
            .set("duplicate_alias", info.duplicate_alias)
            .set("owner", info.owner)
            .set("kickable", info.kickable),
        Event::Reconnected {
            member,
            previous,
            alias,
            old_fingerprint,
            new_fingerprint,
        } => fields
            .set("member", member)
            .set("previous", optional_member(previous))
            .set("alias", alias)
            .set("old_fingerprint", old_fingerprint)
            .set("new_fingerprint", new_fingerprint),
        Event::OwnerChanged { owner, by } => fields
            .set("owner", optional_member(owner))
            .set("by", optional_member(by)),
        Event::NotAllowed { from, alias, attempt } => fields.set("from", from).set("alias", alias).set(
            "attempt",
            match attempt {
                Attempt::Kick { target } => Fields::typed("Kick").set("target", optional_member(target)),
                Attempt::Transfer => Fields::typed("Transfer"),
                Attempt::Lock => Fields::typed("Lock"),
            }
            .done(),
        ),
        Event::Locked { by } => fields.set("by", optional_member(by)),
        Event::LockConfirmed => fields,
        Event::MemberLeft { member, alias, reason } => fields
            .set("member", member)
            .set("alias", alias)
            .set("reason", leave_reason(reason)),
        Event::Message {
            from,
            alias,
            text,
            timing,
            whisper,
        } => with_timing(fields, timing)
            .set("from", from)
            .set("alias", alias)
            .set("text", text)
            .set("whisper", whisper),
        Event::Attachment {
            from,
            alias,
            name,
            mime,
            caption,
            bytes,
            timing,
            whisper,
        } => with_timing(fields, timing)
            .set("from", from)
            .set("alias", alias)
            .set("name", name)
            .set("mime", mime)
            .set("caption", caption)
            .set("bytes", Uint8Array::from(&bytes[..]))
            .set("whisper", whisper),
        Event::AttachmentProgress {
            from,
            alias,
            name,
            received,
            size,
            whisper,
        } => fields
            .set("from", from)
            .set("alias", alias)
            .set("name", name)
            .set("received", received as f64)
            .set("size", size as f64)
            .set("whisper", whisper),
        Event::Missed { from, alias, count } => fields.set("from", from).set("alias", alias).set("count", count),
        Event::AttachmentDropped { from, alias, reason } => fields.set("from", from).set("alias", alias).set(
            "reason",
            match reason {
                AttachmentDrop::Crowded => "Crowded",
                AttachmentDrop::BadName => "BadName",
                AttachmentDrop::Cancelled => "Cancelled",
            },
        ),
        Event::Expiring { seconds } => fields.set("seconds", seconds),
        Event::CouldNotVerify { from } => fields.set("from", from),
        Event::RelayError { code, message } => fields.set("code", code.as_str()).set("message", message),
        Event::Ended { reason } => fields.set("reason", end_reason(reason)),
    }
    .done()
}
