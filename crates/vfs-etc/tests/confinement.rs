//! No `..`, absolute or symlink escape returns a byte of a file outside `$STATE/etc`, and odd
//! host names never panic.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use vfs_etc::backend::{Backend, EscapeAttempt, HostDir};
use vfs_etc::error::ReadError;
use vfs_etc::{VfsPath, boot};

use crate::support::{TestResult, p, state_with, unrestricted};

const MARKER: &[u8] = b"MARKER-OUTSIDE-ETC";

/// A state dir with `etc/` and a marker file outside it, at `$STATE/outside/secret`.
fn fixture() -> std::io::Result<tempfile::TempDir> {
    let state = state_with(&[
        ("conf.d/mounts", "auto_sync = true\n"),
        ("sub/secret", "inside\n"),
    ])?;
    std::fs::create_dir(state.path().join("outside"))?;
    std::fs::write(state.path().join("outside/secret"), MARKER)?;
    Ok(state)
}

fn leaks(bytes: &[u8]) -> bool {
    bytes.windows(MARKER.len()).any(|w| w == MARKER)
}

#[test]
fn dot_dot_never_leaves_the_namespace() -> TestResult {
    let state = fixture()?;
    let (vfs, _) = boot(state.path())?;
    for path in [
        "/etc/../outside/secret",
        "/etc/conf.d/../../outside/secret",
        "/../../etc/../../outside/secret",
    ] {
        let path: VfsPath = path.parse()?;
        assert_eq!(path.as_str(), "/outside/secret");
        assert!(unrestricted(&vfs).read(&path).is_err());
    }
    Ok(())
}

#[test]
fn symlinks_never_lead_outside() -> TestResult {
    let state = fixture()?;
    let etc = state.path().join("etc");
    symlink(state.path().join("outside/secret"), etc.join("abs"))?;
    symlink("../outside/secret", etc.join("rel"))?;
    symlink("chain2", etc.join("chain1"))?;
    symlink("conf.d/../../outside/secret", etc.join("chain2"))?;
    symlink("../outside", etc.join("dirlink"))?;
    symlink(state.path().join("outside"), etc.join("absdir"))?;
    let (vfs, report) = boot(state.path())?;
    assert!(report.skipped >= 6, "{report:?}");
    for name in [
        "abs",
        "rel",
        "chain1",
        "chain2",
        "dirlink/secret",
        "absdir/secret",
    ] {
        let path = p(&format!("/etc/{name}"));
        match unrestricted(&vfs).read(&path) {
            Ok(c) => assert!(!leaks(&c.data), "{name} leaked"),
            Err(e) => assert!(e.raw_os_error().is_some(), "{name}: {e}"),
        }
        assert!(
            unrestricted(&vfs).stat(&path).is_err(),
            "{name} is in the namespace"
        );
    }
    // The backend itself refuses them too, whatever the caller passes.
    let host = HostDir::open_read_only(&etc)?;
    let outside = state.path().join("outside/secret");
    for rel in [
        "abs",
        "rel",
        "chain1",
        "dirlink/secret",
        "absdir/secret",
        "../outside/secret",
        outside.to_str().ok_or("utf8")?,
    ] {
        match host.read(rel) {
            Ok((bytes, _)) => assert!(!leaks(&bytes), "backend leaked via {rel}"),
            Err(e) => assert!(EscapeAttempt::of(&e).is_some(), "{rel}: {e}"),
        }
    }
    Ok(())
}

#[test]
fn registered_directory_swapped_for_a_symlink_is_refused() -> TestResult {
    let state = fixture()?;
    let etc = state.path().join("etc");
    let (vfs, _) = boot(state.path())?;
    assert_eq!(
        unrestricted(&vfs).read(&p("/etc/sub/secret"))?.data,
        b"inside\n"
    );
    // Between the registration and the next open, `sub` becomes a symlink to the outside,
    // where a file of the same name holds the marker.
    std::fs::rename(etc.join("sub"), etc.join("sub.old"))?;
    symlink("../outside", etc.join("sub"))?;
    let err = unrestricted(&vfs).read(&p("/etc/sub/secret")).unwrap_err();
    assert!(matches!(err, ReadError::Escape { .. }), "{err}");
    assert_eq!(err.raw_os_error(), Some(13), "{err}");
    // The failed read also fixed the entry.
    assert!(unrestricted(&vfs).stat(&p("/etc/sub/secret")).is_err());
    // A file swapped for a symlink is refused the same way.
    std::fs::remove_file(etc.join("conf.d/mounts"))?;
    symlink(
        state.path().join("outside/secret"),
        etc.join("conf.d/mounts"),
    )?;
    assert!(unrestricted(&vfs).read(&p("/etc/conf.d/mounts")).is_err());
    Ok(())
}

#[test]
fn racing_swaps_never_leak() -> TestResult {
    let state = fixture()?;
    let etc = state.path().join("etc");
    let (vfs, _) = boot(state.path())?;
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (etc, stop) = (etc.clone(), Arc::clone(&stop));
        std::thread::spawn(move || -> std::io::Result<()> {
            while !stop.load(Ordering::Relaxed) {
                std::fs::rename(etc.join("sub"), etc.join("sub.real"))?;
                symlink("../outside", etc.join("sub"))?;
                std::fs::remove_file(etc.join("sub"))?;
                std::fs::rename(etc.join("sub.real"), etc.join("sub"))?;
            }
            Ok(())
        })
    };
    let host = HostDir::open_read_only(&etc)?;
    let mut served = 0;
    for _ in 0..3000 {
        match unrestricted(&vfs).read(&p("/etc/sub/secret")) {
            Ok(c) => {
                assert!(!leaks(&c.data));
                served += 1;
            }
            // A failed read drops the entry; re-register so later reads race again.
            Err(_) => drop(vfs.reconcile(&p("/etc"))),
        }
        if let Ok((bytes, _)) = host.read("sub/secret") {
            assert!(!leaks(&bytes));
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().map_err(|_| "swapper panicked")??;
    println!("served {served} of 3000 reads while racing");
    Ok(())
}

#[test]
fn odd_host_names_never_panic() -> TestResult {
    let state = fixture()?;
    let etc = state.path().join("etc");
    let bad = std::ffi::OsStr::from_bytes(b"not-utf8-\xff\xfe");
    std::fs::write(etc.join("conf.d").join(bad), "x")?;
    std::fs::write(etc.join("conf.d/new\nline"), "x")?;
    std::fs::create_dir(etc.join(std::ffi::OsStr::from_bytes(b"dir-\xc3")))?;
    let (vfs, report) = boot(state.path())?;
    assert_eq!(report.skipped, 3, "{report:?}");
    let names: Vec<String> = unrestricted(&vfs)
        .read_dir(&p("/etc/conf.d"))?
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["mounts"]);
    let listing = HostDir::open_read_only(&etc)?.list("conf.d")?;
    assert_eq!((listing.entries.len(), listing.unrepresentable), (1, 2));
    Ok(())
}

/// Runs `f` on a thread and fails if it has not returned within a few seconds: a call that
/// blocks forever must fail the test, not hang it.
fn within_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(5)).ok()
}

fn mkfifo(path: &std::path::Path) -> std::io::Result<()> {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .map_err(Into::into)
}

/// Regression (issue 12): a file swapped for a FIFO after boot made `read` and `stat` block
/// forever in `open` (waiting for a writer). The open does not block, and what it got is
/// refused unless it is a regular file: the path is then gone from the namespace, as at boot.
#[test]
fn a_file_swapped_for_a_fifo_is_refused_without_blocking() -> TestResult {
    let state = fixture()?;
    let (vfs, _) = boot(state.path())?;
    let vfs = Arc::new(vfs);
    let host = state.path().join("etc/conf.d/mounts");
    std::fs::remove_file(&host)?;
    mkfifo(&host)?;
    for stat in [false, true] {
        let v = vfs.clone();
        let outcome = within_seconds(move || {
            let path = p("/etc/conf.d/mounts");
            if stat {
                unrestricted(&v)
                    .stat(&path)
                    .map(drop)
                    .map_err(|e| e.to_string())
            } else {
                unrestricted(&v)
                    .read(&path)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        })
        .ok_or("blocked on a FIFO")?;
        let err = outcome.err().ok_or("a FIFO was served as a file")?;
        assert!(err.contains("no such file or directory"), "{err}");
    }
    // A writable host directory neither blocks on one nor writes into it.
    let dir = tempfile::tempdir()?;
    mkfifo(&dir.path().join("f"))?;
    let backend = HostDir::open_writable(dir.path())?;
    let err = within_seconds(move || backend.write("f", b"x", false).map(drop))
        .ok_or("write blocked on a FIFO")?
        .err()
        .ok_or("wrote into a FIFO")?;
    assert_eq!(
        err.raw_os_error(),
        Some(rustix::io::Errno::NXIO.raw_os_error())
    );
    Ok(())
}
