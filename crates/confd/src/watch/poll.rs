//! What a poll of a directory that cannot be watched compares between two
//! looks: a stamp of each entry the watch needs there.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::file::Signature;

/// What `stat` says of one entry: its signature (device, inode, mode and,
/// but for a directory seen only as a step on the way, its size and times;
/// not the access time: the loader's reads change it) and its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Stamp {
    signature: Signature,
    owner: (u32, u32),
}

/// An entry's stamp. A file's or a symlink's is all of it, what an edit or a
/// rename over it changes. A directory's is only what it is unless
/// `contents`: its times change with every entry made or removed in it, and
/// a busy `0711` home polled for one entry must not reload the bricks every
/// time some other file there changes.
pub(super) fn stamp(path: &Path, contents: bool) -> Option<Stamp> {
    let m = std::fs::symlink_metadata(path).ok()?;
    let signature = Signature::of(&m);
    let signature = if contents || !m.is_dir() {
        signature
    } else {
        Signature {
            size: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            ..signature
        }
    };
    Some(Stamp {
        signature,
        owner: (m.uid(), m.gid()),
    })
}

/// A polled directory's state: its own stamp and its needed entries'.
pub(super) type Fingerprint = Vec<(OsString, Option<Stamp>)>;
