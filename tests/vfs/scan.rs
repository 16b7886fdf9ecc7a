//! What the boot scan cannot show: an unreadable directory, a subtree deeper than PATH_MAX,
//! special files and odd names, a file over the size limit; each said once, none fatal.

#[allow(clippy::wildcard_imports)] // the helpers of `tests/vfs/mod.rs`
use super::*;

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
        confd::StateDir::at(s.path()).vfs_metastore().display()
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
