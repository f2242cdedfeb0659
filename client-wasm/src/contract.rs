//! The names the web app shares with the core: event names, failure codes, and the relay's error and close codes.
//!
//! The bindings in `wasm.rs` name every event and failure from here, and `web/codes.js` holds the same names for the
//! page; a test renders that module from these lists and fails when the checked-in file differs, so the two sides
//! cannot drift apart.

use sanctum_protocol::{CloseCode, ErrorCode};

use crate::attachment::AttachmentError;
use crate::link::LinkError;
use crate::resume::ResumeError;
use crate::schedule::ScheduleError;
use crate::session::{Event, SessionError};

/// The name of every [`Event`] variant, as the Worker passes it to the page.
pub const EVENT_NAMES: [&str; 18] = [
    "Joined",
    "MemberAccepted",
    "MemberPresent",
    "Reconnected",
    "OwnerChanged",
    "NotAllowed",
    "Locked",
    "LockConfirmed",
    "MemberLeft",
    "Message",
    "Attachment",
    "AttachmentProgress",
    "Missed",
    "AttachmentDropped",
    "Expiring",
    "CouldNotVerify",
    "RelayError",
    "Ended",
];

/// An event's name: its Rust variant's.
pub fn event_name(event: &Event) -> &'static str {
    match event {
        Event::Joined { .. } => "Joined",
        Event::MemberAccepted(_) => "MemberAccepted",
        Event::MemberPresent(_) => "MemberPresent",
        Event::Reconnected { .. } => "Reconnected",
        Event::OwnerChanged { .. } => "OwnerChanged",
        Event::NotAllowed { .. } => "NotAllowed",
        Event::Locked { .. } => "Locked",
        Event::LockConfirmed => "LockConfirmed",
        Event::MemberLeft { .. } => "MemberLeft",
        Event::Message { .. } => "Message",
        Event::Attachment { .. } => "Attachment",
        Event::AttachmentProgress { .. } => "AttachmentProgress",
        Event::Missed { .. } => "Missed",
        Event::AttachmentDropped { .. } => "AttachmentDropped",
        Event::Expiring { .. } => "Expiring",
        Event::CouldNotVerify { .. } => "CouldNotVerify",
        Event::RelayError { .. } => "RelayError",
        Event::Ended { .. } => "Ended",
    }
}

/// Every code an action of the core can fail with, as the page sees it.
pub const FAILURE_CODES: [&str; 17] = [
    "link_expired",
    "link_invalid",
    "unsupported_version",
    "bad_password",
    "derive",
    "resume_invalid",
    "not_in_room",
    "unknown_member",
    "alias_invalid",
    "room_name_invalid",
    "file_name_invalid",
    "too_long",
    "attachment_too_large",
    "attachment_invalid",
    "exhausted",
    "not_allowed",
    "lock_invalid",
];

/// A stable code for an error of the core, for the page's own words.
pub trait FailureCode {
    /// The code, one of [`FAILURE_CODES`].
    fn failure_code(&self) -> &'static str;
}

impl FailureCode for LinkError {
    fn failure_code(&self) -> &'static str {
        match self {
            Self::Expired => "link_expired",
            Self::UnsupportedVersion => "unsupported_version",
            Self::Malformed | Self::BadLifetime => "link_invalid",
        }
    }
}

impl FailureCode for ScheduleError {
    fn failure_code(&self) -> &'static str {
        match self {
            Self::EmptyPassword | Self::PasswordTooLong => "bad_password",
            Self::Kdf => "derive",
        }
    }
}

impl FailureCode for ResumeError {
    fn failure_code(&self) -> &'static str {
        match self {
            Self::Expired => "link_expired",
            Self::Malformed | Self::AliasTooLong => "resume_invalid",
        }
    }
}

impl FailureCode for SessionError {
    fn failure_code(&self) -> &'static str {
        match self {
            Self::Ended | Self::NotJoined => "not_in_room",
            Self::Expired => "link_expired",
            Self::UnknownMember => "unknown_member",
            Self::BadAlias(_) => "alias_invalid",
            Self::BadFileName => "file_name_invalid",
            Self::BadRoomName => "room_name_invalid",
            Self::TooLong => "too_long",
            Self::Attachment(AttachmentError::BadSize) => "attachment_too_large",
            Self::Attachment(_) => "attachment_invalid",
            Self::Exhausted => "exhausted",
            Self::NotAllowed => "not_allowed",
            Self::BadLock => "lock_invalid",
        }
    }
}

/// `CamelCase` to `SCREAMING_SNAKE_CASE`, for the keys of the JavaScript module.
fn constant_name(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn close_name(code: CloseCode) -> String {
    constant_name(&format!("{code:?}"))
}

/// The text of `web/codes.js`.
pub fn render_codes_js() -> String {
    let mut js = String::from(
        "// @ts-check\n\
         // The names the page shares with the core and the relay, written from client-wasm/src/contract.rs.\n\
         // Do not edit: `cargo test -p sanctum-client contract` fails when this file differs from the Rust lists,\n\
         // and prints the text it expects.\n\n",
    );
    js.push_str(
        "/** Events from the core, named after the Rust `Event` variants. */\nexport const Event = Object.freeze({\n",
    );
    for name in EVENT_NAMES {
        js.push_str(&format!("  {name}: '{name}',\n"));
    }
    js.push_str("});\n\n/** Codes of the relay's `error` frames. */\nexport const ErrorCode = Object.freeze({\n");
    for code in ErrorCode::ALL {
        js.push_str(&format!(
            "  {}: '{}',\n",
            code.as_str().to_ascii_uppercase(),
            code.as_str()
        ));
    }
    js.push_str("});\n\n/** Codes an action of the core fails with. */\nexport const FailureCode = Object.freeze({\n");
    for code in FAILURE_CODES {
        js.push_str(&format!("  {}: '{code}',\n", code.to_ascii_uppercase()));
    }
    js.push_str("});\n\n/** The relay's WebSocket close codes. */\nexport const CloseCode = Object.freeze({\n");
    for code in CloseCode::ALL {
        js.push_str(&format!("  {}: {},\n", close_name(code), code.code()));
    }
    js.push_str("});\n");
    js
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{AttachmentDrop, EndReason, MemberInfo, Timing};

    #[test]
    fn web_codes_module_matches_the_rust_lists() {
        let expected = render_codes_js();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/codes.js");
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            actual == expected,
            "web/codes.js differs from client-wasm/src/contract.rs; write this text into it:\n{expected}"
        );
    }

    #[test]
    fn every_event_is_named_in_the_list() {
        let events = [
            Event::Joined {
                member: 1,
                expires_at: 0,
                room_name: String::new(),
            },
            Event::MemberAccepted(MemberInfo {
                member: 1,
                alias: String::new(),
                fingerprint: String::new(),
                duplicate_alias: false,
                owner: false,
                kickable: false,
            }),
            Event::MemberPresent(MemberInfo {
                member: 1,
                alias: String::new(),
                fingerprint: String::new(),
                duplicate_alias: false,
                owner: false,
                kickable: false,
            }),
            Event::Reconnected {
                member: 2,
                previous: Some(1),
                alias: String::new(),
                old_fingerprint: String::new(),
                new_fingerprint: String::new(),
            },
            Event::OwnerChanged { owner: None, by: None },
            Event::NotAllowed {
                from: 1,
                alias: String::new(),
                attempt: crate::session::Attempt::Transfer,
            },
            Event::Locked { by: None },
            Event::LockConfirmed,
            Event::MemberLeft {
                member: 1,
                alias: String::new(),
                reason: crate::session::LeaveReason::RelayReported {
                    reason: sanctum_protocol::LeftReason::Dropped,
                },
            },
            Event::Message {
                from: 1,
                alias: String::new(),
                text: String::new(),
                timing: Timing::new(0, 0),
                whisper: false,
            },
            Event::Attachment {
                from: 1,
                alias: String::new(),
                name: String::new(),
                mime: String::new(),
                caption: String::new(),
                bytes: Vec::new(),
                timing: Timing::new(0, 0),
                whisper: false,
            },
            Event::AttachmentProgress {
                from: 1,
                alias: String::new(),
                name: String::new(),
                received: 1,
                size: 2,
                whisper: false,
            },
            Event::Missed {
                from: 1,
                alias: String::new(),
                count: 1,
            },
            Event::AttachmentDropped {
                from: 1,
                alias: String::new(),
                reason: AttachmentDrop::Crowded,
            },
            Event::Expiring { seconds: 1 },
            Event::CouldNotVerify { from: 1 },
            Event::RelayError {
                code: ErrorCode::BadFrame,
                message: String::new(),
            },
            Event::Ended {
                reason: EndReason::Left,
            },
        ];
        let names: Vec<&str> = events.iter().map(event_name).collect();
        assert_eq!(names, EVENT_NAMES);
    }

    #[test]
    fn every_failure_code_is_listed() {
        let codes = [
            LinkError::Expired.failure_code(),
            LinkError::UnsupportedVersion.failure_code(),
            LinkError::Malformed.failure_code(),
            ScheduleError::EmptyPassword.failure_code(),
            ScheduleError::Kdf.failure_code(),
            ResumeError::Malformed.failure_code(),
            SessionError::Ended.failure_code(),
            SessionError::UnknownMember.failure_code(),
            SessionError::BadAlias(crate::AliasError::Empty).failure_code(),
            SessionError::BadFileName.failure_code(),
            SessionError::BadRoomName.failure_code(),
            SessionError::TooLong.failure_code(),
            SessionError::Attachment(AttachmentError::BadSize).failure_code(),
            SessionError::Attachment(AttachmentError::Corrupt).failure_code(),
            SessionError::Exhausted.failure_code(),
            SessionError::NotAllowed.failure_code(),
            SessionError::BadLock.failure_code(),
        ];
        for code in codes {
            assert!(FAILURE_CODES.contains(&code), "{code}");
        }
        let mut unique = FAILURE_CODES.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), FAILURE_CODES.len());
    }
}
