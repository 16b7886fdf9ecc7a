//! The state dir's write lock (`$STATE/var/lib/confd/lock`): seeding and
//! every explicit edit take turns under it.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{FILE_MODE, SeedError, create_dirs, io_err};
use crate::StateDir;

/// The state dir's write lock, held while it lives. Seeding and every
/// explicit edit (`nexus config set`/`edit`) take turns under it, so a run's
/// clean-up of stale temporary files never removes another writer's.
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
}

/// Waits for, then holds, the write lock of the state dir at `state_root`
/// (`$STATE/var/lib/confd/lock`, created if missing).
pub fn lock_state(state_root: &Path) -> Result<StateLock, SeedError> {
    let state = StateDir::at(state_root);
    create_dirs(&state.confd_lib())?;
    lock(&state.write_lock()).map(|file| StateLock { _file: file })
}

/// Takes the write lock of the state dir at `state_root` if it is free;
/// `None` when another process holds it (then [`lock_state`] waits for it).
pub fn try_lock_state(state_root: &Path) -> Result<Option<StateLock>, SeedError> {
    let state = StateDir::at(state_root);
    create_dirs(&state.confd_lib())?;
    let path = state.write_lock();
    let file = open_lock(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(StateLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&path)(e)),
    }
}

/// Waits for, then holds, the exclusive lock of a state dir's seeding.
pub(super) fn lock(path: &Path) -> Result<std::fs::File, SeedError> {
    let file = open_lock(path)?;
    file.lock().map_err(io_err(path))?;
    Ok(file)
}

/// Opens (creating if needed) the lock file at `path`.
fn open_lock(path: &Path) -> Result<std::fs::File, SeedError> {
    // An existing lock is opened read-only: flock needs no write access, so
    // a lock file that root created does not keep a service user out.
    let open = |create_new| {
        std::fs::OpenOptions::new()
            .create_new(create_new)
            .write(create_new)
            .read(!create_new)
            .mode(FILE_MODE)
            .open(path)
    };
    let file = match open(true) {
        // A new lock file gets 0644 exactly, as every file confd creates,
        // and in a service's state dir the service's owner.
        Ok(file) => {
            crate::atomic::inherit_owner(&file, path.parent().unwrap_or(Path::new(".")))
                .map_err(io_err(path))?;
            file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
                .map_err(io_err(path))?;
            file
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            open(false).map_err(io_err(path))?
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    Ok(file)
}
