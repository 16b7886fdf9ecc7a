//! Issue 13: a path through a symbolic link in `$STATE/etc` (out of it, absolute, by `..`, or
//! staying inside) was "no such file or directory". Each command refuses it as the escape
//! attempt it is, in one line naming the path, and nothing outside is read or written.

#[allow(clippy::wildcard_imports)] // the helpers of `tests/vfs/mod.rs`
use super::*;

const MARKER: &str = "MARKER-OUTSIDE-ETC";

#[test]
fn vfs_refuses_every_path_through_a_symlink_as_an_escape_attempt() {
    let s = state();
    let etc = s.path().join("etc");
    let outside = s.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir");
    std::fs::write(outside.join("secret"), MARKER).expect("write");
    let link = |target: &Path, name: &str| {
        std::os::unix::fs::symlink(target, etc.join(name)).expect("symlink")
    };
    link(&outside.join("secret"), "abs");
    link(Path::new("../outside/secret"), "rel");
    link(Path::new("conf.d/../../outside/secret"), "dotdot");
    link(Path::new("../outside"), "dirlink");
    link(Path::new("conf.d/mounts"), "inside");
    let refusal = "refused as an escape attempt: it passes through a symbolic link on the host, \
                   which the VFS never follows\n";
    let cases: &[(&[&str], &str)] = &[
        (&["cat", "/etc/abs"], "cannot read `/etc/abs`"),
        (&["cat", "/etc/rel"], "cannot read `/etc/rel`"),
        (&["cat", "/etc/dotdot"], "cannot read `/etc/dotdot`"),
        (&["cat", "/etc/inside"], "cannot read `/etc/inside`"),
        (&["stat", "/etc/abs"], "cannot stat `/etc/abs`"),
        (&["ls", "/etc/dirlink"], "cannot list `/etc/dirlink`"),
        (
            &["cat", "/etc/dirlink/secret"],
            "cannot read `/etc/dirlink/secret`",
        ),
        (
            &["stat", "/etc/dirlink/secret"],
            "cannot stat `/etc/dirlink/secret`",
        ),
        (
            &["write", "/etc/dirlink/new", "x"],
            "cannot write `/etc/dirlink/new`",
        ),
        // The walk to the name meets the link before the read-only mount is asked about
        // (`rm /etc/abs` is `EROFS` first, as Linux's `unlink` decides it by the directory).
        (
            &["rm", "/etc/dirlink/secret"],
            "cannot remove `/etc/dirlink/secret`",
        ),
        (
            &["mv", "/etc/dirlink/secret", "/etc/x"],
            "cannot move `/etc/dirlink/secret` to `/etc/x`",
        ),
    ];
    for (args, what) in cases {
        let out = nexus(s.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        // The scan's note first (the symlinks are not shown), then the refusal.
        let skipped = "warning: 5 entries under `/etc` not shown: symlinks, special files or \
                       names the VFS cannot represent\n";
        assert_eq!(
            stderr(&out),
            format!("{skipped}error: {what}: {refusal}"),
            "{args:?}"
        );
        assert!(!stdout(&out).contains(MARKER), "{args:?} leaked");
    }
    // A missing name is still what it was.
    let out = nexus(s.path(), &["cat", "/etc/nothing"]);
    assert!(
        stderr(&out).contains("no such file or directory (os error 2)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("secret")).expect("read"),
        MARKER
    );
    assert!(!outside.join("new").exists());
}
