//! A process-wide cache of loaded bricks, so a brick that asks for its
//! configuration again pays for a few `stat` calls instead of a reload.
//!
//! An entry is used only while every file it was loaded from (the main file,
//! the `NAME.d` directory and each drop-in) has the same device, inode, size,
//! mtime and ctime. Adding, removing or renaming a drop-in changes the
//! directory's mtime; replacing a file by rename changes its inode. The files
//! are stat'ed *before* they are read, so a change racing with the load makes
//! the next lookup miss rather than serve stale values.
//!
//! Timestamps have coarse granularity (a kernel tick, or seconds on some file
//! systems), so two same-size writes within one tick look identical. As git
//! does for its index, an entry is not stored while any file's mtime is
//! within [`RACY_WINDOW`](crate::file::RACY_WINDOW) of the load: such loads are simply repeated.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use crate::BrickConfig;
use crate::file::{Signature, list_drop_ins};

/// The most entries kept; the cache starts over when it is full.
const CAPACITY: usize = 512;

/// Everything a load's result depends on besides the files themselves.
pub(crate) type CacheKey = crate::loader::Inputs;

/// The signatures of a brick's files, taken before they are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    files: Vec<(PathBuf, Option<Signature>)>,
}

fn signature(path: &Path) -> Result<Option<Signature>, ()> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(Signature::of(&m))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(_) => Err(()),
    }
}

impl Snapshot {
    /// Stats a brick's main file and drop-in directory, lists the drop-ins
    /// (once: the load reads the same list) and stats each. The snapshot is
    /// `None` when anything is unusual (an unreadable path): such loads are
    /// not cached. The directory is stat'ed before it is listed, so a
    /// drop-in added meanwhile makes the next lookup miss.
    pub(crate) fn take(
        main: &Path,
        drop_in_dir: &Path,
    ) -> (Option<Self>, Result<Vec<PathBuf>, crate::Error>) {
        let main_print = signature(main);
        let dir_print = signature(drop_in_dir);
        let drop_ins = list_drop_ins(drop_in_dir);
        let snapshot = (|| {
            let mut files = vec![
                (main.to_owned(), main_print.ok()?),
                (drop_in_dir.to_owned(), dir_print.ok()?),
            ];
            for path in drop_ins.as_ref().ok()? {
                files.push((path.clone(), signature(path).ok()?));
            }
            Some(Snapshot { files })
        })();
        (snapshot, drop_ins)
    }

    /// Whether every file still has the signature it had.
    fn is_current(&self) -> bool {
        self.files
            .iter()
            .all(|(path, print)| signature(path).is_ok_and(|now| now == *print))
    }

    /// Whether a file changed so recently that a same-size rewrite in the
    /// same timestamp tick could go unnoticed.
    fn is_racy(&self, loaded_at: SystemTime) -> bool {
        self.files
            .iter()
            .any(|(_, print)| print.is_some_and(|p| p.is_racy(loaded_at)))
    }
}

struct Entry {
    snapshot: Snapshot,
    config: BrickConfig,
}

fn cache() -> &'static Mutex<HashMap<CacheKey, Entry>> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Entry>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The cached load for `key`, if its files are unchanged.
pub(crate) fn lookup(key: &CacheKey) -> Option<BrickConfig> {
    let cache = cache()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let entry = cache.get(key)?;
    entry.snapshot.is_current().then(|| entry.config.clone())
}

/// Remembers a load whose files were stat'ed (as `snapshot`) before reading,
/// at `loaded_at`, unless the files are too fresh to trust their timestamps.
pub(crate) fn store(
    key: CacheKey,
    snapshot: Snapshot,
    loaded_at: SystemTime,
    config: &BrickConfig,
) {
    if snapshot.is_racy(loaded_at) {
        return;
    }
    let mut cache = cache()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if cache.len() >= CAPACITY && !cache.contains_key(&key) {
        cache.clear();
    }
    cache.insert(
        key,
        Entry {
            snapshot,
            config: config.clone(),
        },
    );
}
