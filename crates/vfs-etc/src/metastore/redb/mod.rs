//! A persistent metastore on redb.

mod codec;
mod create;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{
    Database, DatabaseError, Durability, ReadOnlyDatabase, ReadOnlyTable, ReadTransaction,
    ReadableDatabase, ReadableTable, TableDefinition, TableError,
};

use self::codec::{decode, encode};
use self::create::Creation;
pub(crate) use self::create::{adopt_store, retire_legacy_store, tighten_store_dir};
use super::{
    Batch, MemoryMetastore, Metastore, MetastoreError, children_range, descendant_ranges, key,
    unkey,
};
use crate::entry::Entry;

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const GENERATION: &str = "generation";

/// Entries in a redb database file. Each [`Metastore::commit`] is one redb write transaction,
/// durable when it returns, so a process killed at any point leaves the previous or the next
/// state, never a mix (redb's copy-on-write commit protocol); the next open repairs the file if
/// needed. A [deferrable](Batch::deferrable) batch is the exception: it is committed without
/// an fsync, and made durable by the next commit that is not deferrable.
///
/// Opening a missing store creates nothing: the file is created by the first commit, under a
/// temporary name renamed into place once that commit is durable, so the store's path never
/// names a half-created database. If that first commit is deferrable (the scan of a first
/// boot, which a boot after a crash derives again identically), the creation runs on a
/// background thread and `commit` returns at once, serving reads from a copy in memory; later
/// commits, [`Metastore::flush`] and dropping the store wait for it.
///
/// An existing, cleanly closed store is opened read-only and only reopened for writing at the
/// first commit: a writable redb handle marks the file on open and unmarks it on close (two
/// header writes and their fsyncs), which would make a boot that changes nothing still write.
#[derive(Debug)]
pub struct RedbMetastore {
    state: RwLock<State>,
    path: PathBuf,
    /// Who owns the store file, or will own it once created: see [`Metastore::reader`].
    owner: u32,
    /// Whether a new version was committed to the in-memory copy only (the store could not be
    /// written): see [`Metastore::keeps_versions`].
    versions_lost: std::sync::atomic::AtomicBool,
}

enum State {
    /// No store file: nothing was committed yet.
    Absent,
    /// The store's first commit, held in memory while `creating` (if still running) writes it
    /// to disk. With `creating` gone, the creation failed: the next commit creates the store
    /// from `mirror` again.
    Mirrored {
        mirror: MemoryMetastore,
        creating: Option<JoinHandle<Result<Database, MetastoreError>>>,
    },
    ReadOnly(ReadOnlyDatabase),
    Writable(Database),
    /// This process may read the store but not write it (another user's state dir, a
    /// read-only file system), or may not even read it (the store is 0600): commits go to an
    /// in-memory copy, so reads are still served fresh metadata, and nothing reaches the disk.
    Detached(MemoryMetastore),
    /// Between dropping one handle and opening the other: redb refuses a writer while a reader
    /// holds the file.
    Closed,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Absent => "Absent",
            State::Mirrored {
                creating: Some(_), ..
            } => "Creating",
            State::Mirrored { creating: None, .. } => "CreationFailed",
            State::ReadOnly(_) => "ReadOnly",
            State::Writable(_) => "Writable",
            State::Detached(_) => "Detached",
            State::Closed => "Closed",
        })
    }
}

/// What one write transaction stores.
struct Snapshot<'a> {
    puts: &'a [(String, Entry)],
    deletes: &'a [String],
    /// The generation after the write; `None` for one more than the stored one.
    generation: Option<u64>,
}

impl<'a> Snapshot<'a> {
    fn of(batch: &'a Batch) -> Self {
        Self {
            puts: &batch.puts,
            deletes: &batch.deletes,
            generation: None,
        }
    }

    /// `batch` as the first commit of a new store.
    fn first(batch: &'a Batch) -> Self {
        Self {
            generation: Some(1),
            ..Self::of(batch)
        }
    }

    /// The same changes, applied on top of whatever a store already holds.
    fn on_top(&self) -> Self {
        Self {
            generation: None,
            ..*self
        }
    }
}

impl RedbMetastore {
    /// Opens the database at `path`. Opening writes nothing: an existing store is opened
    /// read-only, and a missing one is created (with its parent directories) by the first
    /// commit.
    ///
    /// # Errors
    /// redb cannot open the file: not a redb database, or held by another process for longer
    /// than the 2 s this waits ([`MetastoreError::Busy`]).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, MetastoreError> {
        let path = path.into();
        let state = match open_read_only(&path) {
            Ok(db) => {
                tighten_mode(&path);
                State::ReadOnly(db)
            }
            Err(e) => match open_store_file(&path, false) {
                Err(io) if io.kind() == std::io::ErrorKind::NotFound => State::Absent,
                // Not ours to read: this process works from a copy in memory, starting empty.
                Err(io) if is_unwritable_kind(io.kind()) => {
                    tracing::debug!(path = %path.display(), error = %e, "metadata store not readable; keeping metadata in memory");
                    State::Detached(MemoryMetastore::new())
                }
                // Needing repair after a crash, or anything else read-only cannot handle: the
                // writable open repairs it, or reports the real problem.
                _ => match open_writable(&path) {
                    Ok(db) => {
                        tighten_mode(&path);
                        State::Writable(db)
                    }
                    Err(e) if is_unwritable(&e) => State::Detached(MemoryMetastore::new()),
                    Err(e) => return Err(e),
                },
            },
        };
        let owner = create::owner_of(&path);
        // A store this process may not even read leaves it to number every entry from 1 on
        // its own: whatever versions it shows are this process's only.
        let blind = matches!(state, State::Detached(_));
        Ok(Self {
            state: RwLock::new(state),
            path,
            owner,
            versions_lost: std::sync::atomic::AtomicBool::new(blind),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answers from the in-memory copy while the store is being created, else from a read
    /// transaction (`None` when there is no store yet).
    fn read<T>(
        &self,
        from_mirror: impl FnOnce(&MemoryMetastore) -> Result<T, MetastoreError>,
        from_store: impl FnOnce(Option<ReadTransaction>) -> Result<T, MetastoreError>,
    ) -> Result<T, MetastoreError> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let txn = match &*state {
            State::Mirrored { mirror, .. } | State::Detached(mirror) => return from_mirror(mirror),
            State::Absent => None,
            State::ReadOnly(db) => Some(db.begin_read().map_err(in_store(&self.path))?),
            State::Writable(db) => Some(db.begin_read().map_err(in_store(&self.path))?),
            State::Closed => {
                return Err(redb_error(&self.path, DatabaseError::DatabaseAlreadyOpen));
            }
        };
        drop(state);
        from_store(txn)
    }

    /// The entries table of `txn`, or `None` before the first commit created it.
    fn entries(
        &self,
        txn: Option<ReadTransaction>,
    ) -> Result<Option<ReadOnlyTable<&'static str, &'static [u8]>>, MetastoreError> {
        let Some(txn) = txn else { return Ok(None) };
        match txn.open_table(ENTRIES) {
            Ok(t) => Ok(Some(t)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(redb_error(&self.path, e)),
        }
    }

    fn collect(
        &self,
        table: &ReadOnlyTable<&'static str, &'static [u8]>,
        lo: &str,
        hi: Option<&str>,
        name_of: impl Fn(&str) -> String,
        out: &mut Vec<(String, Entry)>,
    ) -> Result<(), MetastoreError> {
        let hi = hi.map_or(Bound::Unbounded, Bound::Excluded);
        for item in table
            .range::<&str>((Bound::Included(lo), hi))
            .map_err(in_store(&self.path))?
        {
            let (k, v) = item.map_err(in_store(&self.path))?;
            out.push((name_of(k.value()), self.decode(k.value(), v.value())?));
        }
        Ok(())
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Result<Entry, MetastoreError> {
        decode(bytes).ok_or_else(|| MetastoreError::Corrupt {
            path: self.path.clone(),
            key: unkey(key),
        })
    }

    /// [`Metastore::subtree`] from a read transaction (`None`: no store yet).
    fn subtree_in(
        &self,
        txn: Option<ReadTransaction>,
        rel: &str,
    ) -> Result<Vec<(String, Entry)>, MetastoreError> {
        let mut out = Vec::new();
        let Some(table) = self.entries(txn)? else {
            return Ok(out);
        };
        let k = key(rel);
        if let Some(v) = table.get(k.as_str()).map_err(in_store(&self.path))? {
            out.push((rel.to_owned(), self.decode(&k, v.value())?));
        }
        for (lo, hi) in descendant_ranges(rel) {
            self.collect(&table, &lo, hi.as_deref(), unkey, &mut out)?;
        }
        Ok(out)
    }

    /// [`Metastore::generation`] from a read transaction (`None`: no store yet).
    fn generation_in(&self, txn: Option<ReadTransaction>) -> Result<u64, MetastoreError> {
        let Some(txn) = txn else { return Ok(0) };
        match txn.open_table(META) {
            Ok(t) => Ok(t
                .get(GENERATION)
                .map_err(in_store(&self.path))?
                .map_or(0, |g| g.value())),
            Err(TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(redb_error(&self.path, e)),
        }
    }

    /// Waits for a background creation to end: the store becomes writable, or the creation's
    /// error is returned and the in-memory copy stays for the next commit to create from.
    fn settle(path: &Path, state: &mut State) -> Result<(), MetastoreError> {
        let State::Mirrored { creating, .. } = state else {
            return Ok(());
        };
        let Some(worker) = creating.take() else {
            return Ok(());
        };
        let db = worker.join().unwrap_or_else(|_| {
            Err(MetastoreError::Create {
                path: path.to_owned(),
                source: std::io::Error::other("the thread creating it panicked"),
            })
        })?;
        *state = State::Writable(db);
        Ok(())
    }

    /// Creates the store from the in-memory copy a failed background creation left, plus
    /// `batch` as one more commit. The copy itself is left as it was, so a failure applies
    /// nothing.
    fn recreate(
        &self,
        mirror: &MemoryMetastore,
        batch: Option<&Batch>,
    ) -> Result<Database, MetastoreError> {
        let next = MemoryMetastore::new();
        next.commit(&Batch {
            puts: mirror.subtree("")?,
            ..Batch::default()
        })?;
        let mut generation = mirror.generation()?;
        if let Some(batch) = batch {
            next.commit(batch)?;
            generation += 1;
        }
        Creation::start(&self.path)?.finish(&Snapshot {
            puts: &next.subtree("")?,
            deletes: &[],
            generation: Some(generation),
        })
    }

    /// Makes `state` hold a writable database, creating the store if there is none; a store
    /// created here already holds `batch`, which then returns `true`.
    fn make_writable(
        &self,
        state: &mut RwLockWriteGuard<'_, State>,
        batch: &Batch,
    ) -> Result<bool, MetastoreError> {
        match &**state {
            State::Writable(_) | State::Detached(_) => Ok(false),
            State::Absent => {
                let db = Creation::start(&self.path)?.finish(&Snapshot::first(batch))?;
                **state = State::Writable(db);
                Ok(true)
            }
            State::Mirrored { mirror, .. } => {
                **state = State::Writable(self.recreate(mirror, Some(batch))?);
                Ok(true)
            }
            State::ReadOnly(_) | State::Closed => {
                **state = State::Closed;
                match open_writable(&self.path) {
                    Ok(db) => {
                        **state = State::Writable(db);
                        Ok(false)
                    }
                    Err(e) => {
                        if let Ok(db) = open_read_only(&self.path) {
                            **state = State::ReadOnly(db);
                        }
                        Err(e)
                    }
                }
            }
        }
    }
}

/// How long opening the store for writing waits for another process to let go of it, like
/// SQLite's busy timeout: a `nexus vfs` command holds the store for milliseconds, so commands
/// run in parallel queue instead of failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens the existing store `path` for writing (see [`open_store_file`]), waiting up to
/// [`BUSY_TIMEOUT`] while another process has it open. Only for a store that exists, or that another process may
/// have created: a new store is made by [`Creation`].
fn open_writable(path: &Path) -> Result<Database, MetastoreError> {
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
fn open_store_file(path: &Path, write: bool) -> std::io::Result<std::fs::File> {
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
fn open_read_only(path: &Path) -> Result<ReadOnlyDatabase, DatabaseError> {
    let file = open_store_file(path, false)?;
    redb::Builder::new().open_read_only_with_backend(redb::backends::FileBackend::new(file)?)
}

/// Whether an I/O error kind means "this process may not write here", as opposed to a
/// broken store: the cases in which it keeps its metadata in memory instead.
fn is_unwritable_kind(kind: std::io::ErrorKind) -> bool {
    matches!(
        kind,
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}

/// [`is_unwritable_kind`] for a store error.
fn is_unwritable(e: &MetastoreError) -> bool {
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
fn tighten_mode(path: &Path) {
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

fn redb_error(path: &Path, e: impl Into<redb::Error>) -> MetastoreError {
    MetastoreError::Redb {
        path: path.to_owned(),
        source: Box::new(e.into()),
    }
}

/// [`redb_error`] for `map_err`.
fn in_store<E: Into<redb::Error>>(path: &Path) -> impl Fn(E) -> MetastoreError + '_ {
    move |e| redb_error(path, e)
}

/// Applies `snapshot` to `db` in one write transaction.
fn write(
    db: &Database,
    path: &Path,
    snapshot: &Snapshot<'_>,
    durability: Durability,
) -> Result<(), MetastoreError> {
    let mut txn = db.begin_write().map_err(in_store(path))?;
    txn.set_durability(durability).map_err(in_store(path))?;
    {
        let mut entries = txn.open_table(ENTRIES).map_err(in_store(path))?;
        for rel in snapshot.deletes {
            entries.remove(key(rel).as_str()).map_err(in_store(path))?;
        }
        for (rel, entry) in snapshot.puts {
            entries
                .insert(key(rel).as_str(), encode(entry).as_slice())
                .map_err(in_store(path))?;
        }
        let mut meta = txn.open_table(META).map_err(in_store(path))?;
        let generation = match snapshot.generation {
            Some(g) => g,
            None => {
                meta.get(GENERATION)
                    .map_err(in_store(path))?
                    .map_or(0, |g| g.value())
                    + 1
            }
        };
        meta.insert(GENERATION, generation)
            .map_err(in_store(path))?;
    }
    txn.commit().map_err(in_store(path))
}

impl Metastore for RedbMetastore {
    fn get(&self, rel: &str) -> Result<Option<Entry>, MetastoreError> {
        self.read(
            |mirror| mirror.get(rel),
            |txn| {
                let Some(table) = self.entries(txn)? else {
                    return Ok(None);
                };
                let k = key(rel);
                match table.get(k.as_str()).map_err(in_store(&self.path))? {
                    Some(v) => self.decode(&k, v.value()).map(Some),
                    None => Ok(None),
                }
            },
        )
    }

    fn children(&self, dir: &str) -> Result<Vec<(String, Entry)>, MetastoreError> {
        self.read(
            |mirror| mirror.children(dir),
            |txn| {
                let mut out = Vec::new();
                if let Some(table) = self.entries(txn)? {
                    let (lo, hi) = children_range(dir);
                    let skip = lo.len();
                    self.collect(&table, &lo, Some(&hi), |k| k[skip..].to_owned(), &mut out)?;
                }
                Ok(out)
            },
        )
    }

    fn subtree(&self, rel: &str) -> Result<Vec<(String, Entry)>, MetastoreError> {
        self.read(
            |mirror| mirror.subtree(rel),
            |txn| self.subtree_in(txn, rel),
        )
    }

    fn commit(&self, batch: &Batch) -> Result<(), MetastoreError> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = Self::settle(&self.path, &mut state) {
            // Reported here once; `make_writable` tries the creation again from the copy.
            tracing::warn!(error = %e, "creating the metadata store in the background failed");
        }
        if let State::Detached(copy) = &*state {
            return self.commit_detached(copy, batch);
        }
        match self.commit_to_disk(&mut state, batch) {
            Err(e) if is_unwritable(&e) => {
                tracing::debug!(error = %e, "metadata store not writable; keeping changes in memory");
                let copy = self.detached_copy(&state)?;
                self.note_if_never_stored(&state);
                self.commit_detached(&copy, batch)?;
                *state = State::Detached(copy);
                Ok(())
            }
            other => other,
        }
    }

    fn generation(&self) -> Result<u64, MetastoreError> {
        self.read(MemoryMetastore::generation, |txn| self.generation_in(txn))
    }

    fn reader(&self) -> Option<u32> {
        Some(self.owner)
    }

    fn keeps_versions(&self) -> bool {
        !self
            .versions_lost
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn flush(&self) -> Result<(), MetastoreError> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        // A creation that failed in the background is reported; one that failed before this
        // call is tried again. Either way, a store this process may not create after all
        // (its directory became read-only or someone else's) leaves it with what it holds in
        // memory, as a commit would.
        let outcome = match Self::settle(&self.path, &mut state) {
            Err(e) => Err(e),
            Ok(()) => match &*state {
                State::Mirrored { mirror, .. } => self
                    .recreate(mirror, None)
                    .map(|db| *state = State::Writable(db)),
                _ => Ok(()),
            },
        };
        match outcome {
            Err(e) if is_unwritable(&e) => {
                let copy = self.detached_copy(&state)?;
                self.note_if_never_stored(&state);
                *state = State::Detached(copy);
                Ok(())
            }
            other => other,
        }
    }
}

impl RedbMetastore {
    /// A store that could not even be created keeps no version at all: every process numbers
    /// every entry from 1 on its own, whatever changed in between.
    fn note_if_never_stored(&self, state: &State) {
        if matches!(state, State::Absent | State::Mirrored { .. }) {
            self.versions_lost
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Commits `batch` to the in-memory copy of a store this process may not write, noting
    /// whether it gave an entry a new version that the next process will not know about. A
    /// deferrable batch holds nothing the next process would not derive identically.
    fn commit_detached(&self, copy: &MemoryMetastore, batch: &Batch) -> Result<(), MetastoreError> {
        if !batch.deferrable {
            for (rel, entry) in &batch.puts {
                if copy
                    .get(rel)?
                    .is_none_or(|old| old.version != entry.version)
                {
                    self.versions_lost
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
            }
        }
        copy.commit(batch)
    }

    /// Commits `batch` to the file, creating it if needed.
    fn commit_to_disk(
        &self,
        state: &mut RwLockWriteGuard<'_, State>,
        batch: &Batch,
    ) -> Result<(), MetastoreError> {
        if batch.deferrable && matches!(**state, State::Absent) {
            let creation = Creation::start(&self.path)?;
            let mirror = MemoryMetastore::new();
            mirror.commit(batch)?;
            let owned = batch.clone();
            let worker = std::thread::Builder::new()
                .name("vfs-meta-create".into())
                .spawn(move || creation.finish(&Snapshot::first(&owned)));
            // Without a thread to spare, the store is created below instead (the temporary
            // file left by the dropped closure is removed as this process's own).
            if let Ok(worker) = worker {
                **state = State::Mirrored {
                    mirror,
                    creating: Some(worker),
                };
                return Ok(());
            }
        }
        if self.make_writable(state, batch)? {
            return Ok(());
        }
        let durability = if batch.deferrable {
            Durability::None
        } else {
            Durability::Immediate
        };
        match &**state {
            State::Detached(copy) => self.commit_detached(copy, batch),
            State::Writable(db) => write(db, &self.path, &Snapshot::of(batch), durability),
            _ => unreachable!("made writable"),
        }
    }

    /// What this store holds now, as an in-memory copy with the same generation: where a
    /// process that may not write the store keeps its changes.
    fn detached_copy(&self, state: &State) -> Result<MemoryMetastore, MetastoreError> {
        let (entries, generation) = match state {
            State::Mirrored { mirror, .. } | State::Detached(mirror) => {
                (mirror.subtree("")?, mirror.generation()?)
            }
            State::ReadOnly(db) => {
                let txn = || db.begin_read().map_err(in_store(&self.path)).map(Some);
                (self.subtree_in(txn()?, "")?, self.generation_in(txn()?)?)
            }
            State::Writable(db) => {
                let txn = || db.begin_read().map_err(in_store(&self.path)).map(Some);
                (self.subtree_in(txn()?, "")?, self.generation_in(txn()?)?)
            }
            State::Absent | State::Closed => (Vec::new(), 0),
        };
        Ok(MemoryMetastore::holding(entries, generation))
    }
}

impl Drop for RedbMetastore {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = Self::settle(&self.path, state) {
            tracing::warn!(error = %e, "creating the metadata store in the background failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Kind, Signature};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn entry(version: u64) -> Entry {
        Entry {
            kind: Kind::Dir,
            sig: Signature::default(),
            etag: None,
            version,
            observed_ns: 0,
        }
    }

    fn batch(rels: &[&str], deferrable: bool) -> Batch {
        Batch {
            puts: rels.iter().map(|r| ((*r).to_owned(), entry(1))).collect(),
            deletes: Vec::new(),
            deferrable,
        }
    }

    #[test]
    fn persists_across_opens_and_counts_commits() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("var/lib/meta.redb");
        {
            let store = RedbMetastore::open(&path)?;
            assert_eq!(store.generation()?, 0);
            assert_eq!(store.get("")?, None);
            // Opening a missing store creates nothing, not even its directory.
            assert!(!dir.path().join("var").exists());
            store.commit(&batch(&["", "a/b"], false))?;
            // Not deferrable: on disk when commit returns.
            assert!(path.exists());
        }
        let store = RedbMetastore::open(&path)?;
        assert_eq!(store.generation()?, 1);
        assert_eq!(store.get("a/b")?, Some(entry(1)));
        assert_eq!(store.children("a")?.len(), 1);
        assert_eq!(store.subtree("")?.len(), 2);
        Ok(())
    }

    #[test]
    fn waits_for_another_holder_then_gives_up_with_a_clear_error() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("meta.redb");
        RedbMetastore::open(&path)?.commit(&batch(&[""], false))?;

        // Held by "another process" (redb's file lock excludes a second handle in this one
        // too) that lets go after a moment: opening waits for it instead of failing.
        let held = Database::create(&path)?;
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            drop(held);
        });
        let store = RedbMetastore::open(&path)?;
        store.commit(&batch(&["a"], false))?;
        release.join().map_err(|_| "holder panicked")?;
        drop(store);

        // Held for good: a clear error once the wait is over.
        let _held = Database::create(&path)?;
        let err = RedbMetastore::open(&path)
            .err()
            .ok_or("opened a held store")?;
        assert!(matches!(err, MetastoreError::Busy { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "metadata store `{}` is in use by another process (waited 2 s)",
                path.display()
            )
        );
        Ok(())
    }

    #[test]
    fn a_deferrable_first_commit_is_created_in_the_background() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("var/lib/meta.redb");
        let store = RedbMetastore::open(&path)?;
        store.commit(&batch(&["", "a", "a/b"], true))?;
        // Served at once, whether or not the file is there yet.
        assert_eq!(store.get("a/b")?, Some(entry(1)));
        assert_eq!(store.children("a")?.len(), 1);
        assert_eq!(store.generation()?, 1);
        store.flush()?;
        assert!(path.exists());
        // A later commit goes to the created store.
        store.commit(&batch(&["c"], false))?;
        drop(store);
        let store = RedbMetastore::open(&path)?;
        assert_eq!(store.generation()?, 2);
        assert_eq!(store.subtree("")?.len(), 4);
        let mut names: Vec<_> = std::fs::read_dir(dir.path().join("var/lib"))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        assert_eq!(names, ["meta.redb"], "no temporary file is left");
        Ok(())
    }

    #[test]
    fn dropping_the_store_waits_for_its_creation() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("meta.redb");
        RedbMetastore::open(&path)?.commit(&batch(&["", "x"], true))?;
        assert_eq!(RedbMetastore::open(&path)?.get("x")?, Some(entry(1)));
        Ok(())
    }

    #[test]
    fn a_store_that_cannot_be_created_fails_the_commit_itself() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = RedbMetastore::open(dir.path().join("var/lib/meta.redb"))?;
        std::fs::write(dir.path().join("var"), "a file where a directory should be")?;
        let err = store.commit(&batch(&[""], true)).err().ok_or("committed")?;
        assert!(matches!(err, MetastoreError::Create { .. }), "{err:?}");
        assert_eq!(store.get("")?, None, "nothing was applied");
        Ok(())
    }

    #[test]
    fn a_failed_background_creation_is_reported_and_retried() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("meta.redb");
        let store = RedbMetastore::open(&path)?;
        // A directory where the store should go: the background rename cannot land.
        std::fs::create_dir(&path)?;
        store.commit(&batch(&["", "a"], true))?;
        assert!(store.flush().is_err());
        // The commit's entries are still served, and a commit fails while the cause stays.
        assert_eq!(store.get("a")?, Some(entry(1)));
        assert!(store.commit(&batch(&["b"], false)).is_err());
        assert_eq!(store.get("b")?, None, "a failed commit applies nothing");
        assert!(
            store.flush().is_err(),
            "flush tries again, and says it failed"
        );
        std::fs::remove_dir(&path)?;
        store.commit(&batch(&["c"], false))?;
        drop(store);
        let store = RedbMetastore::open(&path)?;
        let rels: Vec<String> = store.subtree("")?.into_iter().map(|(r, _)| r).collect();
        assert_eq!(rels, ["", "a", "c"]);
        assert_eq!(store.generation()?, 2);
        let left = std::fs::read_dir(dir.path())?.count();
        assert_eq!(left, 1, "no temporary file is left");
        Ok(())
    }
}
