//! The metadata the VFS keeps per path: what a backend reports and what the metastore records.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link; reported by backends, never registered (see the crate docs).
    Symlink,
    /// A FIFO, socket or device; reported by backends, never registered.
    Other,
}

impl Kind {
    pub(crate) fn code(self) -> u8 {
        match self {
            Kind::File => 1,
            Kind::Dir => 2,
            Kind::Symlink => 3,
            Kind::Other => 4,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Kind::File,
            2 => Kind::Dir,
            3 => Kind::Symlink,
            4 => Kind::Other,
            _ => return None,
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Symlink => "symlink",
            Kind::Other => "special file",
        })
    }
}

/// The stat fields that identify one state of a file: confd's, so the VFS and
/// the configuration loader compare files by one rule.
pub use confd::file::Signature;

/// What a backend reports for one path (an `lstat`, or an `fstat` of an open file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// What the path names.
    pub kind: Kind,
    /// The identifying stat fields.
    pub sig: Signature,
    /// The owner's uid: with the mode, it says who else may read the content, which decides
    /// whether its hash may be kept in a store someone else can read.
    pub uid: u32,
    /// The owning group's gid.
    pub gid: u32,
}

impl Stat {
    /// The owner and group, as an entry records them.
    #[must_use]
    pub fn owner(&self) -> Owner {
        Owner {
            uid: self.uid,
            gid: self.gid,
        }
    }
}

/// Who owns a host file: what `vfs stat` shows beside the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Owner {
    /// The owner's uid.
    pub uid: u32,
    /// The owning group's gid.
    pub gid: u32,
}

/// A content hash: BLAKE3 of the file's bytes, so it changes if and only if the content does.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Etag(pub [u8; 32]);

impl Etag {
    /// Hashes `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }
}

impl fmt::Display for Etag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Etag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Etag({self})")
    }
}

/// One metastore record: a registered file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// [`Kind::File`] or [`Kind::Dir`].
    pub kind: Kind,
    /// The stat fields observed when the entry was last checked against the backend.
    pub sig: Signature,
    /// The content hash, `None` until first computed: boot only stats, and the first read or
    /// `stat` of a file hashes it (see the crate docs for why).
    pub etag: Option<Etag>,
    /// Starts at 1 and grows by one each time the entry changes: new stat fields, new content
    /// or new kind. Refreshing a directory's times or filling in a missing etag does not count.
    pub version: u64,
    /// The owner and group, `None` in an entry stored by a version that did not record them
    /// (the next scan fills them in without a version bump: a `chown` also changes ctime, so
    /// an owner that differs while every stat field is the same only means an old entry).
    pub owner: Option<Owner>,
    /// When `sig` and `etag` were observed (nanoseconds since the Unix epoch). A file whose
    /// mtime is within a second of this may have changed again in the same timestamp
    /// tick without changing `sig`, so its stat fields alone are not trusted (git's racy rule).
    pub observed_ns: i64,
}

/// How close to its observation time an mtime must be for the stat fields to be distrusted:
/// one second covers file systems with one-second timestamps and the coarse kernel clock that
/// stamps files a few milliseconds behind `SystemTime::now()`.
pub(crate) const RACY_WINDOW_NS: i64 = 1_000_000_000;

impl Entry {
    /// Whether anyone may read the content (`o+r`): an etag of such a file tells no one
    /// anything they could not read; the etag of any other file is shown only to a process
    /// that proves it can read it.
    #[must_use]
    pub fn is_world_readable(&self) -> bool {
        self.sig.mode & 0o004 != 0
    }

    /// Whether the content may have changed without changing the stat fields.
    #[must_use]
    pub fn is_racy(&self) -> bool {
        self.sig.mtime_ns.saturating_add(RACY_WINDOW_NS) > self.observed_ns
    }
}

/// Nanoseconds since the Unix epoch for `t` (negative before it).
pub(crate) fn nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// The inverse of [`nanos`].
pub(crate) fn system_time(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

/// Now, as [`nanos`].
pub(crate) fn now_ns() -> i64 {
    nanos(SystemTime::now())
}

/// What the VFS reports for a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// [`Kind::File`] or [`Kind::Dir`].
    pub kind: Kind,
    /// Size in bytes (0 for a directory that is not on any mount).
    pub size: u64,
    /// Modification time.
    pub mtime: SystemTime,
    /// The entry's version (0 for a directory that is not on any mount).
    pub version: u64,
    /// The content hash: `Some` for a file returned by [`crate::Session::read`], and by
    /// [`crate::Session::stat`] to a caller who may read the file; `None` for directories, for a file the
    /// caller may not read (a secret file to a non-admin) and a file over
    /// [`crate::vfs::MAX_FILE_SIZE`].
    pub etag: Option<Etag>,
    /// Permission bits and file type, as `st_mode` (a virtual directory: `0o040555`).
    pub mode: u32,
    /// The owner and group (`None` for an entry from an old store not yet rescanned; a
    /// virtual directory is root's).
    pub owner: Option<Owner>,
}

impl Metadata {
    pub(crate) fn of(entry: &Entry) -> Self {
        Self {
            kind: entry.kind,
            size: entry.sig.size,
            mtime: system_time(entry.sig.mtime_ns),
            version: entry.version,
            etag: entry.etag,
            mode: entry.sig.mode,
            owner: entry.owner,
        }
    }

    pub(crate) fn virtual_dir() -> Self {
        Self {
            kind: Kind::Dir,
            size: 0,
            mtime: UNIX_EPOCH,
            version: 0,
            etag: None,
            mode: 0o040_555,
            owner: Some(Owner::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn racy_means_mtime_within_a_second_of_observation() {
        let mut e = Entry {
            kind: Kind::File,
            sig: Signature {
                mtime_ns: 10_000_000_000,
                ..Signature::default()
            },
            etag: None,
            version: 1,
            owner: None,
            observed_ns: 10_500_000_000,
        };
        assert!(e.is_racy());
        e.observed_ns = 11_000_000_001;
        assert!(!e.is_racy());
    }

    #[test]
    fn time_round_trips() {
        for ns in [-5_000_000_123, 0, 1_700_000_000_123_456_789] {
            assert_eq!(nanos(system_time(ns)), ns);
        }
    }

    #[test]
    fn kind_codes_round_trip() {
        for k in [Kind::File, Kind::Dir, Kind::Symlink, Kind::Other] {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        assert_eq!(Kind::from_code(0), None);
    }
}
