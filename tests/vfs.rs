//! `nexus vfs …`: the booted VFS from the command line, read-only refusals included.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn nexus(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("--state-dir")
        .arg(state)
        .arg("vfs")
        .args(args)
        .env_remove("NEXUS_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run nexus")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn state() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf_d = dir.path().join("etc/conf.d");
    std::fs::create_dir_all(conf_d.join("cache.d")).expect("mkdir");
    std::fs::write(conf_d.join("mounts"), "auto_sync = true\n").expect("write");
    std::fs::write(conf_d.join("cache.d/50-x.toml"), "backend = \"null\"\n").expect("write");
    dir
}

#[test]
fn vfs_ls_cat_stat_show_the_host_files() {
    let s = state();
    let ls = nexus(s.path(), &["ls", "/etc/conf.d"]);
    assert_eq!(
        (ls.status.code(), stdout(&ls).as_str()),
        (Some(0), "cache.d/\nmounts\n"),
        "{}",
        stderr(&ls)
    );
    // The first boot created the store in the background; the command waited for it, so it
    // is complete on disk, under its own name only.
    let store_dir = s.path().join("var/lib/vfs");
    let mut names: Vec<_> = std::fs::read_dir(&store_dir)
        .expect("store dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["vfs-meta.redb"]);
    let reboot = vfs_etc::boot(s.path()).expect("boot");
    assert!(!reboot.1.committed, "the first boot's store was complete");
    drop(reboot);
    let root = nexus(s.path(), &["ls", "/"]);
    assert_eq!(stdout(&root), "etc/\ntmp/\n");

    let cat = nexus(s.path(), &["cat", "/etc/conf.d/mounts"]);
    assert_eq!(
        (cat.status.code(), stdout(&cat).as_str()),
        (Some(0), "auto_sync = true\n")
    );

    let stat = nexus(s.path(), &["stat", "/etc/conf.d/mounts"]);
    let text = stdout(&stat);
    assert_eq!(stat.status.code(), Some(0), "{}", stderr(&stat));
    assert!(
        text.contains("path: /etc/conf.d/mounts\nkind: file\nsize: 17\n"),
        "{text}"
    );
    assert!(text.contains("version: 1\n"), "{text}");
    let etag = blake3_hex(b"auto_sync = true\n");
    assert!(text.contains(&format!("etag: blake3:{etag}\n")), "{text}");
}

#[test]
fn vfs_mutations_under_etc_are_refused_in_one_line() {
    let s = state();
    let before = std::fs::read(s.path().join("etc/conf.d/mounts")).expect("read");
    let cases: &[(&[&str], &str)] = &[
        (
            &["write", "/etc/conf.d/mounts", "auto_sync = false"],
            "error: cannot write `/etc/conf.d/mounts`: read-only file system (os error 30)\n",
        ),
        (
            &["rm", "/etc/conf.d/mounts"],
            "error: cannot remove `/etc/conf.d/mounts`: read-only file system (os error 30)\n",
        ),
        (
            &["mkdir", "/etc/conf.d/mounts.d"],
            "error: cannot create directory `/etc/conf.d/mounts.d`: read-only file system (os error 30)\n",
        ),
        (
            &["mv", "/etc/conf.d/mounts", "/etc/conf.d/old"],
            "error: cannot move `/etc/conf.d/mounts` to `/etc/conf.d/old`: read-only file system (os error 30)\n",
        ),
        (
            &["mv", "/etc/conf.d/mounts", "/tmp/mounts"],
            "error: cannot move `/etc/conf.d/mounts` to `/tmp/mounts`: invalid cross-device link (os error 18)\n",
        ),
        (
            &["write", "/etc/missing/x", "x"],
            "error: cannot write `/etc/missing/x`: no such file or directory (os error 2)\n",
        ),
        (
            &["cat", "/etc/conf.d/nope"],
            "error: cannot read `/etc/conf.d/nope`: no such file or directory (os error 2)\n",
        ),
        (
            &["cat", "/etc/conf.d"],
            "error: cannot read `/etc/conf.d`: is a directory (os error 21)\n",
        ),
        (
            &["ls", "/etc/conf.d/mounts"],
            "error: cannot list `/etc/conf.d/mounts`: not a directory (os error 20)\n",
        ),
    ];
    for (args, expected) in cases {
        let o = nexus(s.path(), args);
        assert_eq!(
            (o.status.code(), stderr(&o).as_str()),
            (Some(1), *expected),
            "{args:?}"
        );
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(
        std::fs::read(s.path().join("etc/conf.d/mounts")).expect("read"),
        before
    );
    assert!(!s.path().join("etc/conf.d/mounts.d").exists());
}

#[test]
fn vfs_write_from_stdin_is_refused_under_etc_too() {
    let s = state();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("--state-dir")
        .arg(s.path())
        .args(["vfs", "write", "/etc/conf.d/mounts", "--from-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"auto_sync = false\n")
        .expect("write stdin");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).ends_with("read-only file system (os error 30)\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn vfs_tmp_is_writable() {
    let s = state();
    let o = nexus(s.path(), &["write", "/tmp/note", "hello"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = nexus(s.path(), &["mkdir", "/tmp/d"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn vfs_rejects_a_relative_path_as_usage_error() {
    let s = state();
    let o = nexus(s.path(), &["cat", "etc/conf.d/mounts"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("must be absolute"), "{}", stderr(&o));
}

#[test]
fn vfs_without_an_etc_dir_fails_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let o = nexus(dir.path(), &["ls", "/etc"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: cannot mount `")
            && err.ends_with(
                "no such file or directory (os error 2); run `nexus config init` to create it\n"
            ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

/// The etag `nexus vfs stat` should print for `data`.
fn blake3_hex(data: &[u8]) -> String {
    vfs_etc::Etag::of(data).to_string()
}

/// Commands run in parallel on one state dir take turns with the metadata store (each holds
/// it for milliseconds) instead of failing with "database already open".
#[test]
fn parallel_vfs_commands_on_one_state_dir_all_succeed() {
    let s = state();
    for round in 0..3 {
        let children: Vec<_> = (0..6)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_nexus"))
                    .arg("--state-dir")
                    .arg(s.path())
                    .args(["vfs", "stat", "/etc/conf.d/mounts"])
                    .env_remove("NEXUS_STATE_DIR")
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("run nexus")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().expect("wait");
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                stderr(&out)
            );
            assert!(stdout(&out).contains("version: 1\n"), "{}", stdout(&out));
        }
    }
}
