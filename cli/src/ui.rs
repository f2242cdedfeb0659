//! Draws the [`App`] with ratatui: a header with the room and its countdown, the messages, the member list with
//! fingerprints, the input line and a status line.
//!
//! The layout follows the terminal chat clients people know (iamb, gomuks, irssi): messages take the width, members
//! sit in a side pane that gives way on narrow terminals, and the input is always at the bottom.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Padding, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use crate::app::{App, Entry, Level, clock, countdown};
use crate::text;

/// Narrowest terminal that still shows the member pane.
const MEMBERS_MIN_WIDTH: u16 = 80;
/// The member pane's width.
const MEMBERS_WIDTH: u16 = 30;

/// Draws the whole screen at `now_ms`.
pub(crate) fn draw(frame: &mut Frame<'_>, app: &App, now_ms: u64) {
    let [header, body, input, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, header, app, now_ms);
    if body.width >= MEMBERS_MIN_WIDTH {
        let [messages, members] =
            Layout::horizontal([Constraint::Min(20), Constraint::Length(MEMBERS_WIDTH)]).areas(body);
        draw_messages(frame, messages, app);
        draw_members(frame, members, app);
    } else {
        draw_messages(frame, body, app);
    }
    draw_input(frame, input, app);
    draw_status(frame, status, app);
}

fn draw_header(frame: &mut Frame<'_>, area: Rect, app: &App, now_ms: u64) {
    let left = app.expires_at.saturating_sub(now_ms / 1000);
    let countdown_style = match left {
        0..=60 => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        61..=300 => Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        _ => Style::default().fg(Color::Green),
    };
    let name = if app.room_name.is_empty() {
        "Sanctum"
    } else {
        &app.room_name
    };
    let line = Line::from(vec![
        Span::styled(format!(" {name} "), Style::default().add_modifier(Modifier::BOLD)),
        Span::raw("│ "),
        Span::styled(format!("{} left", countdown(left)), countdown_style),
        Span::raw(" │ "),
        Span::raw(format!("you: {} ", app.alias)),
        Span::styled(app.fingerprint.clone(), Style::default().fg(Color::DarkGray)),
    ]);
    frame.render_widget(Paragraph::new(line).style(Style::default().bg(Color::Black)), area);
}

/// The lines of one entry: a prefix with time and sender, then the text, later lines indented under it.
fn entry_lines(app: &App, entry: &Entry) -> Vec<Line<'static>> {
    match entry {
        Entry::Message {
            at_ms,
            alias,
            whisper,
            lines,
            own,
        } => {
            let colour = if *own { Color::Green } else { Color::Cyan };
            let mut prefix = vec![
                Span::styled(
                    format!("{} ", clock(app.offset(), *at_ms)),
                    Style::default().fg(Color::DarkGray),
                ),
                Span::styled(alias.clone(), Style::default().fg(colour).add_modifier(Modifier::BOLD)),
            ];
            if let Some(between) = whisper {
                prefix.push(Span::styled(
                    format!(" (whisper {between})"),
                    Style::default().fg(Color::Magenta),
                ));
            }
            prefix.push(Span::raw(": "));
            let indent = " ".repeat(6);
            lines
                .iter()
                .enumerate()
                .map(|(index, line)| {
                    let mut spans = if index == 0 {
                        prefix.clone()
                    } else {
                        vec![Span::raw(indent.clone())]
                    };
                    spans.extend(line.spans.iter().cloned());
                    Line::from(spans)
                })
                .collect()
        }
        Entry::Notice { at_ms, text, level } => {
            let style = match level {
                Level::Info => Style::default().fg(Color::Gray),
                Level::Warning => Style::default().fg(Color::Yellow),
                Level::Error => Style::default().fg(Color::Red),
            };
            vec![Line::from(vec![
                Span::styled(
                    format!("{} ", clock(app.offset(), *at_ms)),
                    Style::default().fg(Color::DarkGray),
                ),
                Span::styled(format!("* {text}"), style),
            ])]
        }
    }
}

fn draw_messages(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let lines: Vec<Line<'static>> = app.entries.iter().flat_map(|e| entry_lines(app, e)).collect();
    let block = Block::default()
        .borders(Borders::RIGHT)
        .border_style(Style::default().fg(Color::DarkGray));
    let inner = block.inner(area);
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let total = paragraph.line_count(inner.width);
    let bottom = total.saturating_sub(usize::from(inner.height));
    let top = bottom.saturating_sub(app.scroll);
    let paragraph = paragraph
        .block(block)
        .scroll((u16::try_from(top).unwrap_or(u16::MAX), 0));
    frame.render_widget(paragraph, area);
}

fn draw_members(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let mut lines = vec![
        Line::from(vec![
            Span::styled(app.alias.clone(), Style::default().fg(Color::Green).bold()),
            Span::raw(" (you)"),
        ]),
        Line::styled(format!("  {}", app.fingerprint), Style::default().fg(Color::DarkGray)),
    ];
    for member in &app.members {
        let mut head = vec![
            Span::styled(format!("#{} ", member.member), Style::default().fg(Color::DarkGray)),
            Span::styled(text::escape(&member.alias), Style::default().fg(Color::Cyan).bold()),
        ];
        if member.duplicate_alias {
            head.push(Span::styled(" same alias!", Style::default().fg(Color::Red).bold()));
        }
        lines.push(Line::from(head));
        lines.push(Line::styled(
            format!("  {}", member.fingerprint),
            Style::default().fg(Color::DarkGray),
        ));
    }
    let title = format!(" Members ({}) ", app.members.len() + 1);
    let block = Block::default().title(title).padding(Padding::left(1));
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}

fn draw_input(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let (title, style) = match (app.prompt(), app.whispering_to()) {
        (Some(prompt), _) => (format!(" {prompt} "), Style::default().fg(Color::Yellow).bold()),
        (None, Some(to)) => (
            format!(" Whisper to {to} (Esc goes back to the room) "),
            Style::default().fg(Color::Magenta).bold(),
        ),
        (None, None) => (
            " Message (/help for commands) ".to_owned(),
            Style::default().fg(Color::DarkGray),
        ),
    };
    let block = Block::default()
        .title(Span::styled(title, style))
        .borders(Borders::ALL)
        .border_style(style);
    let inner = block.inner(area);
    // Keep the cursor in view by showing the tail of a line wider than the box.
    let before = &app.input[..app.cursor];
    let width = usize::from(inner.width.saturating_sub(1));
    let mut skip = 0;
    while before[skip..].width() > width {
        skip += before[skip..].chars().next().map_or(1, char::len_utf8);
    }
    frame.render_widget(Paragraph::new(app.input[skip..].to_owned()).block(block), area);
    if app.ended.is_none() {
        let x = inner.x + u16::try_from(before[skip..].width()).unwrap_or(0);
        frame.set_cursor_position(Position::new(x.min(inner.right().saturating_sub(1)), inner.y));
    }
}

fn draw_status(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let text = if app.sending > 0 {
        format!(" sending an attachment: {} frames to go", app.sending)
    } else {
        " PgUp/PgDn scroll · /members · /send PATH · /save N PATH · Ctrl-C leaves".to_owned()
    };
    frame.render_widget(Paragraph::new(text).style(Style::default().fg(Color::DarkGray)), area);
}

#[cfg(test)]
mod tests {
    use chrono::FixedOffset;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use sanctum_client::{Event, MemberInfo};

    use super::*;

    fn screen(app: &App, width: u16, height: u16, now_ms: u64) -> (String, ratatui::buffer::Buffer) {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, app, now_ms)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        let text = (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n");
        (text, buffer)
    }

    fn joined_app() -> App {
        let mut app = App::new(
            "alice",
            "1111 2222 3333 4444 5555",
            0,
            FixedOffset::east_opt(3600).unwrap(),
        );
        let bob = MemberInfo {
            member: 2,
            alias: "bob".into(),
            fingerprint: "aaaa bbbb cccc dddd eeee".into(),
            duplicate_alias: false,
            owner: false,
            kickable: true,
        };
        app.on_event(
            &Event::Joined {
                member: 1,
                expires_at: 1_800,
                room_name: "Night shift".into(),
            },
            vec![],
            0,
        );
        app.on_event(&Event::MemberAccepted(bob.clone()), vec![bob.clone()], 1_000);
        app.on_event(
            &Event::Message {
                from: 2,
                alias: "bob".into(),
                text: "<b>hi</b> \u{1b}]0;pwned\u{7} \u{202e}olleh".into(),
                timing: sanctum_client::Timing::new(61_000, 61_000),
                whisper: false,
            },
            vec![bob.clone()],
            61_000,
        );
        app.on_event(
            &Event::Message {
                from: 2,
                alias: "bob".into(),
                text: "just you".into(),
                timing: sanctum_client::Timing::new(62_000, 62_000),
                whisper: true,
            },
            vec![bob],
            62_000,
        );
        app
    }

    #[test]
    fn shows_room_countdown_messages_members_and_fingerprints() {
        let app = joined_app();
        let (text, buffer) = screen(&app, 100, 20, 120_000);
        assert!(
            text.contains(" Night shift │ 28:00 left │ you: alice 1111 2222 3333 4444 5555"),
            "{text}"
        );
        assert!(
            text.contains("01:01 bob: hi <U+001B>]0;pwned<U+0007> <U+202E>olleh"),
            "{text}"
        );
        assert!(text.contains("01:01 bob (whisper to you): just you"), "{text}");
        assert!(text.contains("Members (2)"), "{text}");
        assert!(text.contains("#2 bob"), "{text}");
        assert!(text.contains("aaaa bbbb cccc dddd eeee"), "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'));
        // "hi" is bold: find the cell after "bob: ".
        let row = text.lines().position(|l| l.contains("bob: hi")).unwrap() as u16;
        let col = text.lines().nth(row as usize).unwrap().find("hi <U").unwrap() as u16;
        assert!(buffer[(col, row)].modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn countdown_turns_red_in_the_last_minute_and_narrow_screens_drop_the_member_pane() {
        let app = joined_app();
        let (text, buffer) = screen(&app, 60, 12, 1_750_000);
        assert!(text.contains("0:50 left"), "{text}");
        let col = text.lines().next().unwrap().find("0:50").unwrap() as u16;
        assert_eq!(buffer[(col, 0)].fg, Color::Red);
        assert!(!text.contains("Members ("), "{text}");
    }

    #[test]
    fn the_newest_lines_stay_in_view_and_the_confirm_prompt_replaces_the_title() {
        let mut app = joined_app();
        for n in 0..50 {
            app.own_message(&format!("line {n}"), None, 70_000);
        }
        app.submit("/purge", 70_000);
        let (text, _) = screen(&app, 100, 16, 120_000);
        assert!(text.contains("alice: line 49"), "{text}");
        assert!(!text.contains("alice: line 30"), "{text}");
        assert!(text.contains("Purge the room for everyone?"), "{text}");
        app.scroll = 19;
        let (text, _) = screen(&app, 100, 16, 120_000);
        assert!(text.contains("alice: line 30"), "{text}");
    }

    #[test]
    fn whisper_mode_shows_in_the_input_title_until_escape() {
        let mut app = joined_app();
        app.submit("/w bob", 70_000);
        let (text, _) = screen(&app, 100, 16, 120_000);
        assert!(text.contains("Whisper to bob (Esc goes back to the room)"), "{text}");
        app.on_key(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Esc), 70_000);
        let (text, _) = screen(&app, 100, 16, 120_000);
        assert!(!text.contains("Whisper to bob"), "{text}");
        assert!(text.contains("Message (/help for commands)"), "{text}");
    }
}
