//! The full-screen interface's state: what is on screen and what the keys do, with no terminal and no socket.
//!
//! The driver feeds it the core's events and the keys pressed; it answers with [`Action`]s for the driver to carry
//! out. `ui.rs` draws it, so tests drive it and read the screen through ratatui's test backend.

use chrono::{FixedOffset, TimeZone};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::text::Line;
use sanctum_client::{AttachmentDrop, Attempt, EndReason, Event, LeaveReason, MemberInfo};
use sanctum_protocol::{LeftReason, MemberId};
use zeroize::Zeroizing;

use crate::command::{self, Command, HELP};
use crate::held::Held;
use crate::room::Action;
use crate::text;

/// Most entries kept on screen; older ones scroll away for good.
pub(crate) const MAX_ENTRIES: usize = 2_000;

/// How a notice is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Something happened.
    Info,
    /// Something the user should notice: an expiry warning, a duplicate alias.
    Warning,
    /// Something failed.
    Error,
}

/// One entry in the message pane.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// A message from a member (or this session's own, as sent).
    Message {
        /// When it was sent, milliseconds since the Unix epoch.
        at_ms: u64,
        /// The sender's alias, escaped.
        alias: String,
        /// Whether it is a whisper, and between whom.
        whisper: Option<String>,
        /// The formatted text.
        lines: Vec<Line<'static>>,
        /// Whether this session sent it.
        own: bool,
    },
    /// A notice from the app.
    Notice {
        /// When, milliseconds since the Unix epoch.
        at_ms: u64,
        /// What, already escaped.
        text: String,
        /// How to show it.
        level: Level,
    },
}

/// An action waiting for the user's yes.
#[derive(Debug, Clone)]
struct Confirm {
    prompt: String,
    action: Action,
}

/// The password for a lock, being typed at a hidden prompt: keys go here, never to the input line or the screen.
struct Hidden {
    /// The member the lock removes.
    member: MemberId,
    /// The password as typed the first time, once it was.
    first: Option<Zeroizing<String>>,
    /// What is being typed now.
    typed: Zeroizing<String>,
}

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hidden")
            .field("member", &self.member)
            .finish_non_exhaustive()
    }
}

/// Everything the full-screen interface shows.
#[derive(Debug)]
pub(crate) struct App {
    /// The room's name.
    pub(crate) room_name: String,
    /// This session's alias.
    pub(crate) alias: String,
    /// This session's fingerprint.
    pub(crate) fingerprint: String,
    /// The room link, shown to the creator.
    pub(crate) link: Option<Zeroizing<String>>,
    /// This session's member id once joined.
    pub(crate) me: Option<MemberId>,
    /// The room's expiry, seconds since the Unix epoch.
    pub(crate) expires_at: u64,
    /// The members that receive this session's keys.
    pub(crate) members: Vec<MemberInfo>,
    /// The message pane, oldest first.
    pub(crate) entries: Vec<Entry>,
    /// The input line.
    pub(crate) input: String,
    /// The cursor's byte offset in `input`.
    pub(crate) cursor: usize,
    /// Lines scrolled back from the newest.
    pub(crate) scroll: usize,
    /// Attachment frames still to send.
    pub(crate) sending: usize,
    /// Why the session ended, once it has.
    pub(crate) ended: Option<String>,
    /// Text to put on the terminal's clipboard at the next draw.
    pub(crate) clipboard: Option<Zeroizing<String>>,
    /// Received attachments, until saved or the session ends.
    pub(crate) held: Held,
    /// Whether this session owns the room, as the core says after each turn.
    pub(crate) owner: bool,
    /// The member that typed lines and `/send` go to while whispering, as the web app's whisper mode.
    whisper_to: Option<MemberId>,
    confirm: Option<Confirm>,
    /// The lock's password, while it is being typed.
    hidden: Option<Hidden>,
    /// The alias and the room name as chosen, unescaped: the strength rule counts them against a new password.
    plain: (String, String),
    offset: FixedOffset,
}

/// Formats a time of day in the user's time zone.
pub(crate) fn clock(offset: FixedOffset, at_ms: u64) -> String {
    i64::try_from(at_ms)
        .ok()
        .and_then(|ms| offset.timestamp_millis_opt(ms).single())
        .map_or_else(|| "--:--".into(), |t| t.format("%H:%M").to_string())
}

/// Formats seconds left as `M:SS` or `H:MM:SS`.
pub(crate) fn countdown(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} B"),
    }
}

/// `text` with its first letter upper case.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// Why a session ended, in words.
pub(crate) fn end_text(reason: &EndReason, name_of: impl Fn(Option<MemberId>) -> String) -> String {
    match reason {
        EndReason::Left => "You left the room.".into(),
        EndReason::Kicked { by } => format!("You were removed from the room by {}.", name_of(Some(*by))),
        EndReason::RemovedByRelay => {
            "The relay says you were removed from the room; no member's signed kick reached you.".into()
        }
        EndReason::Purged { by: Some(by) } => {
            format!(
                "The room was purged by {}. It is gone for everyone.",
                name_of(Some(*by))
            )
        }
        EndReason::Purged { by: None } => "The relay says the room was purged. It is gone for everyone.".into(),
        EndReason::Expired => "The room expired. It is gone for everyone.".into(),
        EndReason::Refused { code } => format!("The relay refused: {}.", code.as_str()),
        EndReason::Unverifiable => {
            "The room's description did not verify: the relay is not serving this room faithfully.".into()
        }
    }
}

impl App {
    /// A fresh screen for `alias` with `fingerprint`, in the time zone `offset`.
    pub(crate) fn new(alias: &str, fingerprint: &str, expires_at: u64, offset: FixedOffset) -> Self {
        Self {
            room_name: String::new(),
            alias: text::escape(alias),
            fingerprint: fingerprint.to_owned(),
            link: None,
            me: None,
            expires_at,
            members: Vec::new(),
            entries: Vec::new(),
            input: String::new(),
            cursor: 0,
            scroll: 0,
            sending: 0,
            ended: None,
            clipboard: None,
            held: Held::default(),
            owner: false,
            whisper_to: None,
            confirm: None,
            hidden: None,
            plain: (alias.to_owned(), String::new()),
            offset,
        }
    }

    /// The time zone times are shown in.
    pub(crate) fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// The question waiting for a yes, or the hidden password prompt, if any.
    pub(crate) fn prompt(&self) -> Option<&str> {
        match &self.hidden {
            Some(Hidden { first: None, .. }) => Some("New password for the new link (hidden; Esc cancels)"),
            Some(Hidden { first: Some(_), .. }) => Some("The same password again (hidden; Esc cancels)"),
            None => self.confirm.as_ref().map(|c| c.prompt.as_str()),
        }
    }

    /// The alias, escaped, of the member this session is whispering to, if it is.
    pub(crate) fn whispering_to(&self) -> Option<String> {
        self.whisper_to.map(|m| self.name_of(Some(m)))
    }

    /// Leaves whisper mode, saying so.
    fn stop_whispering(&mut self, now_ms: u64, why: &str) {
        if self.whisper_to.take().is_some() {
            self.notice(
                now_ms,
                Level::Info,
                format!("{why}Messages and files go to the whole room again."),
            );
        }
    }

    /// Adds a notice.
    pub(crate) fn notice(&mut self, now_ms: u64, level: Level, text: impl Into<String>) {
        self.push(Entry::Notice {
            at_ms: now_ms,
            text: text.into(),
            level,
        });
    }

    fn push(&mut self, entry: Entry) {
        if self.entries.len() == MAX_ENTRIES {
            self.entries.remove(0);
        }
        self.entries.push(entry);
    }

    /// The alias of a member id, escaped, for notices.
    fn name_of(&self, member: Option<MemberId>) -> String {
        match member {
            Some(m) if Some(m) == self.me => "you".into(),
            Some(m) => self
                .members
                .iter()
                .find(|info| info.member == m)
                .map_or_else(|| format!("member #{m}"), |info| text::escape(&info.alias)),
            None => "someone".into(),
        }
    }

    /// Shows one of the core's events; `members` is the session's member list after it.
    pub(crate) fn on_event(&mut self, event: &Event, members: Vec<MemberInfo>, now_ms: u64) {
        match event {
            Event::Joined {
                member,
                expires_at,
                room_name,
            } => {
                self.me = Some(*member);
                self.expires_at = *expires_at;
                self.room_name = text::escape(room_name);
                self.plain.1 = room_name.clone();
                let ends = clock(self.offset, expires_at.saturating_mul(1000));
                self.notice(
                    now_ms,
                    Level::Info,
                    format!(
                        "You are in \"{}\" as {} (fingerprint {}). The room ends at {ends}. /help lists the commands.",
                        self.room_name, self.alias, self.fingerprint
                    ),
                );
                if let Some(link) = &self.link {
                    let text = format!(
                        "Room link (share it, and the password, only with the people you invite): {}",
                        link.as_str()
                    );
                    self.notice(now_ms, Level::Info, text);
                }
            }
            Event::MemberAccepted(info) => {
                let alias = text::escape(&info.alias);
                self.notice(
                    now_ms,
                    Level::Info,
                    format!("{alias} joined (fingerprint {}).", info.fingerprint),
                );
                if info.duplicate_alias {
                    self.notice(
                        now_ms,
                        Level::Warning,
                        format!("Two members use the alias {alias}: compare fingerprints with /members before trusting either."),
                    );
                }
            }
            Event::MemberPresent(info) => {
                let alias = text::escape(&info.alias);
                self.notice(
                    now_ms,
                    Level::Info,
                    format!("{alias} is here (fingerprint {}).", info.fingerprint),
                );
            }
            Event::Reconnected {
                alias,
                old_fingerprint,
                new_fingerprint,
                ..
            } => {
                let alias = text::escape(alias);
                self.notice(
                    now_ms,
                    Level::Warning,
                    format!("{alias} reconnected (new key): fingerprint {old_fingerprint} is now {new_fingerprint}."),
                );
            }
            Event::OwnerChanged { owner, by } => {
                let text = match (owner, by) {
                    (None, _) => {
                        "The room's owner is gone: nobody can remove members now (anyone can still /purge).".into()
                    }
                    (Some(owner), Some(by)) => format!(
                        "{} made {} the room's owner.",
                        self.name_of(Some(*by)),
                        self.name_of(Some(*owner))
                    ),
                    (Some(owner), None) => format!("{} owns the room.", self.name_of(Some(*owner))),
                };
                self.notice(now_ms, Level::Info, text);
            }
            Event::NotAllowed { alias, attempt, .. } => {
                let alias = text::escape(alias);
                let text = match attempt {
                    Attempt::Kick { target } => format!(
                        "{alias} tried to remove {} without the right to; every member refused it.",
                        self.name_of(*target)
                    ),
                    Attempt::Transfer => {
                        format!("{alias} tried to hand on ownership without owning the room; every member refused it.")
                    }
                    Attempt::Lock => {
                        format!("{alias} tried to lock the room without owning it; you kept the room's keys.")
                    }
                };
                self.notice(now_ms, Level::Warning, text);
            }
            Event::Locked { by } if by.is_some() && *by == self.me => {
                self.notice(
                    now_ms,
                    Level::Warning,
                    "Waiting for the relay to take the new link; until it does, the old link still opens the room.",
                );
            }
            Event::Locked { by } => {
                let text = format!(
                    "{} locked the room: everyone still in moved to a new link, and the old link and password stop opening it. You are still in, and the chat goes on.",
                    self.name_of(*by)
                );
                self.notice(now_ms, Level::Info, text);
            }
            Event::LockConfirmed => {
                self.notice(
                    now_ms,
                    Level::Info,
                    "The relay took the new link: the old link no longer opens the room, with the old password or any other.",
                );
            }
            Event::MemberLeft { member, alias, reason } => {
                let alias = text::escape(alias);
                let text = match reason {
                    LeaveReason::Left { farewell } if farewell.is_empty() => format!("{alias} left."),
                    LeaveReason::Left { farewell } => format!("{alias} left: {}", text::escape(farewell)),
                    LeaveReason::Kicked { by } => format!("{alias} was removed by {}.", self.name_of(Some(*by))),
                    LeaveReason::RelayReported { reason } => {
                        let said = match reason {
                            LeftReason::Left => "left",
                            LeftReason::Kicked => "was removed",
                            LeftReason::Dropped => "lost their connection",
                        };
                        format!("The relay says {alias} {said} (#{member}); it no longer receives your keys.")
                    }
                };
                self.notice(now_ms, Level::Info, text);
            }
            Event::Message {
                alias,
                text: body,
                timing,
                whisper,
                ..
            } => {
                if timing.clock_differs {
                    self.notice(
                        now_ms,
                        Level::Warning,
                        format!(
                            "{}'s clock differs from yours by more than a minute.",
                            text::escape(alias)
                        ),
                    );
                }
                self.push(Entry::Message {
                    at_ms: timing.sent_at,
                    alias: text::escape(alias),
                    whisper: whisper.then(|| "to you".to_owned()),
                    lines: text::format(body),
                    own: false,
                });
            }
            Event::Attachment {
                alias,
                name,
                mime,
                caption,
                bytes,
                timing,
                whisper,
                ..
            } => {
                self.hold(alias, name, mime, bytes, timing.sent_at, *whisper);
                // A caption reads like a message from the same sender, right under its file.
                if !caption.is_empty() {
                    self.push(Entry::Message {
                        at_ms: timing.sent_at,
                        alias: text::escape(alias),
                        whisper: whisper.then(|| "to you".to_owned()),
                        lines: text::format(caption),
                        own: false,
                    });
                }
            }
            // The terminal shows a file once it is complete and checked; it has no progress line to update.
            Event::AttachmentProgress { .. } => {}
            Event::Missed { alias, count, .. } => self.notice(
                now_ms,
                Level::Warning,
                format!("{count} message(s) from {} did not reach you.", text::escape(alias)),
            ),
            Event::AttachmentDropped { alias, reason, .. } => {
                let alias = text::escape(alias);
                let (level, text) = match reason {
                    AttachmentDrop::Crowded => (
                        Level::Warning,
                        format!(
                            "A file from {alias} was dropped before it was complete: too many files were arriving at once."
                        ),
                    ),
                    AttachmentDrop::BadName => (
                        Level::Warning,
                        format!(
                            "A file from {alias} was refused: its name holds invisible or direction-changing characters."
                        ),
                    ),
                    AttachmentDrop::Cancelled => (
                        Level::Info,
                        format!("{alias} stopped sending a file before it was complete."),
                    ),
                };
                self.notice(now_ms, level, text)
            }
            Event::Expiring { seconds } => {
                let left = if *seconds >= 120 {
                    format!("{} minutes", seconds / 60)
                } else {
                    format!("{seconds} seconds")
                };
                self.notice(
                    now_ms,
                    Level::Warning,
                    format!("The room expires in {left}; everything is then wiped."),
                );
            }
            Event::CouldNotVerify { from } => self.notice(
                now_ms,
                Level::Warning,
                format!(
                    "Something relayed as from {} could not be verified and was dropped.",
                    self.name_of(Some(*from))
                ),
            ),
            Event::RelayError { code, message } => self.notice(
                now_ms,
                Level::Error,
                format!(
                    "The relay refused a frame ({}): {}",
                    code.as_str(),
                    text::escape(message)
                ),
            ),
            Event::Ended { reason } => self.ended = Some(end_text(reason, |m| self.name_of(m))),
        }
        // Members leave the list after their notice, so the notice can still name a kicker who just left.
        self.members = members;
        // A whisper target that no longer receives this session's keys could not read what is typed next.
        if let Some(to) = self.whisper_to
            && !self.members.iter().any(|m| m.member == to)
        {
            self.stop_whispering(now_ms, "The member you were whispering to is no longer in the room. ");
        }
    }

    fn hold(&mut self, alias: &str, name: &str, mime: &str, bytes: &[u8], sent_at: u64, whisper: bool) {
        let index = self.held.hold(bytes);
        let text = format!(
            "{} {} a file: [{index}] \"{}\" ({}, {}). Type /save {index} PATH to write it to a file.",
            text::escape(alias),
            if whisper { "whispered you" } else { "sent" },
            text::escape(name),
            if mime.is_empty() {
                "no type".into()
            } else {
                text::escape(mime)
            },
            size(bytes.len())
        );
        self.push(Entry::Notice {
            at_ms: sent_at,
            text,
            level: Level::Info,
        });
    }

    /// Finds a member by alias (case-insensitive) or `#id`; an alias two members use is refused.
    pub(crate) fn resolve(&self, who: &str) -> Result<MemberId, String> {
        if let Some(id) = who.strip_prefix('#').and_then(|n| n.parse::<MemberId>().ok()) {
            return self
                .members
                .iter()
                .find(|m| m.member == id)
                .map(|m| m.member)
                .ok_or_else(|| format!("No member #{id}; /members lists them."));
        }
        let wanted = who.trim().to_lowercase();
        let found: Vec<&MemberInfo> = self
            .members
            .iter()
            .filter(|m| m.alias.trim().to_lowercase() == wanted)
            .collect();
        match found.as_slice() {
            [one] => Ok(one.member),
            [] => Err(format!(
                "No member is called {}; /members lists them.",
                text::escape(who)
            )),
            _ => Err(format!(
                "{} members use the alias {}: name one by its number (#N) from /members.",
                found.len(),
                text::escape(who)
            )),
        }
    }

    /// Records a message this session sent, as the others will see it.
    pub(crate) fn own_message(&mut self, text: &str, whisper_to: Option<&str>, now_ms: u64) {
        self.push(Entry::Message {
            at_ms: now_ms,
            alias: self.alias.clone(),
            whisper: whisper_to.map(|to| format!("to {}", text::escape(to))),
            lines: text::format(text),
            own: true,
        });
    }

    /// Handles one submitted line.
    pub(crate) fn submit(&mut self, line: &str, now_ms: u64) -> Option<Action> {
        if line.trim().is_empty() {
            return None;
        }
        let error = |app: &mut Self, text: String| {
            app.notice(now_ms, Level::Error, text);
            None
        };
        match command::parse(line) {
            Command::Say(text) => Some(match self.whisper_to {
                Some(to) => Action::Whisper { to, text },
                None => Action::Say(text),
            }),
            Command::Whisper { to, text } => match self.resolve(&to) {
                Ok(member) => Some(Action::Whisper { to: member, text }),
                Err(e) => error(self, e),
            },
            Command::WhisperMode(Some(who)) => match self.resolve(&who) {
                Ok(member) => {
                    self.whisper_to = Some(member);
                    let text = format!(
                        "Whispering to {}: what you type and /send go to them only. Esc or /w goes back to the room.",
                        self.name_of(Some(member))
                    );
                    self.notice(now_ms, Level::Info, text);
                    None
                }
                Err(e) => error(self, e),
            },
            Command::WhisperMode(None) if self.whisper_to.is_some() => {
                self.stop_whispering(now_ms, "");
                None
            }
            Command::WhisperMode(None) => error(self, "Usage: /w ALIAS [MESSAGE]".into()),
            Command::Kick(who) => match self.resolve(&who) {
                Ok(member) => {
                    let prompt = format!("Remove {} from the room? (y/n)", self.name_of(Some(member)));
                    self.ask(prompt, Action::Kick(member))
                }
                Err(e) => error(self, e),
            },
            Command::Transfer(who) => match self.resolve(&who) {
                Ok(_) if !self.owner => error(self, "Only the room's owner can hand it on.".into()),
                Ok(member) => {
                    let alias = self.name_of(Some(member));
                    let prompt = format!(
                        "Make {alias} the owner? They can remove members and lock the room, and you no longer can. (y/n)"
                    );
                    self.ask(prompt, Action::Transfer(member))
                }
                Err(e) => error(self, e),
            },
            Command::Lock(who) => match self.resolve(&who) {
                Ok(_) if !self.owner => error(self, "Only the room's owner can lock it.".into()),
                Ok(member) => {
                    let alias = self.name_of(Some(member));
                    let text = format!(
                        "Remove {alias} and lock: {alias} is removed, and everyone else moves to a new link; the old link and password stop working. Type a new password for the new link twice, and tell it to the members who should still get in.",
                    );
                    self.notice(now_ms, Level::Info, text);
                    self.hidden = Some(Hidden {
                        member,
                        first: None,
                        typed: Zeroizing::new(String::new()),
                    });
                    None
                }
                Err(e) => error(self, e),
            },
            Command::Purge => self.ask(
                "Purge the room for everyone? Every screen is wiped and the link dies. (y/n)".into(),
                Action::Purge,
            ),
            Command::Leave(farewell) => self.ask("Leave the room? (y/n)".into(), Action::Leave(farewell)),
            Command::Members => {
                self.list_members(now_ms);
                None
            }
            // In whisper mode a file is whispered too, as the web app does with a file dropped while whispering.
            Command::Send(path) => Some(Action::Send {
                path,
                to: self.whisper_to,
            }),
            Command::CancelUploads => Some(Action::CancelUploads),
            Command::Save { index, path } => match self.held.get(index) {
                Some(_) => Some(Action::Save { index, path }),
                None => error(self, format!("No attachment [{index}] is held.")),
            },
            Command::Link => {
                let text = match &self.link {
                    Some(link) => format!("Room link: {}", link.as_str()),
                    None => "You joined with the link you were given; it is not shown again.".into(),
                };
                self.notice(now_ms, Level::Info, text);
                None
            }
            Command::Copy => {
                match &self.link {
                    Some(link) => {
                        self.clipboard = Some(link.clone());
                        self.notice(
                            now_ms,
                            Level::Info,
                            "Copied the room link to the clipboard, if this terminal allows it (OSC 52).",
                        );
                    }
                    None => self.notice(now_ms, Level::Error, "Only the room's creator has its link here."),
                }
                None
            }
            Command::Help => {
                for (usage, what) in HELP {
                    self.notice(now_ms, Level::Info, format!("{usage:<20} {what}"));
                }
                self.notice(
                    now_ms,
                    Level::Info,
                    "Start a message with // to send a leading /. PgUp/PgDn scroll. Ctrl-C leaves at once.",
                );
                None
            }
            Command::Usage(usage) => error(self, format!("Usage: {usage}")),
            Command::Unknown(name) => error(
                self,
                format!("Unknown command {}; /help lists them.", text::escape(&name)),
            ),
        }
    }

    fn ask(&mut self, prompt: String, action: Action) -> Option<Action> {
        self.confirm = Some(Confirm { prompt, action });
        None
    }

    fn list_members(&mut self, now_ms: u64) {
        let mut lines = vec![format!("{} (you): {}", self.alias, self.fingerprint)];
        for m in &self.members {
            let warn = if m.duplicate_alias {
                "  (same alias as another member)"
            } else {
                ""
            };
            let owner = if m.owner { " (owner)" } else { "" };
            lines.push(format!(
                "#{} {}{owner}: {}{warn}",
                m.member,
                text::escape(&m.alias),
                m.fingerprint
            ));
        }
        self.notice(
            now_ms,
            Level::Info,
            format!("{} members receive your keys:", self.members.len() + 1),
        );
        for line in lines {
            self.notice(now_ms, Level::Info, line);
        }
    }

    /// Handles one key press.
    pub(crate) fn on_key(&mut self, key: KeyEvent, now_ms: u64) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c' | 'd')) {
            return Some(Action::Leave(String::new()));
        }
        if self.hidden.is_some() {
            return self.on_hidden_key(key, now_ms);
        }
        if let Some(confirm) = self.confirm.take() {
            return match key.code {
                KeyCode::Char('y' | 'Y') => Some(confirm.action),
                _ => {
                    self.notice(now_ms, Level::Info, "Cancelled.");
                    None
                }
            };
        }
        match key.code {
            KeyCode::Enter => {
                let line = std::mem::take(&mut self.input);
                self.cursor = 0;
                self.scroll = 0;
                return self.submit(&line, now_ms);
            }
            KeyCode::Char('u') if ctrl => {
                self.input.drain(..self.cursor);
                self.cursor = 0;
            }
            KeyCode::Char(c) if !ctrl => {
                // Pasted text can hold anything; keep it to what the line can show.
                let c = if text::is_unsafe(c) { ' ' } else { c };
                self.input.insert(self.cursor, c);
                self.cursor += c.len_utf8();
            }
            KeyCode::Backspace => {
                if let Some(c) = self.input[..self.cursor].chars().next_back() {
                    self.cursor -= c.len_utf8();
                    self.input.remove(self.cursor);
                }
            }
            KeyCode::Delete if self.cursor < self.input.len() => {
                self.input.remove(self.cursor);
            }
            KeyCode::Left => {
                if let Some(c) = self.input[..self.cursor].chars().next_back() {
                    self.cursor -= c.len_utf8();
                }
            }
            KeyCode::Right => {
                if let Some(c) = self.input[self.cursor..].chars().next() {
                    self.cursor += c.len_utf8();
                }
            }
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.input.len(),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_add(10),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Esc => {
                self.input.clear();
                self.cursor = 0;
                self.stop_whispering(now_ms, "");
            }
            _ => {}
        }
        None
    }

    /// A key typed at the hidden password prompt: nothing typed is shown, Enter moves on, Esc cancels.
    fn on_hidden_key(&mut self, key: KeyEvent, now_ms: u64) -> Option<Action> {
        let hidden = self.hidden.as_mut()?;
        match key.code {
            KeyCode::Esc => {
                self.hidden = None;
                self.notice(now_ms, Level::Info, "Cancelled: the room was not locked.");
            }
            KeyCode::Backspace => {
                hidden.typed.pop();
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => hidden.typed.push(c),
            KeyCode::Enter => return self.hidden_entered(now_ms),
            _ => {}
        }
        None
    }

    /// Enter at the hidden prompt: the first entry must be an acceptable password, the second the same again.
    fn hidden_entered(&mut self, now_ms: u64) -> Option<Action> {
        let mut hidden = self.hidden.take()?;
        let typed = std::mem::replace(&mut hidden.typed, Zeroizing::new(String::new()));
        let Some(first) = hidden.first.take() else {
            let problem = if typed.is_empty() {
                Some("Enter the password for the new link.".to_owned())
            } else {
                crate::password::check_length(&typed)
                    .err()
                    .map(|e| format!("{e}."))
                    .or_else(|| crate::password::weakness(&typed, &self.plain.0, &self.plain.1))
            };
            match problem {
                Some(why) => self.notice(now_ms, Level::Error, format!("{} Type another one.", capitalized(&why))),
                None => hidden.first = Some(typed),
            }
            self.hidden = Some(hidden);
            return None;
        };
        if first.as_str() != typed.as_str() {
            self.notice(
                now_ms,
                Level::Error,
                "The two passwords differ. Type the new password again.",
            );
            self.hidden = Some(hidden);
            return None;
        }
        self.notice(
            now_ms,
            Level::Info,
            "Locking the room: stretching the password and moving everyone to the new link…",
        );
        Some(Action::Lock {
            member: hidden.member,
            password: crate::password::Secret(first),
        })
    }

    /// Shows the new link after this session locked the room, and keeps it for /link and /copy.
    pub(crate) fn locked(&mut self, link: &crate::password::Secret, now_ms: u64) {
        self.notice(
            now_ms,
            Level::Info,
            format!(
                "You locked the room and moved everyone still in it to a new link. Share it with anyone who should still be able to join, and tell them the password another way: {}",
                link.expose()
            ),
        );
        self.link = Some(link.0.clone());
    }

    /// Reports how a `/save` went.
    pub(crate) fn saved(&mut self, index: usize, path: &std::path::Path, result: std::io::Result<()>, now_ms: u64) {
        let shown = text::escape(&path.display().to_string());
        match result {
            Ok(()) => self.notice(now_ms, Level::Info, format!("Saved [{index}] to {shown}.")),
            Err(e) => self.notice(
                now_ms,
                Level::Error,
                format!("Could not save [{index}] to {shown}: {e}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(app: &mut App, text: &str) -> Option<Action> {
        for c in text.chars() {
            app.on_key(key(KeyCode::Char(c)), 0);
        }
        app.on_key(key(KeyCode::Enter), 0)
    }

    fn member(id: MemberId, alias: &str, duplicate: bool) -> MemberInfo {
        MemberInfo {
            member: id,
            alias: alias.into(),
            fingerprint: "aaaa bbbb cccc dddd eeee".into(),
            duplicate_alias: duplicate,
            owner: false,
            kickable: true,
        }
    }

    fn app() -> App {
        let mut app = App::new(
            "alice",
            "1111 2222 3333 4444 5555",
            4_000_000_000,
            FixedOffset::east_opt(0).unwrap(),
        );
        app.members = vec![
            member(2, "bob", false),
            member(3, "carol", true),
            member(4, "Carol", true),
        ];
        app
    }

    #[test]
    fn typing_sends_and_slash_commands_resolve_members() {
        let mut app = app();
        assert_eq!(typed(&mut app, "hello"), Some(Action::Say("hello".into())));
        assert_eq!(
            typed(&mut app, "/w BOB psst"),
            Some(Action::Whisper {
                to: 2,
                text: "psst".into()
            })
        );
        assert_eq!(
            typed(&mut app, "/w carol hi"),
            None,
            "an alias two members use is refused"
        );
        assert_eq!(
            typed(&mut app, "/w #3 hi"),
            Some(Action::Whisper {
                to: 3,
                text: "hi".into()
            })
        );
        assert_eq!(typed(&mut app, "/w dave hi"), None);
        assert!(app.input.is_empty());
    }

    #[test]
    fn whisper_mode_whispers_lines_and_files_to_its_target_until_escape() {
        let mut app = app();
        assert_eq!(typed(&mut app, "/w bob"), None);
        assert_eq!(
            typed(&mut app, "just us"),
            Some(Action::Whisper {
                to: 2,
                text: "just us".into()
            })
        );
        assert_eq!(
            typed(&mut app, "/send ./plan.pdf"),
            Some(Action::Send {
                path: PathBuf::from("./plan.pdf"),
                to: Some(2)
            }),
            "a file sent while whispering goes to the whisper target only"
        );
        app.on_key(key(KeyCode::Esc), 0);
        assert_eq!(typed(&mut app, "everyone"), Some(Action::Say("everyone".into())));
        assert_eq!(
            typed(&mut app, "/send ./plan.pdf"),
            Some(Action::Send {
                path: PathBuf::from("./plan.pdf"),
                to: None
            })
        );

        // `/w` alone goes back to the room too, and an alias two members share is refused.
        typed(&mut app, "/w #3");
        assert_eq!(app.whispering_to().as_deref(), Some("carol"));
        typed(&mut app, "/w");
        assert_eq!(app.whispering_to(), None);
        assert_eq!(typed(&mut app, "/w carol"), None);
        assert_eq!(app.whispering_to(), None);

        // A target that leaves ends whisper mode, so nothing typed next is sealed to a departed member.
        typed(&mut app, "/w bob");
        let left = Event::MemberLeft {
            member: 2,
            alias: "bob".into(),
            reason: LeaveReason::Left {
                farewell: String::new(),
            },
        };
        let remaining = app.members.iter().filter(|m| m.member != 2).cloned().collect();
        app.on_event(&left, remaining, 0);
        assert_eq!(app.whispering_to(), None);
        assert_eq!(typed(&mut app, "hello"), Some(Action::Say("hello".into())));
    }

    #[test]
    fn kick_purge_and_leave_ask_first() {
        let mut app = app();
        assert_eq!(typed(&mut app, "/purge"), None);
        assert!(app.prompt().unwrap().contains("Purge"));
        assert_eq!(app.on_key(key(KeyCode::Char('n')), 0), None);
        assert_eq!(app.prompt(), None);
        typed(&mut app, "/kick bob");
        assert_eq!(app.on_key(key(KeyCode::Char('y')), 0), Some(Action::Kick(2)));
        typed(&mut app, "/leave bye");
        assert_eq!(
            app.on_key(key(KeyCode::Char('y')), 0),
            Some(Action::Leave("bye".into()))
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.on_key(ctrl_c, 0), Some(Action::Leave(String::new())));
    }

    fn last_notice(app: &App) -> String {
        match app.entries.last() {
            Some(Entry::Notice { text, .. }) => text.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lock_and_transfer_are_the_owners_and_the_lock_password_is_hidden_typed_twice_and_strong() {
        let mut app = app();
        assert_eq!(typed(&mut app, "/lock bob"), None);
        assert_eq!(last_notice(&app), "Only the room's owner can lock it.");
        assert_eq!(typed(&mut app, "/transfer bob"), None);
        assert_eq!(app.prompt(), None);
        app.owner = true;

        assert_eq!(typed(&mut app, "/transfer bob"), None);
        assert!(app.prompt().unwrap().starts_with("Make bob the owner?"));
        assert_eq!(app.on_key(key(KeyCode::Char('y')), 0), Some(Action::Transfer(2)));

        assert_eq!(typed(&mut app, "/lock bob"), None);
        assert!(app.prompt().unwrap().starts_with("New password"));
        // A weak password is refused at once, by the rule a new room's password follows.
        assert_eq!(typed(&mut app, "password1"), None);
        assert!(last_notice(&app).contains("too easy to guess"), "{}", last_notice(&app));
        assert!(app.prompt().unwrap().starts_with("New password"));
        let strong = "tulip granite orbit whisker lantern";
        assert_eq!(typed(&mut app, strong), None);
        assert!(app.prompt().unwrap().starts_with("The same password again"));
        assert!(
            app.input.is_empty(),
            "nothing typed at the hidden prompt reaches the input line"
        );
        assert_eq!(typed(&mut app, "tulip granite orbit whisker"), None);
        assert!(last_notice(&app).starts_with("The two passwords differ."));
        assert_eq!(typed(&mut app, strong), None);
        assert_eq!(
            typed(&mut app, strong),
            Some(Action::Lock {
                member: 2,
                password: crate::password::Secret::new(strong.into())
            })
        );
        assert_eq!(app.prompt(), None);
        assert!(
            app.entries
                .iter()
                .all(|e| !matches!(e, Entry::Notice { text, .. } if text.contains("tulip"))),
            "the password is never shown"
        );
        assert!(!format!("{app:?}").contains("tulip"));

        // Esc cancels at the hidden prompt; the relay's confirmation alone says the old link stopped working.
        typed(&mut app, "/lock bob");
        app.on_key(key(KeyCode::Esc), 0);
        assert_eq!(app.prompt(), None);
        assert_eq!(last_notice(&app), "Cancelled: the room was not locked.");
        app.me = Some(1);
        app.locked(&crate::password::Secret::new("http://relay/#v1.new".into()), 0);
        app.on_event(&Event::Locked { by: Some(1) }, app.members.clone(), 0);
        assert!(last_notice(&app).contains("until it does, the old link still opens the room"));
        app.on_event(&Event::LockConfirmed, app.members.clone(), 0);
        assert!(last_notice(&app).contains("the old link no longer opens the room"));
        assert_eq!(app.link.as_deref().map(String::as_str), Some("http://relay/#v1.new"));
    }

    #[test]
    fn attachments_are_announced_and_saved_on_request() {
        let mut app = app();
        let event = Event::Attachment {
            from: 2,
            alias: "bob".into(),
            name: "a\u{1b}[31m.txt".into(),
            mime: "text/plain".into(),
            caption: String::new(),
            bytes: b"abc".to_vec(),
            timing: sanctum_client::Timing::new(0, 0),
            whisper: false,
        };
        app.on_event(&event, app.members.clone(), 0);
        let Some(Entry::Notice { text, .. }) = app.entries.last() else {
            panic!()
        };
        assert!(text.contains("[1] \"a<U+001B>[31m.txt\" (text/plain, 3 B)"), "{text}");
        assert_eq!(
            typed(&mut app, "/save 1 out.txt"),
            Some(Action::Save {
                index: 1,
                path: PathBuf::from("out.txt")
            })
        );
        assert_eq!(typed(&mut app, "/save 2 out.txt"), None);
    }

    #[test]
    fn editing_keys_move_over_characters() {
        let mut app = app();
        for c in "héllo".chars() {
            app.on_key(key(KeyCode::Char(c)), 0);
        }
        app.on_key(key(KeyCode::Left), 0);
        app.on_key(key(KeyCode::Backspace), 0);
        app.on_key(key(KeyCode::Home), 0);
        app.on_key(key(KeyCode::Delete), 0);
        app.on_key(key(KeyCode::Char('\u{1b}')), 0);
        assert_eq!(app.input, " élo");
    }

    #[test]
    fn ended_names_the_purger() {
        let mut app = app();
        app.me = Some(1);
        let members = app.members.clone();
        app.on_event(
            &Event::Ended {
                reason: EndReason::Purged { by: Some(2) },
            },
            members,
            0,
        );
        assert_eq!(
            app.ended.as_deref(),
            Some("The room was purged by bob. It is gone for everyone.")
        );
    }
}
