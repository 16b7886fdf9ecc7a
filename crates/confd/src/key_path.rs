//! Dotted key paths such as `queue.url` or `server."dotted.name".port`.

use std::fmt;
use std::str::FromStr;

/// A path to a key inside a brick's table, one segment per table level.
///
/// Parses and prints TOML's dotted-key syntax: bare segments
/// (`[A-Za-z0-9_-]+`) joined by `.`, and `"quoted"` segments for anything else.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPath(Vec<String>);

/// The most segments a key path may have: as deep as a configuration file
/// may nest ([`MAX_DEPTH`](crate::layer::MAX_DEPTH)), so every value a file can hold
/// has a path, and far beyond any real brick (the shipped ones use one or two).
/// Bounding it keeps a hostile `--set a.a.a…` from building a table deep
/// enough to exhaust the stack.
pub const MAX_KEY_PATH_SEGMENTS: usize = crate::layer::MAX_DEPTH;

/// The longest key path text accepted, in bytes: 64 segments of 15
/// characters fit, and a path is refused before it is scanned.
pub const MAX_KEY_PATH_LEN: usize = 1024;

/// Why a string is not a key path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid key path `{text}`: {reason}")]
pub struct InvalidKeyPath {
    /// The rejected text as the message shows it: control characters
    /// escaped, and cut short when it is long.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

pub(crate) fn is_bare(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl KeyPath {
    /// A path from already-split segments.
    #[must_use]
    pub fn from_segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        KeyPath(segments.into_iter().map(Into::into).collect())
    }

    /// The segments, outermost first.
    #[must_use]
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// This path with `segment` appended.
    #[must_use]
    pub fn child(&self, segment: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment.to_owned());
        KeyPath(segments)
    }

    /// Whether the path has no segment (the brick's whole table).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads a quoted segment after its opening `"`, undoing the escapes of
/// `Display` (`\"`, `\\`, `\uXXXX`); returns it and the text after the
/// closing quote.
fn unquote(quoted: &str) -> Option<(String, &str)> {
    let mut segment = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((segment, &quoted[i + 1..])),
            '\\' => match chars.next()?.1 {
                'u' => {
                    let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                    segment.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                escaped => segment.push(escaped),
            },
            c => segment.push(c),
        }
    }
    None
}

impl FromStr for KeyPath {
    type Err = InvalidKeyPath;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| InvalidKeyPath {
            text: crate::shown::quoted_input(text),
            reason,
        };
        if text.len() > MAX_KEY_PATH_LEN {
            return Err(fail("a key path is at most 1024 bytes"));
        }
        let mut segments = Vec::new();
        let mut rest = text;
        loop {
            if segments.len() == MAX_KEY_PATH_SEGMENTS {
                return Err(fail("a key path has at most 64 segments"));
            }
            if let Some(quoted) = rest.strip_prefix('"') {
                let (segment, after) =
                    unquote(quoted).ok_or_else(|| fail("a quoted segment is not closed"))?;
                segments.push(segment);
                rest = after;
            } else {
                let end = rest.find('.').unwrap_or(rest.len());
                let segment = &rest[..end];
                if segment.is_empty() {
                    return Err(fail("a segment is empty"));
                }
                if !is_bare(segment) {
                    return Err(fail(
                        "a bare segment has only letters, digits, `_` and `-` (quote others)",
                    ));
                }
                segments.push(segment.to_owned());
                rest = &rest[end..];
            }
            match rest.strip_prefix('.') {
                Some(after) => rest = after,
                None if rest.is_empty() => break,
                None => return Err(fail("expected `.` after a quoted segment")),
            }
        }
        Ok(KeyPath(segments))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            if is_bare(segment) {
                f.write_str(segment)?;
            } else {
                // Keys come from files: escape quotes, backslashes and control
                // characters so a key can neither break the quoting nor send
                // escape sequences to a terminal.
                f.write_str("\"")?;
                for c in segment.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        c if c.is_control() => write!(f, "\\u{:04X}", u32::from(c))?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bare_and_quoted_segments() {
        let path: KeyPath = r#"server."a.b".port"#.parse().unwrap();
        assert_eq!(path.segments(), ["server", "a.b", "port"]);
        assert_eq!(path.to_string(), r#"server."a.b".port"#);
        assert_eq!(
            "sync_on_start".parse::<KeyPath>().unwrap().segments(),
            ["sync_on_start"]
        );
    }

    #[test]
    fn quotes_and_control_characters_are_escaped_and_round_trip() {
        let path = KeyPath::from_segments(["a\"b", "c\\d", "e\u{1b}[2Jf"]);
        let shown = path.to_string();
        assert_eq!(shown, r#""a\"b"."c\\d"."e\u001B[2Jf""#);
        assert!(!shown.contains('\u{1b}'));
        assert_eq!(shown.parse::<KeyPath>().unwrap(), path);
    }

    #[test]
    fn long_and_deep_paths_are_refused_with_a_short_message() {
        let deepest = vec!["a"; MAX_KEY_PATH_SEGMENTS].join(".");
        assert_eq!(
            deepest.parse::<KeyPath>().unwrap().segments().len(),
            MAX_KEY_PATH_SEGMENTS
        );
        let too_deep = format!("{deepest}.a");
        let err = too_deep.parse::<KeyPath>().unwrap_err();
        assert_eq!(err.reason, "a key path has at most 64 segments");
        let huge = vec!["a"; 65_000].join(".");
        let err = huge.parse::<KeyPath>().unwrap_err();
        assert_eq!(err.reason, "a key path is at most 1024 bytes");
        assert!(err.to_string().len() < 200, "{err}");
        let one_long_segment = "k".repeat(MAX_KEY_PATH_LEN + 1);
        assert!(one_long_segment.parse::<KeyPath>().is_err());
    }

    #[test]
    fn a_rejected_path_is_quoted_without_control_characters() {
        let err = "a b\u{1b}[2J".parse::<KeyPath>().unwrap_err();
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
        assert!(err.to_string().contains("\\u001B[2J"), "{err}");
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in ["", ".", "a.", ".a", "a..b", "a b", "\"open", "\"q\"x"] {
            assert!(bad.parse::<KeyPath>().is_err(), "{bad:?}");
        }
    }
}
