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

/// Gives anonymous local callers (`nexus vfs` without `--as` or `--remote`) `right` in the
/// state dir's VFS policy, for tests of what the VFS does once access is granted.
fn grant_anonymous_local(state: &Path, right: &str) {
    std::fs::create_dir_all(state.join("etc/conf.d")).expect("mkdir");
    std::fs::write(
        state.join("etc/conf.d/vfs"),
        format!("[policy]\nanonymous_local = \"{right}\"\n"),
    )
    .expect("write policy");
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

/// The etag `nexus vfs stat` should print for `data`.
fn blake3_hex(data: &[u8]) -> String {
    vfs_etc::entry::Etag::of(data).to_string()
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

/// `nexus vfs ARGS` on `state` as the unprivileged user `nobody` (the tests run as root).
fn nexus_as_nobody(state: &Path, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_nexus"))
        .arg("--state-dir")
        .arg(state)
        .arg("vfs")
        .args(args)
        .env_remove("NEXUS_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv")
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// A state dir that `nobody` may read (etc and the files in it) but not write.
fn state_readable_by_all() -> tempfile::TempDir {
    let s = state();
    chmod(s.path(), 0o755);
    s
}

/// Every file below `dir` with its bytes: proof that a command wrote nothing there.
fn contents_below(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                out.push((path.clone(), bytes, mode_of(&path)));
            }
        }
    }
    out.sort();
    out
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

/// Regression (issue 12): once a file changed, a user who may read `etc` but not write the
/// store could not `cat`, `stat` or `ls`: the read tried to commit the new entry. Reads are
/// served fresh from memory, and the store is left as it was.
#[test]
fn vfs_reads_work_for_a_user_who_cannot_write_the_store() {
    for store_readable in [false, true] {
        let s = state_readable_by_all();
        let o = nexus(s.path(), &["stat", "/etc/conf.d/mounts"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        if store_readable {
            // As an older version left it: readable by all, writable by root only.
            chmod(&s.path().join("var/lib/vfs"), 0o755);
            chmod(&vfs_etc::mount::metastore_path(s.path()), 0o644);
        }
        std::fs::write(s.path().join("etc/conf.d/mounts"), "auto_sync = false\n").expect("edit");
        std::fs::write(s.path().join("etc/conf.d/new"), "x = 1\n").expect("add");
        let before = contents_below(&s.path().join("var"));

        let cat = nexus_as_nobody(s.path(), &["cat", "/etc/conf.d/mounts"]);
        assert_eq!(
            (cat.status.code(), stdout(&cat).as_str()),
            (Some(0), "auto_sync = false\n"),
            "store readable: {store_readable}"
        );
        // The edit's new version lives in this command only, and it says so.
        assert!(
            stderr(&cat).starts_with("warning: versions under `/etc` are not being kept"),
            "{}",
            stderr(&cat)
        );
        let stat = nexus_as_nobody(s.path(), &["stat", "/etc/conf.d/mounts"]);
        assert_eq!(stat.status.code(), Some(0), "{}", stderr(&stat));
        let etag = blake3_hex(b"auto_sync = false\n");
        assert!(
            stdout(&stat).contains("size: 18\n")
                && stdout(&stat).contains(&format!("etag: blake3:{etag}\n")),
            "{}",
            stdout(&stat)
        );
        let ls = nexus_as_nobody(s.path(), &["ls", "/etc/conf.d"]);
        assert_eq!(
            (ls.status.code(), stdout(&ls).as_str()),
            (Some(0), "cache.d/\nmounts\nnew\n"),
            "{}",
            stderr(&ls)
        );
        assert_eq!(
            contents_below(&s.path().join("var")),
            before,
            "a reader that may not write the store wrote nothing"
        );
    }
}

/// Regression (issue 12): one directory the user may not read made every `vfs` command fail.
/// It is skipped with a counted note, listed, and `EACCES` when addressed.
#[test]
fn vfs_skips_an_unreadable_directory_and_refuses_it_when_addressed() {
    let s = state_readable_by_all();
    let private = s.path().join("etc/private");
    std::fs::create_dir(&private).expect("mkdir");
    std::fs::write(private.join("token"), "hunter2\n").expect("write");
    chmod(&private, 0o700);
    // `nobody` may not create the store in root's state dir either: it says so too.
    let note = format!(
        "warning: 1 directory under `/etc` skipped: permission denied\n\
         warning: versions under `/etc` are not being kept: the metadata store `{}` cannot be \
         written, so a later command may show the same version for other content\n",
        vfs_etc::mount::metastore_path(s.path()).display()
    );
    let note = note.as_str();

    let ls = nexus_as_nobody(s.path(), &["ls", "/etc"]);
    assert_eq!(
        (ls.status.code(), stdout(&ls).as_str(), stderr(&ls).as_str()),
        (Some(0), "conf.d/\nprivate/\n", note)
    );
    let cat = nexus_as_nobody(s.path(), &["cat", "/etc/conf.d/mounts"]);
    assert_eq!(
        (cat.status.code(), stdout(&cat).as_str()),
        (Some(0), "auto_sync = true\n")
    );
    let stat = nexus_as_nobody(s.path(), &["stat", "/etc/private"]);
    assert_eq!(stat.status.code(), Some(0), "{}", stderr(&stat));
    assert!(stdout(&stat).contains("kind: directory\n"));
    let denied: &[(&[&str], &str)] = &[
        (
            &["ls", "/etc/private"],
            "error: cannot list `/etc/private`: permission denied (os error 13)\n",
        ),
        (
            &["cat", "/etc/private/token"],
            "error: cannot read `/etc/private/token`: permission denied (os error 13)\n",
        ),
        (
            &["stat", "/etc/private/missing"],
            "error: cannot stat `/etc/private/missing`: permission denied (os error 13)\n",
        ),
        (
            &["stat", "/etc/private/.."],
            "error: cannot stat `/etc/private/..`: permission denied (os error 13)\n",
        ),
    ];
    for (args, expected) in denied {
        let o = nexus_as_nobody(s.path(), args);
        assert_eq!(
            (o.status.code(), stderr(&o)),
            (Some(1), format!("{note}{expected}")),
            "{args:?}"
        );
        assert!(!stdout(&o).contains("hunter2"));
    }
    // Root's process reads it all, and no note; through the VFS a file others could not
    // reach is secret (DESIGN.md §11), so only a caller with `admin` gets it.
    let o = nexus(s.path(), &["cat", "/etc/private/token"]);
    assert_eq!(
        (o.status.code(), stderr(&o).as_str()),
        (
            Some(1),
            "error: cannot read `/etc/private/token`: permission denied (os error 13)\n"
        )
    );
    grant_anonymous_local(s.path(), "admin");
    let o = nexus(s.path(), &["cat", "/etc/private/token"]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()),
        (Some(0), "hunter2\n", "")
    );
}

/// Runs `nexus vfs ARGS` with umask 000.
fn nexus_with_umask_000(state: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexus"));
    cmd.arg("--state-dir")
        .arg(state)
        .arg("vfs")
        .args(args)
        .env_remove("NEXUS_STATE_DIR")
        .stdin(Stdio::null());
    // SAFETY: umask is async-signal-safe and touches nothing but the child's own mask.
    unsafe {
        use std::os::unix::process::CommandExt as _;
        cmd.pre_exec(|| {
            rustix::process::umask(rustix::fs::Mode::empty());
            Ok(())
        });
    }
    cmd.output().expect("run nexus")
}

/// Regression (issue 12): the store holds the etag of 0600 secret files and was
/// world-readable (0666 under umask 000), so a weak password could be confirmed offline.
/// It is 0600 in a 0700 directory of its own whatever the umask, and a store left at the old
/// place with loose modes is moved there, entries and versions kept.
#[test]
fn vfs_store_is_private_whatever_the_umask() {
    let s = state();
    std::fs::write(
        s.path().join("etc/conf.d/database"),
        "url = \"postgres://u:pw@h/db\"\n",
    )
    .expect("write");
    chmod(&s.path().join("etc/conf.d/database"), 0o600);
    let o = nexus_with_umask_000(s.path(), &["stat", "/etc/conf.d/database"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let store = vfs_etc::mount::metastore_path(s.path());
    assert_eq!(
        [
            mode_of(&s.path().join("var")),
            mode_of(&s.path().join("var/lib")),
            mode_of(store.parent().expect("store dir")),
            mode_of(&store),
        ],
        [0o755, 0o755, 0o700, 0o600]
    );
    // Someone else cannot read it, not even by name.
    chmod(s.path(), 0o755);
    let peek = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat"])
        .arg(&store)
        .output()
        .expect("setpriv");
    assert!(!peek.status.success());

    // A store from an earlier version: world-readable, directly in var/lib.
    let legacy = s.path().join("var/lib/vfs-meta.redb");
    std::fs::rename(&store, &legacy).expect("move back");
    chmod(&legacy, 0o644);
    std::fs::write(s.path().join("etc/conf.d/mounts"), "auto_sync = false\n").expect("edit");
    let o = nexus_with_umask_000(s.path(), &["stat", "/etc/conf.d/mounts"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("version: 2\n"),
        "versions carried over: {}",
        stdout(&o)
    );
    assert!(!legacy.exists(), "the legacy store was moved");
    assert_eq!(mode_of(&store), 0o600);

    // A store in the right place with loose modes is tightened by its owner.
    chmod(&store, 0o644);
    chmod(store.parent().expect("store dir"), 0o755);
    let o = nexus_with_umask_000(s.path(), &["ls", "/etc"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        (mode_of(store.parent().expect("store dir")), mode_of(&store)),
        (0o700, 0o600)
    );
}

/// Sibling of the unbounded stdin (issue 12): a huge host file was read whole into memory by
/// `cat`, and by `stat` to hash it. Over the VFS's 1 MiB limit it is `EFBIG` to read and has
/// no etag.
#[test]
fn vfs_a_file_over_the_limit_is_refused_not_loaded() {
    let s = state();
    let huge = std::fs::File::create(s.path().join("etc/conf.d/huge")).expect("create");
    huge.set_len(8 << 30).expect("sparse 8 GiB");
    let cat = nexus(s.path(), &["cat", "/etc/conf.d/huge"]);
    assert_eq!(
        (cat.status.code(), stderr(&cat).as_str()),
        (
            Some(1),
            "error: cannot read `/etc/conf.d/huge`: file too large (os error 27)\n"
        )
    );
    assert!(cat.stdout.is_empty());
    let stat = nexus(s.path(), &["stat", "/etc/conf.d/huge"]);
    assert_eq!(stat.status.code(), Some(0), "{}", stderr(&stat));
    assert!(
        stdout(&stat).contains("size: 8589934592\n"),
        "{}",
        stdout(&stat)
    );
    assert!(!stdout(&stat).contains("etag"), "{}", stdout(&stat));
}

/// DESIGN.md §11: a file others may not read gets no etag for them, even when the store
/// they can read (one left world-readable by an older version) holds it.
#[test]
fn vfs_stat_shows_no_etag_of_a_file_the_user_cannot_read() {
    let s = state_readable_by_all();
    grant_anonymous_local(s.path(), "admin");
    let secret = s.path().join("etc/conf.d/database");
    std::fs::write(&secret, "url = \"postgres://u:pw@h/db\"\n").expect("write");
    chmod(&secret, 0o600);
    let root = nexus(s.path(), &["stat", "/etc/conf.d/database"]);
    let etag = blake3_hex(b"url = \"postgres://u:pw@h/db\"\n");
    assert!(
        stdout(&root).contains(&format!("etag: blake3:{etag}\n")),
        "{}",
        stdout(&root)
    );
    chmod(&s.path().join("var/lib/vfs"), 0o755);
    chmod(&vfs_etc::mount::metastore_path(s.path()), 0o644);
    let nobody = nexus_as_nobody(s.path(), &["stat", "/etc/conf.d/database"]);
    assert_eq!(nobody.status.code(), Some(0), "{}", stderr(&nobody));
    assert!(
        stdout(&nobody).contains("kind: file\n"),
        "{}",
        stdout(&nobody)
    );
    assert!(!stdout(&nobody).contains("etag"), "{}", stdout(&nobody));
}

/// `chown -R nobody:nogroup path`.
fn chown_to_nobody(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success());
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Regression (issue 12): root's `vfs stat` of a root-only file in a service's state dir
/// wrote the file's content hash into the store the service user owns, who could then confirm
/// a guessed password offline. Such an etag is shown to root, computed on demand, and never
/// stored; the etag of a file the service may read is still kept.
#[test]
fn vfs_store_never_holds_the_etag_of_a_file_its_owner_may_not_read() {
    use std::os::unix::fs::PermissionsExt;
    let s = state_readable_by_all();
    grant_anonymous_local(s.path(), "admin");
    chown_to_nobody(s.path());
    let ls = nexus_as_nobody(s.path(), &["ls", "/etc"]);
    assert_eq!(ls.status.code(), Some(0), "{}", stderr(&ls));
    // Root-only content: a 0600 file, a 0644 file in a 0700 directory, and a public file.
    let etc = s.path().join("etc");
    std::fs::create_dir(etc.join("rootonly")).expect("mkdir");
    std::fs::write(etc.join("rootonly/pw"), "hunter2\n").expect("write");
    chmod(&etc.join("rootonly/pw"), 0o600);
    std::fs::create_dir(etc.join("hidden")).expect("mkdir");
    chmod(&etc.join("hidden"), 0o700);
    std::fs::write(etc.join("hidden/open"), "swordfish\n").expect("write");
    chmod(&etc.join("hidden/open"), 0o644);
    std::fs::write(etc.join("public"), "hello\n").expect("write");
    chmod(&etc.join("public"), 0o644);
    for (path, content) in [
        ("/etc/rootonly/pw", &b"hunter2\n"[..]),
        ("/etc/hidden/open", b"swordfish\n"),
        ("/etc/public", b"hello\n"),
    ] {
        for _ in 0..2 {
            let stat = nexus(s.path(), &["stat", path]);
            assert_eq!(stat.status.code(), Some(0), "{}", stderr(&stat));
            let etag = blake3_hex(content);
            assert!(
                stdout(&stat).contains(&format!("etag: blake3:{etag}\n")),
                "root sees the etag of {path}: {}",
                stdout(&stat)
            );
        }
    }
    let store = vfs_etc::mount::metastore_path(s.path());
    let meta = std::fs::metadata(&store).expect("store");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let bytes = std::fs::read(&store).expect("read store");
    for secret in [&b"hunter2\n"[..], b"swordfish\n"] {
        let hash = vfs_etc::entry::Etag::of(secret).0;
        assert!(
            !contains_bytes(&bytes, &hash),
            "the store holds the hash of {secret:?}"
        );
    }
    assert!(
        contains_bytes(&bytes, &vfs_etc::entry::Etag::of(b"hello\n").0),
        "the etag of a file the store's owner may read is kept"
    );
}

/// Regression (issue 12): root's `vfs` in a service's state dir created `var/lib/vfs` and the
/// store owned by root, so the service was memory-only from then on, silently. What root
/// creates there takes the owner and group of the directory it is created in.
#[test]
fn vfs_store_root_creates_in_a_service_state_dir_stays_the_services() {
    use std::os::unix::fs::MetadataExt;
    let s = state_readable_by_all();
    chown_to_nobody(s.path());
    let ls = nexus(s.path(), &["ls", "/etc"]);
    assert_eq!(ls.status.code(), Some(0), "{}", stderr(&ls));
    let nobody = std::fs::metadata(s.path()).expect("state dir");
    let store = vfs_etc::mount::metastore_path(s.path());
    for p in [
        s.path().join("var"),
        s.path().join("var/lib"),
        s.path().join("var/lib/vfs"),
        store.clone(),
    ] {
        let m = std::fs::metadata(&p).expect("created");
        assert_eq!(
            (m.uid(), m.gid()),
            (nobody.uid(), nobody.gid()),
            "{}",
            p.display()
        );
    }
    // The service can keep versions in it: an edit is seen as version 2 by a later process.
    std::fs::write(s.path().join("etc/conf.d/mounts"), "auto_sync = false\n").expect("edit");
    let first = nexus_as_nobody(s.path(), &["stat", "/etc/conf.d/mounts"]);
    assert!(
        stdout(&first).contains("version: 2\n"),
        "{}",
        stdout(&first)
    );
    assert!(
        !stderr(&first).contains("not being kept"),
        "{}",
        stderr(&first)
    );
    let again = nexus(s.path(), &["stat", "/etc/conf.d/mounts"]);
    assert!(
        stdout(&again).contains("version: 2\n"),
        "{}",
        stdout(&again)
    );
}

/// Regression (issue 12): a legacy store at `var/lib/vfs-meta.redb` (0644, etags inside)
/// recreated by an older binary after the store moved to `var/lib/vfs/` was left as it was.
/// It is removed, by root and by the state dir's own user alike.
#[test]
fn vfs_a_legacy_store_recreated_beside_the_new_one_is_removed() {
    for as_nobody in [false, true] {
        let s = state_readable_by_all();
        let run = |args: &[&str]| {
            if as_nobody {
                nexus_as_nobody(s.path(), args)
            } else {
                nexus(s.path(), args)
            }
        };
        if as_nobody {
            chown_to_nobody(s.path());
        }
        let ls = run(&["ls", "/etc"]);
        assert_eq!(ls.status.code(), Some(0), "{}", stderr(&ls));
        let legacy = s.path().join("var/lib/vfs-meta.redb");
        std::fs::copy(vfs_etc::mount::metastore_path(s.path()), &legacy).expect("copy");
        chmod(&legacy, 0o644);
        if as_nobody {
            chown_to_nobody(&legacy);
        }
        let ls = run(&["ls", "/etc"]);
        assert_eq!(ls.status.code(), Some(0), "{}", stderr(&ls));
        assert!(
            legacy.symlink_metadata().is_err(),
            "legacy store left (as nobody: {as_nobody})"
        );
        assert!(vfs_etc::mount::metastore_path(s.path()).exists());
    }
}

/// `nexus vfs ARGS` on `state`, killed (and the test failed) if it runs for more than 10 s.
fn nexus_within_10s(state: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("--state-dir")
        .arg(state)
        .arg("vfs")
        .args(args)
        .env_remove("NEXUS_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nexus");
    let start = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`nexus vfs {}` hung", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// Sibling of the FIFO hang (issue 12): the store's directory belongs to whoever owns the
/// state dir, who could put a FIFO (or a symlink) where the store is; root's `vfs` then
/// blocked in redb's `open`. The store is opened without blocking or following a symlink,
/// and anything but a regular file is refused in one line.
#[test]
fn vfs_a_store_swapped_for_a_fifo_or_symlink_is_refused_without_blocking() {
    for kind in ["fifo", "symlink"] {
        let s = state();
        let ls = nexus(s.path(), &["ls", "/etc"]);
        assert_eq!(ls.status.code(), Some(0), "{}", stderr(&ls));
        let store = vfs_etc::mount::metastore_path(s.path());
        std::fs::remove_file(&store).expect("rm store");
        let target = s.path().join("elsewhere");
        std::fs::write(&target, "not a store\n").expect("write");
        chmod(&target, 0o644);
        if kind == "fifo" {
            let status = Command::new("mkfifo").arg(&store).status().expect("mkfifo");
            assert!(status.success());
        } else {
            std::os::unix::fs::symlink(&target, &store).expect("symlink");
        }
        let o = nexus_within_10s(s.path(), &["ls", "/etc"]);
        assert_eq!(o.status.code(), Some(1), "{kind}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("not a regular file"),
            "{kind}: {}",
            stderr(&o)
        );
        assert_eq!(std::fs::read(&target).expect("read"), b"not a store\n");
        assert_eq!(
            mode_of(&target),
            0o644,
            "{kind}: the link's target was not chmod'ed"
        );
    }
}

/// Makes `depth` nested directories `d` inside `dir`, one `mkdirat` at a time: the whole path
/// is longer than the kernel accepts in one call.
fn nest_dirs(dir: &Path, depth: usize) {
    use rustix::fs::{Mode, OFlags};
    let mut fd =
        rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).expect("open");
    for _ in 0..depth {
        rustix::fs::mkdirat(&fd, "d", Mode::from_raw_mode(0o755)).expect("mkdirat");
        fd = rustix::fs::openat(&fd, "d", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
            .expect("openat");
    }
}

/// Regression (issue 12): one subtree nested deeper than PATH_MAX made every `vfs` command
/// fail with "cannot scan `/etc`: file name too long". It is left out with a counted note,
/// the rest works, and naming it is `ENAMETOOLONG`.
#[test]
fn vfs_a_subtree_deeper_than_path_max_is_skipped_with_a_note() {
    let s = state();
    nest_dirs(&s.path().join("etc"), 2050);
    let cat = nexus(s.path(), &["cat", "/etc/conf.d/mounts"]);
    assert_eq!(
        (cat.status.code(), stdout(&cat).as_str()),
        (Some(0), "auto_sync = true\n"),
        "{}",
        stderr(&cat)
    );
    assert_eq!(
        stderr(&cat),
        "warning: 1 entry under `/etc` skipped: path longer than 4095 bytes\n"
    );
    let ls = nexus(s.path(), &["ls", "/etc"]);
    assert_eq!(stdout(&ls), "conf.d/\nd/\n", "{}", stderr(&ls));
    // The deepest directory the VFS can name is there; one more level is too long to name.
    let deepest = format!("/etc{}", "/d".repeat(2045));
    assert_eq!(deepest.len(), 4094);
    let ls = nexus(s.path(), &["ls", &deepest]);
    assert_eq!(
        (ls.status.code(), stdout(&ls).as_str()),
        (Some(0), ""),
        "{}",
        stderr(&ls)
    );
    let too_deep = format!("{deepest}/d");
    let stat = nexus(s.path(), &["stat", &too_deep]);
    assert_ne!(stat.status.code(), Some(0));
    // ENAMETOOLONG's case, said as a usage error before anything is looked up.
    assert!(
        stderr(&stat).contains("4096 bytes long, more than the 4095 a path may have"),
        "{}",
        stderr(&stat)
    );
}

/// Regression (issue 12): with a store that cannot be written (`chattr +i`), one version
/// number was served for two different contents, silently. Each command now says, once, that
/// versions are not being kept; an unchanged store keeps serving without the note.
#[test]
fn vfs_says_once_when_versions_are_not_being_kept() {
    let s = state();
    let mounts = s.path().join("etc/conf.d/mounts");
    let stat = nexus(s.path(), &["stat", "/etc/conf.d/mounts"]);
    assert!(stdout(&stat).contains("version: 1\n"), "{}", stdout(&stat));
    let store = vfs_etc::mount::metastore_path(s.path());
    let chattr = |flag: &str| {
        let status = Command::new("chattr")
            .arg(flag)
            .arg(&store)
            .status()
            .expect("chattr");
        assert!(status.success(), "chattr {flag}");
    };
    chattr("+i");
    let unchanged = nexus(s.path(), &["stat", "/etc/conf.d/mounts"]);
    let warning = "warning: versions under `/etc` are not being kept";
    assert!(
        !stderr(&unchanged).contains(warning),
        "{}",
        stderr(&unchanged)
    );
    let mut etags = Vec::new();
    for content in ["auto_sync = false\n", "auto_sync = 1\n"] {
        std::fs::write(&mounts, content).expect("edit");
        let stat = nexus(s.path(), &["stat", "/etc/conf.d/mounts"]);
        assert_eq!(stat.status.code(), Some(0), "{}", stderr(&stat));
        assert_eq!(
            stderr(&stat).matches(warning).count(),
            1,
            "{}",
            stderr(&stat)
        );
        etags.push(stdout(&stat));
    }
    chattr("-i");
    assert_ne!(etags[0], etags[1]);
}

/// Regression (issue 12): entries the VFS cannot show (a FIFO, a socket, a symlink, names
/// that are not UTF-8 or hold a control character) vanished from `vfs ls` without a word.
/// Each command says how many were left out, once.
#[test]
fn vfs_says_how_many_entries_it_cannot_show() {
    use std::os::unix::ffi::OsStrExt;
    let s = state();
    let etc = s.path().join("etc");
    let status = Command::new("mkfifo")
        .arg(etc.join("fifo"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let _socket = std::os::unix::net::UnixListener::bind(etc.join("conf.d/sock")).expect("bind");
    std::os::unix::fs::symlink("conf.d", etc.join("link")).expect("symlink");
    std::fs::write(etc.join(std::ffi::OsStr::from_bytes(b"not-utf8-\xff")), "x").expect("write");
    std::fs::write(etc.join("tab\there"), "x").expect("write");
    let ls = nexus(s.path(), &["ls", "/etc"]);
    assert_eq!(
        (ls.status.code(), stdout(&ls).as_str(), stderr(&ls).as_str()),
        (
            Some(0),
            "conf.d/\n",
            "warning: 5 entries under `/etc` not shown: symlinks, special files or names the VFS cannot represent\n"
        )
    );
    let clean = state();
    let ls = nexus(clean.path(), &["ls", "/etc"]);
    assert_eq!(stderr(&ls), "", "nothing left out, nothing said");
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

/// Sibling (issue 12): a symlink planted at the legacy store's place (`$STATE/var/lib`
/// belongs to the state dir's owner) was moved into place and `chmod`ed through by root's
/// `vfs`: the file it pointed to became 0600. It is left alone, and the store is made anew.
#[test]
fn vfs_a_symlink_at_the_legacy_store_place_is_not_followed() {
    let s = state();
    std::fs::create_dir_all(s.path().join("var/lib")).expect("mkdir");
    let victim = s.path().join("victim");
    std::fs::write(&victim, "shared\n").expect("write");
    chmod(&victim, 0o644);
    std::os::unix::fs::symlink(&victim, s.path().join("var/lib/vfs-meta.redb")).expect("symlink");
    let ls = nexus(s.path(), &["ls", "/etc"]);
    assert_eq!(ls.status.code(), Some(0), "{}", stderr(&ls));
    assert_eq!(mode_of(&victim), 0o644, "the link's target was chmod'ed");
    assert_eq!(std::fs::read(&victim).expect("read"), b"shared\n");
    let store = vfs_etc::mount::metastore_path(s.path());
    assert!(store.symlink_metadata().expect("store").is_file());
}

/// Sibling (issue 12): an etag stored while the store's owner could read the file stayed
/// in the store after a directory above it was made private. The next scan drops it.
#[test]
fn vfs_store_drops_an_etag_its_owner_can_no_longer_confirm() {
    let s = state_readable_by_all();
    chown_to_nobody(s.path());
    let etc = s.path().join("etc");
    std::fs::create_dir(etc.join("hidden")).expect("mkdir");
    std::fs::write(etc.join("hidden/open"), "swordfish\n").expect("write");
    chmod(&etc.join("hidden/open"), 0o644);
    let stat = nexus(s.path(), &["stat", "/etc/hidden/open"]);
    assert_eq!(stat.status.code(), Some(0), "{}", stderr(&stat));
    let store = vfs_etc::mount::metastore_path(s.path());
    let hash = vfs_etc::entry::Etag::of(b"swordfish\n").0;
    let etag_stored = || {
        let (vfs, _) = vfs_etc::boot(s.path()).expect("boot");
        drop(vfs);
        let bytes = std::fs::read(&store).expect("read store");
        contains_bytes(&bytes, &hash)
    };
    assert!(etag_stored(), "readable by the store's owner: kept");
    chmod(&etc.join("hidden"), 0o700);
    let ls = nexus(s.path(), &["ls", "/etc"]);
    assert_eq!(ls.status.code(), Some(0), "{}", stderr(&ls));
    let (vfs, _) = vfs_etc::boot(s.path()).expect("boot");
    // Below a directory others cannot search, the file is secret: an admin's to see.
    let admin = vfs_etc::access::Policy::new(&vfs_etc::access::VfsPolicy {
        policy: vfs_etc::access::AnonymousRights {
            anonymous_local: vfs_etc::Right::Admin,
            anonymous_remote: vfs_etc::Right::None,
        },
        ..vfs_etc::access::VfsPolicy::default()
    })
    .expect("policy");
    vfs.set_policy(admin);
    let meta = vfs
        .as_caller(&vfs_etc::Caller::AnonymousLocal)
        .stat(&"/etc/hidden/open".parse().expect("path"))
        .expect("stat");
    assert_eq!(
        meta.etag,
        Some(vfs_etc::entry::Etag::of(b"swordfish\n")),
        "root still sees it"
    );
    drop(vfs);
    let store_entry = vfs_etc::metastore::RedbMetastore::open(&store)
        .and_then(|m| vfs_etc::metastore::Metastore::get(&m, "hidden/open"))
        .expect("store")
        .expect("entry");
    assert_eq!(store_entry.etag, None, "the store no longer holds it");
}

/// Sibling: a store that cannot even be created (`$STATE/var` immutable) numbers every entry
/// from 1 in every command, whatever changed in between: said too.
#[test]
fn vfs_says_versions_are_not_kept_when_the_store_cannot_be_created() {
    let s = state();
    let var = s.path().join("var");
    std::fs::create_dir(&var).expect("mkdir");
    let chattr = |flag: &str| {
        let status = Command::new("chattr")
            .arg(flag)
            .arg(&var)
            .status()
            .expect("chattr");
        assert!(status.success(), "chattr {flag}");
    };
    chattr("+i");
    let stat = nexus(s.path(), &["stat", "/etc/conf.d/mounts"]);
    chattr("-i");
    assert_eq!(stat.status.code(), Some(0), "{}", stderr(&stat));
    assert_eq!(
        stderr(&stat)
            .matches("warning: versions under `/etc` are not being kept")
            .count(),
        1,
        "{}",
        stderr(&stat)
    );
}

/// Sibling (issue 12): `$STATE/var/lib` belongs to the state dir's owner, who could make
/// `var/lib/vfs` a symlink to any directory (`/etc/cron.d`): root's `vfs` then created its
/// store files there. Such a link is refused in one line and nothing is created through it;
/// one that stays inside the state dir is followed.
#[test]
fn vfs_as_root_refuses_a_planted_symlink_out_of_the_state_dir() {
    let s = state_readable_by_all();
    let outside = tempfile::tempdir().expect("outside");
    std::fs::create_dir_all(s.path().join("var/lib")).expect("mkdir");
    chown_to_nobody(s.path());
    let link = s.path().join("var/lib/vfs");
    std::os::unix::fs::symlink(outside.path(), &link).expect("symlink");
    let status = Command::new("chown")
        .args(["-h", "nobody:nogroup"])
        .arg(&link)
        .status()
        .expect("chown");
    assert!(status.success());
    let ls = nexus(s.path(), &["ls", "/etc"]);
    assert_eq!(ls.status.code(), Some(1), "{}", stderr(&ls));
    assert!(
        stderr(&ls)
            .contains("is a symbolic link owned by uid 65534 that leads out of the state dir"),
        "{}",
        stderr(&ls)
    );
    assert_eq!(std::fs::read_dir(outside.path()).expect("ls").count(), 0);
    // Inside the state dir: followed.
    std::fs::remove_file(&link).expect("rm");
    std::fs::create_dir(s.path().join("var/lib/vfs.real")).expect("mkdir");
    std::os::unix::fs::symlink("vfs.real", &link).expect("symlink");
    let ls = nexus(s.path(), &["ls", "/etc"]);
    assert_eq!(ls.status.code(), Some(0), "{}", stderr(&ls));
    assert!(s.path().join("var/lib/vfs.real/vfs-meta.redb").exists());
}
