//! Linux is the reference: every operation, on every spelling of a path (trailing `/`, `.`
//! and `..` after a file or a directory, a missing name), answers through a writable VFS
//! mount exactly what the same system call answers on the host directory behind it.

use std::io;
use std::path::Path;
use std::sync::Arc;

use vfs_etc::backend::{Backend, HostDir, MemoryBackend};
use vfs_etc::metastore::MemoryMetastore;
use vfs_etc::vfs::Access;
use vfs_etc::{Vfs, VfsPath, WriteMode};

use crate::support::{TestResult, unrestricted};

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

/// Nothing larger than [`vfs_etc::vfs::MAX_FILE_SIZE`] is written (`EFBIG`, Linux's "file too
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
    let big = vec![b'x'; vfs_etc::vfs::MAX_FILE_SIZE + 1];
    let err = unrestricted(&vfs)
        .write(&"/m/big".parse()?, &big, WriteMode::Replace)
        .err()
        .ok_or("wrote more than the limit")?;
    assert_eq!(err.raw_os_error(), Some(27), "{err}");
    assert!(!dir.path().join("big").exists());
    let exact = vec![b'x'; vfs_etc::vfs::MAX_FILE_SIZE];
    unrestricted(&vfs).write(&"/m/big".parse()?, &exact, WriteMode::Replace)?;
    assert_eq!(
        unrestricted(&vfs).read(&"/m/big".parse()?)?.data.len(),
        exact.len()
    );
    Ok(())
}

/// A mount point is a name: spelled `/m/` or `/m/.` it is still busy and still exists. (On a
/// writable file system: Linux checks `EROFS` of the directory a mount point is in first.)
#[test]
fn a_mount_point_spelled_as_a_directory_is_still_the_mount_point() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut vfs = Vfs::new();
    vfs.mount(
        "/".parse()?,
        Arc::new(MemoryBackend::new()),
        Arc::new(MemoryMetastore::new()),
        Access::ReadWrite,
    )?;
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
        let rmdir = unrestricted(&vfs)
            .rmdir(&path)
            .err()
            .map(|e| errno(e.raw_os_error()));
        assert_eq!(rmdir, Some(busy), "rmdir {spelling}");
        let mv = unrestricted(&vfs).rename(&path, &"/y".parse()?).err();
        assert_eq!(
            mv.map(|e| errno(e.raw_os_error())),
            Some(busy),
            "mv {spelling}"
        );
        // Into the mount itself: from `/`'s file system to `/m`'s.
        let mv = unrestricted(&vfs).rename(&path, &"/m/x".parse()?).err();
        assert_eq!(
            mv.map(|e| errno(e.raw_os_error())),
            Some(18),
            "mv {spelling}"
        );
        let mkdir = unrestricted(&vfs)
            .mkdir(&path)
            .err()
            .map(|e| errno(e.raw_os_error()));
        assert_eq!(mkdir, Some(17), "mkdir {spelling}");
        assert!(unrestricted(&vfs).read_dir(&path)?.is_empty());
    }
    assert_eq!(
        unrestricted(&vfs)
            .rmdir(&"/m/.".parse()?)
            .err()
            .map(|e| errno(e.raw_os_error())),
        Some(22)
    );
    let names: Vec<String> = unrestricted(&vfs)
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
                let got = unrestricted(&vfs)
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

const LAYOUT_CHILD_ENV: &str = "VFS_ETC_LINUX_NEXUS_LAYOUT";

/// Regression (issue 12): `rm /etc`, `mv /etc /x` were `EBUSY` and `mv /etc/conf.d/mounts
/// /tmp`, `mv /tmp /tmp/x` were `EROFS` or `EBUSY`, where Linux answers `EROFS` and `EXDEV`:
/// it decides by the file system of the directory a name is in (`/` for `/etc`), and checks
/// `EXDEV` before `EBUSY` before `EROFS`. The layout of `nexus vfs` (`/` read-only, a
/// read-only `/etc`, a writable `/tmp`) is built for real in a private user and mount
/// namespace, entered with `chroot`, and every mutating call on every name is compared.
#[test]
fn mutations_across_the_nexus_layout_answer_what_linux_answers() -> TestResult {
    let work = tempfile::tempdir()?;
    let (root, etc) = (work.path().join("root"), work.path().join("etc"));
    for d in [root.join("etc"), root.join("tmp"), etc.join("conf.d")] {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(etc.join("conf.d/mounts"), "auto_sync = true\n")?;
    std::fs::write(etc.join("hosts"), "h\n")?;
    let child = crate::support::child_command(
        "linux::nexus_layout_comparison_child",
        &[(LAYOUT_CHILD_ENV, &root)],
    )?;
    let out = std::process::Command::new("unshare")
        .arg("-rm")
        .arg("sh")
        .arg("-c")
        .arg(
            r#"mount --bind -o ro "$0" "$0" && mount --bind -o ro "$1" "$0/etc" \
               && mount -t tmpfs tmpfs "$0/tmp" && shift && exec "$@""#,
        )
        .arg(&root)
        .arg(&etc)
        .arg(child.get_program())
        .args(child.get_args())
        .env(LAYOUT_CHILD_ENV, &root)
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

/// The scratch tree of `/tmp`, on the host (after emptying it) and in memory.
fn scratch(host: Option<&Path>, memory: &MemoryBackend) -> io::Result<()> {
    if let Some(tmp) = host {
        for entry in std::fs::read_dir(tmp)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(path)?;
            } else {
                std::fs::remove_file(path)?;
            }
        }
        std::fs::write(tmp.join("f"), "file")?;
        std::fs::create_dir(tmp.join("d"))?;
        std::fs::write(tmp.join("d/inner"), "inner")?;
        std::fs::create_dir(tmp.join("e"))?;
    }
    memory.write("f", b"file", true)?;
    memory.mkdir("d")?;
    memory.write("d/inner", b"inner", true)?;
    memory.mkdir("e")?;
    Ok(())
}

/// Runs inside the namespace of `mutations_across_the_nexus_layout_answer_what_linux_answers`,
/// chrooted into the layout: the paths below are the kernel's own.
#[test]
#[ignore = "child process of mutations_across_the_nexus_layout_answer_what_linux_answers"]
fn nexus_layout_comparison_child() -> TestResult {
    // The parent test's hand-off, not configuration.
    #[allow(clippy::disallowed_methods)]
    let Some(root) = std::env::var_os(LAYOUT_CHILD_ENV) else {
        return Ok(());
    };
    std::os::unix::fs::chroot(&root)?;
    std::env::set_current_dir("/")?;
    let names = [
        "/",
        "/.",
        "/..",
        "/x",
        "/etc",
        "/etc/",
        "/etc/.",
        "/etc/..",
        "/etc/conf.d",
        "/etc/conf.d/mounts",
        "/etc/conf.d/..",
        "/etc/missing",
        "/tmp",
        "/tmp/.",
        "/tmp/..",
        "/tmp/f",
        "/tmp/d",
        "/tmp/e",
        "/tmp/x",
    ];
    let vfs_errno =
        |r: Result<(), io::Error>| r.err().map_or(0, |e| e.raw_os_error().unwrap_or(-1));
    let mut differences = Vec::new();
    let mut cases = 0;
    let mut compare =
        |what: String, host: &dyn Fn() -> i32, vfs: &dyn Fn(&Vfs) -> i32| -> TestResult {
            let memory = MemoryBackend::new();
            scratch(Some(Path::new("/tmp")), &memory)?;
            let expected = host();
            let mut v = Vfs::new();
            v.mount(
                "/etc".parse()?,
                Arc::new(HostDir::open_read_only("/etc")?),
                Arc::new(MemoryMetastore::new()),
                Access::ReadOnly,
            )?;
            v.mount(
                "/tmp".parse()?,
                Arc::new(memory),
                Arc::new(MemoryMetastore::new()),
                Access::ReadWrite,
            )?;
            let got = vfs(&v);
            cases += 1;
            if got != expected {
                differences.push(format!(
                    "{what}: linux {}, vfs {}",
                    name(expected),
                    name(got)
                ));
            }
            Ok(())
        };
    for n in names {
        let path: VfsPath = n.parse()?;
        compare(
            format!("rmdir `{n}`"),
            &|| code(std::fs::remove_dir(n)),
            &|v| vfs_errno(unrestricted(v).rmdir(&path).map_err(Into::into)),
        )?;
        compare(
            format!("unlink `{n}`"),
            &|| code(std::fs::remove_file(n)),
            &|v| vfs_errno(unrestricted(v).unlink(&path).map_err(Into::into)),
        )?;
        compare(
            format!("write `{n}`"),
            &|| {
                code(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(n),
                )
            },
            &|v| {
                vfs_errno(
                    unrestricted(v)
                        .write(&path, b"x", WriteMode::Replace)
                        .map(drop)
                        .map_err(Into::into),
                )
            },
        )?;
        compare(
            format!("mkdir `{n}`"),
            &|| code(std::fs::create_dir(n)),
            &|v| vfs_errno(unrestricted(v).mkdir(&path).map(drop).map_err(Into::into)),
        )?;
        for to in names {
            let target: VfsPath = to.parse()?;
            compare(
                format!("rename `{n}` `{to}`"),
                &|| code(std::fs::rename(n, to)),
                &|v| vfs_errno(unrestricted(v).rename(&path, &target).map_err(Into::into)),
            )?;
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
