//! The full-screen front end: the [`App`] in the terminal's alternate screen, drawn with ratatui over crossterm.
//!
//! The alternate screen is cleared and left however the session ends (leave, kick, purge, expiry, Ctrl-C, an
//! error or a panic), so nothing of the room stays on the terminal or in its scrollback.

use std::io::{Stdout, Write as _};
use std::path::Path;

use base64::Engine as _;
use crossterm::event::Event as TermEvent;
use crossterm::terminal::{self, ClearType, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use sanctum_client::{Event, Session};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::app::{App, Level};
use crate::room::{Action, Frontend, Report};
use crate::ui;

/// Puts the terminal back: clears the alternate screen, leaves it, ends raw mode and shows the cursor.
pub(crate) fn restore() {
    let mut out = std::io::stdout();
    let _ = execute!(out, terminal::Clear(ClearType::All), cursor::MoveTo(0, 0));
    let _ = execute!(out, LeaveAlternateScreen, cursor::Show);
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

/// The terminal in raw mode on the alternate screen, restored when dropped.
#[derive(Debug)]
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    fn enter() -> anyhow::Result<Self> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        terminal::enable_raw_mode()?;
        execute!(std::io::stdout(), EnterAlternateScreen, terminal::Clear(ClearType::All))?;
        Ok(Self {
            terminal: Terminal::new(CrosstermBackend::new(std::io::stdout()))?,
        })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.terminal.clear();
        restore();
    }
}

/// The full-screen front end.
#[derive(Debug)]
pub(crate) struct Tui {
    /// What is shown.
    pub(crate) app: App,
    screen: Screen,
}

impl Tui {
    /// Enters the alternate screen and starts the thread that reads the terminal's input.
    pub(crate) fn start(app: App) -> anyhow::Result<(Self, mpsc::UnboundedReceiver<TermEvent>)> {
        let screen = Screen::enter()?;
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            while let Ok(event) = crossterm::event::read() {
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        Ok((Self { app, screen }, rx))
    }
}

impl Frontend for Tui {
    type Input = TermEvent;

    fn on_events(&mut self, session: &Session, events: &[Event], now_ms: u64) {
        // A reconnect is a new session with new keys.
        self.app.fingerprint = session.fingerprint();
        self.app.owner = session.is_owner();
        for event in events {
            self.app.on_event(event, session.members(), now_ms);
        }
    }

    fn on_input(&mut self, input: TermEvent, now_ms: u64) -> Vec<Action> {
        match input {
            TermEvent::Key(key) => self.app.on_key(key, now_ms).into_iter().collect(),
            TermEvent::Paste(text) => {
                for c in text.chars() {
                    let key = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c));
                    self.app.on_key(key, now_ms);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn on_report(&mut self, session: &Session, report: Report, now_ms: u64) {
        match report {
            Report::Said { text, to } => {
                let alias = to.and_then(|m| session.members().into_iter().find(|i| i.member == m).map(|i| i.alias));
                self.app
                    .own_message(&text, alias.as_deref().or(to.map(|_| "a member")), now_ms);
            }
            Report::Sending { name, size, frames } => self.app.notice(
                now_ms,
                Level::Info,
                format!(
                    "Sending \"{}\" ({size} bytes, {frames} frames).",
                    crate::text::escape(&name)
                ),
            ),
            Report::Sent { name } => {
                self.app
                    .notice(now_ms, Level::Info, format!("Sent \"{}\".", crate::text::escape(&name)));
            }
            Report::Cancelled { names } if names.is_empty() => {
                self.app.notice(now_ms, Level::Info, "No file is being sent.");
            }
            Report::Cancelled { names } => {
                for name in names {
                    let text = format!("Stopped sending \"{}\".", crate::text::escape(&name));
                    self.app.notice(now_ms, Level::Info, text);
                }
            }
            Report::Progress(left) => self.app.sending = left,
            Report::Locked { link } => self.app.locked(&link, now_ms),
            Report::Failed(message) => self.app.notice(now_ms, Level::Error, crate::text::escape(&message)),
            Report::Reconnecting { seconds } => self.app.notice(
                now_ms,
                Level::Warning,
                format!(
                    "The connection to the relay dropped. Rejoining as a new session in {seconds} s; \
                     messages sent meanwhile will not be shown."
                ),
            ),
        }
    }

    fn save(&mut self, index: usize, path: &Path, now_ms: u64) {
        let result = self.app.held.save(index, path);
        self.app.saved(index, path, result, now_ms);
    }

    fn render(&mut self, now_ms: u64) -> anyhow::Result<()> {
        let app = &self.app;
        self.screen.terminal.draw(|frame| ui::draw(frame, app, now_ms))?;
        if let Some(text) = self.app.clipboard.take() {
            // OSC 52: the terminal (or tmux, with set-clipboard on) puts the text on the clipboard.
            let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()));
            let mut out = std::io::stdout();
            write!(out, "\u{1b}]52;c;{}\u{7}", encoded.as_str())?;
            out.flush()?;
        }
        Ok(())
    }
}
