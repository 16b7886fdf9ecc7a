//! An in-memory metastore: for mounts whose content is itself in memory, and for tests.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{
    Batch, Metastore, MetastoreError, bounds, children_range, descendant_ranges, key, unkey,
};
use crate::entry::Entry;

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<String, Entry>,
    generation: u64,
}

/// Entries in a `BTreeMap`, keyed exactly like [`super::RedbMetastore`] so both list in the
/// same order.
#[derive(Debug, Default)]
pub struct MemoryMetastore {
    inner: Mutex<Inner>,
}

impl MemoryMetastore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `entries`, as if it had seen `generation` commits: a copy of another
    /// store.
    pub(crate) fn holding(entries: Vec<(String, Entry)>, generation: u64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: entries.into_iter().map(|(rel, e)| (key(&rel), e)).collect(),
                generation,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Metastore for MemoryMetastore {
    fn get(&self, rel: &str) -> Result<Option<Entry>, MetastoreError> {
        Ok(self.lock().entries.get(&key(rel)).copied())
    }

    fn children(&self, dir: &str) -> Result<Vec<(String, Entry)>, MetastoreError> {
        let (lo, hi) = children_range(dir);
        let skip = lo.len();
        Ok(self
            .lock()
            .entries
            .range(lo..hi)
            .map(|(k, e)| (k[skip..].to_owned(), *e))
            .collect())
    }

    fn subtree(&self, rel: &str) -> Result<Vec<(String, Entry)>, MetastoreError> {
        let inner = self.lock();
        let mut out: Vec<(String, Entry)> = inner
            .entries
            .get(&key(rel))
            .map(|e| (rel.to_owned(), *e))
            .into_iter()
            .collect();
        for (lo, hi) in descendant_ranges(rel) {
            out.extend(
                inner
                    .entries
                    .range(bounds(&lo, hi.as_deref()))
                    .map(|(k, e)| (unkey(k), *e)),
            );
        }
        Ok(out)
    }

    fn commit(&self, batch: &Batch) -> Result<(), MetastoreError> {
        let mut inner = self.lock();
        for rel in &batch.deletes {
            inner.entries.remove(&key(rel));
        }
        for (rel, entry) in &batch.puts {
            inner.entries.insert(key(rel), *entry);
        }
        inner.generation += 1;
        Ok(())
    }

    fn generation(&self) -> Result<u64, MetastoreError> {
        Ok(self.lock().generation)
    }
}
