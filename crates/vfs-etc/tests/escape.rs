//! An escape attempt — a path through a symbolic link on the host, or out of a host
//! backend's root — is refused as one by every call that resolves a path, with its own error
//! (`EACCES`, naming the path), never reported as a missing file.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

use vfs_etc::backend::{Backend, Escape, EscapeAttempt, HostDir};
use vfs_etc::error::{
    MkdirError, ReadDirError, ReadError, RenameError, RmdirError, StatError, UnlinkError,
    WriteError,
};
use vfs_etc::metastore::MemoryMetastore;
use vfs_etc::vfs::Access;
use vfs_etc::{Vfs, WriteMode, boot};

use crate::support::{TestResult, p, snapshot, state_with, unrestricted};

const MARKER: &[u8] = b"MARKER-OUTSIDE-THE-ROOT";

const EACCES: Option<i32> = Some(13);

/// The message every escape refusal of a symlink ends with, after the VFS path it names.
const VIA_SYMLINK: &str = "refused as an escape attempt: it passes through a symbolic link on the host, which the VFS never follows";

/// Plants, in `root`, one symlink of each kind next to a regular file and a directory:
/// `abs` (an absolute path out), `rel` (`../outside/secret`), `dotdot` (out through a real
/// directory and `..`), `dirlink` and `absdir` (directories out), and `inside` (a symlink that
/// stays inside: refused too, as it could be retargeted between two calls). `outside/` beside
/// `root` holds the marker.
fn plant(root: &Path) -> std::io::Result<()> {
    let outside = root
        .parent()
        .ok_or(std::io::ErrorKind::NotFound)?
        .join("outside");
    std::fs::create_dir_all(&outside)?;
    std::fs::write(outside.join("secret"), MARKER)?;
    std::fs::create_dir_all(root.join("conf.d"))?;
    std::fs::write(root.join("conf.d/mounts"), "auto_sync = true\n")?;
    symlink(outside.join("secret"), root.join("abs"))?;
    symlink("../outside/secret", root.join("rel"))?;
    symlink("conf.d/../../outside/secret", root.join("dotdot"))?;
    symlink("../outside", root.join("dirlink"))?;
    symlink(&outside, root.join("absdir"))?;
    symlink("conf.d/mounts", root.join("inside"))?;
    Ok(())
}

const FILE_LINKS: [&str; 4] = ["abs", "rel", "dotdot", "inside"];
const DIR_LINKS: [&str; 2] = ["dirlink", "absdir"];

/// Whether the error is this crate's escape refusal: `EACCES`, permission denied, and a
/// message that names `path` and says why.
fn assert_escape(what: &str, path: &str, raw: Option<i32>, kind: std::io::ErrorKind, text: String) {
    assert_eq!(raw, EACCES, "{what} {path}: {text}");
    assert_eq!(
        kind,
        std::io::ErrorKind::PermissionDenied,
        "{what} {path}: {text}"
    );
    assert!(text.contains(&format!("`{path}`")), "{what}: {text}");
    assert!(text.ends_with(VIA_SYMLINK), "{what} {path}: {text}");
}

/// `$session.$call($path, $args…)` fails with the `$variant` escape refusal, whose message
/// names `$path`.
macro_rules! refused {
    ($session:ident, $path:expr, $variant:path, $call:ident($($arg:expr),*)) => {{
        let path: &str = &$path;
        let err = $session.$call(&p(path) $(, $arg)*).expect_err(&format!("{} {path} succeeded", stringify!($call)));
        assert!(matches!(err, $variant { .. }), "{} {path}: {err:?}", stringify!($call));
        assert_escape(stringify!($call), path, err.raw_os_error(), err.kind(), err.to_string());
    }};
}

#[test]
fn every_look_through_a_symlink_on_a_read_only_mount_is_an_escape_attempt() -> TestResult {
    let state = state_with(&[])?;
    plant(&state.path().join("etc"))?;
    let (vfs, _) = boot(state.path())?;
    let vfs = unrestricted(&vfs);
    for name in FILE_LINKS {
        let path = format!("/etc/{name}");
        refused!(vfs, path, ReadError::Escape, read());
        refused!(vfs, path, StatError::Escape, stat());
        refused!(vfs, path, ReadDirError::Escape, read_dir());
        // Below one, or through `..` after one: the walk meets it first.
        let below = format!("/etc/{name}/x");
        refused!(vfs, below, StatError::Escape, stat());
    }
    for name in DIR_LINKS {
        let dir = format!("/etc/{name}");
        refused!(vfs, dir, ReadDirError::Escape, read_dir());
        refused!(vfs, dir, StatError::Escape, stat());
        refused!(vfs, format!("{dir}/secret"), ReadError::Escape, read());
        refused!(vfs, format!("{dir}/secret"), StatError::Escape, stat());
        refused!(vfs, format!("{dir}/"), ReadDirError::Escape, read_dir());
        refused!(
            vfs,
            format!("{dir}/../etc/conf.d/mounts"),
            ReadError::Escape,
            read()
        );
        // Read-only: the escape is what the lookup finds, before `EROFS`.
        refused!(
            vfs,
            format!("{dir}/new"),
            WriteError::Escape,
            write(b"x", WriteMode::Replace)
        );
    }
    // Nothing else changed: a missing name is still `ENOENT`, a real file still reads.
    for missing in ["/etc/nothing", "/etc/nothing/below", "/etc/conf.d/nothing"] {
        let err = vfs.stat(&p(missing)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(2), "{err}");
    }
    assert_eq!(
        vfs.read(&p("/etc/conf.d/mounts"))?.data,
        b"auto_sync = true\n"
    );
    Ok(())
}

#[test]
fn every_change_through_a_symlink_on_a_writable_mount_is_an_escape_attempt() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    plant(&root)?;
    std::fs::write(root.join("file"), "inside\n")?;
    let mut vfs = Vfs::new();
    vfs.mount(
        p("/w"),
        Arc::new(HostDir::open_writable(&root)?),
        Arc::new(MemoryMetastore::new()),
        Access::ReadWrite,
    )?;
    let before = snapshot(dir.path())?;
    let vfs = unrestricted(&vfs);
    for name in FILE_LINKS {
        let path = format!("/w/{name}");
        for mode in [WriteMode::Replace, WriteMode::CreateNew] {
            refused!(vfs, path, WriteError::Escape, write(b"x", mode));
        }
        refused!(
            vfs,
            path,
            WriteError::Escape,
            check_write(WriteMode::Replace)
        );
        refused!(vfs, path, MkdirError::Escape, mkdir());
        refused!(vfs, path, UnlinkError::Escape, unlink());
        refused!(vfs, path, RmdirError::Escape, rmdir());
        for (from, to) in [(path.as_str(), "/w/moved"), ("/w/file", path.as_str())] {
            let err = vfs.rename(&p(from), &p(to)).unwrap_err();
            assert!(
                matches!(err, RenameError::Escape { .. }),
                "mv {from} {to}: {err:?}"
            );
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("cannot move `{from}` to `{to}`: ")),
                "{text}"
            );
            assert_escape("mv", &path, err.raw_os_error(), err.kind(), text);
        }
    }
    for name in DIR_LINKS {
        let dir = format!("/w/{name}");
        for mode in [WriteMode::Replace, WriteMode::CreateNew] {
            refused!(
                vfs,
                format!("{dir}/secret"),
                WriteError::Escape,
                write(b"x", mode)
            );
            refused!(
                vfs,
                format!("{dir}/new"),
                WriteError::Escape,
                write(b"x", mode)
            );
        }
        refused!(vfs, format!("{dir}/d"), MkdirError::Escape, mkdir());
        refused!(vfs, format!("{dir}/secret"), UnlinkError::Escape, unlink());
        refused!(vfs, dir, RmdirError::Escape, rmdir());
        let err = vfs
            .rename(&p("/w/file"), &p(&format!("{dir}/stolen")))
            .unwrap_err();
        assert!(matches!(err, RenameError::Escape { .. }), "{err:?}");
    }
    // Not a byte changed, inside the root or out of it; every symlink is still there.
    assert_eq!(snapshot(dir.path())?, before);
    Ok(())
}

/// A registered file or directory swapped for a symlink after the scan: the open finds it
/// (`ELOOP` from `openat2`), and the read says so instead of "no such file".
#[test]
fn an_entry_swapped_for_a_symlink_after_the_scan_is_an_escape_attempt() -> TestResult {
    let state = state_with(&[
        ("conf.d/mounts", "auto_sync = true\n"),
        ("sub/secret", "inside\n"),
    ])?;
    let etc = state.path().join("etc");
    plant(&state.path().join("elsewhere"))?;
    let outside = state.path().join("outside/secret");
    let (vfs, _) = boot(state.path())?;
    let vfs = unrestricted(&vfs);
    std::fs::remove_file(etc.join("conf.d/mounts"))?;
    symlink(&outside, etc.join("conf.d/mounts"))?;
    refused!(vfs, "/etc/conf.d/mounts", ReadError::Escape, read());
    // The failed read took the entry out of the namespace; the name is refused as before.
    refused!(vfs, "/etc/conf.d/mounts", StatError::Escape, stat());
    std::fs::rename(etc.join("sub"), etc.join("sub.old"))?;
    symlink("../outside", etc.join("sub"))?;
    refused!(vfs, "/etc/sub/secret", ReadError::Escape, read());
    Ok(())
}

/// The host backend's own refusals, for a caller that uses it directly: every lookup through
/// a symlink, `..` out of the root or an absolute path is an [`EscapeAttempt`] naming the
/// root and the path, of kind `PermissionDenied`, from each call that resolves a path.
#[test]
fn the_host_backend_refuses_each_escape_with_an_escape_attempt() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    plant(&root)?;
    let outside = dir.path().join("outside/secret");
    let absolute = outside.to_str().ok_or("utf-8")?.to_owned();
    let ro = HostDir::open_read_only(&root)?;
    let rw = HostDir::open_writable(&root)?;
    let via = |e: std::io::Error| -> Result<(Escape, String, String), String> {
        let attempt = EscapeAttempt::of(&e).ok_or(format!("not an escape attempt: {e}"))?;
        assert_eq!(attempt.root(), root);
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        Ok((attempt.via(), attempt.path().to_owned(), e.to_string()))
    };
    let cases: Vec<(String, Escape)> = vec![
        ("abs".into(), Escape::Symlink),
        ("rel".into(), Escape::Symlink),
        ("inside".into(), Escape::Symlink),
        ("dirlink/secret".into(), Escape::Symlink),
        ("absdir/secret".into(), Escape::Symlink),
        ("../outside/secret".into(), Escape::OutOfRoot),
        ("conf.d/../../outside/secret".into(), Escape::OutOfRoot),
        (absolute, Escape::OutOfRoot),
    ];
    for (rel, expected) in &cases {
        let calls: Vec<(&str, std::io::Error)> = vec![
            ("read", ro.read(rel).map(drop).unwrap_err()),
            ("write", rw.write(rel, b"x", false).map(drop).unwrap_err()),
        ];
        for (call, err) in calls {
            let (got, path, text) = via(err).map_err(|e| format!("{call} {rel}: {e}"))?;
            assert_eq!(
                (got, path.as_str()),
                (*expected, rel.as_str()),
                "{call} {rel}"
            );
            let reason = match expected {
                Escape::Symlink => "passes through a symbolic link below",
                Escape::OutOfRoot => "leads out of",
            };
            assert_eq!(
                text,
                format!(
                    "`{rel}` is refused as an escape attempt: it {reason} `{}`",
                    root.display()
                ),
                "{call}"
            );
        }
    }
    // Every call that resolves a directory on the way.
    for rel in ["dirlink/x", "../outside/x"] {
        let calls: Vec<(&str, std::io::Error)> = vec![
            ("mkdir", rw.mkdir(rel).map(drop).unwrap_err()),
            ("unlink", rw.unlink(rel).unwrap_err()),
            ("rmdir", rw.rmdir(rel).unwrap_err()),
            ("rename from", rw.rename(rel, "moved").unwrap_err()),
            ("rename to", rw.rename("conf.d/mounts", rel).unwrap_err()),
            ("list", ro.list(rel).map(drop).unwrap_err()),
            ("stat", ro.stat(rel).map(drop).unwrap_err()),
        ];
        for (call, err) in calls {
            via(err).map_err(|e| format!("{call} {rel}: {e}"))?;
        }
    }
    via(ro.list("dirlink").unwrap_err())?;
    assert_eq!(std::fs::read(&outside)?, MARKER);
    Ok(())
}

/// A `..` below `RESOLVE_BENEATH` makes the kernel answer EAGAIN when any
/// rename runs on the system during the lookup; the backend retries, so the
/// caller still gets the escape refusal, never a spurious EAGAIN.
#[test]
fn a_dotdot_lookup_during_renames_elsewhere_is_still_an_escape_attempt() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    plant(&root)?;
    let ro = HostDir::open_read_only(&root)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renamer = {
        let (stop, a) = (stop.clone(), dir.path().join("a"));
        let b = dir.path().join("b");
        std::fs::write(&a, "x")?;
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::rename(&a, &b);
                let _ = std::fs::rename(&b, &a);
            }
        })
    };
    let mut wrong = Vec::new();
    for _ in 0..20_000 {
        let e = ro
            .read("conf.d/../../outside/secret")
            .map(drop)
            .unwrap_err();
        if EscapeAttempt::of(&e).is_none() {
            wrong.push(e.to_string());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    renamer.join().map_err(|_| "the renamer panicked")?;
    assert!(
        wrong.is_empty(),
        "{} lookups were no escape attempt: {:?}",
        wrong.len(),
        wrong.first()
    );
    Ok(())
}
