//! The VFS as one caller sees it: every operation, checked against the policy in force.

use std::sync::Arc;

use crate::access::{Caller, Loaded, Policy, Right};
use crate::error::{
    Fail, MkdirError, ReadDirError, ReadError, RenameError, RmdirError, StatError, UnlinkError,
    WriteError,
};
use crate::path::VfsPath;

use super::{DirEntry, FileContents, Metadata, Vfs, WriteMode};

/// A caller with the policy in force for one call.
pub(crate) struct Who<'a> {
    caller: &'a Caller,
    policy: &'a Policy,
}

impl Who<'_> {
    /// The caller's right on `path`.
    pub(crate) fn right(&self, path: &VfsPath) -> Right {
        self.policy.right(self.caller, path)
    }
}

/// The VFS's operations as made by one [`Caller`] ([`Vfs::as_caller`]).
///
/// Each call first takes the policy in force (a reload applies to the next call), then
/// resolves the path as Linux does (`ENOENT`, `ENOTDIR` before any denial), then refuses
/// what the caller's right does not allow with `EACCES` — after `EEXIST` and `EROFS`, as
/// Linux checks a file system's read-only flag before permissions. A refusal changes nothing
/// in the metastore and is logged (`tracing`, info level) with the caller, the operation and
/// the path, never content. While the policy is invalid every call fails with the error that
/// names the policy file ([`crate::access::PolicyError`]).
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    vfs: &'a Vfs,
    caller: &'a Caller,
}

impl<'a> Session<'a> {
    pub(super) fn new(vfs: &'a Vfs, caller: &'a Caller) -> Self {
        Self { vfs, caller }
    }

    /// Who makes the calls.
    #[must_use]
    pub fn caller(&self) -> &Caller {
        self.caller
    }

    /// Runs `op` with the policy in force, and logs a denial.
    fn call<T>(
        &self,
        operation: &'static str,
        paths: &[&VfsPath],
        op: impl FnOnce(&Who<'_>) -> Result<T, Fail>,
    ) -> Result<T, Fail> {
        let loaded = self.vfs.access().snapshot();
        let result = match &*loaded {
            Loaded::Invalid(error) => Err(Fail::Policy(Arc::clone(error))),
            Loaded::Policy(policy) => op(&Who {
                caller: self.caller,
                policy,
            }),
        };
        if let Err(Fail::Denied) = &result {
            let shown: Vec<&str> = paths.iter().map(|p| p.as_str()).collect();
            tracing::info!(
                caller = %self.caller,
                operation,
                path = %shown.join(" -> "),
                "vfs access denied"
            );
        }
        result
    }

    /// The whole content of the file at `path`.
    ///
    /// The file is opened, read and `fstat`ed; if what was read no longer matches the entry
    /// (stat fields or content hash), the entry is updated first, so the returned metadata
    /// always describes the returned bytes. Needs `read`; a secret file (no `o+r`) needs
    /// `admin`.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR`, `EACCES` (the caller's right, or a directory the mount could not
    /// list), `EISDIR`, a backend error, [`ReadError::Policy`] or [`ReadError::Store`].
    pub fn read(&self, path: &VfsPath) -> Result<FileContents, ReadError> {
        self.call("read", &[path], |who| self.vfs.read_inner(who, path))
            .map_err(|f| ReadError::from_fail(path, f))
    }

    /// The metadata of `path`. Needs `read`.
    ///
    /// A file whose etag has not been computed since it last changed is hashed now (see the
    /// crate docs), with the same check as [`Session::read`]. The etag is a hash of the
    /// content, so it is only shown to a caller who may read the content: a secret file's
    /// only to an admin, and a file this process may not read (or one over
    /// [`crate::vfs::MAX_FILE_SIZE`]) to nobody.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR`, `EACCES`, a backend error while hashing, [`StatError::Policy`]
    /// or [`StatError::Store`].
    pub fn stat(&self, path: &VfsPath) -> Result<Metadata, StatError> {
        self.call("stat", &[path], |who| self.vfs.stat_inner(who, path))
            .map_err(|f| StatError::from_fail(path, f))
    }

    /// The names in directory `path`, sorted byte-wise; mount points inside it included, and
    /// secret files too (their names are not secret). Needs `read` on `path`.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR`, `EACCES`, [`ReadDirError::Policy`] or [`ReadDirError::Store`].
    pub fn read_dir(&self, path: &VfsPath) -> Result<Vec<DirEntry>, ReadDirError> {
        self.call("list", &[path], |who| self.vfs.read_dir_inner(who, path))
            .map_err(|f| ReadDirError::from_fail(path, f))
    }

    /// Makes every check [`Session::write`] makes before it writes, so a caller can refuse
    /// before it gathers the content (`nexus vfs write --from-stdin` under the read-only
    /// `/etc`).
    ///
    /// # Errors
    /// As [`Session::write`], except for the size limit and the write itself.
    pub fn check_write(&self, path: &VfsPath, mode: WriteMode) -> Result<(), WriteError> {
        self.call("write", &[path], |who| {
            self.vfs.write_target(who, path, mode).map(drop)
        })
        .map_err(|f| WriteError::from_fail(path, f))
    }

    /// Writes `data` to the file at `path`. Needs `write` on `path`; replacing a secret
    /// file needs `admin`.
    ///
    /// Errors follow Linux's order for `open(O_CREAT|O_TRUNC[|O_EXCL])`: `ENOENT`/`ENOTDIR`/
    /// `EACCES` while walking the path, `EISDIR` for a name spelled as a directory (`x/`,
    /// `x/.`), `EEXIST` (with [`WriteMode::CreateNew`]) and `EISDIR` for the target, then
    /// `EROFS` on a read-only mount, then `EACCES` for the caller's right, then `EFBIG` for
    /// more than [`crate::vfs::MAX_FILE_SIZE`] bytes.
    ///
    /// # Errors
    /// As above, a backend error, [`WriteError::Policy`] or [`WriteError::Store`].
    pub fn write(
        &self,
        path: &VfsPath,
        data: &[u8],
        mode: WriteMode,
    ) -> Result<Metadata, WriteError> {
        self.call("write", &[path], |who| {
            self.vfs.write_inner(who, path, data, mode)
        })
        .map_err(|f| WriteError::from_fail(path, f))
    }

    /// Creates directory `path`. Needs `write` on `path`. Errors in Linux's order:
    /// `ENOENT`/`ENOTDIR`/`EACCES` while walking the path, `EEXIST` (also for `x/.` and
    /// `x/..`), `EROFS`, then `EACCES` for the caller's right.
    ///
    /// # Errors
    /// As above, a backend error, [`MkdirError::Policy`] or [`MkdirError::Store`].
    pub fn mkdir(&self, path: &VfsPath) -> Result<Metadata, MkdirError> {
        self.call("mkdir", &[path], |who| self.vfs.mkdir_inner(who, path))
            .map_err(|f| MkdirError::from_fail(path, f))
    }

    /// Removes the file at `path`. Needs `write` on `path`. Errors in Linux's order:
    /// `ENOENT`/`ENOTDIR`/`EACCES` while walking the path, `EISDIR` for `/`, `x/.` and `x/..`,
    /// `EROFS` when the directory the name is in is read-only (even when the file does not
    /// exist; `/etc` is in the read-only `/`), then `EISDIR` for a mount point, `ENOENT`,
    /// `EISDIR`, or `ENOTDIR` for a file spelled `x/`, then `EACCES` for the caller's right.
    ///
    /// # Errors
    /// As above, a backend error, [`UnlinkError::Policy`] or [`UnlinkError::Store`].
    pub fn unlink(&self, path: &VfsPath) -> Result<(), UnlinkError> {
        self.call("unlink", &[path], |who| self.vfs.unlink_inner(who, path))
            .map_err(|f| UnlinkError::from_fail(path, f))
    }

    /// Removes the empty directory at `path`. Needs `write` on `path`. Errors in Linux's
    /// order: `ENOENT`/`ENOTDIR`/`EACCES` while walking the path, `EINVAL` for `x/.` and
    /// `ENOTEMPTY` for `x/..`, `EBUSY` for `/`, `EROFS` when the directory the name is in is
    /// read-only (`rmdir /etc` is a change to `/`), `EBUSY` for a mount point, then `ENOENT`,
    /// `ENOTDIR` or `ENOTEMPTY` for the target, then `EACCES` for the caller's right.
    ///
    /// # Errors
    /// As above, a backend error, [`RmdirError::Policy`] or [`RmdirError::Store`].
    pub fn rmdir(&self, path: &VfsPath) -> Result<(), RmdirError> {
        self.call("rmdir", &[path], |who| self.vfs.rmdir_inner(who, path))
            .map_err(|f| RmdirError::from_fail(path, f))
    }

    /// Renames `from` to `to`. Needs `write` on both. Errors in Linux's order:
    /// `ENOENT`/`ENOTDIR`/`EACCES` while walking either path, `EXDEV` when the directories the
    /// two names are in are on different mounts (`/etc` is in `/`, `/etc/.` in `/etc`),
    /// `EBUSY` for `.`, `..` and `/`, `EROFS`, `EBUSY` for a mount point as the source,
    /// `ENOENT` for a missing source, `ENOTDIR` for a file spelled `x/` on either side,
    /// `EBUSY` for a mount point as the target, `EACCES` for the caller's right, then the
    /// backend's `rename(2)` errors (`EISDIR`, `ENOTEMPTY`, …).
    ///
    /// Moved entries are re-registered from the backend: a rename changes ctime, so they
    /// get a new version, and their etags are recomputed on next read.
    ///
    /// # Errors
    /// As above, [`RenameError::Policy`] or [`RenameError::Store`].
    pub fn rename(&self, from: &VfsPath, to: &VfsPath) -> Result<(), RenameError> {
        self.call("rename", &[from, to], |who| {
            self.vfs.rename_inner(who, from, to)
        })
        .map_err(|f| RenameError::from_fail(from, to, f))
    }
}
