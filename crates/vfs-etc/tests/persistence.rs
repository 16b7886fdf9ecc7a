//! The store persists across boots: no change commits nothing, a change bumps exactly its own
//! version, the etag follows content (even within one mtime tick), and SIGKILL is survivable.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use vfs_etc::entry::Etag;
use vfs_etc::metastore::{Batch, Metastore, RedbMetastore};
use vfs_etc::{Vfs, boot, mount_etc};

use crate::support::{TestResult, child_command, p, state_with, store_path, unrestricted};

const N: usize = 20;

fn fixture() -> std::io::Result<tempfile::TempDir> {
    let files: Vec<(String, String)> = (0..N)
        .map(|i| (format!("conf.d/f{i:02}"), format!("value = {i}\n")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    state_with(&refs)
}

type Versions = BTreeMap<String, (u64, Option<Etag>)>;

/// Version and etag of every file, as `stat` reports them (which fills in missing etags).
fn versions(state: &Path) -> Result<Versions, Box<dyn std::error::Error>> {
    let (vfs, _) = boot(state)?;
    let mut out = BTreeMap::new();
    for d in unrestricted(&vfs).read_dir(&p("/etc/conf.d"))? {
        let m = unrestricted(&vfs).stat(&p(&format!("/etc/conf.d/{}", d.name)))?;
        out.insert(d.name, (m.version, m.etag));
    }
    Ok(out)
}

fn generation(state: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(RedbMetastore::open(store_path(state))?.generation()?)
}

#[test]
fn unchanged_reboot_commits_nothing() -> TestResult {
    let state = fixture()?;
    let first = boot(state.path())?.1;
    assert!(first.committed);
    assert_eq!(first.added, N + 2);
    let g = generation(state.path())?;
    let store_file = store_path(state.path());
    let store_bytes = std::fs::read(&store_file)?;
    let store_mtime = std::fs::metadata(&store_file)?.modified()?;

    let again = boot(state.path())?.1;
    assert!(!again.committed, "{again:?}");
    assert_eq!(
        (again.added, again.changed, again.removed, again.unchanged),
        (0, 0, 0, N + 2)
    );
    assert_eq!(generation(state.path())?, g);
    // Not even redb's open/close header updates: an unchanged store is opened read-only.
    assert!(
        std::fs::read(&store_file)? == store_bytes,
        "the store file changed"
    );
    assert_eq!(std::fs::metadata(&store_file)?.modified()?, store_mtime);

    // After reads computed etags, reboots still commit nothing and bump nothing (files just
    // written may be re-hashed under the racy rule, but hashing equal content stores nothing).
    let seen = versions(state.path())?;
    let g = generation(state.path())?;
    assert!(!boot(state.path())?.1.committed);
    assert!(!boot(state.path())?.1.committed);
    assert_eq!(generation(state.path())?, g);
    assert_eq!(versions(state.path())?, seen);
    assert!(seen.values().all(|(v, e)| *v == 1 && e.is_some()));
    Ok(())
}

#[test]
fn changing_one_file_bumps_exactly_its_version() -> TestResult {
    let state = fixture()?;
    let before = versions(state.path())?;
    std::fs::write(state.path().join("etc/conf.d/f07"), "value = 700\n")?;
    let report = boot(state.path())?.1;
    assert_eq!(
        (report.changed, report.added, report.removed),
        (1, 0, 0),
        "{report:?}"
    );
    let after = versions(state.path())?;
    for (name, (version, etag)) in &after {
        let (old_version, old_etag) = before[name];
        if name == "f07" {
            assert_eq!(*version, old_version + 1);
            assert_ne!(*etag, old_etag);
            assert_eq!(*etag, Some(Etag::of(b"value = 700\n")));
        } else {
            assert_eq!((*version, *etag), (old_version, old_etag), "{name} changed");
        }
    }
    Ok(())
}

#[test]
fn etag_is_unchanged_when_only_metadata_changes() -> TestResult {
    let state = fixture()?;
    let before = versions(state.path())?;
    let file = std::fs::File::options()
        .write(true)
        .open(state.path().join("etc/conf.d/f03"))?;
    file.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))?;
    drop(file);
    let after = versions(state.path())?;
    // New stat fields are a new version (documented), but the content hash is the same.
    assert_eq!(after["f03"].1, before["f03"].1);
    assert_eq!(after["f03"].0, before["f03"].0 + 1);
    Ok(())
}

/// An edit in the same timestamp tick as the previous observation leaves size, mtime, ctime
/// and inode as recorded. The kernel decides when ticks happen, so the test builds that state
/// exactly: edit, then make the stored stat fields match the host again (as if the edit had
/// landed in the tick the entry was observed in) while keeping the old etag.
#[test]
fn same_tick_edit_changes_the_etag() -> TestResult {
    use std::os::unix::fs::MetadataExt;
    let state = fixture()?;
    let path = state.path().join("etc/conf.d/f05");
    let old = versions(state.path())?["f05"];
    std::fs::write(&path, "value = 9\n")?; // same length as "value = 5\n"
    let meta = std::fs::metadata(&path)?;
    {
        let store = RedbMetastore::open(store_path(state.path()))?;
        let mut entry = store.get("conf.d/f05")?.ok_or("no entry")?;
        entry.sig.size = meta.size();
        entry.sig.mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
        entry.sig.ctime_ns = meta.ctime() * 1_000_000_000 + meta.ctime_nsec();
        entry.sig.ino = meta.ino();
        entry.sig.mode = meta.mode();
        entry.observed_ns = entry.sig.mtime_ns + 1_000_000; // observed 1 ms after the edit
        assert_eq!(entry.etag, old.1);
        store.commit(&Batch {
            puts: vec![("conf.d/f05".into(), entry)],
            ..Batch::default()
        })?;
    }
    let report = boot(state.path())?.1;
    assert_eq!(
        (report.rehashed >= 1, report.changed),
        (true, 1),
        "{report:?}"
    );
    let new = versions(state.path())?["f05"];
    assert_eq!(new, (old.0 + 1, Some(Etag::of(b"value = 9\n"))));
    Ok(())
}

#[test]
fn removed_and_added_files_are_reconciled_at_boot() -> TestResult {
    let state = fixture()?;
    boot(state.path())?;
    std::fs::remove_file(state.path().join("etc/conf.d/f00"))?;
    std::fs::create_dir(state.path().join("etc/conf.d/new.d"))?;
    std::fs::write(state.path().join("etc/conf.d/new.d/10-a.toml"), "a = 1\n")?;
    let report = boot(state.path())?.1;
    assert_eq!((report.removed, report.added), (1, 2), "{report:?}");
    let (vfs, _) = boot(state.path())?;
    assert!(unrestricted(&vfs).stat(&p("/etc/conf.d/f00")).is_err());
    assert_eq!(
        unrestricted(&vfs)
            .read(&p("/etc/conf.d/new.d/10-a.toml"))?
            .data,
        b"a = 1\n"
    );
    Ok(())
}

const KILL_ENV: &str = "VFS_ETC_SIGKILL_STATE";

#[test]
fn sigkill_during_boot_leaves_a_usable_store() -> TestResult {
    // Many files so a boot's commit is big enough to be interrupted part-way.
    let state = tempfile::tempdir()?;
    for i in 0..2000 {
        let dir = state.path().join(format!("etc/d{}", i % 40));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("f{i}")), format!("{i}\n"))?;
    }
    for round in 0..6u64 {
        let mut child = child_command("persistence::sigkill_child", &[(KILL_ENV, state.path())])?
            .stdout(std::process::Stdio::null())
            .spawn()?;
        // Vary the moment of the kill: early rounds land in the first boot's commit, later
        // ones in a loop of boots that each change files.
        std::thread::sleep(Duration::from_millis(30 + round * 70));
        child.kill()?; // SIGKILL
        child.wait()?;
        // Whatever was committed, this boot's reconcile makes the store true again...
        let report = mount_etc(&mut Vfs::new(), state.path())?;
        let mut vfs = Vfs::new();
        let again = mount_etc(&mut vfs, state.path())?;
        assert!(!again.committed, "round {round}: {report:?} then {again:?}");
        // ...and it describes the host.
        let listed = unrestricted(&vfs).read_dir(&p("/etc/d7"))?.len();
        assert_eq!(
            listed,
            std::fs::read_dir(state.path().join("etc/d7"))?.count()
        );
        let data = unrestricted(&vfs).read(&p("/etc/d7/f7"))?;
        assert_eq!(data.metadata.etag, Some(Etag::of(&data.data)));
    }
    Ok(())
}

const FIRST_BOOT_KILL_ENV: &str = "VFS_ETC_SIGKILL_FIRST_BOOT_STATE";

/// A first boot creates the store; a kill at any moment of that creation must leave either no
/// store or a complete one at `metastore_path`, never a half-initialised file the next boot
/// refuses ("not a redb database"), and no temporary file once a later boot has finished.
#[test]
fn sigkill_during_first_boots_never_leaves_a_half_created_store() -> TestResult {
    let state = fixture()?;
    let var = state.path().join("var");
    for round in 0..24u64 {
        let _ = std::fs::remove_dir_all(&var);
        let mut child = child_command(
            "persistence::first_boot_child",
            &[(FIRST_BOOT_KILL_ENV, state.path())],
        )?
        .stdout(std::process::Stdio::null())
        .spawn()?;
        // Kill at a different moment of the child's loop of first boots each round.
        let booting =
            crate::support::eventually(Duration::from_secs(20), || var.join("lib").exists());
        std::thread::sleep(Duration::from_micros(round * 1_700 % 23_000));
        child.kill()?; // SIGKILL
        child.wait()?;
        assert!(booting, "round {round}: the child never booted");
        let report = boot(state.path())
            .map_err(|e| format!("round {round}: boot after the kill failed: {e:?}"))?
            .1;
        let again = boot(state.path())?.1;
        assert!(!again.committed, "round {round}: {report:?} then {again:?}");
        let mut left: Vec<_> = std::fs::read_dir(var.join("lib/vfs"))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        left.sort();
        assert_eq!(left, ["vfs-meta.redb"], "round {round}");
    }
    Ok(())
}

/// First boots in a loop (the store removed before each), until killed by the test above.
#[test]
#[ignore = "child process of sigkill_during_first_boots_never_leaves_a_half_created_store"]
fn first_boot_child() -> TestResult {
    // The parent test's hand-off, not configuration: the env seam rule does not apply.
    #[allow(clippy::disallowed_methods)]
    let Some(state) = std::env::var_os(FIRST_BOOT_KILL_ENV) else {
        return Ok(());
    };
    let state = Path::new(&state);
    loop {
        match std::fs::remove_file(store_path(state)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        drop(boot(state)?);
    }
}

/// Boots again and again while editing files, until killed by the test above.
#[test]
#[ignore = "child process of sigkill_during_boot_leaves_a_usable_store"]
fn sigkill_child() -> TestResult {
    // The parent test's hand-off, not configuration: the env seam rule does not apply.
    #[allow(clippy::disallowed_methods)]
    let Some(state) = std::env::var_os(KILL_ENV) else {
        return Ok(());
    };
    let state = Path::new(&state);
    for i in 0u64.. {
        std::fs::write(
            state.join(format!("etc/d{}/f{}", i % 40, i % 2000)),
            format!("edit {i}\n"),
        )?;
        let (vfs, _) = boot(state)?;
        unrestricted(&vfs).stat(&p(&format!("/etc/d{}/f{}", i % 40, i % 2000)))?;
    }
    Ok(())
}

const READ_ONLY_STORE_ENV: &str = "VFS_ETC_READ_ONLY_STORE_STATE";

/// Regression (issue 12): with the store on a read-only file system, the first read of a
/// changed file failed, because registering the change needed a commit. Reads are served from
/// an in-memory copy and the store is left as it was.
#[test]
fn reads_work_when_the_store_is_on_a_read_only_file_system() -> TestResult {
    let state = fixture()?;
    let mounts = p("/etc/conf.d/f00");
    drop(boot(state.path())?);
    std::fs::write(state.path().join("etc/conf.d/f00"), "auto_sync = false\n")?;
    std::fs::write(state.path().join("etc/conf.d/added"), "x = 1\n")?;
    let store = store_path(state.path());
    let before = std::fs::read(&store)?;
    let child = child_command(
        "persistence::read_only_store_child",
        &[(READ_ONLY_STORE_ENV, state.path())],
    )?;
    let var = state.path().join("var");
    let out = std::process::Command::new("unshare")
        .arg("-rm")
        .arg("sh")
        .arg("-c")
        .arg(r#"mount --bind -o ro "$0" "$0" && exec "$@""#)
        .arg(&var)
        .arg(child.get_program())
        .args(child.get_args())
        .env(READ_ONLY_STORE_ENV, state.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child: read through a read-only store"),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&store)?, before, "the store was not written");
    // Outside, the store is writable again and registers the change as usual.
    let (vfs, report) = boot(state.path())?;
    assert!(report.committed);
    assert_eq!(unrestricted(&vfs).stat(&mounts)?.version, 2);
    Ok(())
}

/// Runs inside the namespace of `reads_work_when_the_store_is_on_a_read_only_file_system`.
#[test]
#[ignore = "child process of reads_work_when_the_store_is_on_a_read_only_file_system"]
fn read_only_store_child() -> TestResult {
    // The parent test's hand-off, not configuration.
    #[allow(clippy::disallowed_methods)]
    let Some(state) = std::env::var_os(READ_ONLY_STORE_ENV) else {
        return Ok(());
    };
    let state = Path::new(&state);
    let probe = std::fs::write(state.join("var/probe"), "x").err();
    assert_eq!(
        probe.and_then(|e| e.raw_os_error()),
        Some(30),
        "var is writable"
    );
    let (vfs, report) = boot(state)?;
    assert_eq!((report.changed, report.added), (1, 1), "{report:?}");
    let mounts = p("/etc/conf.d/f00");
    let read = unrestricted(&vfs).read(&mounts)?;
    assert_eq!(read.data, b"auto_sync = false\n");
    assert_eq!(read.metadata.etag, Some(Etag::of(b"auto_sync = false\n")));
    assert_eq!(read.metadata.version, 2, "versions continue from the store");
    let names: Vec<String> = unrestricted(&vfs)
        .read_dir(&p("/etc/conf.d"))?
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert!(names.contains(&"added".to_owned()), "{names:?}");
    vfs.flush()?;
    println!("child: read through a read-only store");
    Ok(())
}

/// Regression (issue 12): with a store that cannot be written, versions are kept in memory,
/// and within one process a version never repeats for different content; the VFS says which
/// mounts are not keeping theirs.
#[test]
fn an_unwritable_store_never_repeats_a_version_within_a_process() -> TestResult {
    let state = crate::support::state_with(&[("f", "1\n")])?;
    drop(vfs_etc::boot(state.path())?);
    let store = store_path(state.path());
    let chattr = |flag: &str| -> std::io::Result<bool> {
        Ok(std::process::Command::new("chattr")
            .arg(flag)
            .arg(&store)
            .status()?
            .success())
    };
    assert!(chattr("+i")?, "chattr +i");
    let outcome = (|| -> TestResult {
        let (vfs, _) = vfs_etc::boot(state.path())?;
        assert!(
            vfs.mounts_not_keeping_versions().is_empty(),
            "nothing lost yet"
        );
        let f = crate::support::p("/etc/f");
        let mut seen = Vec::new();
        for content in ["22\n", "333\n", "4444\n"] {
            std::fs::write(state.path().join("etc/f"), content)?;
            let read = unrestricted(&vfs).read(&f)?;
            assert_eq!(read.data, content.as_bytes());
            seen.push(read.metadata.version);
        }
        assert_eq!(seen, [2, 3, 4]);
        assert_eq!(
            vfs.mounts_not_keeping_versions(),
            [crate::support::p("/etc")]
        );
        Ok(())
    })();
    assert!(chattr("-i")?, "chattr -i");
    outcome
}

/// A backend holding one root-only file `f` whose stat fields never change, whatever its
/// content: a file system whose timestamps are too coarse to see an edit.
#[derive(Debug, Default)]
struct CoarseRootOnlyFile {
    content: std::sync::Mutex<Vec<u8>>,
}

impl CoarseRootOnlyFile {
    fn stat(kind: vfs_etc::entry::Kind, mode: u32) -> vfs_etc::entry::Stat {
        vfs_etc::entry::Stat {
            kind,
            sig: vfs_etc::entry::Signature {
                size: 1,
                mtime_ns: 1_000_000_000,
                ctime_ns: 1_000_000_000,
                ino: 7,
                dev: 1,
                mode,
            },
            uid: 0,
            gid: 0,
        }
    }
}

impl vfs_etc::backend::Backend for CoarseRootOnlyFile {
    fn stat(&self, rel: &str) -> std::io::Result<Option<vfs_etc::entry::Stat>> {
        Ok(match rel {
            "" => Some(Self::stat(vfs_etc::entry::Kind::Dir, 0o040_755)),
            "f" => Some(Self::stat(vfs_etc::entry::Kind::File, 0o100_600)),
            _ => None,
        })
    }
    fn list(&self, rel: &str) -> std::io::Result<vfs_etc::backend::Listing> {
        assert_eq!(rel, "");
        Ok(vfs_etc::backend::Listing {
            entries: vec![(
                "f".to_owned(),
                Self::stat(vfs_etc::entry::Kind::File, 0o100_600),
            )],
            unrepresentable: 0,
        })
    }
    fn read(&self, _: &str) -> std::io::Result<(Vec<u8>, vfs_etc::entry::Stat)> {
        let content = self
            .content
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        Ok((
            content.clone(),
            Self::stat(vfs_etc::entry::Kind::File, 0o100_600),
        ))
    }
    fn write(&self, _: &str, _: &[u8], _: bool) -> std::io::Result<vfs_etc::entry::Stat> {
        Err(std::io::Error::from_raw_os_error(30))
    }
    fn mkdir(&self, _: &str) -> std::io::Result<vfs_etc::entry::Stat> {
        Err(std::io::Error::from_raw_os_error(30))
    }
    fn unlink(&self, _: &str) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(30))
    }
    fn rmdir(&self, _: &str) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(30))
    }
    fn rename(&self, _: &str, _: &str) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(30))
    }
}

/// A store whose reader (`nobody`) may not read the root-only file.
#[derive(Debug, Default)]
struct ReadByNobody(vfs_etc::metastore::MemoryMetastore);

impl Metastore for ReadByNobody {
    fn get(
        &self,
        rel: &str,
    ) -> Result<Option<vfs_etc::entry::Entry>, vfs_etc::metastore::MetastoreError> {
        self.0.get(rel)
    }
    fn children(
        &self,
        dir: &str,
    ) -> Result<Vec<(String, vfs_etc::entry::Entry)>, vfs_etc::metastore::MetastoreError> {
        self.0.children(dir)
    }
    fn subtree(
        &self,
        rel: &str,
    ) -> Result<Vec<(String, vfs_etc::entry::Entry)>, vfs_etc::metastore::MetastoreError> {
        self.0.subtree(rel)
    }
    fn commit(&self, batch: &Batch) -> Result<(), vfs_etc::metastore::MetastoreError> {
        self.0.commit(batch)
    }
    fn generation(&self) -> Result<u64, vfs_etc::metastore::MetastoreError> {
        self.0.generation()
    }
    fn reader(&self) -> Option<u32> {
        Some(65534)
    }
}

/// The etag of a file the store's reader may not read is never stored, so reading it again
/// writes nothing; and an edit no stat field shows still gets a new version within the
/// process that sees it (what a stored etag does across processes).
#[test]
fn an_unstored_etag_still_versions_an_edit_within_a_process() -> TestResult {
    let backend = std::sync::Arc::new(CoarseRootOnlyFile::default());
    *backend.content.lock().map_err(|e| e.to_string())? = b"A".to_vec();
    let store = std::sync::Arc::new(ReadByNobody::default());
    let mut vfs = Vfs::new();
    vfs.mount(
        p("/m"),
        backend.clone(),
        store.clone(),
        vfs_etc::vfs::Access::ReadOnly,
    )?;
    let f = p("/m/f");
    let first = unrestricted(&vfs).stat(&f)?;
    assert_eq!((first.version, first.etag), (1, Some(Etag::of(b"A"))));
    let generation = store.generation()?;
    assert_eq!(unrestricted(&vfs).stat(&f)?, first);
    assert_eq!(unrestricted(&vfs).read(&f)?.metadata, first);
    assert_eq!(
        store.generation()?,
        generation,
        "reading again wrote nothing"
    );
    *backend.content.lock().map_err(|e| e.to_string())? = b"B".to_vec();
    let edited = unrestricted(&vfs).stat(&f)?;
    assert_eq!((edited.version, edited.etag), (2, Some(Etag::of(b"B"))));
    assert_eq!(unrestricted(&vfs).read(&f)?.metadata, edited);
    assert_eq!(store.get("f")?.and_then(|e| e.etag), None, "never stored");
    Ok(())
}
