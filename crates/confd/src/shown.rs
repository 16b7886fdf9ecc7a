//! Showing text that came from outside (a file, a variable, the command line)
//! to a person without letting it drive their terminal.
//!
//! Escapes are written `\u001B`, as TOML and JSON write them, so an escaped
//! character inside a TOML or JSON string still means the same character.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::path::Path;

/// Whether `c` must not reach a terminal raw: control characters (C0, DEL,
/// C1), and the bidirectional overrides and isolates that reorder what is
/// shown ("trojan source"). Letters of every script pass.
fn is_hazard(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with each hazard escaped unless `keep(c, next)` spares it.
fn escape(text: &str, keep: impl Fn(char, Option<char>) -> bool) -> Cow<'_, str> {
    let escapes = |c: char, next: Option<char>| is_hazard(c) && !keep(c, next);
    let mut chars = text.chars().peekable();
    let mut clean = true;
    while let Some(c) = chars.next() {
        if escapes(c, chars.peek().copied()) {
            clean = false;
            break;
        }
    }
    if clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if escapes(c, chars.peek().copied()) {
            let _ = write!(out, "\\u{:04X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` with every character that could act on a terminal escaped, except
/// line feeds and tabs, which the program's own output uses as separators,
/// and a carriage return just before a line feed (a CRLF file's lines, shown
/// by `diff`); a lone one, which would let text overwrite its own line, is
/// escaped. For whole messages at the point they are printed.
#[must_use]
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape(text, |c, next| {
        c == '\n' || c == '\t' || (c == '\r' && next == Some('\n'))
    })
}

/// `text` escaped to stay on one line: line feeds and tabs too, so a value
/// can neither fake a line of output nor shift a tab-separated column.
#[must_use]
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, |_, _| false)
}

/// The most characters of a rejected input quoted back in an error message.
pub(crate) const QUOTED_INPUT_CHARS: usize = 80;

/// A rejected input as an error message quotes it: on one line, and cut to
/// 80 characters (`QUOTED_INPUT_CHARS`) with its full length, so 100 KB of input make a
/// short message.
#[must_use]
pub fn quoted_input(text: &str) -> String {
    let shown = one_line(text);
    match shown.char_indices().nth(QUOTED_INPUT_CHARS) {
        None => shown.into_owned(),
        Some((cut, _)) => format!("{}… ({} bytes)", &shown[..cut], text.len()),
    }
}

/// A message that quotes input (serde's "unknown variant `…`", "invalid
/// value: string \"…\""), with each quoted piece longer than
/// 80 characters (`QUOTED_INPUT_CHARS`) cut as [`quoted_input`] cuts it: a 500 KB value
/// makes a short message. Pieces are in backticks or in double quotes
/// (where `\"` does not end them).
#[must_use]
pub(crate) fn cut_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest.as_bytes()[open];
        let body = &rest[open + 1..];
        let mut close = None;
        let mut escaped = false;
        for (i, b) in body.bytes().enumerate() {
            match b {
                b'\\' if quote == b'"' && !escaped => escaped = true,
                _ if b == quote && !escaped => {
                    close = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(close) = close else {
            // An unclosed quote: what follows it is cut as one piece.
            out.push_str(&rest[..=open]);
            rest = body;
            if rest.chars().nth(QUOTED_INPUT_CHARS).is_some() {
                out.push_str(&quoted_input(rest));
            } else {
                out.push_str(rest);
            }
            return out;
        };
        out.push_str(&rest[..=open]);
        let quoted = &body[..close];
        if quoted.chars().nth(QUOTED_INPUT_CHARS).is_some() {
            out.push_str(&quoted_input(quoted));
        } else {
            out.push_str(quoted);
        }
        out.push(char::from(quote));
        rest = &body[close + 1..];
    }
    out.push_str(rest);
    out
}

/// A path as messages show it: on one line, any control character escaped.
pub(crate) struct ShownPath<'a>(pub(crate) &'a Path);

impl fmt::Display for ShownPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&one_line(&self.0.to_string_lossy()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_keeps_other_scripts() {
        assert_eq!(terminal_safe("é 日本\tx\n"), "é 日本\tx\n");
        assert!(matches!(terminal_safe("plain"), Cow::Borrowed(_)));
        assert_eq!(
            terminal_safe("a\u{1b}[2Jb\r\u{7}"),
            "a\\u001B[2Jb\\u000D\\u0007"
        );
        assert_eq!(terminal_safe("\u{9b}31m \u{202e}"), "\\u009B31m \\u202E");
        assert_eq!(one_line("a\nb\tc"), "a\\u000Ab\\u0009c");
        assert_eq!(
            terminal_safe("crlf\r\nlone\rx\r"),
            "crlf\r\nlone\\u000Dx\\u000D"
        );
        assert_eq!(one_line("a\r\n"), "a\\u000D\\u000A");
    }

    #[test]
    fn quoted_input_is_short_and_says_how_long_it_was() {
        let long = "a.".repeat(50_000);
        let quoted = quoted_input(&long);
        assert!(quoted.ends_with("… (100000 bytes)"), "{quoted}");
        assert!(quoted.chars().count() < 120, "{quoted}");
        assert_eq!(quoted_input("x\u{1b}y"), "x\\u001By");
    }

    #[test]
    fn long_quoted_pieces_of_a_message_are_cut() {
        let long = "k".repeat(500_000);
        let message = format!("unknown variant `{long}`, expected one of `a`, `b`");
        let cut = cut_quoted(&message);
        assert_eq!(
            cut,
            format!(
                "unknown variant `{}`, expected one of `a`, `b`",
                quoted_input(&long)
            )
        );
        assert!(cut.len() < 200, "{cut}");
        let message = format!("invalid type: string \"a\\\"{long}\", expected x");
        assert!(
            cut_quoted(&message).ends_with("bytes)\", expected x"),
            "{}",
            cut_quoted(&message)
        );
        assert_eq!(cut_quoted("short `a` \"b\" `open"), "short `a` \"b\" `open");
        assert!(cut_quoted(&format!("open `{long}")).len() < 200);
        // Text outside quotes is the message's own, whatever its length.
        let prose = "a rule that says a lot ".repeat(10);
        assert_eq!(cut_quoted(&prose), prose);
    }
}
