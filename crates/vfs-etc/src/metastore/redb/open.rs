//! Opening the store file: without following a symlink or blocking on a
//! FIFO, waiting a bounded time for another process, and telling an
//! unwritable store from a broken one.

#[allow(clippy::wildcard_imports)] // opening is the store's own inside
use super::*;

/// How long opening the store for writing waits for another process to let go of it, like
/// SQLite's busy timeout: a `nexus vfs` command holds the store for milliseconds, so commands
/// run in parallel queue instead of failing.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens the existing store `path` for writing (see [`open_store_file`]), waiting up to
/// [`BUSY_TIMEOUT`] while another process has it open. Only for a store that exists, or that another process may
/// have created: a new store is made by [`Creation`].
pub(super) fn open_writable(path: &Path) -> Result<Database, MetastoreError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let opened = open_store_file(path, true)
            .map_err(DatabaseError::from)
            .and_then(|file| {
                redb::Builder::new().create_with_backend(redb::backends::FileBackend::new(file)?)
            });
        match opened {
            Err(DatabaseError::DatabaseAlreadyOpen) if start.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(MetastoreError::Busy {
                    path: path.to_owned(),
                    waited: BUSY_TIMEOUT,
                });
            }
            other => return other.map_err(|e| redb_error(path, e)),
        }
    }
}

/// Opens the store file itself, for redb: never through a symlink, and without blocking on a
/// FIFO (whoever may write the store's directory could put one there, and root's `nexus vfs`
/// would wait forever); anything but a regular file is refused. redb's own open follows
/// symlinks and blocks.
pub(super) fn open_store_file(path: &Path, write: bool) -> std::io::Result<std::fs::File> {
    use rustix::fs::{FileType, Mode, OFlags};
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let fd = rustix::fs::open(
        path,
        access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP => std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file but a symbolic link",
        ),
        e => e.into(),
    })?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(std::fs::File::from(fd))
}

/// [`ReadOnlyDatabase::open`] through [`open_store_file`].
pub(super) fn open_read_only(path: &Path) -> Result<ReadOnlyDatabase, DatabaseError> {
    let file = open_store_file(path, false)?;
    redb::Builder::new().open_read_only_with_backend(redb::backends::FileBackend::new(file)?)
}

/// Whether an I/O error kind means "this process may not write here", as opposed to a
/// broken store: the cases in which it keeps its metadata in memory instead.
pub(super) fn is_unwritable_kind(kind: std::io::ErrorKind) -> bool {
    matches!(
        kind,
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}

/// [`is_unwritable_kind`] for a store error.
pub(super) fn is_unwritable(e: &MetastoreError) -> bool {
    match e {
        MetastoreError::Create { source, .. } => is_unwritable_kind(source.kind()),
        MetastoreError::Redb { source, .. } => {
            matches!(&**source, redb::Error::Io(io) if is_unwritable_kind(io.kind()))
        }
        MetastoreError::Busy { .. } | MetastoreError::Corrupt { .. } => false,
    }
}

/// The store holds the content hash of every file, secret ones included, so it is for its
/// owner only: a store file left readable by others (by an older version, or a loose umask) is
/// tightened to [`create::STORE_FILE_MODE`] when its owner opens it. Best effort: someone
/// else's store is left as it is, and this process cannot change it anyway.
pub(super) fn tighten_mode(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Through the store's own handle, never a symlink: root must not chmod what a link
    // planted in the store's directory points to.
    let Ok(file) = open_store_file(path, false) else {
        return;
    };
    let Ok(meta) = file.metadata() else {
        return;
    };
    let current = meta.permissions().mode() & 0o7777;
    let tight = current & create::STORE_FILE_MODE;
    if current != tight {
        match file.set_permissions(std::fs::Permissions::from_mode(tight)) {
            Ok(()) => {
                tracing::info!(path = %path.display(), from = format!("{current:o}"), to = format!("{tight:o}"), "tightened the metadata store's mode")
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "could not tighten the metadata store's mode")
            }
        }
    }
}

pub(super) fn redb_error(path: &Path, e: impl Into<redb::Error>) -> MetastoreError {
    MetastoreError::Redb {
        path: path.to_owned(),
        source: Box::new(e.into()),
    }
}

/// [`redb_error`] for `map_err`.
pub(super) fn in_store<E: Into<redb::Error>>(path: &Path) -> impl Fn(E) -> MetastoreError + '_ {
    move |e| redb_error(path, e)
}
