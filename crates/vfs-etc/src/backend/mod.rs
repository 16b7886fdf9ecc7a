//! Where file bytes live. A backend answers for paths relative to its mount point (`""` is the
//! mount root, components separated by `/`, never `.` or `..`); the VFS keeps the metadata.

mod escape;
mod host;
mod memory;

pub(crate) use escape::escape_attempt;
pub use escape::{Escape, EscapeAttempt};
pub use host::HostDir;
pub use memory::MemoryBackend;

use std::fmt;
use std::io;
use std::path::Path;

use crate::entry::Stat;

/// The children of one directory, as a backend lists them.
#[derive(Debug, Default)]
pub struct Listing {
    /// Child names with what `lstat` reports for each.
    pub entries: Vec<(String, Stat)>,
    /// Children left out because their names are not valid VFS names (not UTF-8, or holding a
    /// control character): they are counted, never mangled into a different name.
    pub unrepresentable: usize,
}

/// Storage for one mount.
///
/// Lookups never follow symbolic links: a symlink is reported as [`crate::entry::Kind::Symlink`]
/// by [`Backend::stat`] and [`Backend::list`], and refused anywhere else in a path with an
/// [`EscapeAttempt`].
pub trait Backend: Send + Sync + fmt::Debug {
    /// The host directory behind this backend, if any; the watcher watches it.
    fn host_root(&self) -> Option<&Path> {
        None
    }

    /// What `lstat` reports for `rel`, or `None` if nothing is there.
    ///
    /// # Errors
    /// I/O errors other than "not found", including an [`EscapeAttempt`] (a symlink on the way).
    fn stat(&self, rel: &str) -> io::Result<Option<Stat>>;

    /// The children of directory `rel`.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR` or another I/O error.
    fn list(&self, rel: &str) -> io::Result<Listing>;

    /// The whole content of regular file `rel`, and its stat taken after reading, unchanged
    /// while reading (the backend retries a few times if the file keeps changing).
    ///
    /// # Errors
    /// `ENOENT`, `EISDIR`, an [`EscapeAttempt`] for a symlink, `ENXIO` for a FIFO, socket or device
    /// (refused without blocking or reading), `EFBIG` for a file over
    /// [`crate::vfs::MAX_FILE_SIZE`] (refused before it is read), or another I/O error.
    fn read(&self, rel: &str) -> io::Result<(Vec<u8>, Stat)>;

    /// Creates or truncates `rel` and writes `data`; with `create_new`, fails with `EEXIST` if
    /// it exists.
    ///
    /// # Errors
    /// Any I/O error.
    fn write(&self, rel: &str, data: &[u8], create_new: bool) -> io::Result<Stat>;

    /// Creates directory `rel`.
    ///
    /// # Errors
    /// Any I/O error.
    fn mkdir(&self, rel: &str) -> io::Result<Stat>;

    /// Removes the non-directory `rel`.
    ///
    /// # Errors
    /// Any I/O error.
    fn unlink(&self, rel: &str) -> io::Result<()>;

    /// Removes the empty directory `rel`.
    ///
    /// # Errors
    /// Any I/O error.
    fn rmdir(&self, rel: &str) -> io::Result<()>;

    /// Renames `from` to `to` with `rename(2)` semantics.
    ///
    /// # Errors
    /// Any I/O error.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
}

/// An `io::Error` carrying a raw errno, so `kind()` is right and the number can be printed.
pub(crate) fn errno(code: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(code.raw_os_error())
}

/// Whether an error means "nothing registrable is there": gone, a non-directory in the way,
/// a symlink on the way or at the end ([`EscapeAttempt`]), or a FIFO, socket or device where
/// a file was (`ENXIO`, see [`Backend::read`]); the namespace contains none of those.
pub(crate) fn is_absent(err: &io::Error) -> bool {
    use rustix::io::Errno;
    EscapeAttempt::of(err).is_some()
        || matches!(
            err.raw_os_error().map(Errno::from_raw_os_error),
            Some(Errno::NOENT | Errno::NOTDIR | Errno::NXIO)
        )
}

/// Whether reading a file failed in a way that only means "no etag here": this process may
/// not read it, or it is over [`crate::vfs::MAX_FILE_SIZE`].
pub(crate) fn is_unhashable(err: &io::Error) -> bool {
    is_denied(err) || err.raw_os_error() == Some(rustix::io::Errno::FBIG.raw_os_error())
}

/// Whether an error is a permission refusal (`EACCES`, `EPERM`): something this process may
/// not read, which another user may. An [`EscapeAttempt`] has the same kind but is no such
/// thing: nobody may follow that path.
pub(crate) fn is_denied(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::PermissionDenied && EscapeAttempt::of(err).is_none()
}
