//! A persistent metastore on redb.

mod codec;
mod create;
mod open;

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
use self::open::*;
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
mod tests;
