//! `mount_etc`: `$STATE/etc` at `/etc`, read-only, by registering metadata only.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use confd::StateDir;

use crate::backend::{HostDir, MemoryBackend};
use crate::error::MountError;
use crate::metastore::{MemoryMetastore, MetastoreError, RedbMetastore};
use crate::path::VfsPath;
use crate::reconcile::ReconcileReport;
use crate::router::Access;
use crate::vfs::Vfs;

/// Where `/etc` is mounted.
pub const ETC_MOUNT_POINT: &str = "/etc";

/// Where the in-memory scratch mount of [`boot`] is mounted.
pub const TMP_MOUNT_POINT: &str = "/tmp";

/// [`ETC_MOUNT_POINT`] as a path.
#[must_use]
pub fn etc_mount_point() -> VfsPath {
    VfsPath::fixed(ETC_MOUNT_POINT)
}

/// [`TMP_MOUNT_POINT`] as a path.
#[must_use]
pub fn tmp_mount_point() -> VfsPath {
    VfsPath::fixed(TMP_MOUNT_POINT)
}

/// Why [`mount_etc`] or [`boot`] failed.
#[derive(Debug, thiserror::Error)]
pub enum MountEtcError {
    /// `$STATE/etc` could not be opened as a directory.
    #[error("cannot mount `{}` at `/etc`: {}", path.display(), crate::error::describe(error))]
    OpenRoot {
        /// `$STATE/etc`.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The metadata store could not be opened.
    #[error("cannot mount `/etc`")]
    Store(#[source] MetastoreError),
    /// Registering the entries failed.
    #[error(transparent)]
    Mount(#[from] MountError),
}

/// The store to open: [`StateDir::vfs_metastore`], after moving a store left at
/// [`StateDir::legacy_vfs_metastore`] there (one `rename`, so entries and versions carry over).
/// If the move is not possible (another user's state dir), the legacy store is used where it
/// is. A legacy store found beside an existing new one is removed.
fn store_path(state: &StateDir) -> PathBuf {
    let path = state.vfs_metastore();
    let legacy = state.legacy_vfs_metastore();
    // Only a regular file is a store an older version left; anything else there (a symlink
    // someone planted) is not followed, moved or opened.
    let legacy_exists = legacy.symlink_metadata().is_ok_and(|m| m.is_file());
    if path.symlink_metadata().is_ok() || !legacy_exists {
        if let Some(dir) = path.parent() {
            crate::metastore::tighten_store_dir(dir);
        }
        // Recreated by an older binary after the move: stale, and no more private than the
        // umask made it.
        if legacy_exists {
            crate::metastore::retire_legacy_store(&legacy);
        }
        return path;
    }
    match crate::metastore::adopt_store(&legacy, &path) {
        Ok(()) => path,
        // Another process moved it first.
        Err(_) if path.symlink_metadata().is_ok() => path,
        Err(e) => {
            tracing::debug!(from = %legacy.display(), to = %path.display(), error = %e, "could not move the metadata store");
            legacy
        }
    }
}

/// Refuses, as root, a symlink owned by someone else on the way from the state dir to the
/// store's directory (`$STATE/var`, `var/lib`, `var/lib/vfs`) that leads out of the state dir
/// (or nowhere): whoever owns the state dir
/// could point one anywhere (`/etc/cron.d`), and root would create, chmod and remove the
/// store's files there. confd's rule for writes as root (after Linux's
/// `fs.protected_symlinks`). Root's own symlinks, and ones that stay inside the state dir,
/// are followed as before.
fn refuse_planted_symlinks(state: &StateDir) -> Result<(), MetastoreError> {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let state_dir = state.root();
    let inside = |dir: &Path| match (std::fs::canonicalize(dir), std::fs::canonicalize(state_dir)) {
        (Ok(target), Ok(state)) => target.starts_with(state),
        _ => false,
    };
    // Every directory from just below the state dir down to the store's own, in that order.
    let store_dir = state.vfs_lib();
    let mut on_the_way: Vec<&Path> = store_dir
        .ancestors()
        .take_while(|dir| *dir != state_dir)
        .collect();
    on_the_way.reverse();
    for dir in on_the_way {
        match std::fs::symlink_metadata(dir) {
            Ok(meta) if meta.file_type().is_symlink() && meta.uid() != 0 && !inside(dir) => {
                return Err(MetastoreError::Create {
                    path: state.vfs_metastore(),
                    source: io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!(
                            "`{}` is a symbolic link owned by uid {} that leads out of the state dir, which root does not follow",
                            dir.display(),
                            meta.uid()
                        ),
                    ),
                });
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// Mounts `$STATE/etc` read-only at `/etc`, and checks every call against the access policy
/// of `$STATE/etc/conf.d/vfs` from then on (as [`Vfs::follow_policy`], but loaded when the
/// first call needs it, or [`Vfs::policy_error`] asks).
///
/// The store holds the content hash (etag) of every file its owner may read (never of one it
/// may not), the owner's 0600 secret bricks included, which would let anyone who can read it
/// confirm a guessed password offline: it is created 0600 in a directory of its own created
/// 0700, whatever the umask, and a looser one is tightened when its owner opens it.
///
/// It opens `$STATE/etc` once with `O_RDONLY`, walks and `lstat`s it, and records entries in
/// the persistent store at [`StateDir::vfs_metastore`] (readable and writable by its owner
/// only). It writes, renames, creates or touches nothing
/// below `$STATE/etc`, and reads no file content (etags are computed on first read or stat),
/// so it works when `$STATE/etc` is on a read-only file system. A boot that finds nothing
/// changed since the last one commits nothing. The first boot of a state dir returns before
/// its store is on disk: the store is created in the background ([`RedbMetastore`]), and
/// [`Vfs::flush`] or dropping `vfs` waits for it.
///
/// # Errors
/// [`MountEtcError`]: `$STATE/etc` missing or unreadable, the store unusable, or `/etc`
/// already mounted.
pub fn mount_etc(vfs: &mut Vfs, state_dir: &Path) -> Result<ReconcileReport, MountEtcError> {
    let state = StateDir::at(state_dir);
    let root = state.etc_dir();
    let backend = HostDir::open_read_only(&root)
        .map_err(|error| MountEtcError::OpenRoot { path: root, error })?;
    refuse_planted_symlinks(&state).map_err(MountEtcError::Store)?;
    let store = RedbMetastore::open(store_path(&state)).map_err(MountEtcError::Store)?;
    let report = vfs.mount(
        etc_mount_point(),
        Arc::new(backend),
        Arc::new(store),
        Access::ReadOnly,
    )?;
    // Loaded when the first call needs it: registering metadata needs no policy. An invalid
    // policy does not fail the mount: every call is refused with its error (fails closed)
    // until it is fixed, which a watcher of `/etc` sees.
    vfs.access().follow_lazily(state_dir);
    Ok(report)
}

/// A VFS with a writable in-memory `/tmp` and `$STATE/etc` at `/etc` via [`mount_etc`]: what
/// `nexus vfs` runs against.
///
/// # Errors
/// As [`mount_etc`].
pub fn boot(state_dir: &Path) -> Result<(Vfs, ReconcileReport), MountEtcError> {
    let mut vfs = Vfs::new();
    vfs.mount(
        tmp_mount_point(),
        Arc::new(MemoryBackend::new()),
        Arc::new(MemoryMetastore::new()),
        Access::ReadWrite,
    )?;
    let report = mount_etc(&mut vfs, state_dir)?;
    Ok((vfs, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_points_are_the_paths_they_spell() -> Result<(), crate::path::PathError> {
        assert_eq!(etc_mount_point(), VfsPath::new(ETC_MOUNT_POINT)?);
        assert_eq!(tmp_mount_point(), VfsPath::new(TMP_MOUNT_POINT)?);
        assert_eq!(etc_mount_point().as_given(), "/etc");
        Ok(())
    }
}
