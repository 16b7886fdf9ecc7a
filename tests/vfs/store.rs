//! The metadata store is secret-bearing and root's: private whatever the umask, never holding
//! an etag its owner may not read, owned as the state dir, never reached through a planted
//! symlink or FIFO, and moved from its legacy place.

#[allow(clippy::wildcard_imports)] // the helpers of `tests/vfs/mod.rs`
use super::*;

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
    let store = confd::StateDir::at(s.path()).vfs_metastore();
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
    chmod(&confd::StateDir::at(s.path()).vfs_metastore(), 0o644);
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
    let store = confd::StateDir::at(s.path()).vfs_metastore();
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
    let store = confd::StateDir::at(s.path()).vfs_metastore();
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
        std::fs::copy(confd::StateDir::at(s.path()).vfs_metastore(), &legacy).expect("copy");
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
        assert!(confd::StateDir::at(s.path()).vfs_metastore().exists());
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
        let store = confd::StateDir::at(s.path()).vfs_metastore();
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
    let store = confd::StateDir::at(s.path()).vfs_metastore();
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
    let store = confd::StateDir::at(s.path()).vfs_metastore();
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
