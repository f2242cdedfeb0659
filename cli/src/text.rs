//! Members' text made safe for a terminal: every control character escaped, and the formatting tags turned into styles.
//!
//! A member's text is untrusted. A terminal interprets escape sequences (`ESC [`, the C1 `CSI`, OSC title and
//! clipboard writes) and reorders text around bidirectional controls, so none of those may reach it raw: each one is
//! shown as a visible `<U+XXXX>` instead. Formatting follows the browser app's allow-list (`web/sanitize.js`): the
//! allowed tags become terminal styles, and any other markup is shown exactly as the member typed it.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// The formatting tags members may use, as in the browser app; everything else is shown as text.
pub(crate) const ALLOWED_TAGS: [&str; 21] = [
    "b",
    "i",
    "u",
    "s",
    "em",
    "strong",
    "code",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "blockquote",
    "br",
    "hr",
    "a",
];

/// Longest tag accepted, attributes included; a longer `<...>` is shown as text.
const MAX_TAG_LEN: usize = 512;

/// Whether a terminal could act on `c` rather than print it: C0, DEL, C1, and the Unicode format characters that
/// reorder or hide text (bidirectional embeddings, overrides and isolates, zero-width joiners, the BOM).
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// `text` with every unsafe character written out as `<U+XXXX>`; tabs become a space.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\t' => out.push(' '),
            c if is_unsafe(c) => out.push_str(&format!("<U+{:04X}>", u32::from(c))),
            c => out.push(c),
        }
    }
}

/// The style of a piece of text inside the allowed tags that enclose it.
#[derive(Debug, Default, Clone, Copy)]
struct Depth {
    bold: u16,
    italic: u16,
    underline: u16,
    strike: u16,
    code: u16,
    heading: u16,
    quote: u16,
    link: u16,
}

impl Depth {
    fn style(&self) -> Style {
        let mut style = Style::default();
        if self.bold > 0 || self.heading > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        if self.italic > 0 || self.quote > 0 {
            style = style.add_modifier(Modifier::ITALIC);
        }
        if self.underline > 0 || self.heading > 0 || self.link > 0 {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        if self.strike > 0 {
            style = style.add_modifier(Modifier::CROSSED_OUT);
        }
        if self.code > 0 {
            style = style.fg(Color::Yellow);
        }
        if self.link > 0 {
            style = style.fg(Color::Cyan);
        }
        style
    }

    fn counter(&mut self, tag: &str) -> Option<&mut u16> {
        Some(match tag {
            "b" | "strong" => &mut self.bold,
            "i" | "em" => &mut self.italic,
            "u" => &mut self.underline,
            "s" => &mut self.strike,
            "code" | "pre" => &mut self.code,
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => &mut self.heading,
            "blockquote" => &mut self.quote,
            "a" => &mut self.link,
            _ => return None,
        })
    }
}

/// Builds styled lines: text is appended to the current line, and block tags start new ones.
#[derive(Debug, Default)]
struct Builder {
    lines: Vec<Line<'static>>,
    current: Vec<Span<'static>>,
    depth: Depth,
    lists: Vec<Option<u32>>,
    href: Option<String>,
}

impl Builder {
    fn text(&mut self, text: &str) {
        for (index, piece) in text.split('\n').enumerate() {
            if index > 0 {
                self.break_line();
            }
            if piece.is_empty() {
                continue;
            }
            if self.current.is_empty() && self.depth.quote > 0 {
                self.current
                    .push(Span::styled("│ ", Style::default().fg(Color::DarkGray)));
            }
            self.current.push(Span::styled(escape(piece), self.depth.style()));
        }
    }

    fn break_line(&mut self) {
        self.lines.push(Line::from(std::mem::take(&mut self.current)));
    }

    /// Starts a new line unless the current one is empty.
    fn block(&mut self) {
        if !self.current.is_empty() {
            self.break_line();
        }
    }

    fn tag(&mut self, name: &str, closing: bool, href: Option<String>) {
        match (name, closing) {
            ("br", _) => self.break_line(),
            ("hr", _) => {
                self.block();
                self.lines
                    .push(Line::styled("────────", Style::default().fg(Color::DarkGray)));
            }
            ("ul", false) => {
                self.block();
                self.lists.push(None);
            }
            ("ol", false) => {
                self.block();
                self.lists.push(Some(0));
            }
            ("ul" | "ol", true) => {
                self.block();
                self.lists.pop();
            }
            ("li", false) => {
                self.block();
                let indent = "  ".repeat(self.lists.len().saturating_sub(1));
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{indent}{n}. ")
                    }
                    _ => format!("{indent}• "),
                };
                self.current.push(Span::raw(marker));
            }
            ("li", true) => self.block(),
            (name, closing) => {
                let block = matches!(name, "pre" | "blockquote" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6");
                if block {
                    self.block();
                }
                if name == "a"
                    && closing
                    && let Some(href) = self.href.take()
                {
                    self.current.push(Span::styled(
                        format!(" <{}>", escape(&href)),
                        Style::default().fg(Color::DarkGray),
                    ));
                }
                if let Some(counter) = self.depth.counter(name) {
                    *counter = if closing {
                        counter.saturating_sub(1)
                    } else {
                        counter.saturating_add(1)
                    };
                }
                if name == "a" && !closing {
                    self.href = href;
                }
            }
        }
    }

    fn finish(mut self) -> Vec<Line<'static>> {
        if !self.current.is_empty() || self.lines.is_empty() {
            self.break_line();
        }
        self.lines
    }
}

/// A parsed allowed tag: its name, whether it closes, and an https link target.
#[derive(Debug, PartialEq, Eq)]
struct Tag {
    name: &'static str,
    closing: bool,
    href: Option<String>,
}

/// Parses `<...>` at the start of `text` as an allowed tag, returning it and its length in bytes.
fn parse_tag(text: &str) -> Option<(Tag, usize)> {
    let end = text.get(..MAX_TAG_LEN.min(text.len()))?.find('>')?;
    let inner = &text[1..end];
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    let name_end = inner.find(|c: char| c.is_ascii_whitespace()).unwrap_or(inner.len());
    let name = inner[..name_end].to_ascii_lowercase();
    let name = ALLOWED_TAGS.iter().copied().find(|&t| t == name)?;
    let attributes = inner[name_end..].trim();
    let href = if name == "a" && !closing {
        https_href(attributes)
    } else {
        None
    };
    Some((Tag { name, closing, href }, end + 1))
}

/// The `href` attribute's value when it is an https URL, as the browser app keeps only those.
fn https_href(attributes: &str) -> Option<String> {
    let rest = attributes
        .strip_prefix("href")?
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let value = match rest.chars().next()? {
        quote @ ('"' | '\'') => rest[1..].split(quote).next()?,
        _ => rest.split(|c: char| c.is_ascii_whitespace()).next()?,
    };
    let value = decode_entities(value);
    let lower = value.to_ascii_lowercase();
    (lower.starts_with("https://") && !value.chars().any(|c| c.is_whitespace() || is_unsafe(c))).then_some(value)
}

/// Decodes the character references a browser would in text: the named few and numeric ones.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.get(..12.min(rest.len())).and_then(|window| {
            let end = window.find(';')?;
            let name = &window[1..end];
            let c = match name {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" | "#39" => '\'',
                "nbsp" => '\u{a0}',
                _ => {
                    let number = name.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code).unwrap_or('\u{fffd}')
                }
            };
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A member's message as styled terminal lines: allowed tags become styles, everything else is literal text, and
/// no control character survives.
pub(crate) fn format(text: &str) -> Vec<Line<'static>> {
    let mut builder = Builder::default();
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        builder.text(&decode_entities(&rest[..at]));
        rest = &rest[at..];
        match parse_tag(rest) {
            Some((tag, len)) => {
                builder.tag(tag.name, tag.closing, tag.href);
                rest = &rest[len..];
            }
            None => {
                builder.text("<");
                rest = &rest[1..];
            }
        }
    }
    builder.text(&decode_entities(rest));
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|line| line.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    fn all_text(lines: &[Line<'_>]) -> String {
        plain(lines).join("\n")
    }

    #[test]
    fn escape_sequences_and_bidi_controls_are_shown_never_passed_on() {
        let hostile = "a\u{1b}[2J\u{1b}]52;c;aGk=\u{7}b\u{9b}31m\u{202e}evil\u{2066}\u{200b}\u{7f}\r";
        let shown = all_text(&format(hostile));
        assert!(!shown.chars().any(is_unsafe), "{shown:?}");
        assert_eq!(
            shown,
            "a<U+001B>[2J<U+001B>]52;c;aGk=<U+0007>b<U+009B>31m<U+202E>evil<U+2066><U+200B><U+007F><U+000D>"
        );
    }

    #[test]
    fn character_references_cannot_smuggle_controls() {
        let shown = all_text(&format("&#27;[31m &#x202E; &#x9b; &amp;lt;"));
        assert_eq!(shown, "<U+001B>[31m <U+202E> <U+009B> &lt;");
    }

    #[test]
    fn allowed_tags_become_styles() {
        let lines = format("<b>bold</b> <i>it</i> <u>u</u> <s>gone</s> <code>x</code>");
        let spans = &lines[0].spans;
        assert_eq!(all_text(&lines), "bold it u gone x");
        assert!(spans[0].style.add_modifier.contains(Modifier::BOLD));
        assert!(spans[2].style.add_modifier.contains(Modifier::ITALIC));
        assert!(spans[4].style.add_modifier.contains(Modifier::UNDERLINED));
        assert!(spans[6].style.add_modifier.contains(Modifier::CROSSED_OUT));
        assert_eq!(spans[8].style.fg, Some(Color::Yellow));
        assert!(!spans[1].style.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn other_markup_is_shown_as_typed() {
        let text = "<script>alert(1)</script> x<y and z>w <div onclick=\"x\">d</div> <b";
        assert_eq!(all_text(&format(text)), text);
    }

    #[test]
    fn lists_breaks_and_rules_make_lines() {
        let lines = format("<ul><li>one</li><li>two</li></ul><ol><li>a</li><li>b</li></ol>x<br>y<hr>z");
        assert_eq!(
            plain(&lines),
            ["• one", "• two", "1. a", "2. b", "x", "y", "────────", "z"]
        );
    }

    #[test]
    fn links_keep_only_https_targets() {
        let lines = format("<a href=\"https://example.org/a\">site</a> <a href=\"javascript:alert(1)\">js</a>");
        assert_eq!(all_text(&lines), "site <https://example.org/a> js");
    }

    #[test]
    fn newlines_in_text_start_lines_and_unclosed_tags_do_not_leak() {
        let lines = format("<b>one\ntwo");
        assert_eq!(plain(&lines), ["one", "two"]);
        let after = format("<b>x</b></b></b>y");
        assert!(!after[0].spans[1].style.add_modifier.contains(Modifier::BOLD));
    }
}
