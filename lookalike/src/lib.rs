//! The confusable skeleton of an alias (Unicode Technical Standard #39, section 4), apart from the client core.
//!
//! Two strings that a reader cannot tell apart, such as `alice` and `аlice` with a Cyrillic `а`, have the same
//! skeleton. The tables behind it (the confusables mapping and Unicode normalisation) are larger than everything a
//! joiner may download before the Join button works, so they live in a module of their own that the browser loads once
//! the room is joined; the client core takes this function through `Session::set_skeleton`, and compares with it.

#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(target_arch = "wasm32")]
mod wasm;

/// The UTS #39 skeleton of `text`: NFD, each character replaced by its prototype in the confusables mapping, NFD.
///
/// It is a comparison key, never shown: it may differ from the text in every character.
pub fn skeleton(text: &str) -> String {
    unicode_security::confusable_detection::skeleton(text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_of_other_scripts_that_look_the_same_share_a_skeleton() {
        let alice = skeleton("alice");
        assert_eq!(skeleton("\u{0430}lice"), alice, "Cyrillic a");
        assert_eq!(skeleton("al\u{0456}ce"), alice, "Cyrillic i");
        assert_eq!(
            skeleton("\u{0430}l\u{0456}\u{0441}\u{0435}"),
            alice,
            "Cyrillic a, i, es and ie"
        );
        assert_eq!(skeleton("a1ice"), alice, "the digit one for an l");
        assert_eq!(skeleton("AIice"), skeleton("Alice"), "a capital I for an l");
        assert_ne!(skeleton("bob"), alice);
        assert_ne!(skeleton("alina"), alice);
    }

    #[test]
    fn composed_and_decomposed_forms_share_a_skeleton() {
        assert_eq!(skeleton("Zo\u{00EB}"), skeleton("Zoe\u{0308}"));
    }
}
