//! The VFS: routes each call to a mount, answers metadata from the metastore and bytes from
//! the backend, and applies Linux's error order on read-only mounts.

use std::sync::Arc;

use rustix::io::Errno;

use crate::access::{AccessControl, Policy, PolicyError, Right};
use crate::backend::{Backend, Escape, EscapeAttempt, escape_attempt, is_absent, is_unhashable};
use crate::entry::{Entry, Etag, Kind, Metadata, now_ns};
use crate::error::{Fail, MountError, ReconcileError};
use crate::metastore::{Batch, Metastore, MetastoreError};
use crate::path::{Tail, VfsPath, rel_split};
use crate::reconcile::{self, Decision, ReconcileReport, decide_hashed};
pub use crate::router::Access;
use crate::router::{MountCore, MountTable, Route};

mod mutate;
mod session;

pub use session::Session;
pub(crate) use session::Who;

/// The largest file the VFS reads or writes: 1 MiB, the size limit of a configuration file
/// (DESIGN.md §4). [`Session::write`] of more, and [`Session::read`] of a bigger host file, are
/// `EFBIG`, so no call holds an unbounded amount in memory; `stat` of a bigger file shows no
/// etag. `nexus vfs write` reads no more than this from its standard input.
pub const MAX_FILE_SIZE: usize = 1024 * 1024;

/// How [`Session::write`] treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Create the file or replace its content (`O_CREAT | O_TRUNC`).
    Replace,
    /// Create the file; `EEXIST` if it exists (`O_CREAT | O_EXCL`).
    CreateNew,
}

/// A file's bytes with the metadata that describes exactly those bytes: `metadata.etag` is the
/// hash of `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContents {
    /// The content.
    pub data: Vec<u8>,
    /// The entry after the read's check against the open file.
    pub metadata: Metadata,
}

/// One name in a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name, a single path component.
    pub name: String,
    /// [`Kind::File`] or [`Kind::Dir`].
    pub kind: Kind,
}

/// What a path names, as far as the VFS knows.
enum Node<'a> {
    /// A registered entry on a mount.
    Entry(&'a Arc<MountCore>, String, Entry),
    /// A directory that only leads to mount points.
    VirtualDir,
    /// Nothing.
    Missing,
}

/// The file system a name lives on, as Linux's `rename`, `rmdir` and `unlink` see it: the
/// mount of the directory its last component is looked up in ([`VfsPath::lookup_dir`]), or
/// the VFS's own root, an empty read-only directory. A mount point lives on the file system
/// it is mounted on, not on its own mount: `rmdir /etc` is a change to `/`.
enum Home<'a> {
    Root,
    Mount(&'a Arc<MountCore>),
}

impl Home<'_> {
    fn same_as(&self, other: &Home<'_>) -> bool {
        match (self, other) {
            (Home::Root, Home::Root) => true,
            (Home::Mount(a), Home::Mount(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The writable mount, or `EROFS` (Linux's `mnt_want_write`).
    fn writable(&self) -> Result<&Arc<MountCore>, Fail> {
        match self {
            Home::Mount(m) if m.access == Access::ReadWrite => Ok(m),
            _ => Err(Errno::ROFS.into()),
        }
    }
}

/// A virtual file system: a mount table of backends, each with a metastore.
///
/// Metadata (`stat`, `read_dir`, existence checks) comes from the metastore, so a mount is
/// ready once its entries are registered; bytes come from the backend, re-checked against the
/// entry on every read.
///
/// Every call is made by a [`crate::Caller`] and checked against the access [`Policy`]:
/// `vfs.as_caller(&caller).read(&path)`.
#[derive(Debug, Default)]
pub struct Vfs {
    table: MountTable,
    access: Arc<AccessControl>,
}

impl Vfs {
    /// An empty VFS: nothing mounted, `/` an empty read-only directory, and the default
    /// policy ([`Policy::default`]) until [`Vfs::set_policy`] or [`Vfs::follow_policy`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The calls `caller` may make: every operation goes through one of these, so none can
    /// be made without saying who makes it.
    #[must_use]
    pub fn as_caller<'a>(&'a self, caller: &'a crate::Caller) -> Session<'a> {
        Session::new(self, caller)
    }

    /// Checks every call against `policy` from now on (and stops following a state dir's
    /// policy, if [`Vfs::follow_policy`] was called).
    pub fn set_policy(&self, policy: Policy) {
        self.access.set(policy);
    }

    /// Loads the policy brick `vfs` of `state_dir` ([`crate::access::load_policy`]) and checks every
    /// call against it from now on; a [`crate::watch()`] of the mount of `$STATE/etc` reloads it
    /// when it changes. [`mount_etc`](crate::mount_etc) calls this.
    ///
    /// # Errors
    /// The policy is invalid: the VFS now refuses every call (fails closed) until a reload
    /// finds it fixed. The error is logged once.
    pub fn follow_policy(&self, state_dir: &std::path::Path) -> Result<(), Arc<PolicyError>> {
        self.access.follow(state_dir)
    }

    /// Why every call is being refused, if the policy is invalid.
    #[must_use]
    pub fn policy_error(&self) -> Option<Arc<PolicyError>> {
        self.access.error()
    }

    pub(crate) fn access(&self) -> &Arc<AccessControl> {
        &self.access
    }

    /// Mounts `backend` at `point` after registering its entries in `store` (a full scan that
    /// commits only what changed since the store last saw the backend).
    ///
    /// # Errors
    /// [`MountError::AlreadyMounted`], or the scan failed (the mount root is missing, the
    /// backend or the store failed).
    pub fn mount(
        &mut self,
        point: VfsPath,
        backend: Arc<dyn Backend>,
        store: Arc<dyn Metastore>,
        access: Access,
    ) -> Result<ReconcileReport, MountError> {
        // A mount point is a name: `/etc/` mounts at `/etc`.
        let point = point.normalised();
        if self.table.is_mount_point(&point) {
            return Err(MountError::AlreadyMounted(point));
        }
        let core = Arc::new(MountCore::new(point.clone(), backend, store, access));
        let report = reconcile::reconcile_all(&core)?;
        if !self.table.add(core) {
            return Err(MountError::AlreadyMounted(point));
        }
        Ok(report)
    }

    /// Brings every entry of the mount at `point` in line with its backend: what a watcher
    /// does after an event-queue overflow, callable directly.
    ///
    /// # Errors
    /// [`ReconcileError`].
    pub fn reconcile(&self, point: &VfsPath) -> Result<ReconcileReport, ReconcileError> {
        let core = self.core(point)?;
        reconcile::reconcile_all(core)
    }

    /// Refreshes the entries for the given mount-relative paths of the mount at `point` (and
    /// everything below those that are directories): what a watcher does per event.
    ///
    /// # Errors
    /// [`ReconcileError`].
    pub fn refresh(
        &self,
        point: &VfsPath,
        rels: &[String],
    ) -> Result<ReconcileReport, ReconcileError> {
        let core = self.core(point)?;
        reconcile::reconcile_paths(core, rels)
    }

    /// Waits until every mount's store has written what was committed to it, and reports a
    /// write that failed ([`Metastore::flush`]). A first boot's store is created in the
    /// background: call this to know it is on disk (dropping the `Vfs` also waits for it).
    ///
    /// # Errors
    /// A store's background write failed.
    pub fn flush(&self) -> Result<(), MetastoreError> {
        self.table.iter().try_for_each(|m| m.store.flush())
    }

    /// The mount points whose store could not persist a new version in this process
    /// ([`Metastore::keeps_versions`]): what a caller should warn about, since a later process
    /// may show the same version for other content.
    #[must_use]
    pub fn mounts_not_keeping_versions(&self) -> Vec<VfsPath> {
        self.table
            .iter()
            .filter(|m| !m.store.keeps_versions())
            .map(|m| m.point.clone())
            .collect()
    }

    pub(crate) fn core(&self, point: &VfsPath) -> Result<&Arc<MountCore>, ReconcileError> {
        self.table
            .get(point)
            .ok_or_else(|| ReconcileError::NotMounted(point.clone()))
    }

    fn lookup(&self, path: &VfsPath) -> Result<Node<'_>, Fail> {
        Ok(match self.table.route(path) {
            Route::Mount(m, rel) => match registered(m, &rel)? {
                Some(entry) => Node::Entry(m, rel, entry),
                None => Node::Missing,
            },
            Route::Virtual => Node::VirtualDir,
            Route::Nowhere => Node::Missing,
        })
    }

    /// Walks into directory `dir` as the kernel does for a component it looks something up
    /// in: `dir` and each of its ancestors must exist (`ENOENT`), be a directory (`ENOTDIR`)
    /// and be searchable (`EACCES` for one the mount could not list).
    ///
    /// Returns whether one of those directories is closed to others on the host (no
    /// `o+x`): a file below it is as secret as a file without `o+r` ([`is_secret`]).
    fn walk_into(&self, dir: &VfsPath) -> Result<Private, Fail> {
        let mut chain = vec![dir.normalised()];
        while let Some(parent) = chain.last().and_then(VfsPath::parent) {
            chain.push(parent);
        }
        let mut private = Private(false);
        for step in chain.iter().rev() {
            match self.lookup(step)? {
                Node::VirtualDir => {}
                Node::Entry(m, rel, e) if e.kind == Kind::Dir => {
                    if m.is_unlisted(&rel) {
                        return Err(Errno::ACCESS.into());
                    }
                    private.0 |= e.sig.mode & 0o001 == 0;
                }
                Node::Entry(..) => return Err(Errno::NOTDIR.into()),
                Node::Missing => return Err(Errno::NOENT.into()),
            }
        }
        Ok(private)
    }

    /// Everything Linux checks before it looks at the last component: every directory the
    /// spelling walks through (including one later left by `..`), then the parent. A last
    /// component `.` is a lookup inside the directory before it, so that directory is walked
    /// into as well. These checks come before any write-access check, as in Linux.
    ///
    /// Returns whether a directory above `path` is closed to others ([`Vfs::walk_into`]).
    fn walk_to(&self, path: &VfsPath) -> Result<Private, Fail> {
        for dir in path.walked_dirs() {
            self.walk_into(&dir)?;
        }
        let mut private = Private(false);
        if let Some(parent) = path.parent() {
            private = self.walk_into(&parent)?;
        }
        if path.tail() == Tail::Dot {
            self.walk_into(path)?;
        }
        Ok(private)
    }

    /// [`Vfs::walk_to`], then the last component; a spelling that requires a directory (a
    /// trailing `/`) turns a file into `ENOTDIR`. For the calls that only look.
    fn resolve(&self, path: &VfsPath) -> Result<(Node<'_>, Private), Fail> {
        let private = self.walk_to(path)?;
        let node = self.lookup(path)?;
        if path.requires_dir() && matches!(&node, Node::Entry(_, _, e) if e.kind != Kind::Dir) {
            return Err(Errno::NOTDIR.into());
        }
        Ok((node, private))
    }

    fn home(&self, path: &VfsPath) -> Home<'_> {
        let dir = path.lookup_dir().unwrap_or_else(VfsPath::root);
        match self.table.route(&dir) {
            Route::Mount(m, _) => Home::Mount(m),
            Route::Virtual | Route::Nowhere => Home::Root,
        }
    }

    /// `path`'s mount-relative path on `m`, its home; `None` if it lands elsewhere (a mount
    /// point or virtual directory, which callers refuse before asking).
    fn rel_on(&self, m: &Arc<MountCore>, path: &VfsPath) -> Option<String> {
        match self.table.route(path) {
            Route::Mount(on, rel) if Arc::ptr_eq(on, m) => Some(rel),
            _ => None,
        }
    }

    /// Whether `path` is `/`, a mount point or a virtual directory: names that exist because
    /// of the mount table and cannot be created, removed or renamed through a mount.
    fn is_structural(&self, path: &VfsPath) -> bool {
        path.is_root()
            || self.table.is_mount_point(path)
            || matches!(self.table.route(path), Route::Virtual)
    }

    pub(crate) fn read_inner(&self, who: &Who<'_>, path: &VfsPath) -> Result<FileContents, Fail> {
        let (node, private) = self.resolve(path)?;
        if matches!(node, Node::Missing) {
            return Err(Errno::NOENT.into());
        }
        let right = who.right(path);
        if right < Right::Read {
            return Err(Fail::Denied);
        }
        match node {
            Node::Missing | Node::VirtualDir => Err(Errno::ISDIR.into()),
            Node::Entry(_, _, e) if e.kind == Kind::Dir => Err(Errno::ISDIR.into()),
            Node::Entry(_, _, e) if private.hides(&e) && right < Right::Admin => Err(Fail::Denied),
            Node::Entry(m, rel, _) => {
                let (data, entry) = read_checked(m, &rel, right)?;
                Ok(FileContents {
                    data,
                    metadata: Metadata::of(&entry),
                })
            }
        }
    }

    pub(crate) fn stat_inner(&self, who: &Who<'_>, path: &VfsPath) -> Result<Metadata, Fail> {
        let (node, private) = self.resolve(path)?;
        if matches!(node, Node::Missing) {
            return Err(Errno::NOENT.into());
        }
        let right = who.right(path);
        if right < Right::Read {
            return Err(Fail::Denied);
        }
        let without_etag = |e: Entry| Metadata::of(&Entry { etag: None, ..e });
        match node {
            Node::Missing | Node::VirtualDir => Ok(Metadata::virtual_dir()),
            // The etag of a secret file confirms a guessed content: only admins see it, and
            // nobody else's stat reads the file.
            Node::Entry(_, _, e) if private.hides(&e) && right < Right::Admin => {
                Ok(without_etag(e))
            }
            Node::Entry(m, rel, e)
                if e.kind == Kind::File && (e.etag.is_none() || !e.is_world_readable()) =>
            {
                match read_checked(m, &rel, right) {
                    Ok((_, entry)) => Ok(Metadata::of(&entry)),
                    Err(Fail::Os(err)) if is_unhashable(&err) => Ok(without_etag(e)),
                    // Made secret since the entry was stored: no etag, and the store is left
                    // for an admin's read to update.
                    Err(Fail::Denied) => Ok(without_etag(e)),
                    Err(f) => Err(f),
                }
            }
            Node::Entry(_, _, e) => Ok(Metadata::of(&e)),
        }
    }

    pub(crate) fn read_dir_inner(
        &self,
        who: &Who<'_>,
        path: &VfsPath,
    ) -> Result<Vec<DirEntry>, Fail> {
        let (node, _) = self.resolve(path)?;
        match &node {
            Node::Missing => return Err(Errno::NOENT.into()),
            Node::Entry(_, _, e) if e.kind != Kind::Dir => return Err(Errno::NOTDIR.into()),
            _ if who.right(path) < Right::Read => return Err(Fail::Denied),
            _ => {}
        }
        // Secret files are listed like any other: their names are not secret, their content is.
        let mut out: Vec<DirEntry> = match node {
            Node::Missing => return Err(Errno::NOENT.into()),
            Node::Entry(_, _, e) if e.kind != Kind::Dir => return Err(Errno::NOTDIR.into()),
            Node::Entry(m, rel, _) if m.is_unlisted(&rel) => return Err(Errno::ACCESS.into()),
            Node::Entry(m, rel, _) => m
                .store
                .children(&rel)?
                .into_iter()
                .map(|(name, e)| DirEntry { name, kind: e.kind })
                .collect(),
            Node::VirtualDir => Vec::new(),
        };
        let dir = path.normalised();
        for name in self.table.mount_names_in(&dir) {
            out.retain(|d| d.name != name);
            out.push(DirEntry {
                name,
                kind: Kind::Dir,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// The entry of `rel` on `m`, or `None` when the namespace holds nothing there, after asking
/// the backend why: a name that is a symbolic link on the host (left out of the namespace by
/// the scan), or a path through one (a directory swapped for a symlink since), is refused as
/// the escape attempt it is rather than reported missing. Every lookup of a name an
/// operation acts on goes through here.
pub(crate) fn registered(m: &MountCore, rel: &str) -> Result<Option<Entry>, Fail> {
    if let Some(entry) = m.store.get(rel)? {
        return Ok(Some(entry));
    }
    match m.backend.stat(rel) {
        Ok(Some(stat)) if stat.kind == Kind::Symlink => match m.backend.host_root() {
            Some(root) => Err(escape_attempt(root, rel, Escape::Symlink).into()),
            None => Ok(None),
        },
        Err(e) if EscapeAttempt::of(&e).is_some() => Err(e.into()),
        // Anything else the backend says about a name the namespace does not hold (a FIFO, a
        // file registered since, an unreadable directory) is the scan's or the watcher's to
        // sort out: the namespace answers.
        _ => Ok(None),
    }
}

/// Whether an entry is a secret file by its own mode: a file others may not read (no `o+r`,
/// as the 0600 secret bricks), whose content and etag only admins get through the VFS.
pub(crate) fn is_secret(e: &Entry) -> bool {
    e.kind == Kind::File && !e.is_world_readable()
}

/// Whether a directory on the way to a path is closed to others on the host (no `o+x`):
/// others could not reach a file below it, whatever its own mode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Private(bool);

impl Private {
    /// Whether `e`, found below, is a secret file: its own mode says so, or a directory
    /// above it does.
    pub(crate) fn hides(self, e: &Entry) -> bool {
        is_secret(e) || (self.0 && e.kind == Kind::File)
    }
}

/// Reads `rel` from the backend and makes its entry describe the bytes read, updating the store
/// if the entry was stale; returns the bytes and the entry.
///
/// `right` is the caller's: a file the `fstat` of the open file shows secret (made so since
/// its entry was stored) is [`Fail::Denied`] to a caller below admin, before any byte leaves
/// and before the store changes.
fn read_checked(m: &MountCore, rel: &str, right: Right) -> Result<(Vec<u8>, Entry), Fail> {
    let observed_ns = now_ns();
    let (data, stat) = match m.backend.read(rel) {
        Ok((_, stat)) if stat.sig.mode & 0o004 == 0 && right < Right::Admin => {
            return Err(Fail::Denied);
        }
        Ok(read) => read,
        Err(e) if is_absent(&e) || e.raw_os_error() == Some(Errno::ISDIR.raw_os_error()) => {
            // The host changed under the entry (deleted, replaced by a directory or a symlink):
            // fix the entry before answering, so the next call agrees with this one. A symlink
            // is answered as the escape attempt it is, not as a missing file.
            refresh_quietly(m, rel);
            return Err(match Fail::from(e) {
                Fail::Os(e) if is_absent(&e) => Errno::NOENT.into(),
                other => other,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let etag = Etag::of(&data);
    // What this reader is shown: the stored entry with the etag of the bytes just read, which
    // the store may not hold (see `reconcile::may_persist_etag`).
    let shown = |entry: Entry| Entry {
        etag: Some(etag),
        ..entry
    };
    let current = m.store.get(rel)?;
    if let (Some(entry), Decision::Keep) = (
        current,
        decide_hashed(current.as_ref(), &stat, etag, observed_ns),
    ) {
        return Ok((data, entry));
    }
    let _guard = m.lock();
    let Some(current) = m.store.get(rel)? else {
        // Removed by a concurrent refresh: the namespace says it is gone.
        return Err(Errno::NOENT.into());
    };
    let mut decision = decide_hashed(Some(&current), &stat, etag, observed_ns);
    if !reconcile::may_persist_etag(m, rel, &stat) {
        let seen = m.remember_unstored_etag(rel, stat.sig, etag);
        decision = match decision {
            // Stat fields as this process last read them, the stored ones too, yet other
            // bytes: an edit within one timestamp tick, which only this process can see.
            _ if current.sig == stat.sig
                && seen.is_some_and(|(sig, before)| sig == stat.sig && before != etag) =>
            {
                Decision::Put {
                    entry: Entry {
                        etag: None,
                        version: current.version + 1,
                        owner: Some(stat.owner()),
                        observed_ns,
                        ..current
                    },
                    bumped: true,
                }
            }
            Decision::Put { entry, bumped } => {
                reconcile::without_etag(Some(&current), entry, bumped)
            }
            other => other,
        };
    }
    match decision {
        Decision::Put { entry, bumped } => {
            // A first etag needs no fsync: losing it in a crash costs one re-hash. A new version
            // does need one.
            m.store.commit(&Batch {
                puts: vec![(rel.to_owned(), entry)],
                deletes: Vec::new(),
                deferrable: !bumped,
            })?;
            Ok((data, shown(entry)))
        }
        _ => Ok((data, shown(current))),
    }
}

/// Refreshes `rel` after a failed read; a failure here only means the next scan fixes it.
fn refresh_quietly(m: &MountCore, rel: &str) {
    if let Err(e) = reconcile::reconcile_paths(m, &[rel.to_owned()]) {
        tracing::warn!(path = %m.vfs_path(rel), error = %e, "could not refresh a stale entry");
    }
}
