//! The line mode for scripts and bots: one JSON object per event on stdout, one JSON command per line on stdin.
//!
//! `docs/terminal.md` is the schema. Every string a member chose (alias, text, file name) is passed on as sent, and
//! every character that a terminal could act on is written as a `\uXXXX` escape, so that printing the stream
//! raw cannot drive the terminal either.

use std::path::{Path, PathBuf};

use sanctum_client::{AttachmentDrop, Attempt, EndReason, Event, LeaveReason, MemberInfo, Session};
use sanctum_protocol::{LeftReason, MemberId};
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::held::Held;
use crate::password::Secret;
use crate::room::{Action, Frontend, Report};
use crate::text::is_unsafe;

/// One command line.
#[derive(Debug, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
enum Command {
    Send { text: String },
    Whisper { to: MemberId, text: String },
    Kick { member: MemberId },
    Transfer { member: MemberId },
    Lock { member: MemberId, password: Secret },
    Purge,
    Leave { farewell: Option<String> },
    Attach { path: PathBuf, to: Option<MemberId> },
    Save { index: usize, path: PathBuf },
    Cancel,
    Members,
}

/// The JSON line front end.
#[derive(Debug)]
pub(crate) struct Json<W> {
    out: W,
    link: Option<Zeroizing<String>>,
    held: Held,
    members: Vec<MemberInfo>,
    me: Value,
}

fn member_json(info: &MemberInfo) -> Value {
    json!({
        "member": info.member,
        "alias": info.alias,
        "fingerprint": info.fingerprint,
        "duplicate_alias": info.duplicate_alias,
        "owner": info.owner,
        "kickable": info.kickable,
    })
}

fn end_json(reason: &EndReason) -> Value {
    match reason {
        EndReason::Left => json!({"event": "ended", "reason": "left"}),
        EndReason::Kicked { by } => json!({"event": "ended", "reason": "kicked", "by": by}),
        EndReason::RemovedByRelay => json!({"event": "ended", "reason": "removed_by_relay"}),
        EndReason::Purged { by } => json!({"event": "ended", "reason": "purged", "by": by}),
        EndReason::Expired => json!({"event": "ended", "reason": "expired"}),
        EndReason::Refused { code } => json!({"event": "ended", "reason": "refused", "code": code.as_str()}),
        EndReason::Unverifiable => json!({"event": "ended", "reason": "unverifiable"}),
    }
}

/// Serializes `value` on one line with every terminal-active character escaped.
pub(crate) fn line(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe(c) {
            // serde_json already escaped C0 inside strings, and these characters occur only inside strings.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

impl<W: std::io::Write> Json<W> {
    /// A front end writing to `out`; `link` is the room link when this session creates the room.
    pub(crate) fn new(out: W, link: Option<Zeroizing<String>>) -> Self {
        Self {
            out,
            link,
            held: Held::default(),
            members: Vec::new(),
            me: Value::Null,
        }
    }

    /// Writes one event line.
    pub(crate) fn emit(&mut self, value: &Value) {
        // A closed stdout means the script went away; the room still ends properly through stdin's end.
        let _ = writeln!(self.out, "{}", line(value));
        let _ = self.out.flush();
    }

    fn error(&mut self, message: impl Into<String>) {
        self.emit(&json!({"event": "error", "message": message.into()}));
    }

    fn event(&mut self, event: &Event) -> Value {
        match event {
            Event::Joined {
                member,
                expires_at,
                room_name,
            } => {
                let mut value = json!({
                    "event": "joined",
                    "member": member,
                    "room_name": room_name,
                    "expires_at": expires_at,
                    "me": self.me,
                });
                if let Some(link) = &self.link {
                    value["link"] = Value::String(link.as_str().to_owned());
                }
                value
            }
            Event::MemberAccepted(info) => {
                let mut value = member_json(info);
                value["event"] = "member_joined".into();
                value
            }
            Event::MemberPresent(info) => {
                let mut value = member_json(info);
                value["event"] = "member_present".into();
                value
            }
            Event::Reconnected {
                member,
                previous,
                alias,
                old_fingerprint,
                new_fingerprint,
            } => json!({
                "event": "reconnected",
                "member": member,
                "previous": previous,
                "alias": alias,
                "old_fingerprint": old_fingerprint,
                "new_fingerprint": new_fingerprint,
            }),
            Event::OwnerChanged { owner, by } => json!({"event": "owner_changed", "owner": owner, "by": by}),
            Event::NotAllowed { from, alias, attempt } => {
                let mut value = json!({"event": "not_allowed", "from": from, "alias": alias});
                match attempt {
                    Attempt::Kick { target } => {
                        value["attempt"] = "kick".into();
                        value["target"] = json!(target);
                    }
                    Attempt::Transfer => value["attempt"] = "transfer".into(),
                    Attempt::Lock => value["attempt"] = "lock".into(),
                }
                value
            }
            Event::Locked { by } => json!({"event": "locked", "by": by}),
            Event::LockConfirmed => json!({"event": "lock_confirmed"}),
            Event::MemberLeft { member, alias, reason } => {
                let mut value = json!({"event": "member_left", "member": member, "alias": alias});
                match reason {
                    LeaveReason::Left { farewell } => {
                        value["reason"] = "left".into();
                        value["farewell"] = farewell.as_str().into();
                    }
                    LeaveReason::Kicked { by } => {
                        value["reason"] = "kicked".into();
                        value["by"] = json!(by);
                    }
                    LeaveReason::RelayReported { reason } => {
                        value["reason"] = "relay_reported".into();
                        value["said"] = match reason {
                            LeftReason::Left => "left",
                            LeftReason::Kicked => "kicked",
                            LeftReason::Dropped => "dropped",
                        }
                        .into();
                    }
                }
                value
            }
            Event::Message {
                from,
                alias,
                text,
                timing,
                whisper,
            } => json!({
                "event": "message",
                "from": from,
                "alias": alias,
                "text": text,
                "sent_at": timing.sent_at,
                "received_at": timing.received_at,
                "clock_differs": timing.clock_differs,
                "whisper": whisper,
            }),
            Event::Attachment {
                from,
                alias,
                name,
                mime,
                caption,
                bytes,
                timing,
                whisper,
            } => {
                let index = self.held.hold(bytes);
                let sha256 = self.held.get(index).map(|r| r.sha256.clone());
                json!({
                    "event": "attachment",
                    "index": index,
                    "from": from,
                    "alias": alias,
                    "name": name,
                    "mime": mime,
                    "caption": caption,
                    "size": bytes.len(),
                    "sha256": sha256,
                    "sent_at": timing.sent_at,
                    "received_at": timing.received_at,
                    "clock_differs": timing.clock_differs,
                    "whisper": whisper,
                })
            }
            Event::AttachmentProgress {
                from,
                alias,
                name,
                received,
                size,
                whisper,
            } => json!({
                "event": "attachment_progress",
                "from": from,
                "alias": alias,
                "name": name,
                "received": received,
                "size": size,
                "whisper": whisper,
            }),
            Event::Missed { from, alias, count } => {
                json!({"event": "missed", "from": from, "alias": alias, "count": count})
            }
            Event::AttachmentDropped { from, alias, reason } => json!({
                "event": "attachment_dropped",
                "from": from,
                "alias": alias,
                "reason": match reason {
                    AttachmentDrop::Crowded => "crowded",
                    AttachmentDrop::BadName => "bad_name",
                    AttachmentDrop::Cancelled => "cancelled",
                },
            }),
            Event::Expiring { seconds } => json!({"event": "expiring", "seconds": seconds}),
            Event::CouldNotVerify { from } => json!({"event": "could_not_verify", "from": from}),
            Event::RelayError { code, message } => {
                json!({"event": "relay_error", "code": code.as_str(), "message": message})
            }
            Event::Ended { reason } => end_json(reason),
        }
    }
}

impl<W: std::io::Write> Frontend for Json<W> {
    type Input = String;

    fn on_events(&mut self, session: &Session, events: &[Event], _now_ms: u64) {
        // A reconnect is a new session with new keys, so the fingerprint is read again.
        self.me = json!({"alias": session.alias(), "fingerprint": session.fingerprint()});
        for event in events {
            let value = self.event(event);
            self.emit(&value);
        }
        self.members = session.members();
    }

    fn on_input(&mut self, input: String, _now_ms: u64) -> Vec<Action> {
        if input.trim().is_empty() {
            return Vec::new();
        }
        let command = match serde_json::from_str::<Command>(&input) {
            Ok(command) => command,
            Err(e) => {
                self.error(format!("not a command: {e}"));
                return Vec::new();
            }
        };
        vec![match command {
            Command::Send { text } => Action::Say(text),
            Command::Whisper { to, text } => Action::Whisper { to, text },
            Command::Kick { member } => Action::Kick(member),
            Command::Transfer { member } => Action::Transfer(member),
            Command::Lock { member, password } => Action::Lock { member, password },
            Command::Purge => Action::Purge,
            Command::Leave { farewell } => Action::Leave(farewell.unwrap_or_default()),
            Command::Attach { path, to } => Action::Send { path, to },
            Command::Save { index, path } => Action::Save { index, path },
            Command::Cancel => Action::CancelUploads,
            Command::Members => {
                let members: Vec<Value> = self.members.iter().map(member_json).collect();
                let value = json!({"event": "members", "me": self.me, "members": members});
                self.emit(&value);
                return Vec::new();
            }
        }]
    }

    fn on_report(&mut self, _session: &Session, report: Report, _now_ms: u64) {
        let value = match report {
            Report::Said { to, .. } => json!({"event": "sent", "to": to}),
            Report::Sending { name, size, frames } => {
                json!({"event": "sending", "name": name, "size": size, "frames": frames})
            }
            Report::Sent { name } => json!({"event": "sent_attachment", "name": name}),
            Report::Cancelled { names } => json!({"event": "cancelled", "names": names}),
            Report::Progress(_) => return,
            Report::Locked { link } => json!({"event": "new_link", "link": link.expose()}),
            Report::Failed(message) => json!({"event": "error", "message": message}),
            Report::Reconnecting { seconds } => json!({"event": "reconnecting", "in_seconds": seconds}),
        };
        self.emit(&value);
    }

    fn save(&mut self, index: usize, path: &Path, _now_ms: u64) {
        match self.held.save(index, path) {
            Ok(()) => self.emit(&json!({"event": "saved", "index": index, "path": path.display().to_string()})),
            Err(e) => self.error(format!("could not save attachment {index} to {}: {e}", path.display())),
        }
    }

    fn render(&mut self, _now_ms: u64) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_terminal_active_character_is_escaped() {
        let shown = line(&json!({"text": "a\u{1b}[2J\u{9b}\u{7f}\u{202e}\u{2066}b"}));
        assert_eq!(shown, r#"{"text":"a\u001b[2J\u009b\u007f\u202e\u2066b"}"#);
        let back: Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back["text"], "a\u{1b}[2J\u{9b}\u{7f}\u{202e}\u{2066}b");
    }

    #[test]
    fn commands_parse_and_bad_lines_are_answered_with_an_error() {
        let mut json = Json::new(Vec::new(), None);
        assert_eq!(
            json.on_input(r#"{"cmd":"send","text":"hi"}"#.into(), 0),
            [Action::Say("hi".into())]
        );
        assert_eq!(
            json.on_input(r#"{"cmd":"whisper","to":3,"text":"psst"}"#.into(), 0),
            [Action::Whisper {
                to: 3,
                text: "psst".into()
            }]
        );
        assert_eq!(
            json.on_input(r#"{"cmd":"leave"}"#.into(), 0),
            [Action::Leave(String::new())]
        );
        assert_eq!(
            json.on_input(r#"{"cmd":"transfer","member":2}"#.into(), 0),
            [Action::Transfer(2)]
        );
        let lock = json.on_input(
            r#"{"cmd":"lock","member":3,"password":"tulip granite orbit"}"#.into(),
            0,
        );
        assert_eq!(
            lock,
            [Action::Lock {
                member: 3,
                password: Secret::new("tulip granite orbit".into())
            }]
        );
        assert!(!format!("{lock:?}").contains("tulip"), "no password in Debug");
        assert!(json.on_input(r#"{"cmd":"fly"}"#.into(), 0).is_empty());
        assert!(json.on_input("{not json".into(), 0).is_empty());
        let out = String::from_utf8(json.out).unwrap();
        assert_eq!(out.lines().count(), 2);
        assert!(out.lines().all(|l| l.starts_with(r#"{"event":"error""#)), "{out}");
    }
}
