//! VFS path normalisation and routing (RELIABILITY.md).
//!
//! For any string: `VfsPath::new` accepts exactly the absolute strings with no
//! control character; a normalised path has no empty, `.` or `..` component
//! and normalises to itself; routed through a VFS with a read-only `/etc`, no
//! mutating call on any path changes `/etc`; a host directory handle never
//! hands out a file outside its root, whatever relative path it is asked for.
#![no_main]

use std::io::ErrorKind;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use vfs_etc::{Access, Backend, HostDir, MemoryBackend, MemoryMetastore, Vfs, VfsPath, WriteMode};

const SENTINEL: &[u8] = b"outside the root";

/// `root/` with a file and an escaping symlink, beside `outside` (the sentinel).
fn host() -> &'static (tempfile::TempDir, HostDir) {
    static HOST: OnceLock<(tempfile::TempDir, HostDir)> = OnceLock::new();
    HOST.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("conf.d")).expect("root");
        std::fs::write(root.join("conf.d/mounts"), "auto_sync = true\n").expect("file");
        std::fs::write(dir.path().join("outside"), SENTINEL).expect("sentinel");
        std::os::unix::fs::symlink("../outside", root.join("link")).expect("link");
        std::os::unix::fs::symlink(dir.path(), root.join("up")).expect("link");
        let host = HostDir::open_read_only(&root).expect("open root");
        (dir, host)
    })
}

fn p(s: &str) -> VfsPath {
    VfsPath::new(s).expect("a literal path")
}

/// What the read-only mount holds, to compare before and after.
fn snapshot(etc: &MemoryBackend) -> String {
    let mut out = String::new();
    for dir in ["", "conf.d"] {
        if let Ok(listing) = etc.list(dir) {
            let mut names: Vec<_> = listing.entries.iter().map(|(n, _)| n.clone()).collect();
            names.sort();
            out.push_str(&format!("{dir}: {names:?}\n"));
        }
    }
    if let Ok((data, _)) = etc.read("conf.d/mounts") {
        out.push_str(&String::from_utf8_lossy(&data));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();

    // The host handle is asked for the raw text, unnormalised: the kernel
    // must refuse every escape.
    let (_, hostdir) = host();
    if let Ok((bytes, _)) = hostdir.read(s) {
        assert_ne!(bytes, SENTINEL, "{s:?} escaped the host root");
    }
    let _ = hostdir.stat(s);
    let _ = hostdir.list(s);

    let parsed = VfsPath::new(s);
    let valid = s.starts_with('/')
        && !s.chars().any(char::is_control)
        && s.len() <= VfsPath::MAX_LEN
        && s.split('/').all(|c| c.len() <= VfsPath::MAX_NAME_LEN);
    assert_eq!(parsed.is_ok(), valid, "{s:?}: {parsed:?}");
    let path = match parsed {
        Ok(path) => path,
        Err(e) => {
            let text = e.to_string();
            assert!(
                !text.chars().any(char::is_control),
                "an error message carries a control character: {text:?}"
            );
            return;
        }
    };
    let text = path.as_str();
    assert!(text.starts_with('/'));
    assert!(text == "/" || !text.ends_with('/'), "{text:?}");
    for part in text.split('/').skip(1) {
        if text != "/" {
            assert!(!part.is_empty() && part != "." && part != "..", "{text:?}");
        }
    }
    // The normalised name is a fixed point; the spelling's requirements (a trailing `/`, a
    // directory left by `..`) are not part of it.
    let clean = path.normalised();
    assert_eq!(VfsPath::new(text).as_ref(), Ok(&clean), "not idempotent");
    assert!(text.len() <= s.len().max(1));
    let mut ancestor = path.clone();
    let mut steps = 0;
    while let Some(parent) = ancestor.parent() {
        assert!(path.strip_prefix(&parent).is_some());
        ancestor = parent;
        steps += 1;
        assert!(steps <= text.len());
    }
    assert!(ancestor.is_root());
    let etc_point = p("/etc");
    if let Some(rel) = path.strip_prefix(&etc_point) {
        assert!(
            rel.is_empty()
                || rel
                    .split('/')
                    .all(|c| !c.is_empty() && c != "." && c != "..")
        );
        assert_eq!(etc_point.join(rel).as_ref(), Ok(&clean));
    }

    // Routing: a read-only memory `/etc` and a writable `/tmp`.
    let etc = Arc::new(MemoryBackend::new());
    etc.mkdir("conf.d").expect("mkdir");
    etc.write("conf.d/mounts", b"auto_sync = true\n", false)
        .expect("write");
    let mut vfs = Vfs::new();
    vfs.mount(
        etc_point.clone(),
        etc.clone(),
        Arc::new(MemoryMetastore::new()),
        Access::ReadOnly,
    )
    .expect("mount /etc");
    vfs.mount(
        p("/tmp"),
        Arc::new(MemoryBackend::new()),
        Arc::new(MemoryMetastore::new()),
        Access::ReadWrite,
    )
    .expect("mount /tmp");
    let before = snapshot(&etc);
    let under_etc = path.strip_prefix(&etc_point).is_some();
    let _ = vfs.stat(&path);
    let _ = vfs.read(&path);
    let _ = vfs.read_dir(&path);
    let mode = if data.first().is_some_and(|b| b & 1 == 1) {
        WriteMode::CreateNew
    } else {
        WriteMode::Replace
    };
    let wrote = vfs.write(&path, b"x", mode);
    assert!(
        !under_etc || wrote.is_err(),
        "wrote {path} on a read-only mount"
    );
    if let Err(e) = &wrote {
        assert!(e.kind() != ErrorKind::Other || !under_etc, "{e}");
    }
    let made = vfs.mkdir(&path);
    assert!(
        !under_etc || made.is_err(),
        "made {path} on a read-only mount"
    );
    assert!(!under_etc || vfs.unlink(&path).is_err());
    assert!(!under_etc || vfs.rmdir(&path).is_err());
    assert!(!under_etc || vfs.rename(&path, &p("/tmp/moved")).is_err());
    assert!(vfs.rename(&p("/etc/conf.d/mounts"), &path).is_err());
    assert_eq!(snapshot(&etc), before, "{path} changed the read-only mount");
});
