//! Whole-tree views of a state dir, shared by the library's seeding tests and
//! the end-to-end `init` tests (included there with `#[path]`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Every entry under `root` (none if it is missing): bytes for files,
/// `None` for anything else, and the mtime of everything, to prove a run
/// changed nothing.
pub fn tree(root: &Path) -> BTreeMap<PathBuf, (Option<Vec<u8>>, SystemTime)> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        if meta.is_dir() {
            out.extend(tree(&path));
        }
        let bytes = meta.is_file().then(|| std::fs::read(&path).expect("read"));
        out.insert(path, (bytes, meta.modified().expect("mtime")));
    }
    out
}

/// Regular files under `root` by relative path, with the temporary files of
/// the write sequence (`.NAME.XXXXXX.tmp`) split out.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    pub temps: Vec<PathBuf>,
}

pub fn snapshot(root: &Path) -> Snapshot {
    let mut snap = Snapshot {
        files: BTreeMap::new(),
        temps: Vec::new(),
    };
    for (path, (bytes, _)) in tree(root) {
        let Some(bytes) = bytes else { continue };
        let relative = path.strip_prefix(root).expect("under root").to_owned();
        let name = relative.file_name().unwrap().to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") {
            snap.temps.push(relative);
        } else {
            snap.files.insert(relative, bytes);
        }
    }
    snap
}

/// Copies a state dir (dot files included), as a crash would leave it.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
