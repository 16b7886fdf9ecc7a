//! Linux is the reference: every operation, on every spelling of a path (trailing `/`, `.`
//! and `..` after a file or a directory, a missing name), answers through a writable VFS
//! mount exactly what the same system call answers on the host directory behind it.

use std::io;
use std::path::Path;
use std::sync::Arc;

use vfs_etc::{Access, Backend, HostDir, MemoryBackend, MemoryMetastore, Vfs, VfsPath, WriteMode};

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

/// The mounts compared with the host: a writable host directory, and the in-memory backend
/// behind `nexus vfs`'s `/tmp`, each holding [`tree`].
fn mounted(
    backend_kind: &str,
) -> Result<(Vfs, Option<tempfile::TempDir>), Box<dyn std::error::Error>> {
    let mut vfs = Vfs::new();
    let (backend, dir): (Arc<dyn Backend>, _) = if backend_kind == "host" {
        let dir = tempfile::tempdir()?;
        tree(dir.path())?;
        (Arc::new(HostDir::open_writable(dir.path())?), Some(dir))
    } else {
        let memory = MemoryBackend::new();
        memory.write("f", b"file", true)?;
        memory.mkdir("d")?;
        memory.write("d/inner", b"inner", true)?;
        memory.mkdir("e")?;
        (Arc::new(memory), None)
    };
    vfs.mount(
        "/m".parse()?,
        backend,
        Arc::new(MemoryMetastore::new()),
        Access::ReadWrite,
    )?;
    Ok((vfs, dir))
}

/// Regression (issue 12): paths were normalised lexically, so `stat f/` and `stat f/..`
/// succeeded and `write new/` created a file.
#[test]
fn every_operation_on_every_spelling_answers_what_linux_answers() -> TestResult {
    let mut differences = Vec::new();
    for backend in ["host", "memory"] {
        for rel in spellings() {
            for op in OPS {
                let host = tempfile::tempdir()?;
                tree(host.path())?;
                let expected = on_host(host.path(), op, &rel);
                let (vfs, _dir) = mounted(backend)?;
                let got = through_vfs(&vfs, op, &rel)?;
                if got != expected {
                    differences.push(format!(
                        "{backend} {op:?} `{rel}`: linux {}, vfs {}",
                        name(expected),
                        name(got)
                    ));
                }
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

/// `rename` between the names of [`tree`]: into itself, over a file, a full or an empty
/// directory, onto itself, to and from missing names.
#[test]
fn rename_between_existing_names_answers_what_linux_answers() -> TestResult {
    let names = [
        "f",
        "d",
        "e",
        "d/inner",
        "new",
        "d/sub",
        "e/sub",
        "f/x",
        "d/inner/x",
        "new/x",
    ];
    let mut differences = Vec::new();
    for backend in ["host", "memory"] {
        for from in names {
            for to in names {
                let host = tempfile::tempdir()?;
                tree(host.path())?;
                let expected = code(std::fs::rename(
                    host.path().join(from),
                    host.path().join(to),
                ));
                let (vfs, _dir) = mounted(backend)?;
                let got = vfs
                    .rename(&format!("/m/{from}").parse()?, &format!("/m/{to}").parse()?)
                    .err()
                    .map_or(0, |e| e.raw_os_error().unwrap_or(-1));
                if got != expected {
                    differences.push(format!(
                        "{backend} rename `{from}` `{to}`: linux {}, vfs {}",
                        name(expected),
                        name(got)
                    ));
                }
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

const READ_ONLY_CHILD_ENV: &str = "VFS_ETC_LINUX_READ_ONLY_TREE";

/// The same comparison on a read-only mount, where Linux's order between the path checks and
/// `EROFS` matters (`write f/` is `EISDIR`, `unlink f/` is `EROFS`, `rmdir d/.` is `EINVAL`):
/// the host side runs on a read-only bind mount in a private user and mount namespace.
#[test]
fn every_operation_on_a_read_only_mount_answers_what_linux_answers() -> TestResult {
    let host = tempfile::tempdir()?;
    tree(host.path())?;
    let child = crate::support::child_command(
        "linux::read_only_comparison_child",
        &[(READ_ONLY_CHILD_ENV, host.path())],
    )?;
    let out = std::process::Command::new("unshare")
        .arg("-rm")
        .arg("sh")
        .arg("-c")
        .arg(r#"mount --bind -o ro "$0" "$0" && exec "$@""#)
        .arg(host.path())
        .arg(child.get_program())
        .args(child.get_args())
        .env(READ_ONLY_CHILD_ENV, host.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child: compared"),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Runs inside the namespace `every_operation_on_a_read_only_mount_answers_what_linux_answers`
/// sets up: the tree is read-only there, for the kernel and for the VFS.
#[test]
#[ignore = "child process of every_operation_on_a_read_only_mount_answers_what_linux_answers"]
fn read_only_comparison_child() -> TestResult {
    // The parent test's hand-off, not configuration.
    #[allow(clippy::disallowed_methods)]
    let Some(root) = std::env::var_os(READ_ONLY_CHILD_ENV) else {
        return Ok(());
    };
    let root = Path::new(&root);
    let probe = std::fs::write(root.join("probe"), "x").err();
    assert_eq!(
        probe.and_then(|e| e.raw_os_error()),
        Some(30),
        "the tree is not read-only"
    );
    let mut vfs = Vfs::new();
    vfs.mount(
        "/m".parse()?,
        Arc::new(HostDir::open_read_only(root)?),
        Arc::new(MemoryMetastore::new()),
        Access::ReadOnly,
    )?;
    let mut differences = Vec::new();
    let mut cases = 0;
    for rel in spellings() {
        for op in OPS {
            cases += 1;
            let expected = on_host(root, op, &rel);
            let got = through_vfs(&vfs, op, &rel)?;
            if got != expected {
                differences.push(format!(
                    "read-only {op:?} `{rel}`: linux {}, vfs {}",
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
    println!("child: compared {cases} cases");
    Ok(())
}
