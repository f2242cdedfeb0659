//! Text members show each other: aliases and file names, refused when they could disguise what they display.
//!
//! Bidirectional controls reorder what follows them (`report<U+202E>fdp.exe` displays as `reportexe.pdf`), and
//! default-ignorable characters (zero-width spaces and joiners, variation selectors, tag characters) are invisible, so
//! two aliases that look the same could differ only by them. Both are refused outright, using the Unicode Character
//! Database as ICU4X ships it. Aliases that survive are compared by their confusable skeleton (Unicode Technical
//! Standard #39), so `alice` and `аlice` with a Cyrillic `а` look alike here. The skeleton's tables would more than fill
//! the page's download budget for joining, so the core does not link them: a front end hands it the skeleton function
//! ([`Skeleton`], from the `sanctum-lookalike` crate natively or its own wasm module in the browser), and the rule that
//! uses it stays here, in [`look_alike`].

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

/// The confusable skeleton of Unicode Technical Standard #39 (section 4): equal for two strings a reader cannot tell
/// apart. A front end supplies it (`sanctum_lookalike::skeleton`), since its tables are not linked into the core.
pub type Skeleton = fn(&str) -> String;

/// The stand-in until a front end supplies the skeleton: the text itself, which leaves only the case rule of
/// [`AliasForms::looks_like`].
pub(crate) fn no_skeleton(text: &str) -> String {
    text.to_owned()
}

/// The forms an alias is compared in: the skeleton of the alias, and the skeleton of its lowercase form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AliasForms {
    plain: String,
    folded: String,
}

impl AliasForms {
    pub(crate) fn new(alias: &str, skeleton: Skeleton) -> Self {
        Self {
            plain: skeleton(alias),
            folded: skeleton(&alias.to_lowercase()),
        }
    }

    /// Whether the two aliases look alike: the same skeleton as written (a capital `I` for an `l`) or once lowercased
    /// (`ALICE` for `alice`, a Cyrillic `а` for a Latin `a`).
    pub(crate) fn looks_like(&self, other: &Self) -> bool {
        self.plain == other.plain || self.folded == other.folded
    }
}

/// Whether two aliases look alike, the rule by which members are flagged: their skeletons are equal as written or
/// once lowercased.
pub fn look_alike(a: &str, b: &str, skeleton: Skeleton) -> bool {
    AliasForms::new(a, skeleton).looks_like(&AliasForms::new(b, skeleton))
}

/// Whether a file name may be shown: it holds no control, bidirectional control or default-ignorable character.
pub fn is_safe_file_name(name: &str) -> bool {
    !name.chars().any(disguising)
}

#[cfg(test)]
mod tests {
    use sanctum_lookalike::skeleton;

    use super::*;

    #[test]
    fn aliases_that_look_alike_across_scripts_are_flagged() {
        for (a, b) in [
            ("alice", "\u{0430}lice"),
            ("alice", "\u{0430}l\u{0456}\u{0441}\u{0435}"),
            ("alice", "a1ice"),
            ("Alice", "AIice"),
            ("alice", "ALICE"),
            ("alice", "\u{0410}lice"),
            ("Zo\u{00EB}", "zoe\u{0308}"),
        ] {
            assert!(look_alike(a, b, skeleton), "{a:?} and {b:?}");
            assert!(look_alike(b, a, skeleton), "{b:?} and {a:?}");
        }
        for (a, b) in [("alice", "alina"), ("alice", "bob"), ("alice", "alice2")] {
            assert!(!look_alike(a, b, skeleton), "{a:?} and {b:?}");
        }
        // Without the skeleton's tables, only the case rule is left: the Cyrillic look-alike passes.
        assert!(look_alike("alice", "ALICE", no_skeleton));
        assert!(!look_alike("alice", "\u{0430}lice", no_skeleton));
    }

    #[test]
    fn an_alias_with_a_zero_width_space_is_refused_before_it_is_compared() {
        assert_eq!(check_alias("alice\u{200B}"), Err(AliasError::Disguising));
        assert_eq!(check_alias("\u{0430}lice"), Ok("\u{0430}lice"));
    }

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
