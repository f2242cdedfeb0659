//! The room password: read from the terminal without echo, or in the line mode from the first line of stdin.
//!
//! It is never a flag or an environment variable, which other users of the machine can read from the process
//! table or `/proc`. A script that drives `--json` writes it as the first line of the pipe it feeds stdin through.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, bail};
use sanctum_client::MAX_PASSWORD_LEN;
use sanctum_strength::{app_inputs, password_strength};
use zeroize::Zeroizing;

/// How many times the terminal asks again after a weak or mismatched password on create.
const ATTEMPTS: usize = 3;

/// Where the password comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Typed at the terminal, without echo.
    Terminal,
    /// The first line of stdin (only in the line mode, when stdin is not a terminal).
    FirstLine,
}

impl Source {
    /// The terminal when stdin is one; otherwise the first line of stdin, which only the line mode allows.
    pub(crate) fn detect(json: bool) -> anyhow::Result<Self> {
        if std::io::stdin().is_terminal() {
            Ok(Self::Terminal)
        } else if json {
            Ok(Self::FirstLine)
        } else {
            bail!(
                "the full-screen interface needs a terminal; scripts use --json and write the password as stdin's first line"
            )
        }
    }
}

fn first_line() -> anyhow::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    // std's stdin is one buffered handle for the whole process, so the command lines after this one stay in it.
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("could not read the password from stdin")?;
    let trimmed = line.trim_end_matches(['\r', '\n']);
    Ok(Zeroizing::new(trimmed.to_owned()))
}

/// A password or a link typed or made during the session, wiped when dropped and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) Zeroizing<String>);

impl Secret {
    /// Wraps `text`.
    pub(crate) fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The text.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

pub(crate) fn check_length(password: &str) -> anyhow::Result<()> {
    if password.is_empty() {
        bail!("the password is empty");
    }
    if password.len() > MAX_PASSWORD_LEN {
        bail!("the password is longer than {MAX_PASSWORD_LEN} bytes");
    }
    Ok(())
}

/// Reads the password to join a room.
pub(crate) fn for_join(source: Source) -> anyhow::Result<Zeroizing<String>> {
    let password = match source {
        Source::Terminal => Zeroizing::new(rpassword::prompt_password("Room password: ")?),
        Source::FirstLine => first_line()?,
    };
    check_length(&password)?;
    Ok(password)
}

/// Why the strength check refused a password, in words.
pub(crate) fn weakness(password: &str, alias: &str, room_name: &str) -> Option<String> {
    // The same words count against the password as in the browser app: the app's name, the alias, the room name.
    let strength = password_strength(password, &app_inputs(alias, room_name));
    if strength.acceptable {
        return None;
    }
    let mut text = String::from("this password is too easy to guess for a new room");
    if let Some(warning) = strength.warning {
        text.push_str(&format!(": {warning}"));
    }
    for suggestion in strength.suggestions {
        text.push_str(&format!(" {suggestion}"));
    }
    Some(text)
}

/// Reads the password for a new room: twice at the terminal, and refused when the strength check fails.
pub(crate) fn for_create(source: Source, alias: &str, room_name: &str) -> anyhow::Result<Zeroizing<String>> {
    if source == Source::FirstLine {
        let password = first_line()?;
        check_length(&password)?;
        if let Some(why) = weakness(&password, alias, room_name) {
            bail!(why);
        }
        return Ok(password);
    }
    for _ in 0..ATTEMPTS {
        let password = Zeroizing::new(rpassword::prompt_password("New room password: ")?);
        if let Err(e) = check_length(&password) {
            eprintln!("{e}.");
            continue;
        }
        if let Some(why) = weakness(&password, alias, room_name) {
            eprintln!("{why}");
            continue;
        }
        let again = Zeroizing::new(rpassword::prompt_password("Repeat it: ")?);
        if again.as_str() != password.as_str() {
            eprintln!("The two passwords differ.");
            continue;
        }
        return Ok(password);
    }
    bail!("no acceptable password after {ATTEMPTS} attempts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_and_ones_built_from_the_alias_are_refused() {
        assert!(weakness("password1", "alice", "Night shift").is_some());
        assert!(weakness("alicenightshift", "alice", "Night shift").is_some());
        assert!(weakness("correct horse battery staple", "alice", "Night shift").is_none());
    }
}
