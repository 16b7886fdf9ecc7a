//! Unit tests of reconciling: what a scan decides for each entry.

use std::sync::{Arc, Mutex};

use super::*;
use crate::backend::{Backend, MemoryBackend};
use crate::entry::{Owner, Signature};
use crate::metastore::{MemoryMetastore, Metastore, MetastoreError};
use crate::path::VfsPath;
use crate::router::Access;

/// A store that records whether each committed batch was deferrable.
#[derive(Debug, Default)]
struct Recording {
    inner: MemoryMetastore,
    deferrable: Mutex<Vec<bool>>,
}

impl Metastore for Recording {
    fn get(&self, rel: &str) -> Result<Option<Entry>, MetastoreError> {
        self.inner.get(rel)
    }
    fn children(&self, dir: &str) -> Result<Vec<(String, Entry)>, MetastoreError> {
        self.inner.children(dir)
    }
    fn subtree(&self, rel: &str) -> Result<Vec<(String, Entry)>, MetastoreError> {
        self.inner.subtree(rel)
    }
    fn commit(&self, batch: &Batch) -> Result<(), MetastoreError> {
        self.deferrable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(batch.deferrable);
        self.inner.commit(batch)
    }
    fn generation(&self) -> Result<u64, MetastoreError> {
        self.inner.generation()
    }
}

/// Only a mount's first registration may skip waiting for the disk: every later scan can
/// bump versions, which must never be lost.
#[test]
fn only_the_first_registration_is_deferrable() -> Result<(), Box<dyn std::error::Error>> {
    let backend = Arc::new(MemoryBackend::new());
    backend.mkdir("d")?;
    backend.write("d/a", b"1", false)?;
    let store = Arc::new(Recording::default());
    let core = MountCore::new(
        VfsPath::new("/m")?,
        backend.clone(),
        store.clone(),
        Access::ReadWrite,
    );
    reconcile_all(&core)?;
    backend.write("d/a", b"22", false)?;
    backend.write("d/b", b"3", false)?;
    reconcile_paths(&core, &["d/b".to_owned()])?;
    reconcile_all(&core)?;
    let seen = store.deferrable.lock().map_err(|e| e.to_string())?.clone();
    assert_eq!(seen, [true, false, false]);
    Ok(())
}

fn stat(size: u64, mtime_ns: i64) -> Stat {
    Stat {
        kind: Kind::File,
        sig: Signature {
            size,
            mtime_ns,
            ctime_ns: mtime_ns,
            ino: 7,
            dev: 1,
            mode: 0o100_644,
        },
        uid: 0,
        gid: 0,
    }
}

fn entry(st: &Stat, etag: Option<Etag>, observed_ns: i64) -> Entry {
    Entry {
        kind: st.kind,
        sig: st.sig,
        etag,
        version: 3,
        owner: Some(st.owner()),
        observed_ns,
    }
}

const SEC: i64 = 1_000_000_000;

#[test]
fn unchanged_stat_is_trusted_once_the_tick_has_passed() {
    let st = stat(5, 100 * SEC);
    let old = entry(&st, Some(Etag::of(b"x")), 102 * SEC);
    assert_eq!(decide(Some(&old), &st, 200 * SEC), Decision::Keep);
}

#[test]
fn unchanged_stat_within_the_tick_is_rehashed() {
    let st = stat(5, 100 * SEC);
    let old = entry(&st, Some(Etag::of(b"x")), 100 * SEC + 3_000_000);
    assert_eq!(decide(Some(&old), &st, 200 * SEC), Decision::NeedsHash);
    // Same bytes: nothing to store. Different bytes: a new version.
    assert_eq!(
        decide_hashed(Some(&old), &st, Etag::of(b"x"), 200 * SEC),
        Decision::Keep
    );
    let Decision::Put { entry, bumped } = decide_hashed(Some(&old), &st, Etag::of(b"y"), 200 * SEC)
    else {
        panic!("expected a put")
    };
    assert!(bumped);
    assert_eq!((entry.version, entry.etag), (4, Some(Etag::of(b"y"))));
}

#[test]
fn racy_entry_without_etag_has_nothing_to_compare() {
    let st = stat(5, 100 * SEC);
    let old = entry(&st, None, 100 * SEC);
    assert_eq!(decide(Some(&old), &st, 200 * SEC), Decision::Keep);
}

#[test]
fn changed_stat_bumps_and_drops_the_etag() {
    let old = entry(&stat(5, 100 * SEC), Some(Etag::of(b"x")), 200 * SEC);
    let Decision::Put { entry, bumped } = decide(Some(&old), &stat(6, 300 * SEC), 400 * SEC) else {
        panic!("expected a put")
    };
    assert!(bumped);
    assert_eq!((entry.version, entry.etag, entry.sig.size), (4, None, 6));
}

#[test]
fn first_hash_fills_in_without_a_bump() {
    let st = stat(5, 100 * SEC);
    let old = entry(&st, None, 200 * SEC);
    let Decision::Put { entry, bumped } = decide_hashed(Some(&old), &st, Etag::of(b"x"), 300 * SEC)
    else {
        panic!("expected a put")
    };
    assert!(!bumped);
    assert_eq!(entry.version, 3);
}

/// An entry from a store written before owners were recorded gets its owner from the next
/// scan as a refresh: no new version, and a second scan keeps it.
#[test]
fn an_entry_without_an_owner_is_refreshed_not_bumped() {
    let st = Stat {
        uid: 1000,
        gid: 100,
        ..stat(5, 100 * SEC)
    };
    let old = Entry {
        owner: None,
        ..entry(&st, Some(Etag::of(b"x")), 102 * SEC)
    };
    let Decision::Put { entry: new, bumped } = decide(Some(&old), &st, 103 * SEC) else {
        panic!("an entry without an owner is kept as it is");
    };
    assert!(!bumped);
    assert_eq!(new.version, old.version);
    assert_eq!(new.etag, old.etag);
    assert_eq!(
        new.owner,
        Some(Owner {
            uid: 1000,
            gid: 100
        })
    );
    assert_eq!(decide(Some(&new), &st, 104 * SEC), Decision::Keep);
}
