//! `nexus vfs ls|cat|stat|write|rm|mkdir|mv`: what each command shows, the read-only
//! refusals under `/etc`, standard input, path spellings and JSON.

#[allow(clippy::wildcard_imports)] // the helpers of `tests/vfs/mod.rs`
use super::*;

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
    // By default an anonymous local caller may only read (DESIGN.md §11).
    let o = nexus(s.path(), &["write", "/tmp/note", "hello"]);
    assert_eq!(
        (o.status.code(), stderr(&o).as_str()),
        (
            Some(1),
            "error: cannot write `/tmp/note`: permission denied (os error 13)\n"
        )
    );
    grant_anonymous_local(s.path(), "write");
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

/// Regression (issue 12): `vfs write /etc/… --from-stdin </dev/zero` read until memory ran
/// out before refusing. The target is checked first (Linux's order: parent, then the
/// read-only mount), and what is read is bounded.
#[test]
fn vfs_write_from_endless_stdin_is_refused_before_reading_it() {
    let s = state();
    grant_anonymous_local(s.path(), "write");
    let cases: &[(&[&str], &str)] = &[
        (
            &["write", "/etc/conf.d/mounts", "--from-stdin"],
            "error: cannot write `/etc/conf.d/mounts`: read-only file system (os error 30)\n",
        ),
        (
            &["write", "/etc/conf.d/mounts"],
            "error: cannot write `/etc/conf.d/mounts`: read-only file system (os error 30)\n",
        ),
        (
            &["write", "/etc/missing/x", "--from-stdin"],
            "error: cannot write `/etc/missing/x`: no such file or directory (os error 2)\n",
        ),
        (
            &["write", "/tmp/new/", "--from-stdin"],
            "error: cannot write `/tmp/new/`: is a directory (os error 21)\n",
        ),
        // Writable: read, but no more than the documented maximum.
        (
            &["write", "/tmp/big", "--from-stdin"],
            "error: standard input holds more than 1024 KiB, the most `nexus vfs write` accepts\n",
        ),
        (
            &["write", "/tmp/big"],
            "error: standard input holds more than 1024 KiB, the most `nexus vfs write` accepts\n",
        ),
    ];
    for (args, expected) in cases {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nexus"))
            .arg("--state-dir")
            .arg(s.path())
            .arg("vfs")
            .args(*args)
            .env_remove("NEXUS_STATE_DIR")
            .stdin(std::fs::File::open("/dev/zero").expect("/dev/zero"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{args:?}: still reading standard input after 30 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let o = child.wait_with_output().expect("output");
        assert_eq!(
            (o.status.code(), stderr(&o).as_str()),
            (Some(1), *expected),
            "{args:?}"
        );
    }
}

/// Regression (issue 12): without CONTENT and without `--from-stdin`, a pipe was a usage
/// error; as `etcdctl put KEY` does, a standard input that is not a terminal is the content.
#[test]
fn vfs_write_without_content_reads_a_pipe_but_not_a_terminal() {
    use std::io::Write as _;
    let s = state();
    grant_anonymous_local(s.path(), "write");
    let write = |path: &str, stdin: Stdio| {
        Command::new(env!("CARGO_BIN_EXE_nexus"))
            .arg("--state-dir")
            .arg(s.path())
            .args(["vfs", "write", path])
            .env_remove("NEXUS_STATE_DIR")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let mut child = write("/tmp/note", Stdio::piped());
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello\n")
        .expect("write stdin");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // Standard input that cannot be read says so, naming it.
    let o = write(
        "/tmp/note",
        Stdio::from(std::fs::File::open("/").expect("open /")),
    )
    .wait_with_output()
    .expect("wait");
    assert_eq!(
        (o.status.code(), stderr(&o).as_str()),
        (
            Some(1),
            "error: cannot read standard input: is a directory (os error 21)\n"
        )
    );

    // A terminal: a forgotten CONTENT, not a wish to type the file in.
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().expect("utf-8 pts name"))
        .expect("open the terminal");
    let o = write("/tmp/note", Stdio::from(tty))
        .wait_with_output()
        .expect("wait");
    assert_eq!(
        (o.status.code(), stderr(&o).as_str()),
        (
            Some(2),
            "error: `nexus vfs write` needs CONTENT, or content piped on standard input (or --from-stdin to type it)\n"
        )
    );
}

/// Regression (issue 12): trailing slashes and `.`/`..` after a file were resolved
/// lexically. (Every operation and spelling is compared with Linux in vfs-etc's
/// `linux` tests; this is what the command line shows.)
#[test]
fn vfs_paths_spelled_as_directories_answer_as_linux() {
    let s = state();
    let cases: &[(&[&str], &str)] = &[
        (
            &["stat", "/etc/conf.d/mounts/"],
            "error: cannot stat `/etc/conf.d/mounts/`: not a directory (os error 20)\n",
        ),
        (
            &["stat", "/etc/conf.d/mounts/.."],
            "error: cannot stat `/etc/conf.d/mounts/..`: not a directory (os error 20)\n",
        ),
        (
            &["stat", "/etc/conf.d/mounts/x"],
            "error: cannot stat `/etc/conf.d/mounts/x`: not a directory (os error 20)\n",
        ),
        (
            &["cat", "/etc/conf.d/mounts/"],
            "error: cannot read `/etc/conf.d/mounts/`: not a directory (os error 20)\n",
        ),
        (
            &["ls", "/etc/conf.d/mounts/."],
            "error: cannot list `/etc/conf.d/mounts/.`: not a directory (os error 20)\n",
        ),
        (
            &["write", "/tmp/new/", "x"],
            "error: cannot write `/tmp/new/`: is a directory (os error 21)\n",
        ),
        (
            &["write", "/etc/conf.d/mounts/", "x"],
            "error: cannot write `/etc/conf.d/mounts/`: is a directory (os error 21)\n",
        ),
        (
            &["mkdir", "/etc/conf.d/mounts/../x"],
            "error: cannot create directory `/etc/conf.d/mounts/../x`: not a directory (os error 20)\n",
        ),
        (
            &["mkdir", "/etc/conf.d/."],
            "error: cannot create directory `/etc/conf.d/.`: file exists (os error 17)\n",
        ),
        (
            &["rm", "/tmp/."],
            "error: cannot remove directory `/tmp/.`: invalid argument (os error 22)\n",
        ),
        (
            &["mv", "/etc/conf.d/mounts/..", "/etc/x"],
            "error: cannot move `/etc/conf.d/mounts/..` to `/etc/x`: not a directory (os error 20)\n",
        ),
        (
            &["mv", "/etc/conf.d/cache.d/.", "/etc/x"],
            "error: cannot move `/etc/conf.d/cache.d/.` to `/etc/x`: device or resource busy (os error 16)\n",
        ),
    ];
    for (args, expected) in cases {
        let o = nexus(s.path(), args);
        assert_eq!(
            (o.status.code(), stderr(&o).as_str()),
            (Some(1), *expected),
            "{args:?}"
        );
    }
    let o = nexus(s.path(), &["stat", "/etc/conf.d/cache.d/../mounts"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("kind: file\n"), "{}", stdout(&o));
    let o = nexus(s.path(), &["ls", "/etc/conf.d/"]);
    assert_eq!(stdout(&o), "cache.d/\nmounts\n");
}

/// Regression (issue 12): `--format json` was accepted and ignored by every `nexus vfs`
/// subcommand. `ls` and `stat` print the documents of docs/JSON.md.
#[test]
fn vfs_ls_and_stat_print_json() {
    let s = state();
    let run = |args: &[&str]| {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let o = nexus(s.path(), &all);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)))
    };
    assert_eq!(
        run(&["ls", "/etc/conf.d"]),
        serde_json::json!({ "path": "/etc/conf.d", "entries": [
            { "name": "cache.d", "kind": "dir" },
            { "name": "mounts", "kind": "file" },
        ]})
    );
    let stat = run(&["stat", "/etc/conf.d/mounts"]);
    let etag = format!("blake3:{}", blake3_hex(b"auto_sync = true\n"));
    assert_eq!(stat["path"], "/etc/conf.d/mounts");
    assert_eq!(stat["kind"], "file");
    assert_eq!(stat["size"], 17);
    assert_eq!(stat["version"], 1);
    assert_eq!(stat["etag"], etag.as_str());
    assert!(
        stat["mtime"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{stat}"
    );
    let dir = run(&["stat", "/etc/conf.d"]);
    assert_eq!(
        (dir["kind"].as_str(), dir["etag"].is_null()),
        (Some("dir"), true)
    );
    let root = run(&["ls", "/"]);
    assert_eq!(
        root["entries"],
        serde_json::json!([{ "name": "etc", "kind": "dir" }, { "name": "tmp", "kind": "dir" }])
    );
}
