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
use crate::{BrickName, EffectiveHash, KeyPath, Layer, Origin, Profile};

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
    /// The host's effective hash of the brick (withheld secrets included).
    pub hash: String,
    /// The effective-config hash of `values` as stored: a guest checks it.
    pub values_hash: String,
    /// The secret keys left out (`--no-secrets`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<String>,
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
        found: u32,
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

    /// Whether it holds any secret value (then its file is 0600).
    #[must_use]
    pub fn holds_secrets(&self) -> bool {
        self.bricks.iter().any(|(name, brick)| {
            let schema = crate::bricks::lookup(name);
            crate::leaves(&brick.values).iter().any(|(key, value)| {
                let declared = schema.is_some_and(|s| s.is_secret(key));
                declared && !matches!(value, Value::String(s) if s.is_empty())
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
        let document: Table = text.parse().map_err(|e| malformed(positioned(text, &e)))?;
        match document
            .get("snapshot")
            .and_then(|h| h.get("format"))
            .and_then(Value::as_integer)
        {
            Some(found) if found == i64::from(FORMAT) => {}
            Some(found) => {
                return Err(SnapshotError::UnknownFormat {
                    path: path.to_owned(),
                    found: u32::try_from(found).unwrap_or(u32::MAX),
                });
            }
            None => {
                return Err(malformed(
                    "no `[snapshot]` header with a `format`".to_owned(),
                ));
            }
        }
        let snapshot: Snapshot =
            toml::from_str(text).map_err(|e| malformed(positioned(text, &e)))?;
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

    /// What a guest's load of `brick` takes from this snapshot, read from
    /// `path`: one layer per value, each with its host origin, and the
    /// secret keys that were withheld.
    pub(crate) fn layers(&self, brick: &str, path: &Path) -> (Vec<Layer>, Vec<String>) {
        let Some(found) = self.bricks.get(brick) else {
            return (Vec::new(), Vec::new());
        };
        let file: Arc<Path> = Arc::from(path);
        let layers = crate::leaves(&found.values)
            .into_iter()
            .map(|(key, value)| {
                let host = found
                    .origins
                    .get(&key.to_string())
                    .cloned()
                    .unwrap_or_else(|| "unknown".to_owned());
                let origin = Origin::Snapshot {
                    file: Arc::clone(&file),
                    host,
                };
                Layer::from_table(nest(&key, value.clone()), &origin)
            })
            .collect();
        (layers, found.withheld.clone())
    }
}

/// A parse error as `line L, column C: message`, without the line itself:
/// a snapshot holds secrets, and a snippet could show one.
fn positioned(text: &str, error: &toml::de::Error) -> String {
    let message = crate::shown::one_line(error.message()).into_owned();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// `value` at `key` in an otherwise empty table.
fn nest(key: &KeyPath, value: Value) -> Table {
    let Some((last, parents)) = key.segments().split_last() else {
        return Table::new();
    };
    let mut table = Table::new();
    table.insert(last.clone(), value);
    for segment in parents.iter().rev() {
        let mut outer = Table::new();
        outer.insert(segment.clone(), Value::Table(table));
        table = outer;
    }
    table
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
