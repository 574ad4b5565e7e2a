//! Guest- and image-chosen text made safe to show: one rule for every message of hv's own that
//! carries it (panic messages, symbol names, file names, warnings, reports) and for guest output
//! lines under `--prefix`.
//!
//! A guest (or an image's symbol table) chooses this text, and hv prints it on a terminal or
//! into a log beside its own lines. Shown raw, some characters let it rewrite what the reader
//! sees: a carriage return or an ANSI escape erases or recolours the real report, a newline or a
//! Unicode line separator forges a line of its own, bidirectional controls reorder what follows
//! (the "Trojan Source" characters), and invisible characters make two different names look the
//! same. [`needs_escape`] names them all; each is shown as an escape instead:
//!
//! - C0 controls (but the tab) and DEL as `\xHH`;
//! - everything else it names as `\u{H...}` (lower-case hex, as Rust writes it): the C1
//!   controls, the bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E,
//!   U+2066-U+2069), the line and paragraph separators (U+2028, U+2029), and the invisible
//!   format characters that display as nothing (U+00AD, U+180E, U+200B, U+2060-U+2064, U+FEFF,
//!   U+FFF9-U+FFFB, the tag characters U+E0000-U+E007F).
//!
//! The zero-width joiner and non-joiner (U+200C, U+200D) are left alone: scripts and emoji
//! need them, and they neither move text nor hide it. The backslash is not escaped, so text
//! that is already escaped is left as it is (escaping twice changes nothing).
//!
//! Without `--prefix` guest output stays raw bytes: a guest may print what it likes on its own
//! console.

use std::fmt;

/// True for a character that must not reach the reader raw (see the module docs).
pub(crate) fn needs_escape(c: char) -> bool {
    match c {
        '\t' => false,
        c if c.is_control() => true,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}' | '\u{200E}' | '\u{200F}' => true,
        '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' => true,
        '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}' => true,
        _ => false,
    }
}

/// Writes `c` as its escape (`\xHH` for ASCII controls, `\u{H...}` otherwise).
fn write_escape(out: &mut impl fmt::Write, c: char) -> fmt::Result {
    if c.is_ascii() {
        write!(out, "\\x{:02x}", c as u32)
    } else {
        write!(out, "\\u{{{:x}}}", c as u32)
    }
}

/// The escape of `c` as bytes, for byte streams (the console under `--prefix`).
pub(crate) fn escape_char_bytes(c: char, out: &mut Vec<u8>) {
    let mut s = String::with_capacity(10);
    let _ = write_escape(&mut s, c);
    out.extend_from_slice(s.as_bytes());
}

/// `text`, escaped where [`needs_escape`] says, for `format!` and friends.
#[derive(Clone, Copy)]
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
            f.write_str(&rest[..i])?;
            write_escape(f, c)?;
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `text` escaped, as a new string.
pub(crate) fn escape(text: &str) -> String {
    Escaped(text).to_string()
}

/// Guest bytes made safe to print: invalid UTF-8 replaced (U+FFFD), then escaped.
pub(crate) fn escape_bytes(bytes: &[u8]) -> String {
    escape(&String::from_utf8_lossy(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_bidi_separators_and_invisibles_are_escaped() {
        assert_eq!(escape_bytes(b"boom\n\x1b[2J\r\x7f"), "boom\\x0a\\x1b[2J\\x0d\\x7f");
        assert_eq!(escape_bytes(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(escape("tab\tkept"), "tab\tkept");
        assert_eq!(escape("\u{85}\u{9b}"), "\\u{85}\\u{9b}");
        for c in [
            '\u{061C}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{2028}',
            '\u{2029}',
            '\u{200B}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{E0041}',
            '\u{00AD}',
        ] {
            assert!(needs_escape(c), "{:x}", c as u32);
            assert_eq!(escape(&format!("a{c}b")), format!("a\\u{{{:x}}}b", c as u32));
        }
        for c in ['é', '€', '\u{200D}', '\u{200C}', '日', '😀', ' ', '\\'] {
            assert!(!needs_escape(c), "{:x}", c as u32);
        }
    }

    #[test]
    fn escaping_twice_changes_nothing() {
        let once = escape("\x1b]0;title\x07 \u{202E}gnp.exe \u{2028}forged");
        assert_eq!(once, "\\x1b]0;title\\x07 \\u{202e}gnp.exe \\u{2028}forged");
        assert_eq!(escape(&once), once);
    }

    #[test]
    fn byte_escapes_match_the_string_ones() {
        for c in ['\x1b', '\u{202E}', '\u{9b}'] {
            let mut b = Vec::new();
            escape_char_bytes(c, &mut b);
            assert_eq!(String::from_utf8(b).unwrap_or_default(), escape(&c.to_string()));
        }
    }
}
