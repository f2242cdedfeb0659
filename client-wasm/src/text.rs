//! Text members show each other: aliases and file names, refused when they could disguise what they display.
//!
//! Bidirectional controls reorder what follows them (`report<U+202E>fdp.exe` displays as `reportexe.pdf`), and
//! default-ignorable characters (zero-width spaces and joiners, variation selectors, tag characters) are invisible, so
//! two aliases that look the same could differ only by them. Both are refused outright, using the Unicode Character
//! Database as ICU4X ships it. Aliases that survive are compared lowercased; confusables across scripts (`alice` and
//! `аlice` with a Cyrillic `а`) are not caught here, since the UTS #39 tables would more than fill the page's download
//! budget: the fingerprints are the defence, as the threat model says.

use icu_properties::CodePointSetData;
use icu_properties::props::DefaultIgnorableCodePoint;

/// Most characters (Unicode scalar values) in an alias: the one length rule every front end asks the core about.
pub const MAX_ALIAS_CHARS: usize = 32;

/// Why an alias was refused; the app words each case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    /// Empty once surrounding whitespace is trimmed.
    #[error("the alias is empty")]
    Empty,
    /// Longer than [`MAX_ALIAS_CHARS`] characters.
    #[error("the alias is longer than 32 characters")]
    TooLong,
    /// Holds whitespace, a control, a bidirectional control or an invisible (default-ignorable) character.
    #[error("the alias holds spaces, invisible or direction-changing characters")]
    Disguising,
}

/// Whether `c` could disguise the text around it: a control or a default-ignorable character.
///
/// Every bidirectional control (`Bidi_Control`) is default-ignorable, so one table covers both; a test checks it.
fn disguising(c: char) -> bool {
    c.is_control() || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// Checks an alias against the one rule, returning it trimmed: 1 to [`MAX_ALIAS_CHARS`] characters, none of them
/// whitespace, controls, bidirectional controls or default-ignorable characters.
pub fn check_alias(alias: &str) -> Result<&str, AliasError> {
    let alias = alias.trim();
    if alias.is_empty() {
        return Err(AliasError::Empty);
    }
    if alias.chars().count() > MAX_ALIAS_CHARS {
        return Err(AliasError::TooLong);
    }
    if alias.chars().any(|c| c.is_whitespace() || disguising(c)) {
        return Err(AliasError::Disguising);
    }
    Ok(alias)
}

/// The form two aliases are compared in: lowercased.
pub(crate) fn alias_key_form(alias: &str) -> String {
    alias.to_lowercase()
}

/// Whether a file name may be shown: it holds no control, bidirectional control or default-ignorable character.
pub fn is_safe_file_name(name: &str) -> bool {
    !name.chars().any(disguising)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_with_invisible_or_direction_changing_characters_are_refused() {
        for bad in [
            "alice\u{200B}",
            "al\u{200D}ice",
            "ali\u{202E}ce",
            "\u{2066}alice",
            "alice\u{FE0F}",
            "al\u{00AD}ice",
            "alice\u{E0061}",
            "al ice",
            "al\u{0007}ice",
        ] {
            assert_eq!(check_alias(bad), Err(AliasError::Disguising), "{bad:?}");
        }
        assert_eq!(check_alias("  alice  "), Ok("alice"));
        assert_eq!(check_alias("Zoë"), Ok("Zoë"));
        assert_eq!(check_alias("مريم"), Ok("مريم"));
        assert_eq!(check_alias(" "), Err(AliasError::Empty));
        assert_eq!(check_alias(&"é".repeat(MAX_ALIAS_CHARS)).map(str::len), Ok(64));
        assert_eq!(check_alias(&"a".repeat(MAX_ALIAS_CHARS + 1)), Err(AliasError::TooLong));
    }

    #[test]
    fn every_bidi_control_is_default_ignorable() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            if CodePointSetData::new::<icu_properties::props::BidiControl>().contains(c) {
                assert!(disguising(c), "{c:?}");
            }
        }
    }

    #[test]
    fn file_names_with_bidi_controls_are_refused() {
        assert!(!is_safe_file_name("report\u{202E}fdp.exe"));
        assert!(!is_safe_file_name("photo\u{200B}.png"));
        assert!(!is_safe_file_name("a\nb.txt"));
        assert!(is_safe_file_name("report.pdf"));
        assert!(is_safe_file_name("تقرير.pdf"));
    }
}
