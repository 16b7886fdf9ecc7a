//! Linux is the reference: every operation, on every spelling of a path (trailing `/`, `.`
//! and `..` after a file or a directory, a missing name), answers through a writable VFS
//! mount exactly what the same system call answers on the host directory behind it
//! (`paths`), and on the real layout in a namespace, read-only mounts included
//! (`kernel`). Here, the tree, the spellings and the two ways of running an operation.

use std::io;
use std::path::Path;
use std::sync::Arc;

use vfs_etc::backend::{Backend, HostDir, MemoryBackend};
use vfs_etc::metastore::MemoryMetastore;
use vfs_etc::vfs::Access;
use vfs_etc::{Vfs, VfsPath, WriteMode};

use crate::support::{TestResult, unrestricted};

mod kernel;
mod paths;

/// The tree every case starts from: a file, a directory with a file in it, an empty directory.
fn tree(root: &Path) -> io::Result<()> {
    std::fs::write(root.join("f"), "file")?;
    std::fs::create_dir(root.join("d"))?;
    std::fs::write(root.join("d/inner"), "inner")?;
    std::fs::create_dir(root.join("e"))
}

/// Spellings of paths relative to the mount: names that exist (file, directories), names
/// that do not, each plain, with a trailing slash, and followed by `.` or `..`.
fn spellings() -> Vec<String> {
    let bases = ["f", "d", "e", "d/inner", "new", "d/new", "f/x", "new/x"];
    let suffixes = [
        "", "/", "//", "/.", "/..", "/./", "/../", "/../e", "/./inner",
    ];
    let mut out = Vec::new();
    for base in bases {
        for suffix in suffixes {
            out.push(format!("{base}{suffix}"));
        }
    }
    out
}

/// One operation, run on the host with std (whose calls are the plain system calls) and
/// through the VFS, each answering the errno or 0.
#[derive(Debug, Clone, Copy)]
enum Op {
    Stat,
    Read,
    List,
    Write,
    Mkdir,
    Unlink,
    Rmdir,
    RenameFrom,
    RenameTo,
}

const OPS: [Op; 9] = [
    Op::Stat,
    Op::Read,
    Op::List,
    Op::Write,
    Op::Mkdir,
    Op::Unlink,
    Op::Rmdir,
    Op::RenameFrom,
    Op::RenameTo,
];

fn code<T>(r: io::Result<T>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.raw_os_error().unwrap_or(-1),
    }
}

fn on_host(root: &Path, op: Op, rel: &str) -> i32 {
    let path = format!("{}/{rel}", root.display());
    match op {
        Op::Stat => code(std::fs::symlink_metadata(&path)),
        Op::Read => code(std::fs::read(&path)),
        Op::List => code(std::fs::read_dir(&path)),
        Op::Write => code(
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path),
        ),
        Op::Mkdir => code(std::fs::create_dir(&path)),
        Op::Unlink => code(std::fs::remove_file(&path)),
        Op::Rmdir => code(std::fs::remove_dir(&path)),
        // From the spelling to a new name; and a file or directory (matching the spelling's
        // kind, so both kinds of destination are covered) to the spelling.
        Op::RenameFrom => code(std::fs::rename(&path, root.join("moved"))),
        Op::RenameTo => code(std::fs::rename(root.join(source_for(rel)), &path)),
    }
}

/// What [`Op::RenameTo`] moves: the empty directory for spellings that name a directory.
fn source_for(rel: &str) -> &'static str {
    if rel.ends_with('/') || rel.ends_with('.') {
        "e"
    } else {
        "f"
    }
}

fn through_vfs(vfs: &Vfs, op: Op, rel: &str) -> Result<i32, Box<dyn std::error::Error>> {
    let path: VfsPath = format!("/m/{rel}").parse()?;
    let errno = |e: Option<i32>| e.unwrap_or(-1);
    Ok(match op {
        Op::Stat => unrestricted(vfs)
            .stat(&path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::Read => unrestricted(vfs)
            .read(&path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::List => unrestricted(vfs)
            .read_dir(&path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::Write => unrestricted(vfs)
            .write(&path, b"x", WriteMode::Replace)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::Mkdir => unrestricted(vfs)
            .mkdir(&path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::Unlink => unrestricted(vfs)
            .unlink(&path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::Rmdir => unrestricted(vfs)
            .rmdir(&path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::RenameFrom => unrestricted(vfs)
            .rename(&path, &"/m/moved".parse()?)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::RenameTo => unrestricted(vfs)
            .rename(&format!("/m/{}", source_for(rel)).parse()?, &path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
    })
}

fn name(code: i32) -> String {
    if code == 0 {
        "ok".to_owned()
    } else {
        io::Error::from_raw_os_error(code).to_string()
    }
}
