//! Read-only semantics under `/etc` with Linux's errno order; `/tmp` stays writable.

use std::io::{self, ErrorKind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use vfs_etc::backend::{Backend, Listing, MemoryBackend};
use vfs_etc::entry::{Kind, Stat};
use vfs_etc::metastore::MemoryMetastore;
use vfs_etc::vfs::Access;
use vfs_etc::{Vfs, WriteMode, boot};

use crate::support::{TestResult, p, snapshot, state_with, unrestricted};

const EROFS: i32 = 30;
const ENOENT: i32 = 2;
const EEXIST: i32 = 17;
const EISDIR: i32 = 21;
const ENOTDIR: i32 = 20;
const EXDEV: i32 = 18;

fn fixture() -> io::Result<tempfile::TempDir> {
    state_with(&[
        ("conf.d/mounts", "auto_sync = true\n"),
        ("conf.d/cache", "backend = \"auto\"\n"),
        ("hosts", "h\n"),
    ])
}

#[test]
fn reads_succeed_under_etc() -> TestResult {
    let state = fixture()?;
    let (vfs, _) = boot(state.path())?;
    assert_eq!(
        unrestricted(&vfs).read(&p("/etc/conf.d/mounts"))?.data,
        b"auto_sync = true\n"
    );
    let meta = unrestricted(&vfs).stat(&p("/etc/conf.d/mounts"))?;
    assert_eq!((meta.kind, meta.size, meta.version), (Kind::File, 17, 1));
    let names: Vec<String> = unrestricted(&vfs)
        .read_dir(&p("/etc/conf.d"))?
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["cache", "mounts"]);
    let root: Vec<String> = unrestricted(&vfs)
        .read_dir(&p("/"))?
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(root, ["etc", "tmp"]);
    assert_eq!(unrestricted(&vfs).stat(&p("/etc"))?.kind, Kind::Dir);
    Ok(())
}

#[test]
fn every_mutation_under_etc_fails_in_linux_order() -> TestResult {
    let state = fixture()?;
    let before = snapshot(&state.path().join("etc"))?;
    let (vfs, _) = boot(state.path())?;
    let code = |r: Result<(), io::Error>| r.err().and_then(|e| e.raw_os_error());
    let write = |path: &str, mode| {
        code(
            unrestricted(&vfs)
                .write(&p(path), b"x", mode)
                .map(drop)
                .map_err(Into::into),
        )
    };

    // Replacing, or creating a new file in an existing directory: EROFS.
    assert_eq!(write("/etc/conf.d/mounts", WriteMode::Replace), Some(EROFS));
    assert_eq!(write("/etc/conf.d/new", WriteMode::Replace), Some(EROFS));
    assert_eq!(write("/etc/conf.d/new", WriteMode::CreateNew), Some(EROFS));
    // Exclusive create of an existing file: EEXIST comes first.
    assert_eq!(
        write("/etc/conf.d/mounts", WriteMode::CreateNew),
        Some(EEXIST)
    );
    // A missing parent: ENOENT comes first; a file as parent: ENOTDIR.
    assert_eq!(write("/etc/missing/x", WriteMode::Replace), Some(ENOENT));
    assert_eq!(write("/etc/hosts/x", WriteMode::Replace), Some(ENOTDIR));
    // A directory as the target: EISDIR.
    assert_eq!(write("/etc/conf.d", WriteMode::Replace), Some(EISDIR));

    assert_eq!(
        code(
            unrestricted(&vfs)
                .mkdir(&p("/etc/conf.d"))
                .map(drop)
                .map_err(Into::into)
        ),
        Some(EEXIST)
    );
    assert_eq!(
        code(
            unrestricted(&vfs)
                .mkdir(&p("/etc/new.d"))
                .map(drop)
                .map_err(Into::into)
        ),
        Some(EROFS)
    );
    assert_eq!(
        code(
            unrestricted(&vfs)
                .mkdir(&p("/etc/missing/new.d"))
                .map(drop)
                .map_err(Into::into)
        ),
        Some(ENOENT)
    );

    // unlink and rmdir check write access before looking the name up, as Linux does.
    assert_eq!(
        code(
            unrestricted(&vfs)
                .unlink(&p("/etc/conf.d/mounts"))
                .map_err(Into::into)
        ),
        Some(EROFS)
    );
    assert_eq!(
        code(
            unrestricted(&vfs)
                .unlink(&p("/etc/conf.d/absent"))
                .map_err(Into::into)
        ),
        Some(EROFS)
    );
    assert_eq!(
        code(
            unrestricted(&vfs)
                .unlink(&p("/etc/missing/absent"))
                .map_err(Into::into)
        ),
        Some(ENOENT)
    );
    assert_eq!(
        code(
            unrestricted(&vfs)
                .rmdir(&p("/etc/conf.d"))
                .map_err(Into::into)
        ),
        Some(EROFS)
    );
    // `/etc` is a name in `/`, which is read-only: Linux's EROFS, before the mount point's
    // EBUSY.
    assert_eq!(
        code(unrestricted(&vfs).rmdir(&p("/etc")).map_err(Into::into)),
        Some(EROFS)
    );

    let mv = |a: &str, b: &str| code(unrestricted(&vfs).rename(&p(a), &p(b)).map_err(Into::into));
    assert_eq!(mv("/etc/conf.d/mounts", "/etc/conf.d/m2"), Some(EROFS));
    assert_eq!(mv("/etc/conf.d/absent", "/etc/conf.d/m2"), Some(EROFS));
    assert_eq!(mv("/etc/conf.d/mounts", "/etc/missing/m2"), Some(ENOENT));
    assert_eq!(mv("/etc/conf.d/mounts", "/tmp/m"), Some(EXDEV));

    let err = unrestricted(&vfs)
        .write(&p("/etc/conf.d/mounts"), b"x", WriteMode::Replace)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnlyFilesystem);
    assert_eq!(
        err.to_string(),
        "cannot write `/etc/conf.d/mounts`: read-only file system (os error 30)"
    );
    assert_eq!(
        unrestricted(&vfs)
            .unlink(&p("/etc/hosts"))
            .unwrap_err()
            .kind(),
        ErrorKind::ReadOnlyFilesystem
    );

    drop(vfs);
    assert_eq!(
        snapshot(&state.path().join("etc"))?,
        before,
        "a refused call changed the host"
    );
    Ok(())
}

#[test]
fn directories_and_files_are_not_confused() -> TestResult {
    let state = fixture()?;
    let (vfs, _) = boot(state.path())?;
    let e = unrestricted(&vfs).read(&p("/etc/conf.d")).unwrap_err();
    assert_eq!(
        (e.kind(), e.raw_os_error()),
        (ErrorKind::IsADirectory, Some(EISDIR))
    );
    let e = unrestricted(&vfs).read_dir(&p("/etc/hosts")).unwrap_err();
    assert_eq!(
        (e.kind(), e.raw_os_error()),
        (ErrorKind::NotADirectory, Some(ENOTDIR))
    );
    let e = unrestricted(&vfs).read(&p("/etc/nope")).unwrap_err();
    assert_eq!(
        (e.kind(), e.raw_os_error()),
        (ErrorKind::NotFound, Some(ENOENT))
    );
    assert_eq!(
        unrestricted(&vfs).read(&p("/")).unwrap_err().raw_os_error(),
        Some(EISDIR)
    );
    Ok(())
}

#[test]
fn tmp_stays_writable() -> TestResult {
    let state = fixture()?;
    let (vfs, _) = boot(state.path())?;
    unrestricted(&vfs).mkdir(&p("/tmp/d"))?;
    let m1 = unrestricted(&vfs).write(&p("/tmp/d/f"), b"one", WriteMode::CreateNew)?;
    let m2 = unrestricted(&vfs).write(&p("/tmp/d/f"), b"two", WriteMode::Replace)?;
    assert_eq!((m1.version, m2.version), (1, 2));
    assert_ne!(m1.etag, m2.etag);
    assert_eq!(unrestricted(&vfs).read(&p("/tmp/d/f"))?.data, b"two");
    assert_eq!(
        unrestricted(&vfs)
            .write(&p("/tmp/d/f"), b"x", WriteMode::CreateNew)
            .unwrap_err()
            .raw_os_error(),
        Some(EEXIST)
    );
    unrestricted(&vfs).rename(&p("/tmp/d/f"), &p("/tmp/g"))?;
    assert_eq!(unrestricted(&vfs).read(&p("/tmp/g"))?.data, b"two");
    assert_eq!(
        unrestricted(&vfs)
            .stat(&p("/tmp/d/f"))
            .unwrap_err()
            .raw_os_error(),
        Some(ENOENT)
    );
    // `/tmp` is a name in the read-only `/`.
    assert_eq!(
        unrestricted(&vfs)
            .rmdir(&p("/tmp"))
            .unwrap_err()
            .raw_os_error(),
        Some(EROFS)
    );
    unrestricted(&vfs).unlink(&p("/tmp/g"))?;
    unrestricted(&vfs).rmdir(&p("/tmp/d"))?;
    assert!(unrestricted(&vfs).read_dir(&p("/tmp"))?.is_empty());
    Ok(())
}

/// A backend that counts mutating calls: the router must refuse before reaching it.
#[derive(Debug, Default)]
struct Spy {
    inner: MemoryBackend,
    mutations: AtomicUsize,
}

impl Spy {
    fn count(&self) -> io::Result<()> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl Backend for Spy {
    fn host_root(&self) -> Option<&Path> {
        None
    }
    fn stat(&self, rel: &str) -> io::Result<Option<Stat>> {
        self.inner.stat(rel)
    }
    fn list(&self, rel: &str) -> io::Result<Listing> {
        self.inner.list(rel)
    }
    fn read(&self, rel: &str) -> io::Result<(Vec<u8>, Stat)> {
        self.inner.read(rel)
    }
    fn write(&self, rel: &str, data: &[u8], create_new: bool) -> io::Result<Stat> {
        self.count()?;
        self.inner.write(rel, data, create_new)
    }
    fn mkdir(&self, rel: &str) -> io::Result<Stat> {
        self.count()?;
        self.inner.mkdir(rel)
    }
    fn unlink(&self, rel: &str) -> io::Result<()> {
        self.count()?;
        self.inner.unlink(rel)
    }
    fn rmdir(&self, rel: &str) -> io::Result<()> {
        self.count()?;
        self.inner.rmdir(rel)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.count()?;
        self.inner.rename(from, to)
    }
}

#[test]
fn read_only_flag_is_checked_before_the_backend() -> TestResult {
    let spy = Arc::new(Spy::default());
    spy.inner.mkdir("d")?;
    spy.inner.write("d/f", b"x", false)?;
    spy.mutations.store(0, Ordering::SeqCst);
    let mut vfs = Vfs::new();
    vfs.mount(
        p("/ro"),
        spy.clone(),
        Arc::new(MemoryMetastore::new()),
        Access::ReadOnly,
    )?;
    assert!(
        unrestricted(&vfs)
            .write(&p("/ro/d/f"), b"y", WriteMode::Replace)
            .is_err()
    );
    assert!(
        unrestricted(&vfs)
            .write(&p("/ro/d/new"), b"y", WriteMode::Replace)
            .is_err()
    );
    assert!(unrestricted(&vfs).mkdir(&p("/ro/e")).is_err());
    assert!(unrestricted(&vfs).unlink(&p("/ro/d/f")).is_err());
    assert!(unrestricted(&vfs).rmdir(&p("/ro/d")).is_err());
    assert!(
        unrestricted(&vfs)
            .rename(&p("/ro/d/f"), &p("/ro/g"))
            .is_err()
    );
    assert_eq!(spy.mutations.load(Ordering::SeqCst), 0);
    assert_eq!(unrestricted(&vfs).read(&p("/ro/d/f"))?.data, b"x");
    Ok(())
}
