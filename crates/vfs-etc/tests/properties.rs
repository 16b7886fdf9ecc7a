//! Property tests of VFS paths (RELIABILITY.md): a normalised path never
//! contains `..`, never leaves its mount, and normalising twice changes
//! nothing.
//!
//! Case counts are small so CI stays fast; `PROPTEST_CASES=10000 cargo test
//! -p vfs-etc --test runner properties` runs more.

use std::io;
use std::sync::{Arc, Mutex};

use crate::support::unrestricted;
use proptest::prelude::*;
use proptest::test_runner::Config;
use vfs_etc::backend::{Backend, Listing, MemoryBackend};
use vfs_etc::entry::Stat;
use vfs_etc::metastore::MemoryMetastore;
use vfs_etc::path::PathError;
use vfs_etc::vfs::Access;
use vfs_etc::{Vfs, VfsPath, WriteMode};

fn config() -> Config {
    // `Config::default()` reads PROPTEST_CASES; only the default is changed.
    let default = Config::default();
    Config {
        cases: if default.cases == 256 {
            512
        } else {
            default.cases
        },
        failure_persistence: None,
        ..default
    }
}

/// Paths made of the components that matter (`..`, `.`, empty, a mount's
/// name, look-alikes), absolute or not.
fn path_text() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just(".."),
        Just("."),
        Just(""),
        Just("etc"),
        Just("conf.d"),
        Just("mounts"),
        Just("etcx"),
        Just("..."),
        Just(".x"),
        Just("é"),
        Just("a b"),
    ];
    (any::<bool>(), prop::collection::vec(part, 0..10)).prop_map(|(absolute, parts)| {
        let joined = parts.join("/");
        if absolute {
            format!("/{joined}")
        } else {
            joined
        }
    })
}

/// A backend that records every path the VFS hands it.
#[derive(Debug, Default)]
struct Recording {
    inner: MemoryBackend,
    seen: Mutex<Vec<String>>,
}

impl Recording {
    fn saw(&self, rel: &str) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(rel.to_owned());
    }
}

impl Backend for Recording {
    fn stat(&self, rel: &str) -> io::Result<Option<Stat>> {
        self.saw(rel);
        self.inner.stat(rel)
    }
    fn list(&self, rel: &str) -> io::Result<Listing> {
        self.saw(rel);
        self.inner.list(rel)
    }
    fn read(&self, rel: &str) -> io::Result<(Vec<u8>, Stat)> {
        self.saw(rel);
        self.inner.read(rel)
    }
    fn write(&self, rel: &str, data: &[u8], create_new: bool) -> io::Result<Stat> {
        self.saw(rel);
        self.inner.write(rel, data, create_new)
    }
    fn mkdir(&self, rel: &str) -> io::Result<Stat> {
        self.saw(rel);
        self.inner.mkdir(rel)
    }
    fn unlink(&self, rel: &str) -> io::Result<()> {
        self.saw(rel);
        self.inner.unlink(rel)
    }
    fn rmdir(&self, rel: &str) -> io::Result<()> {
        self.saw(rel);
        self.inner.rmdir(rel)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.saw(from);
        self.saw(to);
        self.inner.rename(from, to)
    }
}

/// A mount-relative path that stays inside its mount: no empty, `.` or `..`
/// component, no leading `/`.
fn stays_inside(rel: &str) -> bool {
    rel.is_empty()
        || rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_normalised_path_has_no_dot_dot_and_normalising_twice_changes_nothing(
        text in prop_oneof![path_text(), any::<String>()],
    ) {
        match VfsPath::new(&text) {
            Ok(path) => {
                let s = path.as_str();
                prop_assert!(s.starts_with('/'));
                prop_assert!(path.is_root() || stays_inside(&s[1..]), "{:?} -> {:?}", text, s);
                // The normalised name is a fixed point; the spelling's requirements (a trailing
                // `/`, a directory left by `..`) are not part of it.
                prop_assert_eq!(VfsPath::new(s), Ok(path.normalised()));
                prop_assert_eq!(path.join(""), Ok(path.normalised()));
            }
            Err(PathError::NotAbsolute(_)) => prop_assert!(!text.starts_with('/')),
            Err(PathError::TooLong(len)) => prop_assert!(len > VfsPath::MAX_LEN),
            Err(PathError::NameTooLong(_)) => {
                prop_assert!(text.split('/').any(|c| c.len() > VfsPath::MAX_NAME_LEN));
            }
            Err(PathError::ControlCharacter(_)) => {
                prop_assert!(text.chars().any(char::is_control));
            }
        }
    }

    /// Joined below a mount point, whatever `..` it holds, a path either
    /// stays below the mount with a clean relative part, or is not below it at
    /// all; and the backend of a mount is only ever handed clean paths.
    #[test]
    fn a_path_never_leaves_its_mount(rel in path_text(), data in any::<u8>()) {
        let etc = Arc::new(Recording::default());
        etc.inner.mkdir("conf.d").expect("mkdir");
        etc.inner.write("conf.d/mounts", b"x", false).expect("write");
        let tmp = Arc::new(Recording::default());
        let mut vfs = Vfs::new();
        let point: VfsPath = "/etc".parse().expect("path");
        vfs.mount(point.clone(), etc.clone(), Arc::new(MemoryMetastore::new()), Access::ReadOnly)
            .expect("mount /etc");
        vfs.mount("/tmp".parse().expect("path"), tmp.clone(), Arc::new(MemoryMetastore::new()),
            Access::ReadWrite).expect("mount /tmp");

        let Ok(path) = point.join(&rel) else {
            return Ok(());
        };
        if let Some(inside) = path.strip_prefix(&point) {
            prop_assert!(stays_inside(inside), "{:?} -> {:?}", rel, inside);
            prop_assert_eq!(point.join(inside), Ok(path.normalised()));
        }
        let _ = unrestricted(&vfs).stat(&path);
        let _ = unrestricted(&vfs).read(&path);
        let _ = unrestricted(&vfs).read_dir(&path);
        let mode = if data % 2 == 0 { WriteMode::Replace } else { WriteMode::CreateNew };
        let wrote = unrestricted(&vfs).write(&path, &[data], mode);
        prop_assert!(path.strip_prefix(&point).is_none() || wrote.is_err());
        let _ = unrestricted(&vfs).mkdir(&path);
        let _ = unrestricted(&vfs).rename(&path, &"/tmp/moved".parse().expect("path"));
        for backend in [&etc, &tmp] {
            let seen = backend.seen.lock().expect("lock");
            for rel in seen.iter() {
                prop_assert!(stays_inside(rel), "a backend was handed {:?}", rel);
            }
        }
        prop_assert_eq!(etc.inner.read("conf.d/mounts").expect("read").0, b"x".to_vec());
    }
}

/// Regression (found by the `vfs_path` fuzz target): a relative path holding
/// a control character was refused as "not absolute", whose message prints
/// the text raw, so a terminal escape reached the user's screen.
#[test]
fn a_relative_path_with_a_control_character_is_refused_escaped() {
    let err = VfsPath::new("\n").unwrap_err();
    assert_eq!(err, PathError::ControlCharacter("\n".into()));
    let err = VfsPath::new("x\u{1b}[2J").unwrap_err();
    assert!(!err.to_string().chars().any(char::is_control), "{err}");
}
