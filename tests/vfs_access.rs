//! `nexus vfs` as a caller (DESIGN.md §11): `--as NAME`, `--remote`, the secret bricks kept
//! from everyone but admins, `vfs stat`'s mode, owner and group, a policy that fails closed,
//! and `nexus config doctor`'s policy check.

use crate::support::{Run, Sandbox};

const API_KEY: &str = "sk-ant-e2e-do-not-print";

/// A seeded state dir whose `llm` brick (0600, as seeded) holds an API key.
fn seeded() -> Sandbox {
    let sandbox = Sandbox::new();
    let init = sandbox.run(&["config", "init"]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    let llm = sandbox.conf_d().join("llm");
    let mut text = std::fs::read_to_string(&llm).expect("llm");
    text.push_str(&format!("api_key = \"{API_KEY}\"\n"));
    // Rewritten in place: the mode stays the seeded 0600.
    std::fs::write(&llm, text).expect("write llm");
    sandbox
}

fn vfs(sandbox: &Sandbox, args: &[&str]) -> Run {
    let mut all = vec!["vfs"];
    all.extend_from_slice(args);
    sandbox.run(&all)
}

fn never_prints_the_key(run: &Run) {
    assert!(
        !run.stdout.contains(API_KEY) && !run.stderr.contains(API_KEY),
        "{}",
        run.transcript()
    );
}

#[test]
fn the_secret_brick_is_kept_from_anyone_but_an_admin() {
    let sandbox = seeded();
    let cat = vfs(&sandbox, &["cat", "/etc/conf.d/llm"]);
    assert_eq!(
        (cat.code, cat.stderr.as_str()),
        (
            1,
            "error: cannot read `/etc/conf.d/llm`: permission denied (os error 13)\n"
        )
    );
    never_prints_the_key(&cat);
    // Still listed, and stat shows what it is, without the etag.
    let ls = vfs(&sandbox, &["ls", "/etc/conf.d"]);
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    assert!(ls.stdout.lines().any(|l| l == "llm"), "{}", ls.stdout);
    let stat = vfs(&sandbox, &["stat", "/etc/conf.d/llm"]);
    assert_eq!(stat.code, 0, "{}", stat.stderr);
    assert!(
        stat.stdout.contains("mode: 0600 (-rw-------)\n"),
        "{}",
        stat.stdout
    );
    assert!(!stat.stdout.contains("etag"), "{}", stat.stdout);
    // A public brick is readable by the same caller, with its etag.
    let mounts = vfs(&sandbox, &["stat", "/etc/conf.d/mounts"]);
    assert!(
        mounts.stdout.contains("mode: 0644 (-rw-r--r--)\n"),
        "{}",
        mounts.stdout
    );
    assert!(mounts.stdout.contains("etag: blake3:"), "{}", mounts.stdout);

    // An admin by the policy reads it.
    sandbox.write(
        "vfs",
        "[[group]]\nname = \"admins\"\nusers = [\"alice\"]\n\n[[ace]]\nright = \"admin\"\ngroups = [\"admins\"]\npath = \"/etc/conf.d\"\n",
    );
    let admin = vfs(&sandbox, &["--as", "alice", "cat", "/etc/conf.d/llm"]);
    assert_eq!(admin.code, 0, "{}", admin.stderr);
    assert!(admin.stdout.contains(API_KEY));
    let admin_stat = vfs(&sandbox, &["stat", "/etc/conf.d/llm", "--as", "alice"]);
    assert!(
        admin_stat.stdout.contains("etag: blake3:"),
        "{}",
        admin_stat.stdout
    );
    // Anyone else still not.
    for args in [
        &["--as", "bob", "cat", "/etc/conf.d/llm"][..],
        &["cat", "/etc/conf.d/llm"],
        &["--remote", "cat", "/etc/conf.d/llm"],
    ] {
        let run = vfs(&sandbox, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.transcript());
        assert!(
            run.stderr.contains("permission denied (os error 13)"),
            "{}",
            run.stderr
        );
        never_prints_the_key(&run);
    }
}

#[test]
fn an_anonymous_remote_caller_gets_nothing_by_default() {
    let sandbox = seeded();
    for args in [
        &["--remote", "cat", "/etc/conf.d/mounts"][..],
        &["--remote", "ls", "/etc"],
        &["--remote", "stat", "/"],
    ] {
        let run = vfs(&sandbox, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.transcript());
        assert!(
            run.stderr.ends_with("permission denied (os error 13)\n"),
            "{}",
            run.stderr
        );
    }
    // ENOENT still wins over the denial, as on Linux.
    let missing = vfs(&sandbox, &["--remote", "cat", "/etc/conf.d/nope"]);
    assert_eq!(
        missing.stderr,
        "error: cannot read `/etc/conf.d/nope`: no such file or directory (os error 2)\n"
    );
    sandbox.write("vfs", "[policy]\nanonymous_remote = \"read\"\n");
    let cat = vfs(&sandbox, &["--remote", "cat", "/etc/conf.d/mounts"]);
    assert_eq!(cat.code, 0, "{}", cat.stderr);
}

#[test]
fn vfs_stat_shows_mode_owner_and_group() {
    use std::os::unix::fs::MetadataExt;
    let sandbox = seeded();
    let meta = std::fs::metadata(sandbox.conf_d().join("mounts")).expect("stat");
    let text = vfs(&sandbox, &["stat", "/etc/conf.d/mounts"]);
    assert!(
        text.stdout.contains(&format!(
            "mode: 0644 (-rw-r--r--)\nowner: {}\ngroup: {}\n",
            meta.uid(),
            meta.gid()
        )),
        "{}",
        text.stdout
    );
    let json = vfs(&sandbox, &["stat", "/etc/conf.d/llm", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(doc["mode"], "0600");
    assert_eq!(doc["owner"], meta.uid());
    assert_eq!(doc["group"], meta.gid());
    assert_eq!(doc["etag"], serde_json::Value::Null);
}

#[test]
fn an_invalid_policy_refuses_every_command_naming_the_file() {
    let sandbox = seeded();
    let path = sandbox.write("vfs", "[policy]\nanonymous_local = \"reed\"\n");
    let at = format!("{}:2:19", sandbox.redact(&path.display().to_string()));
    for args in [
        &["cat", "/etc/conf.d/mounts"][..],
        &["ls", "/"],
        &["stat", "/etc/conf.d/nope"],
        &["--remote", "ls", "/etc"],
        &["--as", "alice", "write", "/tmp/x", "y"],
    ] {
        let run = vfs(&sandbox, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.transcript());
        assert!(run.stderr.starts_with("error: cannot "), "{}", run.stderr);
        assert!(
            run.stderr.contains("access through the VFS is refused until its policy is fixed: invalid value for `vfs.policy.anonymous_local` at `")
                && run.stderr.contains(&at),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_name_for_as_must_be_one() {
    let sandbox = seeded();
    let empty = vfs(&sandbox, &["--as", "", "ls", "/"]);
    assert_eq!(empty.code, 2, "{}", empty.transcript());
    assert!(
        empty.stderr.contains("invalid name `` for `--as`"),
        "{}",
        empty.stderr
    );
    let both = vfs(&sandbox, &["--as", "alice", "--remote", "ls", "/"]);
    assert_eq!(both.code, 2, "{}", both.transcript());
}

#[test]
fn doctor_reports_a_policy_that_gives_too_much() {
    let sandbox = seeded();
    let healthy = sandbox.run(&["config", "doctor"]);
    assert!(
        healthy.stdout.contains("ok       vfs access policy\n"),
        "{}",
        healthy.stdout
    );
    sandbox.write(
        "vfs",
        "[policy]\nanonymous_remote = \"write\"\n\n[[group]]\nname = \"ops\"\nusers = [\"alice\"]\n\n[[ace]]\nright = \"write\"\ngroups = [\"ops\"]\npath = \"/tmp\"\n\n[[ace]]\nright = \"admin\"\ngroups = [\"ops\"]\n",
    );
    let run = sandbox.run(&["config", "doctor"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("problem  vfs access policy\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("`vfs.policy.anonymous_remote` is `write`: callers from elsewhere without a name may change files"),
        "{}",
        run.stdout
    );
    // The ace limited to /tmp is fine; the one on `/` covers /etc.
    assert!(
        run.stdout.contains("`vfs.policy.anonymous_remote` (`write`), `vfs.ace[1]` (`admin` on `/`) give write under `/etc`"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("vfs.ace[0]"), "{}", run.stdout);
    // A policy the VFS refuses is an error.
    sandbox.write("vfs", "[[group]]\nname = \"a\"\nmember_groups = [\"a\"]\n");
    let broken = sandbox.run(&["config", "doctor"]);
    assert!(
        broken.stdout.contains("the VFS refuses every call until its policy is fixed: invalid `vfs` configuration: groups include each other in a cycle: `a` includes `a`"),
        "{}",
        broken.stdout
    );
}
