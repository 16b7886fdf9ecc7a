//! Live sync: a notify watcher that keeps a host-backed mount's entries true after boot.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

use crate::access::AccessControl;
use crate::error::ReconcileError;
use crate::path::{VfsPath, is_valid_name};
use crate::reconcile;
use crate::router::MountCore;
use crate::vfs::Vfs;

/// How long the watcher waits for an event burst (an editor's write-rename-chmod) to settle
/// before refreshing, so one save costs one refresh.
const SETTLE: Duration = Duration::from_millis(30);

/// The longest a burst of events is gathered before its paths are refreshed.
const MAX_BURST: Duration = Duration::from_millis(500);

/// Whether an event only says that a file was opened, read or closed without writing.
fn is_only_a_read(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    matches!(kind, EventKind::Access(access) if !matches!(access, AccessKind::Close(AccessMode::Write)))
}

/// Why [`watch`] failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// No mount at that point, or the catch-up scan failed.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// The mount's backend is not a host directory.
    #[error("cannot watch `{0}`: its backend is not a host directory")]
    NotHostBacked(VfsPath),
    /// notify could not start watching.
    #[error("cannot watch `{}`", root.display())]
    Notify {
        /// The host directory.
        root: PathBuf,
        /// What notify said.
        #[source]
        source: notify::Error,
    },
    /// The refresh thread could not be started.
    #[error("cannot start the watcher thread")]
    Thread(#[source] std::io::Error),
}

/// notify's watcher, shared with the refresh thread when it adds watches itself; `None` once
/// the watch is stopping.
type SharedNotify = Arc<Mutex<Option<RecommendedWatcher>>>;

/// A running watcher; dropping it stops the watch and joins its thread.
#[derive(Debug)]
pub struct Watcher {
    notify: SharedNotify,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Dropping notify's watcher drops its event handler and with it the channel's sender,
        // which ends the refresh thread's loop.
        let stopped = self
            .notify
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(stopped);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Watches the host directory behind the mount at `point` and refreshes entries as it changes.
///
/// The directory is watched recursively, never file by file: editors save by writing a temp
/// file and renaming it over the original, which a watch on the original's inode would miss.
/// An event marks its paths dirty; a burst is refreshed together. An event-queue overflow
/// (notify's `Rescan` flag) or a watcher error triggers a full reconcile, since events were
/// lost. A full reconcile also runs once right after the watch starts, to catch changes made
/// between the mount's scan and the watch.
///
/// When the mount serves the `etc` of the state dir whose policy the VFS follows
/// ([`Vfs::follow_policy`]), a change to `conf.d/vfs` or `conf.d/vfs.d/` reloads the policy
/// after the refresh: the next call is checked against the new one, and an invalid one makes
/// every call fail (reported once) until it is fixed.
///
/// # Errors
/// [`WatchError`].
pub fn watch(vfs: &Vfs, point: &VfsPath) -> Result<Watcher, WatchError> {
    let core = Arc::clone(vfs.core(point)?);
    let access = Arc::clone(vfs.access());
    let root = core
        .backend
        .host_root()
        .ok_or_else(|| WatchError::NotHostBacked(point.clone()))?
        .to_owned();
    let (tx, rx) = mpsc::channel();
    let mut notify = notify::recommended_watcher(move |event| {
        // The receiver is gone only while the watcher shuts down.
        let _ = tx.send(event);
    })
    .map_err(|source| WatchError::Notify {
        root: root.clone(),
        source,
    })?;
    // inotify needs read access to each directory it watches, so a recursive watch fails as a
    // whole on the first directory this process may not read. Then every other directory is
    // watched on its own, and the refresh thread watches new ones as they are registered.
    let per_directory = match notify.watch(&root, RecursiveMode::Recursive) {
        Ok(()) => false,
        Err(e) if is_permission_denied(&e) => {
            tracing::debug!(root = %root.display(), error = %e, "watching directory by directory");
            true
        }
        Err(source) => {
            return Err(WatchError::Notify {
                root: root.clone(),
                source,
            });
        }
    };
    let notify: SharedNotify = Arc::new(Mutex::new(Some(notify)));
    reconcile::reconcile_all(&core)?;
    // The policy lives in the `/etc` this mount serves, when it does: it follows the files.
    let policy = (access.followed_etc().as_deref() == Some(root.as_path())).then_some(access);
    if let Some(policy) = &policy {
        policy.reload();
    }
    let mut directories = per_directory.then(|| Directories {
        notify: Arc::clone(&notify),
        watched: BTreeSet::new(),
    });
    if let Some(dirs) = &mut directories {
        dirs.watch_new(&core, &root, "");
    }
    let thread = std::thread::Builder::new()
        .name(format!("vfs-watch {point}"))
        .spawn(move || run(&core, &root, &rx, directories, policy.as_deref()))
        .map_err(WatchError::Thread)?;
    Ok(Watcher {
        notify,
        thread: Some(thread),
    })
}

fn is_permission_denied(e: &notify::Error) -> bool {
    matches!(&e.kind, notify::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied)
}

/// The directories watched one by one, when a recursive watch was refused.
struct Directories {
    notify: SharedNotify,
    /// Mount-relative paths of the directories with a watch.
    watched: BTreeSet<String>,
}

impl Directories {
    /// Watches every registered directory at or below `rel` that has no watch yet, forgets
    /// the watches of directories gone from there (inotify drops those itself), and returns
    /// the newly watched ones. A directory this process may not read is left out.
    fn watch_new(&mut self, core: &MountCore, root: &Path, rel: &str) -> Vec<String> {
        let Ok(entries) = core.store.subtree(rel) else {
            return Vec::new();
        };
        let dirs: BTreeSet<String> = entries
            .into_iter()
            .filter(|(_, e)| e.kind == crate::entry::Kind::Dir)
            .map(|(r, _)| r)
            .collect();
        self.watched
            .retain(|w| !crate::path::rel_is_within(w, rel) || dirs.contains(w));
        let mut guard = self.notify.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(notify) = guard.as_mut() else {
            return Vec::new();
        };
        let mut added = Vec::new();
        for dir in dirs {
            if self.watched.contains(&dir) {
                continue;
            }
            let host = if dir.is_empty() {
                root.to_owned()
            } else {
                root.join(&dir)
            };
            match notify.watch(&host, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(dir.clone());
                    added.push(dir);
                }
                Err(e) => {
                    tracing::debug!(dir = %host.display(), error = %e, "not watching a directory")
                }
            }
        }
        added
    }
}

fn run(
    core: &MountCore,
    root: &Path,
    rx: &mpsc::Receiver<notify::Result<notify::Event>>,
    mut directories: Option<Directories>,
    policy: Option<&AccessControl>,
) {
    while let Ok(first) = rx.recv() {
        let mut dirty = BTreeSet::new();
        let mut rescan = false;
        let mut note = |event: notify::Result<notify::Event>| match event {
            Ok(event) if event.need_rescan() => rescan = true,
            // Reading a file changes nothing the VFS records; counting those events as
            // changes would also keep a burst from ever settling while someone reads.
            Ok(event) if is_only_a_read(&event.kind) => {}
            Ok(event) => {
                for path in &event.paths {
                    if let Some(rel) = relative(root, path) {
                        dirty.insert(rel);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(root = %root.display(), error = %e, "watcher error; rescanning");
                rescan = true;
            }
        };
        note(first);
        // A disconnect also ends the burst; the outer `recv` then ends the loop. A burst that
        // keeps going (a process rewriting a file in a loop) is cut at `MAX_BURST`, so the
        // changes so far are applied rather than waiting for a quiet moment that may not come.
        let started = std::time::Instant::now();
        while started.elapsed() < MAX_BURST
            && let Ok(event) = rx.recv_timeout(SETTLE)
        {
            note(event);
        }
        let dirty: Vec<String> = if rescan {
            vec![String::new()]
        } else {
            dirty.into_iter().collect()
        };
        let mut result = if rescan {
            reconcile::reconcile_all(core)
        } else {
            reconcile::reconcile_paths(core, &dirty)
        };
        if let Some(dirs) = &mut directories {
            let added: Vec<String> = dirty
                .iter()
                .flat_map(|rel| dirs.watch_new(core, root, rel))
                .collect();
            // What changed in a new directory before its watch existed has no event: look.
            if !added.is_empty() && result.is_ok() {
                result = reconcile::reconcile_paths(core, &added);
            }
        }
        // After the refresh, so a call that sees the new policy also sees the new entries.
        if let Some(policy) = policy
            && dirty.iter().any(|rel| crate::access::touches_policy(rel))
        {
            policy.reload();
        }
        match result {
            Ok(report) => {
                tracing::debug!(mount = %core.point, ?report, "refreshed after host changes")
            }
            Err(e) => {
                tracing::warn!(mount = %core.point, error = %e, "refresh after host changes failed")
            }
        }
    }
}

/// The mount-relative path of host path `path`, or `None` if it is outside `root` or holds a
/// name the namespace cannot represent (such paths have no entry to refresh).
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for c in rest.components() {
        let Component::Normal(name) = c else {
            return None;
        };
        let name = name.to_str().filter(|n| is_valid_name(n))?;
        parts.push(name);
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_map_to_mount_relative_paths() {
        let root = Path::new("/s/etc");
        assert_eq!(relative(root, Path::new("/s/etc")), Some(String::new()));
        assert_eq!(
            relative(root, Path::new("/s/etc/conf.d/mounts")),
            Some("conf.d/mounts".into())
        );
        assert_eq!(relative(root, Path::new("/s/other")), None);
        assert_eq!(relative(root, Path::new("/s/etc/a\nb")), None);
    }
}
