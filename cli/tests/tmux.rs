//! The full-screen interface in a real terminal: `sanctum join` under tmux, with a native client as the other member.
//!
//! The password goes in at the terminal's prompt, messages and a whisper go out from the input line, a member's
//! escape sequences are shown and never obeyed (the pane's title stays), and the other member's purge clears the
//! alternate screen, leaving only the reason. The screen is kept as HTML in `target/`, and rendered with Chromium
//! into the README's picture when `SANCTUM_UPDATE_SCREENSHOT` is set.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sanctum_client::rand_core::OsRng;
use sanctum_client::{EndReason, Event, RoomLink, RoomSecrets};
use sanctum_relay::Config;
use sanctum_testkit::native::{Command, NativeClient, now_ms};
use sanctum_testkit::relay::TestRelay;

const PASSWORD: &str = "velvet orbit cactus thunder quietly";
const DEADLINE: Duration = Duration::from_secs(30);
const WIDTH: u16 = 110;
const HEIGHT: u16 = 28;

/// A tmux server of this test's own, on a socket named after the process, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> anyhow::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "sanctum-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let tmux = Self { socket };
        let (w, h) = (WIDTH.to_string(), HEIGHT.to_string());
        tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            &w,
            "-y",
            &h,
            "-s",
            "t",
            command,
        ])?;
        tmux.run(&["set-option", "-t", "t", "remain-on-exit", "on"])?;
        tmux.run(&["set-option", "-t", "t", "status", "off"])?;
        Ok(tmux)
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Process::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env("TERM", "xterm-256color")
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn screen(&self) -> anyhow::Result<String> {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    fn title(&self) -> anyhow::Result<String> {
        Ok(self
            .run(&["display-message", "-p", "-t", "t", "#{pane_title}"])?
            .trim()
            .to_owned())
    }

    fn type_line(&self, text: &str) -> anyhow::Result<()> {
        self.run(&["send-keys", "-t", "t", "-l", text])?;
        self.run(&["send-keys", "-t", "t", "Enter"])?;
        Ok(())
    }

    /// Waits until the screen satisfies `want`; tmux has no event for that, so it is read every 50 ms.
    async fn wait(&self, what: &str, want: impl Fn(&str) -> bool) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let screen = self.screen()?;
            if want(&screen) {
                return Ok(screen);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The 16 ANSI colours as xterm shows them, then the 256-colour cube and greys.
fn palette(index: u8) -> String {
    const BASE: [&str; 16] = [
        "#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5", "#7f7f7f", "#ff0000",
        "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff",
    ];
    match index {
        0..=15 => BASE[usize::from(index)].to_owned(),
        16..=231 => {
            let i = index - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            format!("#{:02x}{:02x}{:02x}", level(i / 36), level(i / 6 % 6), level(i % 6))
        }
        _ => {
            let grey = 8 + 10 * (index - 232);
            format!("#{grey:02x}{grey:02x}{grey:02x}")
        }
    }
}

/// Renders `capture-pane -e` output (text with SGR sequences) as an HTML page of coloured spans.
fn to_html(captured: &str) -> String {
    #[derive(Clone, Default, PartialEq)]
    struct Pen {
        fg: Option<String>,
        bg: Option<String>,
        bold: bool,
        italic: bool,
        underline: bool,
    }
    let mut body = String::new();
    let mut pen = Pen::default();
    let mut chars = captured.chars().peekable();
    let mut open = false;
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            let mut params = String::new();
            for p in chars.by_ref() {
                if p == 'm' {
                    break;
                }
                params.push(p);
            }
            let codes: Vec<u16> = params.split(';').map(|p| p.parse().unwrap_or(0)).collect();
            let mut i = 0;
            while i < codes.len() {
                match codes[i] {
                    0 => pen = Pen::default(),
                    1 => pen.bold = true,
                    3 => pen.italic = true,
                    4 => pen.underline = true,
                    22 => pen.bold = false,
                    23 => pen.italic = false,
                    24 => pen.underline = false,
                    n @ 30..=37 => pen.fg = Some(palette((n - 30) as u8)),
                    n @ 90..=97 => pen.fg = Some(palette((n - 90 + 8) as u8)),
                    n @ 40..=47 => pen.bg = Some(palette((n - 40) as u8)),
                    n @ 100..=107 => pen.bg = Some(palette((n - 100 + 8) as u8)),
                    39 => pen.fg = None,
                    49 => pen.bg = None,
                    n @ (38 | 48) if codes.get(i + 1) == Some(&5) => {
                        let colour = Some(palette(codes.get(i + 2).copied().unwrap_or(0) as u8));
                        if n == 38 {
                            pen.fg = colour
                        } else {
                            pen.bg = colour
                        }
                        i += 2;
                    }
                    _ => {}
                }
                i += 1;
            }
            if open {
                body.push_str("</span>");
            }
            let mut style = String::new();
            if let Some(fg) = &pen.fg {
                style.push_str(&format!("color:{fg};"));
            }
            if let Some(bg) = &pen.bg {
                style.push_str(&format!("background:{bg};"));
            }
            if pen.bold {
                style.push_str("font-weight:bold;");
            }
            if pen.italic {
                style.push_str("font-style:italic;");
            }
            if pen.underline {
                style.push_str("text-decoration:underline;");
            }
            body.push_str(&format!("<span style=\"{style}\">"));
            open = true;
            continue;
        }
        match c {
            '<' => body.push_str("&lt;"),
            '>' => body.push_str("&gt;"),
            '&' => body.push_str("&amp;"),
            c => body.push(c),
        }
    }
    if open {
        body.push_str("</span>");
    }
    format!(
        "<!doctype html><meta charset=\"utf-8\"><style>body{{margin:0;background:#1e1e1e}}\
         pre{{margin:0;padding:12px;font:15px/1.25 'DejaVu Sans Mono',monospace;color:#e5e5e5}}</style><pre>{body}</pre>"
    )
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Keeps the screen as HTML in target/, and with `SANCTUM_UPDATE_SCREENSHOT` renders it with Chromium for the README.
fn keep_screen(tmux: &Tmux) -> anyhow::Result<()> {
    let captured = tmux.run(&["capture-pane", "-p", "-e", "-t", "t"])?;
    let html = target_dir().join("terminal-screen.html");
    std::fs::write(&html, to_html(&captured))?;
    if std::env::var_os("SANCTUM_UPDATE_SCREENSHOT").is_some() {
        let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/terminal-screenshot.png");
        let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let status = Process::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!(
                "--window-size={},{}",
                u32::from(WIDTH) * 9 + 40,
                u32::from(HEIGHT) * 19 + 24
            ))
            .arg(format!("file://{}", html.display()))
            .status()?;
        anyhow::ensure!(status.success(), "chromium could not render the screenshot");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_screen_interface_chats_in_a_real_terminal_and_a_purge_clears_it() -> anyhow::Result<()> {
    let relay = TestRelay::start(Config::default()).await;
    let link = RoomLink::generate(&mut OsRng, 1800, now_ms())?;
    let secrets = RoomSecrets::derive(&link, PASSWORD)?;
    let mut bob = NativeClient::start(relay.addr, &secrets, "bob", Some("Night shift")).await?;
    bob.expect("bob in", |e| matches!(e, Event::Joined { .. })).await?;
    let bob_id = bob.member().unwrap_or_default();
    let url = format!("http://{}/#{}", relay.addr, link.to_fragment().as_str());

    let command = format!("{} join '{url}' --alias alice", env!("CARGO_BIN_EXE_sanctum"));
    let tmux = Tmux::start(&command)?;
    tmux.wait("the password prompt", |s| s.contains("Room password:"))
        .await?;
    tmux.type_line(PASSWORD)?;
    let screen = tmux.wait("the room", |s| s.contains("bob joined")).await?;
    assert!(!screen.contains(PASSWORD), "the password is never echoed");
    assert!(screen.contains("Night shift"), "{screen}");
    bob.expect(
        "bob accepts alice",
        |e| matches!(e, Event::MemberAccepted(i) if i.alias == "alice"),
    )
    .await?;
    let title = tmux.title()?;

    bob.command(Command::Text(
        "<b>Evening</b>, alice \u{1b}]2;owned\u{7}\u{1b}[2J\u{202e}gnp.exe".into(),
    ));
    let screen = tmux.wait("bob's message", |s| s.contains("Evening")).await?;
    assert!(
        screen.contains("bob: Evening, alice <U+001B>]2;owned<U+0007><U+001B>[2J<U+202E>gnp.exe"),
        "{screen}"
    );
    assert_eq!(tmux.title()?, title, "the member's escape sequence set no title");
    // The fingerprint bob's client computed for alice is the one alice's screen shows as hers.
    let fingerprint = bob.seen.iter().find_map(|e| match e {
        Event::MemberAccepted(info) if info.alias == "alice" => Some(info.fingerprint.clone()),
        _ => None,
    });
    let fingerprint = fingerprint.ok_or_else(|| anyhow::anyhow!("no fingerprint"))?;
    assert!(screen.contains(&format!("you: alice {fingerprint}")), "{screen}");

    tmux.type_line("Hello bob, all quiet here")?;
    bob.expect(
        "alice's message",
        |e| matches!(e, Event::Message { text, whisper: false, .. } if text == "Hello bob, all quiet here"),
    )
    .await?;
    tmux.type_line("/w bob the <i>back door</i> is open")?;
    bob.expect(
        "alice's whisper",
        |e| matches!(e, Event::Message { text, whisper: true, .. } if text == "the <i>back door</i> is open"),
    )
    .await?;
    bob.command(Command::Whisper(alice_id(&bob)?, "thanks, on my way".into()));
    bob.command(Command::Attachment(
        "rota.pdf".into(),
        "application/pdf".into(),
        vec![1; 4000],
    ));
    let screen = tmux
        .wait("bob's whisper and file", |s| {
            s.contains("thanks, on my way") && s.contains("rota.pdf")
        })
        .await?;
    assert!(screen.contains("bob (whisper to you): thanks, on my way"), "{screen}");
    assert!(
        screen.contains("[1] \"rota.pdf\" (application/pdf, 3.9 KiB). Type /save"),
        "{screen}"
    );
    assert!(
        screen.contains("Members (2)") && screen.contains(&format!("#{bob_id} bob")),
        "{screen}"
    );
    tmux.type_line("/members")?;
    tmux.wait("the member list", |s| s.contains("2 members receive your keys"))
        .await?;
    keep_screen(&tmux)?;

    bob.command(Command::Purge);
    let screen = tmux.wait("the purge", |s| s.contains("purged by bob")).await?;
    assert!(
        screen.contains("The room was purged by bob. It is gone for everyone."),
        "{screen}"
    );
    for gone in ["Hello bob", "Evening", "back door", "Members ("] {
        assert!(!screen.contains(gone), "{gone:?} is still on the terminal:\n{screen}");
    }
    let history = tmux.run(&["capture-pane", "-p", "-S", "-", "-t", "t"])?;
    assert!(
        !history.contains("Hello bob"),
        "nothing of the room is in the scrollback"
    );
    let (events, _) = bob.finished().await;
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Purged { .. }
        }
    )));
    Ok(())
}

/// Alice's member id, from bob's accepted members.
fn alice_id(bob: &NativeClient) -> anyhow::Result<u32> {
    bob.seen
        .iter()
        .find_map(|e| match e {
            Event::MemberAccepted(info) if info.alias == "alice" => Some(info.member),
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("bob never accepted alice"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_leaves_with_a_goodbye_and_clears_the_screen() -> anyhow::Result<()> {
    let relay = TestRelay::start(Config::default()).await;
    let link = RoomLink::generate(&mut OsRng, 600, now_ms())?;
    let secrets = RoomSecrets::derive(&link, PASSWORD)?;
    let mut bob = NativeClient::start(relay.addr, &secrets, "bob", Some("Night shift")).await?;
    bob.expect("bob in", |e| matches!(e, Event::Joined { .. })).await?;
    let url = format!("http://{}/#{}", relay.addr, link.to_fragment().as_str());
    let tmux = Tmux::start(&format!("{} join '{url}' --alias alice", env!("CARGO_BIN_EXE_sanctum")))?;
    tmux.wait("the password prompt", |s| s.contains("Room password:"))
        .await?;
    tmux.type_line(PASSWORD)?;
    tmux.wait("the room", |s| s.contains("bob joined")).await?;
    bob.command(Command::Text("a secret plan".into()));
    tmux.wait("bob's message", |s| s.contains("a secret plan")).await?;

    tmux.run(&["send-keys", "-t", "t", "C-c"])?;
    bob.expect(
        "alice's goodbye",
        |e| matches!(e, Event::MemberLeft { alias, .. } if alias == "alice"),
    )
    .await?;
    let screen = tmux.wait("the end", |s| s.contains("You left the room.")).await?;
    assert!(
        !screen.contains("a secret plan") && !screen.contains("Night shift"),
        "{screen}"
    );
    let history = tmux.run(&["capture-pane", "-p", "-S", "-", "-t", "t"])?;
    assert!(
        !history.contains("a secret plan"),
        "nothing of the room is in the scrollback"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_asks_the_password_twice_and_copies_the_link_for_a_member_to_join() -> anyhow::Result<()> {
    let relay = TestRelay::start(Config::default()).await;
    let command = format!(
        "{} create --alias alice --name 'Night shift' --lifetime 10m --relay ws://{}/ws",
        env!("CARGO_BIN_EXE_sanctum"),
        relay.addr
    );
    let tmux = Tmux::start(&command)?;
    // With set-clipboard on, tmux keeps what a program copies with OSC 52 as a paste buffer.
    tmux.run(&["set-option", "-s", "set-clipboard", "on"])?;
    tmux.wait("the first prompt", |s| s.contains("New room password:"))
        .await?;
    tmux.type_line("password1")?;
    tmux.wait("the refusal", |s| s.contains("too easy to guess")).await?;
    tmux.type_line(PASSWORD)?;
    tmux.wait("the second prompt", |s| s.contains("Repeat it:")).await?;
    tmux.type_line(PASSWORD)?;
    tmux.wait("the room", |s| s.contains("Room link")).await?;
    tmux.type_line("/copy")?;
    tmux.wait("the copy notice", |s| s.contains("Copied the room link"))
        .await?;
    let link = tmux.run(&["show-buffer"])?;
    assert!(link.starts_with(&format!("http://{}/#v1.", relay.addr)), "{link:?}");

    let secrets = RoomSecrets::derive(&RoomLink::parse(&link, now_ms())?, PASSWORD)?;
    let mut bob = NativeClient::start(relay.addr, &secrets, "bob", None).await?;
    bob.expect(
        "bob in Night shift",
        |e| matches!(e, Event::Joined { room_name, .. } if room_name == "Night shift"),
    )
    .await?;
    tmux.wait("bob joined", |s| s.contains("bob joined")).await?;
    tmux.type_line("/leave")?;
    tmux.wait("the question", |s| s.contains("Leave the room? (y/n)"))
        .await?;
    tmux.run(&["send-keys", "-t", "t", "y"])?;
    bob.expect(
        "alice left",
        |e| matches!(e, Event::MemberLeft { alias, .. } if alias == "alice"),
    )
    .await?;
    tmux.wait("the end", |s| s.contains("You left the room.")).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_removes_and_locks_at_a_hidden_prompt_and_hands_on_ownership() -> anyhow::Result<()> {
    const NEW_PASSWORD: &str = "tulip granite orbit whisker lantern";
    let relay = TestRelay::start(Config::default()).await;
    let command = format!(
        "{} create --alias alice --lifetime 10m --relay ws://{}/ws",
        env!("CARGO_BIN_EXE_sanctum"),
        relay.addr
    );
    let tmux = Tmux::start(&command)?;
    tmux.run(&["set-option", "-s", "set-clipboard", "on"])?;
    tmux.wait("the first prompt", |s| s.contains("New room password:"))
        .await?;
    tmux.type_line(PASSWORD)?;
    tmux.wait("the second prompt", |s| s.contains("Repeat it:")).await?;
    tmux.type_line(PASSWORD)?;
    tmux.wait("the room", |s| s.contains("Room link")).await?;
    tmux.type_line("/copy")?;
    tmux.wait("the copy notice", |s| s.contains("Copied the room link"))
        .await?;
    let link = tmux.run(&["show-buffer"])?;
    let secrets = RoomSecrets::derive(&RoomLink::parse(&link, now_ms())?, PASSWORD)?;
    let mut bob = NativeClient::start(relay.addr, &secrets, "bob", None).await?;
    tmux.wait("bob joined", |s| s.contains("bob joined")).await?;
    let mut carol = NativeClient::start(relay.addr, &secrets, "carol", None).await?;
    tmux.wait("carol joined", |s| s.contains("carol joined")).await?;
    bob.expect(
        "bob accepts carol",
        |e| matches!(e, Event::MemberAccepted(info) if info.alias == "carol"),
    )
    .await?;

    tmux.type_line("/lock carol")?;
    tmux.wait("the hidden prompt", |s| s.contains("New password for the new link"))
        .await?;
    tmux.type_line("password1")?;
    tmux.wait("the refusal", |s| s.contains("too easy to guess")).await?;
    tmux.type_line(NEW_PASSWORD)?;
    tmux.wait("the second prompt", |s| s.contains("The same password again"))
        .await?;
    tmux.type_line(NEW_PASSWORD)?;
    let screen = tmux
        .wait("the relay's confirmation", |s| {
            s.contains("The relay took the new link")
        })
        .await?;
    assert!(!screen.contains("tulip"), "the password never shows:\n{screen}");
    carol
        .expect("carol removed", |e| {
            matches!(
                e,
                Event::Ended {
                    reason: EndReason::Kicked { .. }
                }
            )
        })
        .await?;
    bob.expect("bob moved", |e| matches!(e, Event::Locked { .. })).await?;

    // /copy now gives the new link, which opens the room with the new password.
    tmux.run(&["delete-buffer"])?;
    tmux.type_line("/copy")?;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let new_link = loop {
        if let Ok(buffer) = tmux.run(&["show-buffer"]) {
            break buffer;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the new link was never copied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(new_link, link);
    let new = RoomSecrets::derive(&RoomLink::parse(&new_link, now_ms())?, NEW_PASSWORD)?;
    let mut dave = NativeClient::start(relay.addr, &new, "dave", None).await?;
    dave.expect(
        "dave accepts alice",
        |e| matches!(e, Event::MemberAccepted(info) if info.alias == "alice"),
    )
    .await?;

    tmux.type_line("/transfer bob")?;
    tmux.wait("the question", |s| s.contains("Make bob the owner?")).await?;
    tmux.run(&["send-keys", "-t", "t", "y"])?;
    let bob_id = bob.member().ok_or_else(|| anyhow::anyhow!("bob has no member id"))?;
    bob.expect(
        "bob owns the room",
        |e| matches!(e, Event::OwnerChanged { owner: Some(owner), .. } if *owner == bob_id),
    )
    .await?;
    tmux.wait("the handover", |s| s.contains("you made bob the room's owner"))
        .await?;
    tmux.type_line("/lock dave")?;
    tmux.wait("the refusal", |s| s.contains("Only the room's owner can lock it."))
        .await?;
    Ok(())
}
