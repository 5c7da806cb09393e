//! Text from outside made safe to store, send and print.
//!
//! An exchange's error message (or a proxy posing as the exchange) reaches the verdict, the
//! history store, alerts and the terminal. Raw, it could carry escape sequences that rewrite
//! the operator's terminal, a carriage return or newline that forges a table row or log line,
//! a bidirectional override that shows text in another order than it is stored ("Trojan
//! Source"), or a megabyte of words. [`check::judge`](crate::check::judge) passes every
//! verdict message through [`printable_capped`], and [`output`](crate::output) every table cell
//! through [`printable`].

use std::borrow::Cow;

/// The longest verdict message kept, in characters. Our own words plus the exchange's code and
/// message take a few hundred at most; the rest of a longer one is noise or an attack.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Whether `c` must not reach a terminal, a log line or an alert as it is: a control character
/// (C0 including tab, CR and LF; DEL; C1 including the 8-bit CSI), a bidirectional
/// embedding/override/isolate, or a line or paragraph separator.
fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200E}' | '\u{200F}' // LRM, RLM
            | '\u{202A}'..='\u{202E}' // LRE, RLE, PDF, LRO, RLO
            | '\u{2066}'..='\u{2069}' // LRI, RLI, FSI, PDI
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
        )
}

/// `text` with every unprintable character (see [`is_unprintable`]) replaced by a space.
/// Borrows when there is nothing to replace, which is nearly always.
pub fn printable(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_unprintable) {
        Cow::Owned(
            text.chars()
                .map(|c| if is_unprintable(c) { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// [`printable`], at most `max_chars` characters long: a longer text is cut and ends in `…`.
pub fn printable_capped(text: &str, max_chars: usize) -> String {
    let clean = printable(text);
    if clean.chars().count() <= max_chars {
        return clean.into_owned();
    }
    let mut cut: String = clean.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_passes_untouched_and_borrowed() {
        let text =
            "GET /api/v3/account: code 700002 Signature for this request is not valid. — ü 中";
        assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
        assert_eq!(printable_capped(text, MAX_MESSAGE_CHARS), text);
    }

    #[test]
    fn control_and_bidi_characters_become_spaces() {
        assert_eq!(
            printable("a\u{1b}[2J\u{1b}]0;pwned\u{7}b\r\nc\td\u{0}e\u{7f}f\u{9b}g"),
            "a [2J ]0;pwned b  c d e f g"
        );
        assert_eq!(
            printable("key \u{202E}gnp.exe\u{202C} ok\u{2066}x\u{2069}\u{2028}y"),
            "key  gnp.exe  ok x  y"
        );
        assert!(!printable("\u{1b}\u{9b}\u{85}\n")
            .chars()
            .any(is_unprintable));
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let long = "x".repeat(5000);
        let cut = printable_capped(&long, MAX_MESSAGE_CHARS);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS);
        assert!(cut.ends_with('…'));
        // characters, not bytes: a cut never splits a multi-byte character
        let wide = "é".repeat(20);
        assert_eq!(printable_capped(&wide, 5), "éééé…");
        assert_eq!(printable_capped("abc", 3), "abc");
    }
}
