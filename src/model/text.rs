//! What characters text may hold: labels (names, e-mail addresses, field names, types) and
//! free text (messages and the like).
//!
//! Agents' applications put names and labels beside each other on one line; a control
//! character or a bidirectional override in one of them can make it display as something else
//! (a customer named "\u{202E}nimda" shows as "admin" reversed into place) or spill its
//! direction into the text after it. So labels refuse every control character, the line and
//! paragraph separators, and the bidirectional embeddings, overrides and isolates (the set
//! Rust's own lint against "Trojan Source" text refuses). The implicit direction marks
//! (U+200E, U+200F, U+061C) and the zero-width joiners are allowed: right-to-left names and
//! emoji sequences need them, and they reorder nothing.
//!
//! Free text (a message, an annotation's or a system message's text, a sneak peek, a form's
//! answers, a rich message's titles and buttons) keeps line breaks and tabs, and
//! bidirectional controls, which right-to-left writers use; a client shows each message
//! isolated from what surrounds it. It refuses the other control characters (NUL, escape
//! sequences, the C1 set), which no one types and which terminals and logs act upon.

use crate::error::Error;

/// Whether a label may hold `c`.
fn label_char(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        ))
}

/// Whether free text may hold `c`.
fn text_char(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r')
}

fn refuse(field: &'static str, c: char, what: &str) -> Error {
    Error::InvalidField {
        field,
        reason: format!("holds U+{:04X}: {what}", u32::from(c)),
    }
}

/// Refuses a label holding a control character, a line or paragraph separator, or a
/// bidirectional embedding, override or isolate.
pub(crate) fn check_label(field: &'static str, value: &str) -> Result<(), Error> {
    match value.chars().find(|&c| !label_char(c)) {
        Some(c) => Err(refuse(
            field,
            c,
            "names and labels may not hold control characters, line breaks or bidirectional \
             controls",
        )),
        None => Ok(()),
    }
}

/// Refuses free text holding a control character other than tab, line feed and carriage
/// return.
pub(crate) fn check_text(field: &'static str, value: &str) -> Result<(), Error> {
    if plain_bytes(value) {
        return Ok(());
    }
    match value.chars().find(|&c| !text_char(c)) {
        Some(c) => Err(refuse(
            field,
            c,
            "text may hold tabs and line breaks but no other control character",
        )),
        None => Ok(()),
    }
}

/// True when no byte of `value` can start a control character: none below 0x20, no DEL, and
/// no 0xC2 (the lead byte of U+0080 to U+00BF, among them the C1 controls). Most messages pass
/// here, in chunks the compiler turns into wide compares, so checking costs little on the send
/// path; the rest are checked character by character. (A word-at-a-time version measured no
/// faster: the compiler already vectorises this one.)
fn plain_bytes(value: &str) -> bool {
    value.as_bytes().chunks(16).all(|chunk| {
        chunk
            .iter()
            .fold(true, |ok, &b| ok & (b >= 0x20) & (b != 0x7f) & (b != 0xc2))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bytes_agrees_with_a_byte_by_byte_check() {
        let plain = |s: &str| s.bytes().all(|b| b >= 0x20 && b != 0x7f && b != 0xc2);
        let mut samples: Vec<String> = vec![String::new(), "hello there, how are you?".into()];
        for bad in [
            '\u{0}', '\u{1f}', '\u{7f}', '\u{85}', '\t', '\n', ' ', '~', 'é', '€', '\u{202e}',
        ] {
            for at in 0..20 {
                let mut s = "x".repeat(at);
                s.push(bad);
                s.push_str(&"y".repeat(19 - at));
                samples.push(s);
            }
        }
        for s in &samples {
            assert_eq!(plain_bytes(s), plain(s), "{s:?}");
        }
    }

    #[test]
    fn labels_refuse_controls_separators_and_bidi_controls() {
        for bad in [
            "a\u{0}b",
            "tab\there",
            "line\nbreak",
            "del\u{7f}",
            "c1\u{85}",
            "\u{2028}",
            "\u{2029}",
            "\u{202A}",
            "\u{202B}",
            "\u{202C}",
            "\u{202D}",
            "\u{202E}nimda",
            "\u{2066}",
            "\u{2067}",
            "\u{2068}",
            "\u{2069}",
        ] {
            let e = check_label("customer.name", bad).unwrap_err();
            assert_eq!(e.kind().as_str(), "validation", "{bad:?}");
            assert!(e.to_string().contains("customer.name"), "{e}");
        }
        let e = check_label("customer.name", "Jan\u{202E}").unwrap_err();
        assert!(e.to_string().contains("U+202E"), "{e}");
    }

    #[test]
    fn labels_take_every_script_marks_and_joiners() {
        for good in [
            "Anna Kowalska",
            "Zoë Ångström",
            "מרים כהן",
            "أحمد\u{200F}",
            "\u{200E}x\u{061C}",
            "李小龍",
            "👨\u{200D}👩\u{200D}👧",
            "a\u{200C}b",
            "",
        ] {
            assert!(check_label("agent.name", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn text_keeps_line_breaks_tabs_and_bidi_but_not_other_controls() {
        for good in [
            "line one\nline two\r\n\tindented",
            "\u{202E}reversed\u{202C} and \u{2067}isolated\u{2069}",
            "£5 ©2024 ½ ¡hola! \u{a0}",
            "🎉 中文 é",
            "",
        ] {
            assert!(check_text("event.text", good).is_ok(), "{good:?}");
        }
        for bad in [
            "nul\u{0}",
            "esc\u{1b}[2J",
            "del\u{7f}",
            "c1\u{9b}31m",
            "bell\u{7}",
        ] {
            let e = check_text("event.text", bad).unwrap_err();
            assert!(e.to_string().contains("event.text"), "{e}");
        }
    }

    #[test]
    fn plain_bytes_never_passes_a_control_character() {
        // Every character up to U+00FF, alone and in a long text, at each offset of a chunk.
        for c in (0u32..=0xff).filter_map(char::from_u32) {
            for at in 0..20 {
                let mut s = "x".repeat(at);
                s.push(c);
                s.push_str(&"y".repeat(20));
                if !text_char(c) {
                    assert!(!plain_bytes(&s), "U+{:04X} at {at}", u32::from(c));
                    assert!(check_text("t", &s).is_err());
                }
            }
        }
    }
}
