//! Every operation on every spelling of a path through a writable mount, compared with the
//! system calls on the host directory behind it; writes over the limit; mount points
//! spelled as directories; renames between existing names.

#[allow(clippy::wildcard_imports)] // the helpers of this directory's `mod.rs`
use super::*;

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
