//! A configuration snapshot: every brick's effective configuration, taken on
//! a host, in one file that a sandbox, container or VM loads in place of the
//! host's `$STATE/etc` (the guest sets `NEXUS_CONFIG_SNAPSHOT=FILE`).
//!
//! - `take`: the host's side, a [`Snapshot`] of the loads of some bricks;
//! - `mod` (here): the format, reading it back with every check, and what a
//!   guest's load takes from it (`layers`);
//! - `cpio`: the snapshot as a newc archive, to append to an initrd.
//!
//! # Format (version 1)
//!
//! ```toml
//! [snapshot]
//! format = 1
//! confd = "0.1.0"           # the version of confd that took it
//! state_dir = "/srv/nexus"  # the host's state dir
//! profile = "full"          # the host's profile
//! # taken = 1700000000      # only when SOURCE_DATE_EPOCH was set
//!
//! [bricks.relay]
//! hash = "…"                # the host's effective hash of the brick
//! values_hash = "…"         # the effective-config hash of `values` as stored
//! withheld = ["password"]   # secrets left out by --no-secrets
//! [bricks.relay.values]     # the effective values
//! host = "relay.example"
//! [bricks.relay.origins]    # where the host found each value
//! host = "/srv/nexus/etc/conf.d/relay:3:8"
//! ```
//!
//! Identical inputs give identical bytes (tables are sorted; no time unless
//! `SOURCE_DATE_EPOCH` says which), so a snapshot can be content-addressed.

mod cpio;
mod take;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

pub use cpio::{ARCHIVE_PATH, to_cpio};
pub use take::{SnapshotOptions, take};

use crate::shown::ShownPath;
use crate::{BrickName, EffectiveHash, KeyPath, Origin, Profile, layer::Layer};

/// The format this code writes and reads.
pub const FORMAT: u32 = 1;

/// The variable that makes a guest's loads read a snapshot.
pub const SNAPSHOT_VAR: &str = "NEXUS_CONFIG_SNAPSHOT";

/// A configuration snapshot, as written and as read back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Where it came from.
    pub snapshot: Header,
    /// Each brick's configuration, by name.
    #[serde(default)]
    pub bricks: BTreeMap<String, BrickSnapshot>,
}

/// The snapshot's header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The format version ([`FORMAT`]).
    pub format: u32,
    /// The version of confd that took it.
    pub confd: String,
    /// The host's state dir.
    pub state_dir: PathBuf,
    /// The host's profile.
    pub profile: String,
    /// `SOURCE_DATE_EPOCH`, when it was set: the only time recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken: Option<u64>,
}

/// One brick in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrickSnapshot {
    /// The host's effective hash of the brick. Left out when a secret is
    /// withheld: a hash over the secret would let anyone who reads the file
    /// try guesses of it offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The effective-config hash of `values` as stored: a guest checks it.
    pub values_hash: String,
    /// The secret keys left out (`--no-secrets`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<String>,
    /// The keys whose values were the host profile's defaults: a guest that
    /// runs another profile takes its own defaults for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile_defaults: Vec<String>,
    /// The effective values.
    #[serde(default)]
    pub values: Table,
    /// Where the host found each value, by dotted key.
    #[serde(default)]
    pub origins: BTreeMap<String, String>,
}

/// Why a snapshot cannot be used. Every message names the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The file cannot be read.
    #[error("cannot read the snapshot `{}`: {message}", ShownPath(path))]
    Read {
        /// The snapshot.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// It is not a snapshot (truncated, corrupt, or something else).
    #[error(
        "`{}` is not a valid configuration snapshot: {message}",
        ShownPath(path)
    )]
    Malformed {
        /// The snapshot.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// It was written in a format this confd does not know.
    #[error(
        "the snapshot `{}` has format {found}; this confd reads format {FORMAT} (take it again with this version)",
        ShownPath(path)
    )]
    UnknownFormat {
        /// The snapshot.
        path: PathBuf,
        /// Its format number.
        found: i64,
    },
    /// `--no-secrets` of a brick this program does not link: which of its
    /// keys are secret is not known here.
    #[error(
        "cannot withhold the secrets of `{brick}`: it is not a brick this program links, so which \
         of its keys are secret is unknown; take the snapshot with a binary that links it, or \
         without --no-secrets (the file is then 0600)"
    )]
    CannotWithhold {
        /// The brick.
        brick: String,
    },
    /// A brick that is not registered and that nothing configures: most
    /// likely a typo.
    #[error("`{brick}` is not a registered brick and nothing configures it{hint}")]
    NotABrick {
        /// The name given.
        brick: String,
        /// ` (did you mean `…`?)`, or nothing.
        hint: String,
    },
    /// A snapshot taken where loads read a snapshot already: it would lose
    /// what that one withheld, and name the guest's state dir as the host's.
    #[error(
        "this process reads the snapshot `{}` ({SNAPSHOT_VAR}): take snapshots on the host",
        ShownPath(path)
    )]
    InGuest {
        /// The snapshot this process reads.
        path: PathBuf,
    },
    /// `SOURCE_DATE_EPOCH` is set but is not a time.
    #[error(
        "environment variable `SOURCE_DATE_EPOCH` must be a number of seconds since 1970 (digits only), found `{}`",
        crate::shown::quoted_input(value)
    )]
    InvalidSourceDate {
        /// What it holds.
        value: String,
    },
    /// A relative `NEXUS_CONFIG_SNAPSHOT`: every program that inherits it
    /// would read a different file.
    #[error(
        "invalid `{SNAPSHOT_VAR}` `{}`: must be an absolute path (a relative one names a different file in each directory)",
        ShownPath(path)
    )]
    RelativePath {
        /// The value.
        path: PathBuf,
    },
    /// A brick's values do not match the hash recorded beside them.
    #[error(
        "the snapshot `{}` is corrupt: the values of `{brick}` do not match their recorded hash",
        ShownPath(path)
    )]
    HashMismatch {
        /// The snapshot.
        path: PathBuf,
        /// The brick.
        brick: String,
    },
}

impl Snapshot {
    /// The snapshot as TOML text, byte for byte the same for the same
    /// snapshot.
    #[must_use]
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# A confd configuration snapshot (`nexus config snapshot`). A guest loads it\n\
             # with {SNAPSHOT_VAR}=FILE in place of $STATE/etc. Do not edit: each brick's\n\
             # values are checked against their hash.\n{body}"
        )
    }

    /// Whether it holds any secret value (then its file is 0600). Any value
    /// of a brick this program does not link counts: nothing here says
    /// which of its keys are secret.
    #[must_use]
    pub fn holds_secrets(&self) -> bool {
        self.bricks.iter().any(|(name, brick)| {
            let schema = crate::bricks::lookup(name);
            crate::value::leaves(&brick.values)
                .iter()
                .any(|(key, value)| {
                    let secret = schema.is_none_or(|s| s.is_secret(key));
                    secret && !matches!(value, Value::String(s) if s.is_empty())
                })
        })
    }

    /// Reads and checks the snapshot at `path`: its format, and every brick's
    /// values against their hash.
    ///
    /// # Errors
    /// A [`SnapshotError`] naming the file.
    pub fn read(path: &Path) -> Result<Snapshot, SnapshotError> {
        let text = crate::file::read_config_file(path)
            .map_err(|e| SnapshotError::Read {
                path: path.to_owned(),
                message: e.to_string(),
            })?
            .ok_or_else(|| SnapshotError::Read {
                path: path.to_owned(),
                message: "no such file".to_owned(),
            })?;
        Snapshot::parse(&text, path)
    }

    /// Parses and checks snapshot text (`path` names it in errors).
    ///
    /// # Errors
    /// A [`SnapshotError`] naming `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Snapshot, SnapshotError> {
        let malformed = |message: String| SnapshotError::Malformed {
            path: path.to_owned(),
            message,
        };
        // The format first, so a future format is named as such rather than
        // as a document with unknown fields.
        let document: Table = text
            .parse()
            .map_err(|e: toml::de::Error| malformed(positioned(text, e.message(), e.span())))?;
        match document.get("snapshot").and_then(|h| h.get("format")) {
            Some(Value::Integer(found)) if *found == i64::from(FORMAT) => {}
            Some(Value::Integer(found)) => {
                return Err(SnapshotError::UnknownFormat {
                    path: path.to_owned(),
                    found: *found,
                });
            }
            Some(_) => return Err(malformed("`snapshot.format` must be an integer".to_owned())),
            None => {
                return Err(malformed(
                    "no `[snapshot]` header with a `format`".to_owned(),
                ));
            }
        }
        let snapshot: Snapshot = toml::from_str(text).map_err(|e| {
            // serde's messages quote the value they refuse, which may be a
            // secret: say where, and what kind of problem, only.
            let message = e.message();
            let message =
                if message.starts_with("invalid type") || message.starts_with("invalid value") {
                    "a value of the wrong type (not shown: a snapshot may hold secrets)"
                } else {
                    message
                };
            malformed(positioned(text, message, e.span()))
        })?;
        for (name, brick) in &snapshot.bricks {
            BrickName::new(name).map_err(|e| malformed(e.to_string()))?;
            if EffectiveHash::of(&brick.values).to_string() != brick.values_hash {
                return Err(SnapshotError::HashMismatch {
                    path: path.to_owned(),
                    brick: name.clone(),
                });
            }
        }
        Ok(snapshot)
    }

    /// The host's profile, when it is one this confd knows.
    #[must_use]
    pub fn profile(&self) -> Option<Profile> {
        self.snapshot.profile.parse().ok()
    }

    /// What a guest's load of `brick` under `profile` takes from this
    /// snapshot, read from `path`: its values as one layer, each with its
    /// host origin, and the secret keys that were withheld. Under another
    /// profile than the host's, the values that were the host profile's
    /// defaults are left to the guest's own defaults.
    pub(crate) fn layer(&self, brick: &str, path: &Path, profile: Profile) -> (Layer, Vec<String>) {
        let file: Arc<Path> = Arc::from(path);
        let table_origin = Origin::Snapshot {
            file: Arc::clone(&file),
            host: "a table".to_owned(),
        };
        let Some(found) = self.bricks.get(brick) else {
            let empty =
                Layer::with_origins(Table::new(), file, &table_origin, &|_| table_origin.clone());
            return (empty, Vec::new());
        };
        let mut values = found.values.clone();
        if self.profile() != Some(profile) {
            for key in &found.profile_defaults {
                if let Ok(key) = key.parse::<KeyPath>() {
                    crate::layer::remove_at(&mut values, &key);
                }
            }
        }
        let leaf_origin = |key: &KeyPath| Origin::Snapshot {
            file: Arc::clone(&file),
            host: found
                .origins
                .get(&key.to_string())
                .cloned()
                .unwrap_or_else(|| "an unknown place".to_owned()),
        };
        let layer = Layer::with_origins(values, Arc::clone(&file), &table_origin, &leaf_origin);
        (layer, found.withheld.clone())
    }
}

/// A parse error as `line L, column C: message`, without the line itself:
/// a snapshot holds secrets, and a snippet could show one.
fn positioned(text: &str, message: &str, span: Option<std::ops::Range<usize>>) -> String {
    let message = crate::shown::one_line(message).into_owned();
    match span {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// The snapshot at `path`, parsed once per version of the file: a guest's
/// boot loads many bricks from one snapshot.
pub(crate) fn cached(path: &Path) -> Result<Arc<Snapshot>, SnapshotError> {
    use std::os::unix::fs::MetadataExt;
    type Seen = Option<(PathBuf, (u64, u64, u64, i64, i64, i64, i64), Arc<Snapshot>)>;
    static LAST: Mutex<Seen> = Mutex::new(None);
    let stat = std::fs::metadata(path).map_err(|e| SnapshotError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let id = (
        stat.dev(),
        stat.ino(),
        stat.size(),
        stat.mtime(),
        stat.mtime_nsec(),
        stat.ctime(),
        stat.ctime_nsec(),
    );
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((seen_path, seen_id, snapshot)) = last.as_ref()
        && seen_path == path
        && *seen_id == id
    {
        return Ok(Arc::clone(snapshot));
    }
    let snapshot = Arc::new(Snapshot::read(path)?);
    // A file changed in the same clock tick as its `stat` could change again
    // unseen (the racy-git rule of the load cache): keep only settled ones.
    let settled = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .is_ok_and(|now| now.as_secs() as i64 > stat.mtime() + 1);
    *last = settled.then(|| (path.to_owned(), id, Arc::clone(&snapshot)));
    Ok(snapshot)
}
