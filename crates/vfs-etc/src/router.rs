//! The mount table: longest-prefix routing and the per-mount read-only flag.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::backend::Backend;
use crate::entry::{Etag, Signature};
use crate::metastore::Metastore;
use crate::path::VfsPath;

/// Whether a mount accepts mutating calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Every mutating call fails with `EROFS` (after the checks Linux makes first); the
    /// backend is never asked.
    ReadOnly,
    /// Mutating calls reach the backend.
    ReadWrite,
}

/// One mounted backend with its metadata.
#[derive(Debug)]
pub(crate) struct MountCore {
    pub(crate) point: VfsPath,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) store: Arc<dyn Metastore>,
    pub(crate) access: Access,
    /// Serialises read-modify-write of entries (scans, watcher refreshes, a read filling in
    /// an etag, VFS writes), so two of them never compute a version from the same old entry.
    sync: Mutex<()>,
    /// Directories the last scan of this process could not list (`EACCES`): they stay in the
    /// namespace, but listing them or looking anything up below them is `EACCES`, as for a
    /// directory without read and search permission on Linux. Per process, because whether a
    /// directory can be read depends on who runs the scan.
    unlisted: Mutex<BTreeSet<String>>,
    /// The stat fields and etag this process last read for files whose etag the store may
    /// not keep (`reconcile::may_persist_etag`): what catches, within this process, an edit that
    /// left every stat field as it was (git's racy case), which a stored etag catches across
    /// processes.
    unstored_etags: Mutex<HashMap<String, (Signature, Etag)>>,
}

impl MountCore {
    pub(crate) fn new(
        point: VfsPath,
        backend: Arc<dyn Backend>,
        store: Arc<dyn Metastore>,
        access: Access,
    ) -> Self {
        Self {
            point,
            backend,
            store,
            access,
            sync: Mutex::new(()),
            unlisted: Mutex::new(BTreeSet::new()),
            unstored_etags: Mutex::new(HashMap::new()),
        }
    }

    /// Records `etag` as what this process read of `rel` with stat fields `sig`, and returns
    /// what it recorded before.
    pub(crate) fn remember_unstored_etag(
        &self,
        rel: &str,
        sig: Signature,
        etag: Etag,
    ) -> Option<(Signature, Etag)> {
        self.unstored_etags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(rel.to_owned(), (sig, etag))
    }

    /// Whether `rel` is a directory the last scan could not list.
    pub(crate) fn is_unlisted(&self, rel: &str) -> bool {
        self.unlisted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(rel)
    }

    /// Replaces what is known about unlisted directories at or below `rel` (`""`: the whole
    /// mount) with `found`, the result of scanning `rel`.
    pub(crate) fn set_unlisted_below(&self, rel: &str, found: impl IntoIterator<Item = String>) {
        let mut set = self.unlisted.lock().unwrap_or_else(PoisonError::into_inner);
        set.retain(|d| !crate::path::rel_is_within(d, rel));
        set.extend(found);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ()> {
        self.sync.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The VFS path of a mount-relative path.
    pub(crate) fn vfs_path(&self, rel: &str) -> VfsPath {
        if rel.is_empty() {
            self.point.clone()
        } else {
            self.point.join(rel).unwrap_or_else(|_| self.point.clone())
        }
    }
}

/// Where a path lands.
#[derive(Debug)]
pub(crate) enum Route<'a> {
    /// On a mount, at this mount-relative path (`""` for the mount point itself).
    Mount(&'a Arc<MountCore>, String),
    /// Not on any mount, but a proper ancestor of a mount point (`/` when `/etc` is mounted):
    /// a read-only directory that exists only to lead to mounts.
    Virtual,
    /// Not on any mount and not leading to one: nothing is there.
    Nowhere,
}

/// The mounts, longest mount point first so the first match is the longest prefix.
#[derive(Debug, Default)]
pub(crate) struct MountTable {
    mounts: Vec<Arc<MountCore>>,
}

impl MountTable {
    /// The mount at `point`, by name: `/etc/` and `/etc/.` are the mount point `/etc` too.
    pub(crate) fn get(&self, point: &VfsPath) -> Option<&Arc<MountCore>> {
        self.mounts
            .iter()
            .find(|m| m.point.as_str() == point.as_str())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<MountCore>> {
        self.mounts.iter()
    }

    /// Adds `core`; `false` if its mount point is taken.
    pub(crate) fn add(&mut self, core: Arc<MountCore>) -> bool {
        if self.get(&core.point).is_some() {
            return false;
        }
        self.mounts.push(core);
        self.mounts
            .sort_by_key(|m| std::cmp::Reverse(m.point.as_str().len()));
        true
    }

    pub(crate) fn route(&self, path: &VfsPath) -> Route<'_> {
        for m in &self.mounts {
            if let Some(rel) = path.strip_prefix(&m.point) {
                return Route::Mount(m, rel.to_owned());
            }
        }
        if self
            .mounts
            .iter()
            .any(|m| m.point.strip_prefix(path).is_some())
        {
            Route::Virtual
        } else {
            Route::Nowhere
        }
    }

    /// Whether `path` is a mount point.
    pub(crate) fn is_mount_point(&self, path: &VfsPath) -> bool {
        self.get(path).is_some()
    }

    /// Names of mount points directly inside `dir`: they show in its listing whatever is
    /// (or is not) stored there, as on Linux.
    pub(crate) fn mount_names_in(&self, dir: &VfsPath) -> Vec<String> {
        self.mounts
            .iter()
            .filter(|m| m.point.parent().is_some_and(|p| p.as_str() == dir.as_str()))
            .filter_map(|m| m.point.file_name().map(str::to_owned))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemoryBackend;
    use crate::metastore::MemoryMetastore;

    fn core(point: &str) -> Result<Arc<MountCore>, crate::path::PathError> {
        Ok(Arc::new(MountCore::new(
            VfsPath::new(point)?,
            Arc::new(MemoryBackend::new()),
            Arc::new(MemoryMetastore::new()),
            Access::ReadWrite,
        )))
    }

    #[test]
    fn longest_prefix_wins_on_whole_components() -> Result<(), crate::path::PathError> {
        let mut t = MountTable::default();
        assert!(t.add(core("/")?));
        assert!(t.add(core("/etc")?));
        assert!(t.add(core("/etc/conf.d")?));
        assert!(!t.add(core("/etc")?));
        let at = |p: &str| -> Result<(String, String), crate::path::PathError> {
            match t.route(&VfsPath::new(p)?) {
                Route::Mount(m, rel) => Ok((m.point.to_string(), rel)),
                other => Ok((format!("{other:?}"), String::new())),
            }
        };
        assert_eq!(
            at("/etc/conf.d/mounts")?,
            ("/etc/conf.d".into(), "mounts".into())
        );
        assert_eq!(at("/etc/hosts")?, ("/etc".into(), "hosts".into()));
        assert_eq!(at("/etcetera")?, ("/".into(), "etcetera".into()));
        assert_eq!(at("/etc")?, ("/etc".into(), String::new()));
        assert_eq!(t.mount_names_in(&VfsPath::root()), ["etc"]);
        Ok(())
    }

    #[test]
    fn ancestors_of_mount_points_are_virtual() -> Result<(), crate::path::PathError> {
        let mut t = MountTable::default();
        t.add(core("/srv/etc")?);
        assert!(matches!(t.route(&VfsPath::root()), Route::Virtual));
        assert!(matches!(t.route(&VfsPath::new("/srv")?), Route::Virtual));
        assert!(matches!(t.route(&VfsPath::new("/srv/x")?), Route::Nowhere));
        Ok(())
    }
}
