//! Creating the store file so that its path never names a half-created database.
//!
//! redb initialises a new file in steps, with an fsync between them, and writes its magic
//! number last; a process killed in between leaves a file that every later open refuses ("not
//! a redb database"), so the state dir could not boot again. The store is therefore created
//! under a temporary name (`<store>.<pid>-<n>.tmp`), given its first commit durably, and only then
//! renamed into place, never over an existing store, with the directory synced so that the
//! name is as durable as the content.

use std::fs::{File, Permissions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

use fs_err::os::unix::fs::OpenOptionsExt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use confd::atomic::inherit_owner;
use redb::backends::FileBackend;
use redb::{Database, Durability};
use rustix::fs::{CWD, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use super::{Snapshot, open_writable, redb_error, write};
use crate::metastore::MetastoreError;

/// The store file's mode: it holds the content hash of every file, secret ones included, which
/// would let anyone confirm a guessed password offline.
pub(crate) const STORE_FILE_MODE: u32 = 0o600;

/// The mode of the directory created to hold the store (its temporary files included).
pub(crate) const STORE_DIR_MODE: u32 = 0o700;

/// The mode of the directories created above it (`$STATE/var`, `$STATE/var/lib`): DESIGN.md
/// §5's mode for directories.
const ANCESTOR_DIR_MODE: u32 = 0o755;

/// A store being created: its temporary file exists and is empty.
#[derive(Debug)]
pub(super) struct Creation {
    path: PathBuf,
    temp: PathBuf,
    file: File,
}

impl Creation {
    /// Creates the parent directories and the empty temporary file: the cheap part, done
    /// before a boot returns so that a store that cannot be created at all (a read-only or
    /// unwritable `$STATE/var`) fails the boot, not a background thread.
    pub(super) fn start(path: &Path) -> Result<Self, MetastoreError> {
        let fail = create_error(path);
        if let Some(dir) = path.parent() {
            create_dirs(dir).map_err(fail)?;
        }
        static CREATIONS: AtomicU64 = AtomicU64::new(0);
        let temp = temp_path(
            path,
            std::process::id(),
            CREATIONS.fetch_add(1, Ordering::Relaxed),
        );
        // Left by a killed process that had this pid: no creation of this process uses it.
        match fs_err::remove_file(&temp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(fail(e)),
            _ => {}
        }
        let file = fs_err::File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(STORE_FILE_MODE)
            .open(&temp)
            .map_err(fail)?
            .into_parts()
            .0;
        // The umask can only take bits away from the creation mode; this makes it exact.
        file.set_permissions(Permissions::from_mode(STORE_FILE_MODE))
            .map_err(|e| {
                fail(io::Error::new(
                    e.kind(),
                    format!("cannot set the mode of `{}`: {e}", temp.display()),
                ))
            })?;
        if let Some(dir) = path.parent() {
            inherit_owner(&file, dir).map_err(|e| {
                fail(io::Error::new(
                    e.kind(),
                    format!("cannot set the owner of `{}`: {e}", temp.display()),
                ))
            })?;
        }
        Ok(Self {
            path: path.to_owned(),
            temp,
            file,
        })
    }

    /// Writes `snapshot` into a new database in the temporary file, durably, and renames it
    /// into place. If another process created the store meanwhile, `snapshot` is committed
    /// into that one instead. On failure the temporary file is removed.
    pub(super) fn finish(self, snapshot: &Snapshot) -> Result<Database, MetastoreError> {
        let Self { path, temp, file } = self;
        let result = build(&path, &temp, file, snapshot);
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }
}

fn build(
    path: &Path,
    temp: &Path,
    file: File,
    snapshot: &Snapshot,
) -> Result<Database, MetastoreError> {
    let fail = create_error(path);
    let backend = FileBackend::new(file).map_err(|e| redb_error(path, e))?;
    let db = Database::builder()
        .create_with_backend(backend)
        .map_err(|e| redb_error(path, e))?;
    write(&db, path, snapshot, Durability::Immediate)?;
    match rename_no_replace(temp, path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Another process's first boot won the race; its store describes the same host
            // tree, so ours is dropped and the snapshot committed on top of its store.
            drop(db);
            let _ = std::fs::remove_file(temp);
            let db = open_writable(path)?;
            write(&db, path, &snapshot.on_top(), Durability::Immediate)?;
            return Ok(db);
        }
        Err(e) => return Err(fail(e)),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(fail)?;
    remove_abandoned_temporaries(path);
    Ok(db)
}

/// Moves an existing store from `from` to `to` (a new directory made as for a new store),
/// without replacing anything at `to`, and gives it [`STORE_FILE_MODE`].
/// Only a regular file is moved, and its mode is set through a handle that follows no
/// symlink: `$STATE/var/lib` belongs to whoever owns the state dir, and root must not chmod
/// what a link planted there points to.
pub(crate) fn adopt_store(from: &Path, to: &Path) -> io::Result<()> {
    if !std::fs::symlink_metadata(from)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let dir = to.parent().unwrap_or(Path::new("."));
    create_dirs(dir)?;
    rename_no_replace(from, to)?;
    let moved = rustix::fs::open(
        to,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::fs::fchmod(&moved, Mode::from_raw_mode(STORE_FILE_MODE))?;
    File::open(dir).and_then(|d| d.sync_all())?;
    if let Some(old_dir) = from.parent() {
        File::open(old_dir).and_then(|d| d.sync_all())?;
    }
    // An earlier version's killed creations left their temporaries (with the umask's mode,
    // and etags inside) beside the old store.
    remove_abandoned_temporaries(from);
    Ok(())
}

/// Removes a store left at the legacy place `legacy` once the store has moved: an older
/// binary run after the move recreates it there (with the umask's mode, 0644 typically, in
/// the shared `$STATE/var/lib`), and it holds etags nobody else should read. Its stale
/// temporaries go too. If it cannot be removed, it is at least made private (a regular file
/// only, never through a symlink). Best effort: the new store does not depend on it.
pub(crate) fn retire_legacy_store(legacy: &Path) {
    remove_abandoned_temporaries(legacy);
    let Err(e) = std::fs::remove_file(legacy) else {
        tracing::info!(path = %legacy.display(), "removed a metadata store an older version left");
        return;
    };
    if e.kind() == io::ErrorKind::NotFound {
        return;
    }
    let tightened = rustix::fs::open(
        legacy,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .and_then(|fd| {
        let st = rustix::fs::fstat(&fd)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(Errno::INVAL);
        }
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(st.st_mode & STORE_FILE_MODE))
    });
    if let Err(chmod) = tightened {
        tracing::warn!(path = %legacy.display(), remove = %e, chmod = %chmod, "could not remove or tighten a metadata store an older version left");
    }
}

/// Takes group and other bits away from the store's own directory `dir` if it has any (a
/// directory made by an older version or by hand). Best effort: a directory this process
/// does not own is left as it is.
pub(crate) fn tighten_store_dir(dir: &Path) {
    // Through a handle that follows no symlink: the directory above belongs to whoever owns
    // the state dir, and root must not chmod what a link swapped in there points to.
    let Ok(handle) = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    let Ok(st) = rustix::fs::fstat(&handle) else {
        return;
    };
    let current = st.st_mode & 0o7777;
    let tight = current & STORE_DIR_MODE;
    if current != tight
        && let Err(e) = rustix::fs::fchmod(&handle, Mode::from_raw_mode(tight))
    {
        tracing::debug!(dir = %dir.display(), error = %e, "could not tighten the store directory's mode");
    }
}

/// The uid that owns the store at `path`, or that will own it once this process creates it:
/// what root creates takes the owner of the directory it is created in
/// ([`inherit_owner`]), so a missing store's owner is that of its nearest existing ancestor.
pub(crate) fn owner_of(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    let euid = rustix::process::geteuid();
    let mut cursor = Some(path);
    while let Some(p) = cursor {
        if let Ok(meta) = std::fs::symlink_metadata(p) {
            return if p == path || euid.is_root() {
                meta.uid()
            } else {
                euid.as_raw()
            };
        }
        cursor = p.parent();
    }
    euid.as_raw()
}

/// Creates `dir` and its missing ancestors with fixed modes whatever the umask: `dir` (the
/// store's own directory) [`STORE_DIR_MODE`], the ones above it [`ANCESTOR_DIR_MODE`].
/// Directories that already exist keep their modes.
fn create_dirs(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(d) = cursor {
        match std::fs::symlink_metadata(d) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(d),
            Err(e) => return Err(fs_err_io(d, e)),
        }
        cursor = d.parent();
    }
    for d in missing.into_iter().rev() {
        let mode = if d == dir {
            STORE_DIR_MODE
        } else {
            ANCESTOR_DIR_MODE
        };
        match std::fs::DirBuilder::new().mode(mode).create(d) {
            Ok(()) => {
                std::fs::set_permissions(d, Permissions::from_mode(mode))
                    .map_err(|e| fs_err_io(d, e))?;
                let handle = rustix::fs::open(
                    d,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| fs_err_io(d, e.into()))?;
                inherit_owner(&handle, d.parent().unwrap_or(Path::new(".")))
                    .map_err(|e| fs_err_io(d, e))?;
            }
            // Created meanwhile by another process: its mode is its creator's business.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fs_err_io(d, e)),
        }
    }
    Ok(())
}

/// `e` with `path` in its message, as fs-err words it.
fn fs_err_io(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("failed to create directory `{}`: {e}", path.display()),
    )
}

/// [`MetastoreError::Create`] for `map_err`.
fn create_error(path: &Path) -> impl Fn(io::Error) -> MetastoreError + Copy + '_ {
    move |source| MetastoreError::Create {
        path: path.to_owned(),
        source,
    }
}

/// `<store>.<pid>-<n>.tmp`: one name per creation, so concurrent first boots never share a
/// file, and the pid says whether its creator is still alive.
fn temp_path(path: &Path, pid: u32, n: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{pid}-{n}.tmp"));
    path.with_file_name(name)
}

/// `rename(2)` that fails with `AlreadyExists` instead of replacing `to`.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    match rustix::fs::renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // A file system without RENAME_NOREPLACE: check, then rename (a narrow race, and the
        // loser of it only replaces a store that describes the same tree).
        Err(Errno::INVAL | Errno::NOSYS) if to.try_exists()? => {
            Err(io::Error::from(io::ErrorKind::AlreadyExists))
        }
        Err(Errno::INVAL | Errno::NOSYS) => std::fs::rename(from, to),
        Err(e) => Err(e.into()),
    }
}

/// Removes the temporary files of processes that died while creating the store. Best effort:
/// a leftover costs disk space only, never correctness. A process in another pid namespace
/// sharing the state dir looks dead from here; its creation then fails at the rename and is
/// retried from its in-memory copy at its next commit.
fn remove_abandoned_temporaries(path: &Path) {
    let (Some(dir), Some(store)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
    else {
        return;
    };
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in listing.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| {
                n.strip_prefix(store)?
                    .strip_prefix('.')?
                    .strip_suffix(".tmp")
            })
            .and_then(|id| id.split_once('-')?.0.parse::<i32>().ok());
        if let Some(pid) = pid.and_then(rustix::process::Pid::from_raw)
            && rustix::process::test_kill_process(pid) == Err(Errno::SRCH)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_named_per_process_and_found_again() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let store = dir.path().join("vfs-meta.redb");
        assert_eq!(
            temp_path(&store, 42, 7),
            dir.path().join("vfs-meta.redb.42-7.tmp")
        );
        // A dead process's temporary goes; a live one's (ours), and unrelated files, stay.
        let dead = temp_path(&store, i32::MAX as u32, 0); // above any pid_max
        let live = temp_path(&store, std::process::id(), 0);
        let other = dir.path().join("vfs-meta.redb.notapid-0.tmp");
        for f in [&dead, &live, &other] {
            std::fs::write(f, "")?;
        }
        remove_abandoned_temporaries(&store);
        assert!(!dead.exists());
        assert!(live.exists() && other.exists());
        Ok(())
    }

    #[test]
    fn never_renames_over_an_existing_store() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (from, to) = (dir.path().join("new"), dir.path().join("store"));
        std::fs::write(&from, "new")?;
        std::fs::write(&to, "old")?;
        let err = rename_no_replace(&from, &to).err().ok_or("replaced")?;
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&to)?, b"old");
        std::fs::remove_file(&to)?;
        rename_no_replace(&from, &to)?;
        assert_eq!(std::fs::read(&to)?, b"new");
        Ok(())
    }
}
