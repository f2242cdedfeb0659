//! The slash commands typed in the input line, parsed into what the user asked for.
//!
//! The browser app's names work too (`/purr`, `/exit`, `/stop`), so that members can tell each other the same
//! commands whichever client they use.

use std::path::PathBuf;

/// Every command with its usage, for `/help`.
pub(crate) const HELP: [(&str, &str); 13] = [
    (
        "/w ALIAS [MESSAGE]",
        "whisper to one member only (also /purr); without a message, whisper what you type and /send until Esc or /w",
    ),
    ("/members", "list the members who receive your keys, with fingerprints"),
    ("/kick ALIAS", "remove a member from the room (asks first)"),
    (
        "/lock ALIAS",
        "remove a member and lock the room: everyone else moves to a new link with a new password (owner only)",
    ),
    (
        "/transfer ALIAS",
        "make another member the room's owner (asks first; owner only)",
    ),
    ("/send PATH", "send a file as an encrypted attachment"),
    (
        "/cancel",
        "stop sending files: the one under way, whose receivers drop it, and any waiting",
    ),
    ("/save N PATH", "save received attachment N to a new file at PATH"),
    ("/leave [FAREWELL]", "say goodbye and leave (asks first; also /exit)"),
    ("/purge", "purge the room for everyone (asks first; also /stop)"),
    ("/link", "show the room link again"),
    ("/copy", "copy the room link to the clipboard (terminals with OSC 52)"),
    ("/help", "show this list"),
];

/// What a line of input asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// An ordinary message to the room.
    Say(String),
    /// A whisper to the member with this alias (or `#member-id`).
    Whisper {
        /// Who, as typed.
        to: String,
        /// The text.
        text: String,
    },
    /// Whisper everything typed and sent to the member with this alias (or `#member-id`) from now on, or, with
    /// `None`, go back to the room.
    WhisperMode(Option<String>),
    /// Kick the member with this alias (or `#member-id`).
    Kick(String),
    /// Kick the member with this alias (or `#member-id`) and lock the room.
    Lock(String),
    /// Make the member with this alias (or `#member-id`) the room's owner.
    Transfer(String),
    /// Purge the room.
    Purge,
    /// Leave with a farewell.
    Leave(String),
    /// List the members.
    Members,
    /// Send a file.
    Send(PathBuf),
    /// Stop sending the file under way and any waiting.
    CancelUploads,
    /// Save received attachment `index` to `path`.
    Save {
        /// The number shown with the attachment.
        index: usize,
        /// Where to write it; an existing file is never overwritten.
        path: PathBuf,
    },
    /// Show the room link.
    Link,
    /// Copy the room link to the clipboard.
    Copy,
    /// Show the help.
    Help,
    /// A command typed wrongly, with its usage.
    Usage(&'static str),
    /// An unknown command.
    Unknown(String),
}

fn usage(name: &str) -> &'static str {
    HELP.iter()
        .find(|(usage, _)| usage.split_whitespace().next() == Some(name))
        .map_or("/help", |(usage, _)| usage)
}

/// Parses one line of input; a line that does not start with `/` (or starts with `//`) is a message.
pub(crate) fn parse(line: &str) -> Command {
    let trimmed = line.trim();
    let Some(body) = trimmed.strip_prefix('/') else {
        return Command::Say(line.to_owned());
    };
    if body.starts_with('/') {
        return Command::Say(line.trim_start().replacen("//", "/", 1));
    }
    let (name, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    let rest = rest.trim();
    let name = name.to_lowercase();
    match name.as_str() {
        "w" | "whisper" | "purr" => match rest.split_once(char::is_whitespace) {
            Some((to, text)) if !text.trim().is_empty() => Command::Whisper {
                to: to.to_owned(),
                text: text.trim().to_owned(),
            },
            _ if rest.is_empty() => Command::WhisperMode(None),
            _ => Command::WhisperMode(Some(rest.to_owned())),
        },
        "kick" if !rest.is_empty() && !rest.contains(char::is_whitespace) => Command::Kick(rest.to_owned()),
        "kick" => Command::Usage(usage("/kick")),
        "lock" if !rest.is_empty() && !rest.contains(char::is_whitespace) => Command::Lock(rest.to_owned()),
        "lock" => Command::Usage(usage("/lock")),
        "transfer" | "owner" if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
            Command::Transfer(rest.to_owned())
        }
        "transfer" | "owner" => Command::Usage(usage("/transfer")),
        "purge" | "stop" => Command::Purge,
        "leave" | "exit" | "quit" => Command::Leave(rest.to_owned()),
        "members" | "who" => Command::Members,
        "send" if !rest.is_empty() => Command::Send(PathBuf::from(rest)),
        "send" => Command::Usage(usage("/send")),
        "cancel" => Command::CancelUploads,
        "save" => match rest.split_once(char::is_whitespace) {
            Some((index, path)) if !path.trim().is_empty() => match index.trim_start_matches('#').parse() {
                Ok(index) => Command::Save {
                    index,
                    path: PathBuf::from(path.trim()),
                },
                Err(_) => Command::Usage(usage("/save")),
            },
            _ => Command::Usage(usage("/save")),
        },
        "link" => Command::Link,
        "copy" => Command::Copy,
        "help" | "?" => Command::Help,
        _ => Command::Unknown(format!("/{name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_escaped_slashes() {
        assert_eq!(parse("hello /w"), Command::Say("hello /w".into()));
        assert_eq!(parse("//w not a command"), Command::Say("/w not a command".into()));
    }

    #[test]
    fn commands_and_their_browser_names() {
        assert_eq!(
            parse("/w bob  see you at 9"),
            Command::Whisper {
                to: "bob".into(),
                text: "see you at 9".into()
            }
        );
        assert_eq!(parse("/purr bob hi"), parse("/w bob hi"));
        assert_eq!(parse("/kick bob"), Command::Kick("bob".into()));
        assert_eq!(parse("/lock bob"), Command::Lock("bob".into()));
        assert_eq!(parse("/transfer #2"), Command::Transfer("#2".into()));
        assert_eq!(parse("/stop"), Command::Purge);
        assert_eq!(parse("/exit bye all"), Command::Leave("bye all".into()));
        assert_eq!(parse("/leave"), Command::Leave(String::new()));
        assert_eq!(parse("/send ./a b.txt"), Command::Send("./a b.txt".into()));
        assert_eq!(
            parse("/save 2 /tmp/out file.png"),
            Command::Save {
                index: 2,
                path: "/tmp/out file.png".into()
            }
        );
        assert_eq!(parse("/MEMBERS"), Command::Members);
    }

    #[test]
    fn whisper_without_a_message_names_a_whisper_target() {
        assert_eq!(parse("/w bob"), Command::WhisperMode(Some("bob".into())));
        assert_eq!(parse("/purr #3 "), Command::WhisperMode(Some("#3".into())));
        assert_eq!(parse("/w"), Command::WhisperMode(None));
    }

    #[test]
    fn wrong_use_shows_usage() {
        assert_eq!(parse("/kick"), Command::Usage("/kick ALIAS"));
        assert_eq!(parse("/kick a b"), Command::Usage("/kick ALIAS"));
        assert_eq!(parse("/lock"), Command::Usage("/lock ALIAS"));
        assert_eq!(parse("/transfer"), Command::Usage("/transfer ALIAS"));
        assert_eq!(parse("/save x y"), Command::Usage("/save N PATH"));
        assert_eq!(parse("/send"), Command::Usage("/send PATH"));
        assert_eq!(parse("/cancel"), Command::CancelUploads);
        assert_eq!(parse("/nope"), Command::Unknown("/nope".into()));
    }
}
