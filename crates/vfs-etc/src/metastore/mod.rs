//! Where entries live: a trait, an in-memory store and a persistent one on redb.
//!
//! Keys are mount-relative paths (`""` is the mount root), stored as `parent NUL name` so the
//! children of a directory are one contiguous key range: `readdir` never scans a subtree.

mod memory;
mod redb;

pub use self::memory::MemoryMetastore;
pub use self::redb::RedbMetastore;
pub(crate) use self::redb::{adopt_store, retire_legacy_store, tighten_store_dir};

use std::fmt;
use std::path::PathBuf;

use crate::entry::Entry;

/// Why the metadata store failed.
#[derive(Debug, thiserror::Error)]
pub enum MetastoreError {
    /// redb reported an error.
    #[error("metadata store `{}` failed", path.display())]
    Redb {
        /// The database file.
        path: PathBuf,
        /// What redb said.
        #[source]
        source: Box<::redb::Error>,
    },
    /// The database file, its directory or its temporary file could not be created.
    #[error("cannot create metadata store `{}`", path.display())]
    Create {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another process has the store open and did not let go within the wait.
    #[error("metadata store `{}` is in use by another process (waited {} s)", path.display(), waited.as_secs())]
    Busy {
        /// The database file.
        path: PathBuf,
        /// How long opening waited.
        waited: std::time::Duration,
    },
    /// A stored entry could not be decoded (written by an incompatible version).
    #[error("metadata store `{}` holds an entry for `{key}` this version cannot read", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The entry's path, relative to its mount.
        key: String,
    },
}

/// Changes applied atomically by [`Metastore::commit`].
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// Entries to insert or replace, by mount-relative path.
    pub puts: Vec<(String, Entry)>,
    /// Mount-relative paths to remove.
    pub deletes: Vec<String>,
    /// The batch only holds what can be derived again identically: an etag computed on first
    /// read, or the first scan of a mount whose store is empty. A persistent store may commit
    /// it without waiting for the disk: if a crash loses it, the next read or boot derives it
    /// again. Any other scan, and every version bump, is not deferrable.
    pub deferrable: bool,
}

impl Batch {
    /// Whether committing this batch would change nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty()
    }
}

/// A store of [`Entry`]s keyed by mount-relative path.
///
/// Every commit is atomic: after a crash the store holds either all of a batch or none of it.
pub trait Metastore: Send + Sync + fmt::Debug {
    /// The entry for `rel`.
    ///
    /// # Errors
    /// The store failed.
    fn get(&self, rel: &str) -> Result<Option<Entry>, MetastoreError>;

    /// The entries directly inside directory `dir`, by name, in byte order.
    ///
    /// # Errors
    /// The store failed.
    fn children(&self, dir: &str) -> Result<Vec<(String, Entry)>, MetastoreError>;

    /// The entry for `rel` (if any) and every entry below it, by mount-relative path; `""`
    /// gives the whole store.
    ///
    /// # Errors
    /// The store failed.
    fn subtree(&self, rel: &str) -> Result<Vec<(String, Entry)>, MetastoreError>;

    /// Applies `batch` atomically and increments the generation. An empty batch is still a
    /// commit; callers skip it to keep "nothing changed" free.
    ///
    /// # Errors
    /// The store failed; nothing was applied.
    fn commit(&self, batch: &Batch) -> Result<(), MetastoreError>;

    /// Waits until every commit so far is on disk or has failed to get there: a store that
    /// writes a commit in the background ([`RedbMetastore`]) reports that write's
    /// failure here. A [deferrable](Batch::deferrable) commit may still be lost in a crash.
    ///
    /// # Errors
    /// A background write failed; the store will try again at the next commit.
    fn flush(&self) -> Result<(), MetastoreError> {
        Ok(())
    }

    /// How many commits this store has seen, ever (persistent stores persist it), so a caller
    /// can prove that something did not write.
    ///
    /// # Errors
    /// The store failed.
    fn generation(&self) -> Result<u64, MetastoreError>;

    /// The uid of the user who can read what this store persists, besides root: `None` for a
    /// store that lives only in this process. The VFS never persists the etag of a file that
    /// user may not read (an etag confirms a guessed content offline).
    fn reader(&self) -> Option<u32> {
        None
    }

    /// `false` once this store gave an entry a new version it could not persist (a store
    /// this process may not write keeps its changes in memory): within this process versions
    /// still never repeat for different content, but the next process starts again from what
    /// is on disk and may hand out the same numbers for other content. A store that lives only
    /// in memory keeps its versions for as long as it lives.
    fn keeps_versions(&self) -> bool {
        true
    }
}

/// The storage key of a mount-relative path.
pub(crate) fn key(rel: &str) -> String {
    if rel.is_empty() {
        return String::new();
    }
    let (parent, name) = crate::path::rel_split(rel);
    format!("{parent}\0{name}")
}

/// The mount-relative path of a storage key.
pub(crate) fn unkey(key: &str) -> String {
    match key.split_once('\0') {
        Some(("", name)) => name.to_owned(),
        Some((parent, name)) => format!("{parent}/{name}"),
        None => String::new(),
    }
}

/// Key ranges (half-open) holding the children of `dir`.
pub(crate) fn children_range(dir: &str) -> (String, String) {
    (format!("{dir}\0"), format!("{dir}\u{1}"))
}

/// Key ranges holding every entry strictly below `rel`: its children, and the children of
/// every directory whose path starts with `rel/`. Each range is `[lo, hi)`, `hi = None` meaning
/// unbounded.
pub(crate) fn descendant_ranges(rel: &str) -> Vec<(String, Option<String>)> {
    if rel.is_empty() {
        // Every key but the root's own (`""`) is below the root.
        return vec![("\0".to_owned(), None)];
    }
    let (lo, hi) = children_range(rel);
    vec![(lo, Some(hi)), (format!("{rel}/"), Some(format!("{rel}0")))]
}

/// `(lo, hi)` from [`descendant_ranges`] as range bounds.
pub(crate) fn bounds(
    lo: &str,
    hi: Option<&str>,
) -> (std::ops::Bound<String>, std::ops::Bound<String>) {
    use std::ops::Bound;
    (
        Bound::Included(lo.to_owned()),
        hi.map_or(Bound::Unbounded, |h| Bound::Excluded(h.to_owned())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_group_children() {
        for rel in ["", "a", "conf.d/mounts", "a/b/c"] {
            assert_eq!(unkey(&key(rel)), rel);
        }
        let (lo, hi) = children_range("conf.d");
        for child in ["conf.d/a", "conf.d/zz", "conf.d/~"] {
            let k = key(child);
            assert!(lo <= k && k < hi, "{child}");
        }
        for other in ["conf.d", "conf.d/x/y", "conf.dx/a", "conf"] {
            let k = key(other);
            assert!(!(lo <= k && k < hi), "{other}");
        }
        let below = descendant_ranges("conf.d");
        let inside = |k: &str| {
            below
                .iter()
                .any(|(lo, hi)| lo.as_str() <= k && hi.as_deref().is_none_or(|h| k < h))
        };
        for rel in ["conf.d/a", "conf.d/a/b", "conf.d/z.d/y"] {
            assert!(inside(&key(rel)), "{rel}");
        }
        for rel in ["conf.d", "conf.dx", "conf.d0/a", "a"] {
            assert!(!inside(&key(rel)), "{rel}");
        }
    }
}
