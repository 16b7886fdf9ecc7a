//! A store this process cannot write (another user's, `chattr +i`, not creatable): reads
//! still work, and each command says once that versions are not being kept.

#[allow(clippy::wildcard_imports)] // the helpers of `tests/vfs/mod.rs`
use super::*;

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
            chmod(&confd::StateDir::at(s.path()).vfs_metastore(), 0o644);
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

/// Regression (issue 12): with a store that cannot be written (`chattr +i`), one version
/// number was served for two different contents, silently. Each command now says, once, that
/// versions are not being kept; an unchanged store keeps serving without the note.
#[test]
fn vfs_says_once_when_versions_are_not_being_kept() {
    let s = state();
    let mounts = s.path().join("etc/conf.d/mounts");
    let stat = nexus(s.path(), &["stat", "/etc/conf.d/mounts"]);
    assert!(stdout(&stat).contains("version: 1\n"), "{}", stdout(&stat));
    let store = confd::StateDir::at(s.path()).vfs_metastore();
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
