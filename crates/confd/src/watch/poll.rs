//! What a poll of a directory that cannot be watched compares between two
//! looks: a stamp of each entry the watch needs there.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What `stat` says of one entry: what it is (device, inode, mode, owner)
/// and, but for a directory seen only as a step on the way, its size and
/// times (not the access time: the loader's reads change it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Stamp {
    identity: (u64, u64, u32, u32, u32),
    contents: Option<(u64, i64, i64, i64, i64)>,
}

/// An entry's stamp. A file's or a symlink's is all of it, what an edit or a
/// rename over it changes. A directory's is only what it is unless
/// `contents`: its times change with every entry made or removed in it, and
/// a busy `0711` home polled for one entry must not reload the bricks every
/// time some other file there changes.
pub(super) fn stamp(path: &Path, contents: bool) -> Option<Stamp> {
    let m = std::fs::symlink_metadata(path).ok()?;
    Some(Stamp {
        identity: (m.dev(), m.ino(), m.mode(), m.uid(), m.gid()),
        contents: (contents || !m.is_dir()).then(|| {
            (
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            )
        }),
    })
}

/// A polled directory's state: its own stamp and its needed entries'.
pub(super) type Fingerprint = Vec<(OsString, Option<Stamp>)>;
