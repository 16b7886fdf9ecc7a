//! A host directory, confined to its root by the kernel.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::escape::{Escape, escape_attempt};
use super::{Backend, Listing, errno};
use crate::entry::{Kind, Signature, Stat};
use crate::path::{is_valid_name, rel_split};

/// The mode of a file a writable `HostDir` creates (DESIGN.md §5), whatever the umask.
const FILE_MODE: u32 = 0o644;

/// The mode of a directory a writable `HostDir` creates (DESIGN.md §5), whatever the umask.
const DIR_MODE: u32 = 0o755;

/// How many times [`Backend::read`] re-reads a file whose stat changed while it was being read.
const READ_ATTEMPTS: usize = 5;

/// A directory on the host, opened once; every lookup is resolved by the kernel relative to
/// that handle with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`.
///
/// `RESOLVE_BENEATH` refuses `..` and absolute escapes; `RESOLVE_NO_SYMLINKS` refuses every
/// symlink in a path, including a directory swapped for a symlink between a `stat` and an
/// `open`, because the check happens inside the one `openat2` call, not before it. The final
/// component of a `stat` is looked at with `O_PATH | O_NOFOLLOW`, so a symlink is reported as
/// one rather than followed.
///
/// A read-only `HostDir` refuses every mutating call with `EROFS` itself, so not even a bug in
/// the router can write to the host through it.
#[derive(Debug)]
pub struct HostDir {
    root: OwnedFd,
    root_path: PathBuf,
    read_only: bool,
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_SYMLINKS);

/// How often a lookup is retried when the kernel answers EAGAIN to a `..` (see `open_rel`).
const EAGAIN_RETRIES: u32 = 64;

impl HostDir {
    /// Opens `root` for reading only: no call on the result writes to the host.
    ///
    /// # Errors
    /// `root` cannot be opened as a directory (the kernel's errno, unwrapped).
    pub fn open_read_only(root: impl Into<PathBuf>) -> io::Result<Self> {
        Self::open(root.into(), true)
    }

    /// Opens `root` for reading and writing.
    ///
    /// # Errors
    /// `root` cannot be opened as a directory.
    pub fn open_writable(root: impl Into<PathBuf>) -> io::Result<Self> {
        Self::open(root.into(), false)
    }

    fn open(root_path: PathBuf, read_only: bool) -> io::Result<Self> {
        // O_RDONLY works on a read-only file system and is all a directory handle needs.
        let root = rustix::fs::open(
            &root_path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        // The raw errno is kept so callers can match on it; they name the path.
        .map_err(errno)?;
        Ok(Self {
            root,
            root_path,
            read_only,
        })
    }

    /// The host path this handle was opened from.
    #[must_use]
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// Resolves `rel` below the root: every path a call names is resolved here, so the kernel
    /// refuses every escape in this one call ([`HostDir::lookup_error`] says which).
    fn open_rel(&self, rel: &str, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        let path = if rel.is_empty() { "." } else { rel };
        let mut retries = 0;
        loop {
            match rustix::fs::openat2(&self.root, path, flags | OFlags::CLOEXEC, mode, RESOLVE) {
                // A `..` below RESOLVE_BENEATH fails with EAGAIN when a rename or a mount ran
                // anywhere on the system during the lookup (the kernel cannot prove the `..`
                // stayed inside); openat2(2) asks the caller to retry. Bounded, so a stream of
                // renames elsewhere cannot hold a call forever.
                Err(Errno::AGAIN) if retries < EAGAIN_RETRIES => retries += 1,
                result => return result.map_err(|e| self.lookup_error(rel, e)),
            }
        }
    }

    /// What a refused lookup of `rel` is: `EXDEV` (out of the root) and `ELOOP` (a symlink on
    /// the way, or the last component one under `O_NOFOLLOW`) are escape attempts, through
    /// their one constructor; any other errno is kept as the kernel said it.
    fn lookup_error(&self, rel: &str, e: Errno) -> io::Error {
        match e {
            Errno::XDEV => escape_attempt(&self.root_path, rel, Escape::OutOfRoot),
            Errno::LOOP => escape_attempt(&self.root_path, rel, Escape::Symlink),
            e => errno(e),
        }
    }

    /// A failed open of `rel` as a directory with `O_NOFOLLOW`: the kernel says `ENOTDIR` for a
    /// symlink there (it is not followed, and it is not a directory), which is the same escape
    /// attempt as a symlink anywhere else in a path.
    fn dir_open_error(&self, rel: &str, e: io::Error) -> io::Error {
        if e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error())
            && matches!(self.stat(rel), Ok(Some(st)) if st.kind == Kind::Symlink)
        {
            return escape_attempt(&self.root_path, rel, Escape::Symlink);
        }
        e
    }

    fn refuse_if_read_only(&self) -> io::Result<()> {
        if self.read_only {
            Err(errno(Errno::ROFS))
        } else {
            Ok(())
        }
    }

    /// The parent directory of `rel` as an `O_PATH` handle, and the final name.
    fn parent<'a>(&self, rel: &'a str) -> io::Result<(OwnedFd, &'a str)> {
        let (parent, name) = rel_split(rel);
        if !is_valid_name(name) {
            return Err(errno(Errno::INVAL));
        }
        let fd = self.open_rel(parent, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        Ok((fd, name))
    }
}

fn to_stat(st: &rustix::fs::Stat) -> Stat {
    let kind = match FileType::from_raw_mode(st.st_mode as _) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    };
    #[allow(clippy::unnecessary_cast)] // field types differ between architectures
    let sig = Signature {
        size: st.st_size as u64,
        mtime_ns: (st.st_mtime as i64) * 1_000_000_000 + st.st_mtime_nsec as i64,
        ctime_ns: (st.st_ctime as i64) * 1_000_000_000 + st.st_ctime_nsec as i64,
        ino: st.st_ino as u64,
        dev: st.st_dev as u64,
        mode: st.st_mode as u32,
    };
    Stat {
        kind,
        sig,
        uid: st.st_uid,
        gid: st.st_gid,
    }
}

/// The flags every open of something that should be a regular file adds: no symlink is
/// followed, and neither a FIFO (which blocks an open until the other side comes) nor a
/// terminal (which would become the controlling one) has any effect at open time.
const SPECIAL_SAFE: OFlags = OFlags::NOFOLLOW
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY);

/// `EISDIR` for a directory, `ENXIO` (what `open` of a socket says) for a FIFO, socket or
/// device: the namespace holds regular files only, and reading or writing anything else
/// could block forever or have side effects.
fn refuse_non_regular(st: &Stat) -> io::Result<()> {
    match st.kind {
        Kind::File => Ok(()),
        Kind::Dir => Err(errno(Errno::ISDIR)),
        Kind::Symlink | Kind::Other => Err(errno(Errno::NXIO)),
    }
}

fn fstat(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    rustix::fs::fstat(fd).map(|st| to_stat(&st)).map_err(errno)
}

impl Backend for HostDir {
    fn host_root(&self) -> Option<&Path> {
        Some(&self.root_path)
    }

    fn stat(&self, rel: &str) -> io::Result<Option<Stat>> {
        match self.open_rel(rel, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(fd) => fstat(fd.as_fd()).map(Some),
            Err(e) if matches!(e.raw_os_error(), Some(c) if c == Errno::NOENT.raw_os_error() || c == Errno::NOTDIR.raw_os_error()) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn list(&self, rel: &str) -> io::Result<Listing> {
        let fd = self
            .open_rel(
                rel,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW,
                Mode::empty(),
            )
            .map_err(|e| self.dir_open_error(rel, e))?;
        let mut dir = Dir::new(fd).map_err(errno)?;
        let mut listing = Listing::default();
        while let Some(item) = dir.read() {
            let item = item.map_err(errno)?;
            let raw = item.file_name();
            let bytes = raw.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let Some(name) = std::str::from_utf8(bytes).ok().filter(|n| is_valid_name(n)) else {
                tracing::debug!(dir = rel, name = ?raw, "left out a name that is not a valid VFS name");
                listing.unrepresentable += 1;
                continue;
            };
            // A single component from getdents, relative to the directory handle: no lookup
            // here can leave the directory, and NOFOLLOW reports a symlink as itself.
            let fd = dir.fd().map_err(errno)?;
            match rustix::fs::statat(fd, raw, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => listing.entries.push((name.to_owned(), to_stat(&st))),
                // Removed between getdents and stat: it is simply not there any more.
                Err(Errno::NOENT) => {}
                Err(e) => return Err(errno(e)),
            }
        }
        Ok(listing)
    }

    fn read(&self, rel: &str) -> io::Result<(Vec<u8>, Stat)> {
        // O_NONBLOCK: a file swapped for a FIFO must not block the open (waiting for a writer
        // that never comes); O_NOCTTY: nor may a terminal become this process's. What the open
        // got is checked before a byte is read.
        let fd = self.open_rel(rel, OFlags::RDONLY | SPECIAL_SAFE, Mode::empty())?;
        let mut file = File::from(fd);
        let mut before = fstat(file.as_fd())?;
        refuse_non_regular(&before)?;
        let max = crate::vfs::MAX_FILE_SIZE as u64;
        let mut buf = Vec::new();
        for _ in 0..READ_ATTEMPTS {
            if before.sig.size > max {
                return Err(errno(Errno::FBIG));
            }
            buf.clear();
            buf.reserve(usize::try_from(before.sig.size).unwrap_or(0));
            file.seek(io::SeekFrom::Start(0))?;
            // Bounded even if the file grows while it is read.
            (&mut file).take(max + 1).read_to_end(&mut buf)?;
            if buf.len() as u64 > max {
                return Err(errno(Errno::FBIG));
            }
            let after = fstat(file.as_fd())?;
            if after == before {
                return Ok((buf, after));
            }
            before = after;
        }
        // The file kept changing under us: refuse rather than serve bytes whose stat we could
        // not pin down.
        Err(errno(Errno::AGAIN))
    }

    fn write(&self, rel: &str, data: &[u8], create_new: bool) -> io::Result<Stat> {
        self.refuse_if_read_only()?;
        // As for `read`: opening a FIFO for writing would wait for a reader.
        let replace = OFlags::WRONLY | OFlags::TRUNC | SPECIAL_SAFE;
        // An existing file keeps its mode, as `open(O_TRUNC)` does; only a file created here
        // gets FILE_MODE, set with fchmod since the umask could take bits from the creation
        // mode (0600 under umask 077) or, with a careless default, leave too many.
        let existing = if create_new {
            None
        } else {
            match self.open_rel(rel, replace, Mode::empty()) {
                Ok(fd) => Some(fd),
                Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => None,
                Err(e) => return Err(e),
            }
        };
        let fd = match existing {
            Some(fd) => fd,
            None => {
                let fd = self.open_rel(
                    rel,
                    replace | OFlags::CREATE | OFlags::EXCL,
                    Mode::from_raw_mode(FILE_MODE),
                )?;
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(FILE_MODE)).map_err(errno)?;
                fd
            }
        };
        let mut file = File::from(fd);
        refuse_non_regular(&fstat(file.as_fd())?)?;
        file.write_all(data)?;
        fstat(file.as_fd())
    }

    fn mkdir(&self, rel: &str) -> io::Result<Stat> {
        self.refuse_if_read_only()?;
        let (parent, name) = self.parent(rel)?;
        rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(DIR_MODE)).map_err(errno)?;
        // As for files: the mode is exact whatever the umask. Through a handle opened without
        // following symlinks, so a name swapped meanwhile is not chmod'ed through.
        let dir = rustix::fs::openat(
            &parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.dir_open_error(rel, self.lookup_error(rel, e)))?;
        rustix::fs::fchmod(&dir, Mode::from_raw_mode(DIR_MODE)).map_err(errno)?;
        fstat(dir.as_fd())
    }

    fn unlink(&self, rel: &str) -> io::Result<()> {
        self.refuse_if_read_only()?;
        let (parent, name) = self.parent(rel)?;
        rustix::fs::unlinkat(&parent, name, AtFlags::empty()).map_err(errno)
    }

    fn rmdir(&self, rel: &str) -> io::Result<()> {
        self.refuse_if_read_only()?;
        let (parent, name) = self.parent(rel)?;
        rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR).map_err(errno)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.refuse_if_read_only()?;
        let (from_parent, from_name) = self.parent(from)?;
        let (to_parent, to_name) = self.parent(to)?;
        rustix::fs::renameat(&from_parent, from_name, &to_parent, to_name).map_err(errno)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_handle_refuses_mutation_without_touching_the_host() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("a"), "x")?;
        let host = HostDir::open_read_only(dir.path())?;
        let rofs = Some(Errno::ROFS.raw_os_error());
        assert_eq!(
            host.write("a", b"y", false).unwrap_err().raw_os_error(),
            rofs
        );
        assert_eq!(
            host.write("new", b"y", false).unwrap_err().raw_os_error(),
            rofs
        );
        assert_eq!(host.mkdir("d").unwrap_err().raw_os_error(), rofs);
        assert_eq!(host.unlink("a").unwrap_err().raw_os_error(), rofs);
        assert_eq!(host.rename("a", "b").unwrap_err().raw_os_error(), rofs);
        assert_eq!(std::fs::read(dir.path().join("a"))?, b"x");
        assert!(!dir.path().join("new").exists() && !dir.path().join("d").exists());
        Ok(())
    }

    #[test]
    fn writable_handle_round_trips() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let host = HostDir::open_writable(dir.path())?;
        host.mkdir("d")?;
        host.write("d/f", b"hello", true)?;
        assert_eq!(
            host.write("d/f", b"x", true).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        let (bytes, st) = host.read("d/f")?;
        assert_eq!(
            (bytes.as_slice(), st.kind, st.sig.size),
            (&b"hello"[..], Kind::File, 5)
        );
        host.rename("d/f", "g")?;
        assert_eq!(host.stat("d/f")?, None);
        host.unlink("g")?;
        host.rmdir("d")?;
        assert_eq!(host.list("")?.entries.len(), 0);
        Ok(())
    }
}
