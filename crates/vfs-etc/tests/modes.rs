//! Modes of what the VFS creates are fixed whatever the umask: DESIGN.md §5's 0644 files and
//! 0755 directories through a writable host mount, and the metadata store (which holds the
//! etag of every file, secret ones included) 0600 in a 0700 directory of its own.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use vfs_etc::backend::HostDir;
use vfs_etc::metastore::{Batch, MemoryMetastore, Metastore, RedbMetastore};
use vfs_etc::vfs::Access;
use vfs_etc::{Vfs, WriteMode};

use crate::support::{TestResult, child_command, p, unrestricted};

const DIR_ENV: &str = "VFS_ETC_MODES_DIR";
const UMASK_ENV: &str = "VFS_ETC_MODES_UMASK";

fn mode_of(path: &Path) -> std::io::Result<u32> {
    Ok(std::fs::symlink_metadata(path)?.permissions().mode() & 0o7777)
}

/// The child: under the umask its parent chose, creates a file and a directory through a
/// writable host mount, and a store with its directories.
#[test]
#[ignore = "run by create_modes_do_not_depend_on_the_umask in a child process"]
fn create_under_a_umask_child() -> TestResult {
    // The parent's instructions to its child process, not configuration.
    #[allow(clippy::disallowed_methods)]
    let (Some(dir), Some(umask)) = (std::env::var_os(DIR_ENV), std::env::var_os(UMASK_ENV)) else {
        return Ok(());
    };
    let dir = Path::new(&dir);
    let umask = umask.to_str().ok_or("umask not utf-8")?;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(u32::from_str_radix(
        umask, 8,
    )?));
    std::fs::create_dir(dir.join("host"))?;
    let mut vfs = Vfs::new();
    vfs.mount(
        p("/m"),
        Arc::new(HostDir::open_writable(dir.join("host"))?),
        Arc::new(MemoryMetastore::new()),
        Access::ReadWrite,
    )?;
    unrestricted(&vfs).write(&p("/m/file"), b"x", WriteMode::CreateNew)?;
    unrestricted(&vfs).write(&p("/m/replaced"), b"x", WriteMode::Replace)?;
    unrestricted(&vfs).mkdir(&p("/m/dir"))?;
    let store = RedbMetastore::open(dir.join("var/lib/vfs/store.redb"))?;
    store.commit(&Batch::default())?;
    Ok(())
}

/// Regression (issue 12): with umask 000 the store was created 0666 in 0777 directories.
#[test]
fn create_modes_do_not_depend_on_the_umask() -> TestResult {
    for umask in ["000", "077", "022"] {
        let dir = tempfile::tempdir()?;
        let out = child_command(
            "modes::create_under_a_umask_child",
            &[(DIR_ENV, dir.path()), (UMASK_ENV, Path::new(umask))],
        )?
        .output()?;
        assert!(
            out.status.success(),
            "umask {umask}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let d = dir.path();
        let got = [
            "host/file",
            "host/replaced",
            "host/dir",
            "var",
            "var/lib",
            "var/lib/vfs",
            "var/lib/vfs/store.redb",
        ]
        .map(|rel| mode_of(&d.join(rel)).map(|m| format!("{rel} {m:o}")));
        let got: Vec<String> = got.into_iter().collect::<Result<_, _>>()?;
        assert_eq!(
            got,
            [
                "host/file 644",
                "host/replaced 644",
                "host/dir 755",
                "var 755",
                "var/lib 755",
                "var/lib/vfs 700",
                "var/lib/vfs/store.redb 600",
            ],
            "umask {umask}"
        );
    }
    Ok(())
}

/// Replacing an existing file keeps its mode, as `open(O_TRUNC)` does.
#[test]
fn a_replaced_file_keeps_its_mode() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("secret"), "old")?;
    std::fs::set_permissions(
        dir.path().join("secret"),
        std::fs::Permissions::from_mode(0o600),
    )?;
    let mut vfs = Vfs::new();
    vfs.mount(
        p("/m"),
        Arc::new(HostDir::open_writable(dir.path())?),
        Arc::new(MemoryMetastore::new()),
        Access::ReadWrite,
    )?;
    unrestricted(&vfs).write(&p("/m/secret"), b"new", WriteMode::Replace)?;
    assert_eq!(mode_of(&dir.path().join("secret"))?, 0o600);
    assert_eq!(std::fs::read(dir.path().join("secret"))?, b"new");
    Ok(())
}

/// A store file left readable by others is tightened when its owner opens it.
#[test]
fn a_loose_store_is_tightened_by_its_owner() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.redb");
    RedbMetastore::open(&path)?.commit(&Batch::default())?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    let store = RedbMetastore::open(&path)?;
    assert_eq!(mode_of(&path)?, 0o600);
    assert_eq!(store.generation()?, 1, "its content is kept");
    Ok(())
}
