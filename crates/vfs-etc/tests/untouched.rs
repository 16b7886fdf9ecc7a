//! `mount_etc` registers metadata only: the host tree is byte-, mtime- and ctime-identical
//! after boot, and boot works when `$STATE/etc` cannot be written at all.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use vfs_etc::boot;
use vfs_etc::metastore::{Metastore, RedbMetastore};

use crate::support::{
    TestResult, child_command, p, snapshot, state_with, store_path, unrestricted,
};

const CHILD_ENV: &str = "VFS_ETC_RO_BIND_STATE";

fn fixture() -> std::io::Result<tempfile::TempDir> {
    state_with(&[
        ("conf.d/mounts", "auto_sync = true\n"),
        ("conf.d/cache.d/50-x.toml", "backend = \"null\"\n"),
        ("conf.d/llm", "provider = \"openai\"\n"),
        ("hosts", "127.0.0.1 localhost\n"),
    ])
}

/// Boots twice and reads, stats and lists everything, as a session would.
fn exercise(state: &Path) -> TestResult {
    for _ in 0..2 {
        let (vfs, _) = boot(state)?;
        for file in [
            "/etc/conf.d/mounts",
            "/etc/conf.d/cache.d/50-x.toml",
            "/etc/conf.d/llm",
            "/etc/hosts",
        ] {
            unrestricted(&vfs).read(&p(file))?;
            unrestricted(&vfs).stat(&p(file))?;
        }
        unrestricted(&vfs).read_dir(&p("/etc/conf.d"))?;
    }
    Ok(())
}

#[test]
fn boot_leaves_every_host_file_identical() -> TestResult {
    let state = fixture()?;
    let etc = state.path().join("etc");
    let before = snapshot(&etc)?;
    exercise(state.path())?;
    assert_eq!(
        snapshot(&etc)?,
        before,
        "content, mtime, ctime, inode or mode changed, or a file appeared"
    );
    // The store lives beside `etc`, not in it.
    let store = store_path(state.path());
    assert!(store.starts_with(state.path().join("var/lib")) && store.is_file());
    assert!(RedbMetastore::open(&store)?.generation()? > 0);
    Ok(())
}

/// As root, permission bits do not stop writes, so this only proves that boot needs no write
/// permission; the read-only bind mount below is the real proof. Kept because it is the only
/// check available where user namespaces are disabled.
#[test]
fn boot_needs_no_write_permission() -> TestResult {
    let state = fixture()?;
    let etc = state.path().join("etc");
    for dir in [etc.join("conf.d/cache.d"), etc.join("conf.d"), etc.clone()] {
        for file in std::fs::read_dir(&dir)? {
            let file = file?.path();
            if file.is_file() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444))?;
            }
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555))?;
    }
    let before = snapshot(&etc)?;
    exercise(state.path())?;
    assert_eq!(snapshot(&etc)?, before);
    let probe = tempfile::tempdir()?;
    std::fs::set_permissions(probe.path(), std::fs::Permissions::from_mode(0o555))?;
    if std::fs::write(probe.path().join("x"), "x").is_ok() {
        println!(
            "note: running privileged, so 0555/0444 modes do not prevent writes; see the bind-mount test"
        );
    }
    std::fs::set_permissions(probe.path(), std::fs::Permissions::from_mode(0o755))?;
    for dir in [etc.clone(), etc.join("conf.d"), etc.join("conf.d/cache.d")] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[test]
fn boot_works_on_a_read_only_bind_mount() -> TestResult {
    let state = fixture()?;
    let etc = state.path().join("etc");
    let before = snapshot(&etc)?;
    // A private user + mount namespace, where `$STATE/etc` is bind-mounted over itself
    // read-only; the child test then boots inside it.
    let probe = Command::new("unshare").args(["-rm", "true"]).output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            println!(
                "skipped: `unshare -rm` is not allowed here ({}); boot_needs_no_write_permission ran instead",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return Ok(());
        }
        Err(e) => {
            println!(
                "skipped: cannot run `unshare` ({e}); boot_needs_no_write_permission ran instead"
            );
            return Ok(());
        }
    }
    let child = child_command(
        "untouched::read_only_bind_child",
        &[(CHILD_ENV, state.path())],
    )?;
    let program = child.get_program().to_owned();
    let args: Vec<_> = child.get_args().map(ToOwned::to_owned).collect();
    let out = Command::new("unshare")
        .arg("-rm")
        .arg("sh")
        .arg("-c")
        .arg(r#"mount --bind -o ro "$0" "$0" && exec "$@""#)
        .arg(&etc)
        .arg(program)
        .args(args)
        .env(CHILD_ENV, state.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child: booted on a read-only /etc"),
        "child failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(snapshot(&etc)?, before);
    Ok(())
}

/// Runs inside the namespace set up by `boot_works_on_a_read_only_bind_mount`.
#[test]
#[ignore = "child process of boot_works_on_a_read_only_bind_mount"]
fn read_only_bind_child() -> TestResult {
    // The parent test's hand-off, not configuration: the env seam rule does not apply.
    #[allow(clippy::disallowed_methods)]
    let Some(state) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let state = Path::new(&state);
    // Prove the file system really is read-only here, even for root.
    let err = std::fs::write(state.join("etc/probe"), "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(30), "expected EROFS, got {err}");
    let (vfs, report) = boot(state)?;
    assert!(report.committed && report.added >= 7);
    assert_eq!(
        unrestricted(&vfs).read(&p("/etc/conf.d/mounts"))?.data,
        b"auto_sync = true\n"
    );
    assert!(unrestricted(&vfs).stat(&p("/etc/hosts"))?.etag.is_some());
    println!("child: booted on a read-only /etc");
    Ok(())
}
