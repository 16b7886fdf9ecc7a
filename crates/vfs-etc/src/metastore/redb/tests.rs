//! Unit tests of the redb metastore.

use super::*;
use crate::entry::{Kind, Signature};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn entry(version: u64) -> Entry {
    Entry {
        kind: Kind::Dir,
        sig: Signature::default(),
        etag: None,
        version,
        owner: Some(crate::entry::Owner::default()),
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
