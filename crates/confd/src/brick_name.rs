//! Validated brick names: the only strings that ever become a file name.

use std::fmt;
use std::str::FromStr;

/// The longest brick name accepted, in bytes.
pub const MAX_BRICK_NAME_LEN: usize = 64;

/// A brick name: one path component matching `[a-z0-9][a-z0-9_-]*`, at most
/// 64 bytes (DESIGN.md §3).
///
/// Validation happens before any file lookup, so `../x` or `a/b` can never
/// name a path outside `conf.d`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BrickName(String);

/// Why a string is not a brick name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid brick name `{}`: {reason}", crate::shown::quoted_input(name))]
pub struct InvalidBrickName {
    /// The rejected text.
    pub name: String,
    /// What rule it broke.
    pub reason: &'static str,
}

impl BrickName {
    /// Checks `name` against the rules of DESIGN.md §3.
    pub fn new(name: &str) -> Result<Self, InvalidBrickName> {
        let reject = |reason| {
            Err(InvalidBrickName {
                name: name.to_owned(),
                reason,
            })
        };
        let Some(first) = name.bytes().next() else {
            return reject("a brick name cannot be empty");
        };
        if name.len() > MAX_BRICK_NAME_LEN {
            return reject("a brick name is at most 64 bytes");
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return reject("a brick name starts with a lower-case letter or a digit");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return reject("a brick name has only lower-case letters, digits, `_` and `-`");
        }
        Ok(BrickName(name.to_owned()))
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BrickName {
    type Err = InvalidBrickName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BrickName::new(s)
    }
}

impl fmt::Display for BrickName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for BrickName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["relay", "a", "0", "db-2", "x_y", &"a".repeat(64)] {
            assert!(BrickName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_everything_that_could_be_a_path() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/abs",
            "a\0b",
            "Mounts",
            "-x",
            "_x",
            "a.b",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(BrickName::new(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
