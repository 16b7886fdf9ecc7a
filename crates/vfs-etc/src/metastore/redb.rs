//! A persistent metastore on redb.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use redb::{
    Database, DatabaseError, Durability, ReadOnlyDatabase, ReadOnlyTable, ReadTransaction,
    ReadableDatabase, ReadableTable, TableDefinition, TableError,
};

use super::{Batch, Metastore, MetastoreError, children_range, descendant_ranges, key, unkey};
use crate::entry::{Entry, Etag, Kind, Signature};

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const GENERATION: &str = "generation";

/// Entries in a redb database file. Each [`Metastore::commit`] is one redb write transaction,
/// durable when it returns, so a process killed at any point leaves the previous or the next
/// state, never a mix (redb's copy-on-write commit protocol); the next open repairs the file if
/// needed.
///
/// An existing, cleanly closed store is opened read-only and only reopened for writing at the
/// first commit: a writable redb handle marks the file on open and unmarks it on close (two
/// header writes and their fsyncs), which would make a boot that changes nothing still write.
#[derive(Debug)]
pub struct RedbMetastore {
    handle: RwLock<Option<Handle>>,
    path: PathBuf,
}

enum Handle {
    ReadOnly(ReadOnlyDatabase),
    Writable(Database),
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handle::ReadOnly(_) => "ReadOnly",
            Handle::Writable(_) => "Writable",
        })
    }
}

impl RedbMetastore {
    /// Opens the database at `path`, creating it and its parent directories if missing.
    /// Opening an existing store writes nothing to it.
    ///
    /// # Errors
    /// The directory cannot be created, or redb cannot open the file (held by another process,
    /// or not a redb database).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, MetastoreError> {
        let path = path.into();
        let handle = match ReadOnlyDatabase::open(&path) {
            Ok(db) => Handle::ReadOnly(db),
            // Missing, needing repair after a crash, or anything else read-only cannot handle:
            // the writable open creates or repairs it, or reports the real problem.
            Err(_) => Handle::Writable(Self::open_writable(&path)?),
        };
        Ok(Self {
            handle: RwLock::new(Some(handle)),
            path,
        })
    }

    fn open_writable(path: &Path) -> Result<Database, MetastoreError> {
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir).map_err(MetastoreError::CreateDir)?;
        }
        Database::create(path).map_err(|e| redb_error(path, e))
    }

    fn begin_read(&self) -> Result<ReadTransaction, MetastoreError> {
        let guard = self.handle.read().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(Handle::ReadOnly(db)) => db.begin_read().map_err(self.err()),
            Some(Handle::Writable(db)) => db.begin_read().map_err(self.err()),
            None => Err(redb_error(&self.path, DatabaseError::DatabaseAlreadyOpen)),
        }
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err<E: Into<redb::Error>>(&self) -> impl Fn(E) -> MetastoreError + '_ {
        |e| redb_error(&self.path, e)
    }

    /// The entries table as of now, or `None` before the first commit created it.
    fn read_entries(
        &self,
    ) -> Result<Option<ReadOnlyTable<&'static str, &'static [u8]>>, MetastoreError> {
        let txn = self.begin_read()?;
        match txn.open_table(ENTRIES) {
            Ok(t) => Ok(Some(t)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.err()(e)),
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
            .map_err(self.err())?
        {
            let (k, v) = item.map_err(self.err())?;
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
}

fn redb_error(path: &Path, e: impl Into<redb::Error>) -> MetastoreError {
    MetastoreError::Redb {
        path: path.to_owned(),
        source: Box::new(e.into()),
    }
}

impl Metastore for RedbMetastore {
    fn get(&self, rel: &str) -> Result<Option<Entry>, MetastoreError> {
        let Some(table) = self.read_entries()? else {
            return Ok(None);
        };
        let k = key(rel);
        match table.get(k.as_str()).map_err(self.err())? {
            Some(v) => self.decode(&k, v.value()).map(Some),
            None => Ok(None),
        }
    }

    fn children(&self, dir: &str) -> Result<Vec<(String, Entry)>, MetastoreError> {
        let Some(table) = self.read_entries()? else {
            return Ok(Vec::new());
        };
        let (lo, hi) = children_range(dir);
        let skip = lo.len();
        let mut out = Vec::new();
        self.collect(&table, &lo, Some(&hi), |k| k[skip..].to_owned(), &mut out)?;
        Ok(out)
    }

    fn subtree(&self, rel: &str) -> Result<Vec<(String, Entry)>, MetastoreError> {
        let Some(table) = self.read_entries()? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let k = key(rel);
        if let Some(v) = table.get(k.as_str()).map_err(self.err())? {
            out.push((rel.to_owned(), self.decode(&k, v.value())?));
        }
        for (lo, hi) in descendant_ranges(rel) {
            self.collect(&table, &lo, hi.as_deref(), unkey, &mut out)?;
        }
        Ok(out)
    }

    fn commit(&self, batch: &Batch) -> Result<(), MetastoreError> {
        let mut guard = self.handle.write().unwrap_or_else(PoisonError::into_inner);
        if !matches!(*guard, Some(Handle::Writable(_))) {
            // The read-only handle must be closed first: redb refuses a writer while a reader
            // holds the file.
            *guard = None;
            match Self::open_writable(&self.path) {
                Ok(db) => *guard = Some(Handle::Writable(db)),
                Err(e) => {
                    *guard = ReadOnlyDatabase::open(&self.path)
                        .ok()
                        .map(Handle::ReadOnly);
                    return Err(e);
                }
            }
        }
        let Some(Handle::Writable(db)) = guard.as_ref() else {
            unreachable!("just opened")
        };
        let mut txn = db.begin_write().map_err(self.err())?;
        if batch.deferrable {
            txn.set_durability(Durability::None).map_err(self.err())?;
        }
        {
            let mut entries = txn.open_table(ENTRIES).map_err(self.err())?;
            for rel in &batch.deletes {
                entries.remove(key(rel).as_str()).map_err(self.err())?;
            }
            for (rel, entry) in &batch.puts {
                entries
                    .insert(key(rel).as_str(), encode(entry).as_slice())
                    .map_err(self.err())?;
            }
            let mut meta = txn.open_table(META).map_err(self.err())?;
            let generation = meta
                .get(GENERATION)
                .map_err(self.err())?
                .map_or(0, |g| g.value());
            meta.insert(GENERATION, generation + 1)
                .map_err(self.err())?;
        }
        txn.commit().map_err(self.err())
    }

    fn generation(&self) -> Result<u64, MetastoreError> {
        let txn = self.begin_read()?;
        match txn.open_table(META) {
            Ok(t) => Ok(t
                .get(GENERATION)
                .map_err(self.err())?
                .map_or(0, |g| g.value())),
            Err(TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(self.err()(e)),
        }
    }
}

/// Format version of an encoded entry; bump it when the layout changes.
const FORMAT: u8 = 1;
const ENCODED_LEN: usize = 1 + 1 + 8 * 5 + 4 + 8 + 8 + 1 + 32;

fn encode(e: &Entry) -> [u8; ENCODED_LEN] {
    let mut out = [0u8; ENCODED_LEN];
    let mut w = Writer {
        buf: &mut out,
        pos: 0,
    };
    w.put(&[FORMAT, e.kind.code()]);
    w.put(&e.sig.size.to_le_bytes());
    w.put(&e.sig.mtime_ns.to_le_bytes());
    w.put(&e.sig.ctime_ns.to_le_bytes());
    w.put(&e.sig.ino.to_le_bytes());
    w.put(&e.sig.dev.to_le_bytes());
    w.put(&e.sig.mode.to_le_bytes());
    w.put(&e.version.to_le_bytes());
    w.put(&e.observed_ns.to_le_bytes());
    match e.etag {
        Some(Etag(hash)) => {
            w.put(&[1]);
            w.put(&hash);
        }
        None => w.put(&[0; 33]),
    }
    out
}

struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }
}

fn decode(bytes: &[u8]) -> Option<Entry> {
    let mut r = bytes;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = r.split_at_checked(n)?;
        r = tail;
        Some(head)
    };
    let header = take(2)?;
    if header[0] != FORMAT {
        return None;
    }
    let kind = Kind::from_code(header[1])?;
    let u64_ = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    let size = u64_(take(8)?);
    let mtime_ns = u64_(take(8)?) as i64;
    let ctime_ns = u64_(take(8)?) as i64;
    let ino = u64_(take(8)?);
    let dev = u64_(take(8)?);
    let mode = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let version = u64_(take(8)?);
    let observed_ns = u64_(take(8)?) as i64;
    let has_etag = take(1)?[0] == 1;
    let hash: [u8; 32] = take(32)?.try_into().ok()?;
    Some(Entry {
        kind,
        sig: Signature {
            size,
            mtime_ns,
            ctime_ns,
            ino,
            dev,
            mode,
        },
        etag: has_etag.then_some(Etag(hash)),
        version,
        observed_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let mut e = Entry {
            kind: Kind::File,
            sig: Signature {
                size: 7,
                mtime_ns: -3,
                ctime_ns: 9,
                ino: 11,
                dev: 13,
                mode: 0o100_644,
            },
            etag: Some(Etag::of(b"x")),
            version: 42,
            observed_ns: 1_700_000_000_000_000_000,
        };
        assert_eq!(decode(&encode(&e)), Some(e));
        e.etag = None;
        e.kind = Kind::Dir;
        assert_eq!(decode(&encode(&e)), Some(e));
        assert_eq!(decode(&encode(&e)[..10]), None);
    }

    #[test]
    fn persists_across_opens_and_counts_commits() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("var/lib/meta.redb");
        let entry = decode(&encode(&Entry {
            kind: Kind::Dir,
            sig: Signature::default(),
            etag: None,
            version: 1,
            observed_ns: 0,
        }))
        .ok_or("decode")?;
        {
            let store = RedbMetastore::open(&path)?;
            assert_eq!(store.generation()?, 0);
            assert_eq!(store.get("")?, None);
            store.commit(&Batch {
                puts: vec![(String::new(), entry), ("a/b".into(), entry)],
                ..Batch::default()
            })?;
        }
        let store = RedbMetastore::open(&path)?;
        assert_eq!(store.generation()?, 1);
        assert_eq!(store.get("a/b")?, Some(entry));
        assert_eq!(store.children("a")?.len(), 1);
        assert_eq!(store.subtree("")?.len(), 2);
        Ok(())
    }
}
