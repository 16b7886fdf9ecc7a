//! Live sync: host edits after boot are seen, through the watcher, a direct reconcile (what a
//! `Rescan` triggers) and the check every read makes.

use std::time::Duration;

use vfs_etc::entry::{Etag, Kind};
use vfs_etc::{boot, watch};

use crate::support::{TestResult, eventually, p, state_with, unrestricted};

const PATIENCE: Duration = Duration::from_secs(10);

fn fixture() -> std::io::Result<tempfile::TempDir> {
    state_with(&[
        ("conf.d/mounts", "auto_sync = true\n"),
        ("conf.d/cache", "backend = \"auto\"\n"),
    ])
}

#[test]
fn read_rechecks_against_the_open_file() -> TestResult {
    let state = fixture()?;
    let (vfs, _) = boot(state.path())?;
    let before = unrestricted(&vfs).stat(&p("/etc/conf.d/mounts"))?;
    // No watcher: only the read's own fstat check can notice.
    std::fs::write(
        state.path().join("etc/conf.d/mounts"),
        "auto_sync = false\n",
    )?;
    let read = unrestricted(&vfs).read(&p("/etc/conf.d/mounts"))?;
    assert_eq!(read.data, b"auto_sync = false\n");
    assert_eq!(read.metadata.etag, Some(Etag::of(&read.data)));
    assert_eq!(read.metadata.size, 18);
    assert_eq!(read.metadata.version, before.version + 1);
    // And stat agrees afterwards.
    assert_eq!(
        unrestricted(&vfs).stat(&p("/etc/conf.d/mounts"))?,
        read.metadata
    );
    // A deleted file is reported gone, and its entry with it.
    std::fs::remove_file(state.path().join("etc/conf.d/cache"))?;
    assert_eq!(
        unrestricted(&vfs)
            .read(&p("/etc/conf.d/cache"))
            .unwrap_err()
            .raw_os_error(),
        Some(2)
    );
    assert_eq!(
        unrestricted(&vfs)
            .stat(&p("/etc/conf.d/cache"))
            .unwrap_err()
            .raw_os_error(),
        Some(2)
    );
    Ok(())
}

#[test]
fn reconcile_catches_up_like_a_rescan() -> TestResult {
    let state = fixture()?;
    let etc = state.path().join("etc");
    let (vfs, _) = boot(state.path())?;
    // Hash both files so their entries are complete and `stat` answers from the store alone.
    unrestricted(&vfs).stat(&p("/etc/conf.d/mounts"))?;
    unrestricted(&vfs).stat(&p("/etc/conf.d/cache"))?;
    std::fs::write(etc.join("conf.d/mounts"), "auto_sync = false\n")?;
    std::fs::remove_file(etc.join("conf.d/cache"))?;
    std::fs::create_dir_all(etc.join("conf.d/llm.d"))?;
    std::fs::write(etc.join("conf.d/llm.d/10-a.toml"), "model = \"x\"\n")?;
    // Before: the metastore still has the old picture.
    assert!(unrestricted(&vfs).stat(&p("/etc/conf.d/cache")).is_ok());
    let report = vfs.reconcile(&p("/etc"))?;
    assert_eq!(
        (report.changed, report.removed, report.added),
        (1, 1, 2),
        "{report:?}"
    );
    assert!(unrestricted(&vfs).stat(&p("/etc/conf.d/cache")).is_err());
    assert_eq!(
        unrestricted(&vfs).stat(&p("/etc/conf.d/mounts"))?.etag,
        Some(Etag::of(b"auto_sync = false\n"))
    );
    assert_eq!(
        unrestricted(&vfs)
            .read(&p("/etc/conf.d/llm.d/10-a.toml"))?
            .data,
        b"model = \"x\"\n"
    );
    Ok(())
}

#[test]
fn watcher_follows_host_edits() -> TestResult {
    let state = fixture()?;
    let etc = state.path().join("etc");
    let (vfs, _) = boot(state.path())?;
    let _watcher = watch(&vfs, &p("/etc"))?;
    let etag_is = |path: &str, content: &[u8]| {
        unrestricted(&vfs).stat(&p(path)).ok().and_then(|m| m.etag) == Some(Etag::of(content))
    };
    assert!(etag_is("/etc/conf.d/mounts", b"auto_sync = true\n"));

    // In-place write.
    std::fs::write(etc.join("conf.d/mounts"), "auto_sync = false\n")?;
    assert!(
        eventually(PATIENCE, || etag_is(
            "/etc/conf.d/mounts",
            b"auto_sync = false\n"
        )),
        "in-place edit"
    );

    // Editor save: write a temp file, rename it over the original.
    std::fs::write(etc.join("conf.d/.mounts.swp"), "auto_sync = true # saved\n")?;
    std::fs::rename(etc.join("conf.d/.mounts.swp"), etc.join("conf.d/mounts"))?;
    assert!(
        eventually(PATIENCE, || etag_is(
            "/etc/conf.d/mounts",
            b"auto_sync = true # saved\n"
        )),
        "rename save"
    );
    assert!(
        eventually(PATIENCE, || unrestricted(&vfs)
            .stat(&p("/etc/conf.d/.mounts.swp"))
            .is_err()),
        "temp file left"
    );

    // Delete.
    std::fs::remove_file(etc.join("conf.d/cache"))?;
    assert!(
        eventually(PATIENCE, || unrestricted(&vfs)
            .stat(&p("/etc/conf.d/cache"))
            .is_err()),
        "delete"
    );

    // Create.
    std::fs::write(etc.join("conf.d/search"), "zoekt_url = \"x\"\n")?;
    assert!(
        eventually(PATIENCE, || etag_is(
            "/etc/conf.d/search",
            b"zoekt_url = \"x\"\n"
        )),
        "create"
    );

    // A new subdirectory with a file written straight away, and a nested one later.
    std::fs::create_dir(etc.join("conf.d/search.d"))?;
    std::fs::write(etc.join("conf.d/search.d/10-a.toml"), "a = 1\n")?;
    assert!(
        eventually(PATIENCE, || etag_is(
            "/etc/conf.d/search.d/10-a.toml",
            b"a = 1\n"
        )),
        "new dir"
    );
    std::fs::create_dir(etc.join("conf.d/search.d/deeper"))?;
    std::fs::write(etc.join("conf.d/search.d/deeper/x"), "x\n")?;
    assert!(
        eventually(PATIENCE, || etag_is(
            "/etc/conf.d/search.d/deeper/x",
            b"x\n"
        )),
        "nested new dir"
    );
    let kinds: Vec<(String, Kind)> = unrestricted(&vfs)
        .read_dir(&p("/etc/conf.d/search.d"))?
        .into_iter()
        .map(|d| (d.name, d.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("10-a.toml".into(), Kind::File),
            ("deeper".into(), Kind::Dir)
        ]
    );

    // A directory removed with everything in it.
    std::fs::remove_dir_all(etc.join("conf.d/search.d"))?;
    assert!(
        eventually(PATIENCE, || unrestricted(&vfs)
            .stat(&p("/etc/conf.d/search.d/deeper/x"))
            .is_err()),
        "rm -r"
    );
    assert!(unrestricted(&vfs).stat(&p("/etc/conf.d/search.d")).is_err());
    Ok(())
}

const NOBODY_CHILD_ENV: &str = "VFS_ETC_WATCH_AS_NOBODY_STATE";

/// Sibling of issue 12's unreadable directory: inotify needs read access to every directory it
/// watches, so one directory the user may not read made `watch` fail as a whole. The watcher
/// now watches every other directory, new ones included; run as `nobody`.
#[test]
fn watch_works_around_a_directory_the_user_may_not_read() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let state = fixture()?;
    let set = |rel: &str, mode: u32| {
        std::fs::set_permissions(
            state.path().join(rel),
            std::fs::Permissions::from_mode(mode),
        )
    };
    std::fs::create_dir(state.path().join("etc/private"))?;
    std::fs::write(state.path().join("etc/private/token"), "hunter2\n")?;
    set("etc/private", 0o700)?;
    // Where the unprivileged child makes its own changes.
    std::fs::create_dir(state.path().join("etc/open"))?;
    set("etc/open", 0o777)?;
    set("", 0o755)?;
    let child = crate::support::child_command(
        "watching::watch_as_nobody_child",
        &[(NOBODY_CHILD_ENV, state.path())],
    )?;
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(child.get_program())
        .args(child.get_args())
        .env(NOBODY_CHILD_ENV, state.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child: watched as nobody"),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Runs as `nobody` for `watch_works_around_a_directory_the_user_may_not_read`.
#[test]
#[ignore = "child process of watch_works_around_a_directory_the_user_may_not_read"]
fn watch_as_nobody_child() -> TestResult {
    // The parent test's hand-off, not configuration.
    #[allow(clippy::disallowed_methods)]
    let Some(state) = std::env::var_os(NOBODY_CHILD_ENV) else {
        return Ok(());
    };
    let state = std::path::Path::new(&state);
    assert!(
        std::fs::read_dir(state.join("etc/private")).is_err(),
        "not unprivileged"
    );
    let (vfs, report) = boot(state)?;
    assert_eq!(report.unreadable, 1, "{report:?}");
    let _watcher = watch(&vfs, &p("/etc"))?;
    // A new file in a watched directory, then a new directory and a file inside it.
    std::fs::write(state.join("etc/open/a"), "a = 1\n")?;
    assert!(eventually(PATIENCE, || unrestricted(&vfs)
        .stat(&p("/etc/open/a"))
        .is_ok()));
    std::fs::create_dir(state.join("etc/open/sub"))?;
    assert!(eventually(PATIENCE, || unrestricted(&vfs)
        .stat(&p("/etc/open/sub"))
        .is_ok()));
    std::fs::write(state.join("etc/open/sub/b"), "b = 2\n")?;
    assert!(
        eventually(PATIENCE, || unrestricted(&vfs)
            .stat(&p("/etc/open/sub/b"))
            .is_ok()),
        "a file in a directory created after the watch started"
    );
    let names: Vec<String> = unrestricted(&vfs)
        .read_dir(&p("/etc/open/sub"))?
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["b"]);
    assert_eq!(
        unrestricted(&vfs)
            .read_dir(&p("/etc/private"))
            .err()
            .and_then(|e| e.raw_os_error()),
        Some(13)
    );
    println!("child: watched as nobody");
    Ok(())
}

/// Regression: every read of a watched file is an inotify event (open, close), and a burst
/// lasted until 30 ms passed without one, so a steady reader kept the watcher from ever
/// applying a host change.
#[test]
fn a_steady_reader_does_not_keep_changes_from_being_seen() -> TestResult {
    let state = state_with(&[("conf.d/mounts", "a = 1\n"), ("conf.d/cache", "b = 2\n")])?;
    let (vfs, _) = vfs_etc::boot(state.path())?;
    let _watcher = vfs_etc::watch(&vfs, &p("/etc"))?;
    // A new file: only the watcher can register it (a stat of a known file re-checks it
    // itself).
    std::fs::write(state.path().join("etc/conf.d/new"), "b = 22222\n")?;
    let seen = eventually(Duration::from_secs(5), || {
        // The reads themselves come every 25 ms, inside the 30 ms settle window.
        let _ = unrestricted(&vfs).read(&p("/etc/conf.d/mounts"));
        unrestricted(&vfs).stat(&p("/etc/conf.d/new")).is_ok()
    });
    assert!(seen, "the edit was not seen while a reader kept reading");
    Ok(())
}
