//! Password strength estimate, so that the app refuses weak passwords when a room is created.
//!
//! Anyone who holds the link and a recording of the room's frames can guess the password offline,
//! at the cost of one Argon2id run per guess; a strong password is what keeps that out of reach.

use crate::schedule::MAX_PASSWORD_LEN;

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
}
