//! Linux is the reference: every operation, on every spelling of a path (trailing `/`, `.`
//! and `..` after a file or a directory, a missing name), answers through a writable VFS
//! mount exactly what the same system call answers on the host directory behind it.

use std::io;
use std::path::Path;
use std::sync::Arc;

use vfs_etc::{Access, HostDir, MemoryMetastore, Vfs, VfsPath, WriteMode};

use crate::support::TestResult;

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
        Op::Stat => vfs.stat(&path).err().map_or(0, |e| errno(e.raw_os_error())),
        Op::Read => vfs.read(&path).err().map_or(0, |e| errno(e.raw_os_error())),
        Op::List => vfs
            .read_dir(&path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::Write => vfs
            .write(&path, b"x", WriteMode::Replace)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::Mkdir => vfs
            .mkdir(&path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::Unlink => vfs
            .unlink(&path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::Rmdir => vfs
            .rmdir(&path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::RenameFrom => vfs
            .rename(&path, &"/m/moved".parse()?)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
        Op::RenameTo => vfs
            .rename(&format!("/m/{}", source_for(rel)).parse()?, &path)
            .err()
            .map_or(0, |e| errno(e.raw_os_error())),
    })
}

/// Regression (issue 12): paths were normalised lexically, so `stat f/` and `stat f/..`
/// succeeded and `write new/` created a file.
#[test]
fn every_operation_on_every_spelling_answers_what_linux_answers() -> TestResult {
    let mut differences = Vec::new();
    for rel in spellings() {
        for op in OPS {
            let host = tempfile::tempdir()?;
            tree(host.path())?;
            let expected = on_host(host.path(), op, &rel);

            let mounted = tempfile::tempdir()?;
            tree(mounted.path())?;
            let mut vfs = Vfs::new();
            vfs.mount(
                "/m".parse()?,
                Arc::new(HostDir::open_writable(mounted.path())?),
                Arc::new(MemoryMetastore::new()),
                Access::ReadWrite,
            )?;
            let got = through_vfs(&vfs, op, &rel)?;
            if got != expected {
                differences.push(format!(
                    "{op:?} `{rel}`: linux {}, vfs {}",
                    name(expected),
                    name(got)
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    Ok(())
}

fn name(code: i32) -> String {
    if code == 0 {
        "ok".to_owned()
    } else {
        io::Error::from_raw_os_error(code).to_string()
    }
}

/// Nothing larger than [`vfs_etc::MAX_FILE_SIZE`] is written (`EFBIG`, Linux's "file too
/// large"), and nothing is created by the refused call.
#[test]
fn a_write_over_the_limit_is_efbig_and_creates_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut vfs = Vfs::new();
    vfs.mount(
        "/m".parse()?,
        Arc::new(HostDir::open_writable(dir.path())?),
        Arc::new(MemoryMetastore::new()),
        Access::ReadWrite,
    )?;
    let big = vec![b'x'; vfs_etc::MAX_FILE_SIZE + 1];
    let err = vfs
        .write(&"/m/big".parse()?, &big, WriteMode::Replace)
        .err()
        .ok_or("wrote more than the limit")?;
    assert_eq!(err.raw_os_error(), Some(27), "{err}");
    assert!(!dir.path().join("big").exists());
    let exact = vec![b'x'; vfs_etc::MAX_FILE_SIZE];
    vfs.write(&"/m/big".parse()?, &exact, WriteMode::Replace)?;
    assert_eq!(vfs.read(&"/m/big".parse()?)?.data.len(), exact.len());
    Ok(())
}

/// A mount point is a name: spelled `/m/` or `/m/.` it is still busy and still exists.
#[test]
fn a_mount_point_spelled_as_a_directory_is_still_the_mount_point() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut vfs = Vfs::new();
    vfs.mount(
        "/m/".parse()?,
        Arc::new(HostDir::open_writable(dir.path())?),
        Arc::new(MemoryMetastore::new()),
        Access::ReadWrite,
    )?;
    let errno = |r: Option<i32>| r.unwrap_or(-1);
    let busy = 16;
    for spelling in ["/m", "/m/", "//m//"] {
        let path: VfsPath = spelling.parse()?;
        let rmdir = vfs.rmdir(&path).err().map(|e| errno(e.raw_os_error()));
        assert_eq!(rmdir, Some(busy), "rmdir {spelling}");
        let mv = vfs.rename(&path, &"/m/x".parse()?).err();
        assert_eq!(
            mv.map(|e| errno(e.raw_os_error())),
            Some(busy),
            "mv {spelling}"
        );
        let mkdir = vfs.mkdir(&path).err().map(|e| errno(e.raw_os_error()));
        assert_eq!(mkdir, Some(17), "mkdir {spelling}");
        assert!(vfs.read_dir(&path)?.is_empty());
    }
    assert_eq!(
        vfs.rmdir(&"/m/.".parse()?)
            .err()
            .map(|e| errno(e.raw_os_error())),
        Some(22)
    );
    let names: Vec<String> = vfs
        .read_dir(&"/".parse()?)?
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["m"]);
    Ok(())
}
