//! The errors of each operation: a load ([`Error`]), reading a value out
//! of a loaded configuration ([`GetError`]), parsing a `--set`
//! ([`OverrideError`]), finding the state dir ([`StateDirError`]), a
//! profile name ([`UnknownProfile`]). A load's error wraps the others it can
//! meet. Every variant names where the bad input came from (a file position,
//! an environment variable or a `--set`), and none prints a secret value.

use std::fmt;
use std::path::{Path, PathBuf};

pub use crate::env::EnvNotUtf8;
pub use crate::loader::OverrideError;
pub use crate::profile::UnknownProfile;
pub use crate::state_dir::StateDirError;

use crate::shown::{ShownPath, quoted_input, terminal_safe};
use crate::{Origin, brick_name::InvalidBrickName, key_path::InvalidKeyPath};

/// Why a brick's configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The brick name is not a valid single path component.
    #[error(transparent)]
    InvalidBrickName(#[from] InvalidBrickName),

    /// A key path (in `get`, `origin` or `--set`) is malformed.
    #[error(transparent)]
    InvalidKeyPath(#[from] InvalidKeyPath),

    /// The profile is not one of the five known names.
    #[error(transparent)]
    UnknownProfile(#[from] UnknownProfile),

    /// The state dir cannot be worked out or is not a directory.
    #[error(transparent)]
    StateDir(#[from] StateDirError),

    /// An environment variable the loader reads is not valid UTF-8.
    #[error(transparent)]
    EnvNotUtf8(#[from] EnvNotUtf8),

    /// The file system refused an operation on a path (permission denied,
    /// a symlink loop, …).
    // The cause is in the message, so it is no `source()` as well: a
    // printer of error chains would show it twice.
    #[error("cannot read `{}`: {error}", ShownPath(path))]
    Io {
        /// The path that could not be read.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },

    /// Something other than a regular file stands where a configuration file belongs.
    #[error("`{}` is {found}, not a configuration file", ShownPath(path))]
    NotAFile {
        /// The offending path.
        path: PathBuf,
        /// What is there instead: "a directory", "a FIFO", "a dangling symlink", …
        found: &'static str,
    },

    /// A file stands where the drop-in directory `NAME.d` belongs.
    #[error(
        "`{}` is not a directory: drop-ins go in a directory of `*.toml` files",
        ShownPath(path)
    )]
    NotADirectory {
        /// The offending path.
        path: PathBuf,
    },

    /// A configuration file is larger than the 1 MiB limit.
    #[error(
        "`{}` is {size} bytes: configuration files are limited to 1 MiB",
        ShownPath(path)
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size, or at least how much was read before giving up.
        size: u64,
    },

    /// A configuration file is not UTF-8 text.
    #[error(
        "`{}:{line}:{column}` is not valid UTF-8: configuration files are UTF-8 text",
        ShownPath(path)
    )]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The line of the first invalid byte.
        line: u32,
        /// Its column (characters before it on the line, plus one).
        column: u32,
    },

    /// A configuration file is not valid TOML.
    #[error(
        "malformed TOML at `{}:{line}:{column}`: {}\n{snippet}",
        ShownPath(path),
        terminal_safe(message)
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: u32,
        /// 1-based column of the error.
        column: u32,
        /// What the TOML parser said.
        message: String,
        /// The offending line with a caret under the column (values redacted
        /// in bricks that hold secrets).
        snippet: String,
    },

    /// The TOML text of an etcd key of the fleet layer is not valid TOML.
    #[error(
        "malformed TOML at `{key}:{line}:{column}`: {}\n{snippet}",
        terminal_safe(message)
    )]
    MalformedEtcd {
        /// The key and the revision that was read (boxed: errors stay small).
        key: Box<crate::origin::EtcdKey>,
        /// 1-based line of the error.
        line: u32,
        /// 1-based column of the error.
        column: u32,
        /// What the TOML parser said.
        message: String,
        /// The offending line with a caret under the column (values redacted
        /// in bricks that hold secrets).
        snippet: String,
    },

    /// The fleet layer could not be had (DESIGN.md §10): etcd did not
    /// answer in time, or a value in it is unusable. A load meets this only
    /// under `--strict`, or for a value that is not a brick's text; otherwise
    /// it warns and goes on with the cached layer or without one.
    #[error("{}", terminal_safe(message))]
    Fleet {
        /// The whole message, naming the endpoints, the key or the cache.
        message: String,
    },

    /// A value has the wrong TOML type for its key.
    #[error(
        "invalid type for `{}` {}: expected {expected}, found {found}",
        quoted_input(key),
        At(origin)
    )]
    InvalidType {
        /// `brick.key.path`.
        key: String,
        /// Where the value came from.
        origin: Origin,
        /// The type the brick's schema wants.
        expected: &'static str,
        /// The type that was given.
        found: &'static str,
    },

    /// A value has the right type but is not acceptable (an unknown enum
    /// variant, a negative size, an unparsable environment value, …).
    // Messages may quote the value (serde's "unknown variant `…`"): escaped.
    #[error(
        "invalid value for `{}` {}: {}",
        quoted_input(key),
        At(origin),
        terminal_safe(message)
    )]
    InvalidValue {
        /// `brick.key.path`.
        key: String,
        /// Where the value came from.
        origin: Origin,
        /// What is wrong, never quoting a secret.
        message: String,
    },

    /// The brick's own rule across several keys does not hold.
    #[error(
        "invalid `{brick}` configuration: {}{}",
        terminal_safe(message),
        Involved(involved)
    )]
    Validation {
        /// The brick.
        brick: String,
        /// The rule that failed.
        message: String,
        /// Each key the rule involves, with where its value came from.
        involved: Vec<(String, Option<Origin>)>,
    },

    /// A registered brick has a key its schema does not know (an error only in
    /// strict mode; otherwise a [`Warning`](crate::Warning)).
    // A key in a file can be any length: quoted cut short.
    #[error(
        "unknown key `{}` {}{}",
        quoted_input(key),
        At(origin),
        DidYouMean(suggestion)
    )]
    UnknownKey {
        /// `brick.key.path`.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// The closest known key, if one is close.
        suggestion: Option<String>,
    },

    /// The configuration does not fit the type it is read into, at a place
    /// no single value explains (a missing key, for instance).
    #[error("cannot read the `{brick}` configuration: {}", terminal_safe(message))]
    Deserialize {
        /// The brick.
        brick: String,
        /// What the deserializer said.
        message: String,
    },

    /// A `--set` override is not of the form `BRICK.key=value`.
    #[error(transparent)]
    Override(#[from] OverrideError),

    /// Several problems at once, each complete on its own line.
    #[error("{}", Lines(.0))]
    Multiple(Vec<Error>),
    /// The configuration snapshot a guest loads cannot be used.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
}

impl Error {
    /// Whether the problem is in command-line input (exit status 2) rather
    /// than in files or the environment (exit status 1).
    #[must_use]
    pub fn is_usage(&self) -> bool {
        match self {
            Error::InvalidBrickName(_) | Error::InvalidKeyPath(_) | Error::Override(_) => true,
            Error::UnknownProfile(e) => e.from.is_some_and(InputSource::is_command_line),
            Error::StateDir(e) => e.is_usage(),
            Error::InvalidType { origin, .. }
            | Error::InvalidValue { origin, .. }
            | Error::UnknownKey { origin, .. } => matches!(origin, Origin::Cli(_)),
            // A rule broken with a `--set` value among its keys is fixed on
            // the command line.
            Error::Validation { involved, .. } => involved
                .iter()
                .any(|(_, origin)| matches!(origin, Some(Origin::Cli(_)))),
            Error::Multiple(all) => all.iter().all(Error::is_usage),
            _ => false,
        }
    }

    /// The individual problems: the members of [`Error::Multiple`], or this one.
    #[must_use]
    pub fn problems(&self) -> Vec<&Error> {
        match self {
            Error::Multiple(all) => all.iter().flat_map(Error::problems).collect(),
            one => vec![one],
        }
    }

    /// The file the problem is in, if it is in one.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::NotAFile { path, .. }
            | Error::NotADirectory { path }
            | Error::TooLarge { path, .. }
            | Error::NotUtf8 { path, .. }
            | Error::Malformed { path, .. } => Some(path),
            Error::InvalidType { origin, .. }
            | Error::InvalidValue { origin, .. }
            | Error::UnknownKey { origin, .. } => origin.path(),
            _ => None,
        }
    }

    /// The file position the problem points at, if it points at one.
    #[must_use]
    pub fn position(&self) -> Option<(&Path, u32, u32)> {
        match self {
            Error::NotUtf8 {
                path, line, column, ..
            }
            | Error::Malformed {
                path, line, column, ..
            } => Some((path, *line, *column)),
            Error::InvalidType { origin, .. }
            | Error::InvalidValue { origin, .. }
            | Error::UnknownKey { origin, .. } => match origin {
                Origin::File {
                    path, line, column, ..
                } => Some((path, *line, *column)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The `brick.key` the problem is about, if it is about one key.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::InvalidType { key, .. }
            | Error::InvalidValue { key, .. }
            | Error::UnknownKey { key, .. } => Some(key),
            _ => None,
        }
    }

    pub(crate) fn from_list(mut errors: Vec<Error>) -> Option<Error> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(Error::Multiple(errors)),
        }
    }
}

/// Where an input of a load was given: on the command line (a usage
/// error, exit status 2, when it is wrong) or in the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputSource {
    /// A flag (`--profile`, `--state-dir`) or the library call that stands
    /// for it ([`Loader::profile`](crate::Loader::profile), …).
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
}

impl InputSource {
    /// Whether the input came from the command line.
    #[must_use]
    pub fn is_command_line(self) -> bool {
        matches!(self, InputSource::Flag(_))
    }
}

impl fmt::Display for InputSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputSource::Flag(flag) => f.write_str(flag),
            InputSource::Env(var) => write!(f, "env {var}"),
        }
    }
}

/// Why a value could not be read out of a loaded configuration
/// ([`BrickConfig::get`](crate::BrickConfig::get),
/// [`BrickConfig::deserialize`](crate::BrickConfig::deserialize)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GetError {
    /// The key path asked for is malformed.
    #[error(transparent)]
    InvalidKeyPath(#[from] InvalidKeyPath),

    /// The value at a key does not fit the type it is read into.
    // Messages may quote the value (serde's "unknown variant `…`"): escaped.
    #[error(
        "invalid value for `{}` {}: {}",
        quoted_input(key),
        At(origin),
        terminal_safe(message)
    )]
    Value {
        /// `brick.key.path`.
        key: String,
        /// Where the value came from.
        origin: Origin,
        /// What is wrong, never quoting a secret.
        message: String,
    },

    /// The configuration does not fit the type, at a place no single value
    /// explains (a missing key, for instance).
    #[error("cannot read the `{brick}` configuration: {}", terminal_safe(message))]
    Shape {
        /// The brick.
        brick: String,
        /// What the deserializer said.
        message: String,
    },
}

/// A typed load reads its value as [`BrickConfig::deserialize`](crate::BrickConfig::deserialize) does.
impl From<GetError> for Error {
    fn from(e: GetError) -> Self {
        match e {
            GetError::InvalidKeyPath(e) => Error::InvalidKeyPath(e),
            GetError::Value {
                key,
                origin,
                message,
            } => Error::InvalidValue {
                key,
                origin,
                message,
            },
            GetError::Shape { brick, message } => Error::Deserialize { brick, message },
        }
    }
}

/// "at `file:line:col`" for file positions, "from `env VAR`" for the rest.
struct At<'a>(&'a Origin);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Origin::File { .. } | Origin::Etcd { .. } => write!(f, "at `{}`", self.0),
            other => write!(f, "from `{other}`"),
        }
    }
}

pub(crate) struct NotADir<'a> {
    pub(crate) path: &'a Path,
    pub(crate) found: &'a str,
    pub(crate) is_root: bool,
}

impl fmt::Display for NotADir<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, found) = (ShownPath(self.path), self.found);
        if self.is_root {
            write!(f, "state dir `{path}` is {found}, not a directory")
        } else {
            write!(
                f,
                "`{path}` is {found}, not a directory: the state dir keeps configuration in `etc/conf.d/`"
            )
        }
    }
}

struct DidYouMean<'a>(&'a Option<String>);

impl fmt::Display for DidYouMean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, " (did you mean `{s}`?)"),
            None => Ok(()),
        }
    }
}

struct Involved<'a>(&'a [(String, Option<Origin>)]);

impl fmt::Display for Involved<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, origin) in self.0 {
            match origin {
                Some(origin) => write!(f, "\n  `{key}` {}", At(origin))?,
                None => write!(f, "\n  `{key}` (not set)")?,
            }
        }
        Ok(())
    }
}

struct Lines<'a>(&'a [Error]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problems:", self.0.len())?;
        for e in self.0 {
            write!(f, "\n- {}", e.to_string().replace('\n', "\n  "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<E: std::error::Error + Send + Sync + 'static>() {}
        assert_bounds::<Error>();
        assert_bounds::<GetError>();
    }
}
