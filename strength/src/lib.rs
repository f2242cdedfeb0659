//! Password strength estimate, so that the app refuses weak passwords when a room is created.
//!
//! Anyone who holds the link and a recording of the room's frames can guess the password offline,
//! at the cost of one Argon2id run per guess; a strong password is what keeps that out of reach.
//! The estimator lives apart from the client core so that its dictionaries ship in a wasm module of their own,
//! which only the create screen loads.

#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(target_arch = "wasm32")]
mod wasm;

/// The longest password the key schedule accepts, in bytes: the client core's `MAX_PASSWORD_LEN`,
/// which a test in the core checks against this one.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// The word every room's password is checked against besides the alias and the room name: the app's own name.
pub const APP_NAME: &str = "sanctum";

/// The lowest zxcvbn score (0 to 4) a password needs to create a room: 3, "safely unguessable" (at least 10^8 guesses).
pub const MIN_CREATE_SCORE: u8 = 3;

/// Only this many leading characters are scored, which bounds the estimator's time; longer passwords score at least as well.
const SCORED_PREFIX_CHARS: usize = 100;

/// The estimate for one password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strength {
    /// zxcvbn's score, 0 (too guessable) to 4 (very unguessable).
    pub score: u8,
    /// Whether the score reaches [`MIN_CREATE_SCORE`].
    pub acceptable: bool,
    /// A warning about the password, if any.
    pub warning: Option<String>,
    /// Suggestions to make it stronger.
    pub suggestions: Vec<String>,
}

/// Estimates `password`'s strength, penalising it for containing any of `user_inputs` (the alias, the room name).
pub fn password_strength(password: &str, user_inputs: &[&str]) -> Strength {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Strength {
            score: 0,
            acceptable: false,
            warning: Some(
                if password.is_empty() {
                    "enter a password"
                } else {
                    "this password is too long"
                }
                .into(),
            ),
            suggestions: Vec::new(),
        };
    }
    let scored: String = password.chars().take(SCORED_PREFIX_CHARS).collect();
    let entropy = zxcvbn::zxcvbn(&scored, user_inputs);
    let score = u8::from(entropy.score());
    let (warning, suggestions) = entropy.feedback().map_or((None, Vec::new()), |feedback| {
        (
            feedback.warning().map(|w| w.to_string()),
            feedback.suggestions().iter().map(|s| s.to_string()).collect(),
        )
    });
    Strength {
        score,
        acceptable: score >= MIN_CREATE_SCORE,
        warning,
        suggestions,
    }
}

/// The words a guesser tries first for a room: the app's name, the creator's alias and the room name,
/// which every member sees; empty ones are left out.
pub fn app_inputs<'a>(alias: &'a str, room_name: &'a str) -> Vec<&'a str> {
    [APP_NAME, alias, room_name]
        .into_iter()
        .filter(|input| !input.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused_and_strong_ones_accepted() {
        for weak in ["", "password", "123456", "qwerty123", "sanctum", "alice2024"] {
            let s = password_strength(weak, &["alice", "sanctum"]);
            assert!(!s.acceptable, "{weak}: {s:?}");
        }
        let strong = password_strength("velvet orbit cactus thunder quietly", &["alice"]);
        assert!(strong.acceptable && strong.score >= MIN_CREATE_SCORE, "{strong:?}");
    }

    #[test]
    fn user_inputs_lower_the_score() {
        let plain = password_strength("MarigoldHarbor", &[]);
        let with_inputs = password_strength("MarigoldHarbor", &["marigoldharbor"]);
        assert!(with_inputs.score < plain.score, "{plain:?} {with_inputs:?}");
    }

    #[test]
    fn very_long_passwords_are_bounded() {
        let long = "ab".repeat(MAX_PASSWORD_LEN);
        assert!(!password_strength(&long, &[]).acceptable);
        let fine = "zq".repeat(200);
        let _ = password_strength(&fine, &[]);
    }

    #[test]
    fn app_inputs_hold_the_app_name_alias_and_room_name() {
        assert_eq!(app_inputs("alice", "book club"), ["sanctum", "alice", "book club"]);
        assert_eq!(app_inputs("", ""), ["sanctum"]);
        // A password made of what every member sees is refused, though it would pass on its own.
        for password in ["sanctumquillfeather", "quillfeatherbookclub"] {
            assert!(password_strength(password, &[]).acceptable, "{password}");
            assert!(
                !password_strength(password, &app_inputs("quillfeather", "bookclub")).acceptable,
                "{password}"
            );
        }
    }
}
