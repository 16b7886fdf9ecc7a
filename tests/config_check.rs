//! `nexus config validate` and `nexus config doctor`.

use std::os::unix::fs::PermissionsExt;

use insta::assert_snapshot;

use crate::support::Sandbox;

#[test]
fn validate_reports_every_problem_in_every_file() {
    let sandbox = Sandbox::new();
    sandbox.init();
    sandbox.write(
        "uploads",
        "max_concurrent = \"four\"\nsession_ttl_hours = -1\n",
    );
    sandbox.write("cache.d/10-x.toml", "backend = \n");
    sandbox.write("mounts", "auto_synk = true\n");
    let run = sandbox.run(&["config", "validate"]);
    assert_eq!(run.code, 1);
    assert_snapshot!("validate_text", run.transcript());
    let json = sandbox.run(&["config", "validate", "--format", "json"]);
    assert_eq!(json.code, 1);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(parsed["valid"], false);
    let uploads = parsed["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["brick"] == "uploads")
        .unwrap();
    assert_eq!(uploads["diagnostics"][0]["line"], 1);
    assert_eq!(uploads["diagnostics"][0]["column"], 18);
    assert_eq!(uploads["diagnostics"][0]["key"], "uploads.max_concurrent");
    assert_snapshot!("validate_json", json.stdout);
}

#[test]
fn validate_named_bricks_and_strict_mode() {
    let sandbox = Sandbox::new();
    sandbox.init();
    sandbox.write("mounts", "auto_synk = true\n");
    let lenient = sandbox.run(&["config", "validate", "mounts", "cache"]);
    assert_eq!(lenient.code, 0, "{}", lenient.transcript());
    assert!(lenient.stdout.contains("2 bricks checked, 0 invalid"));
    assert!(lenient.stderr.contains("did you mean `auto_sync`?"));
    let strict = sandbox.run(&["config", "validate", "mounts", "--strict"]);
    assert_eq!(strict.code, 1, "{}", strict.transcript());
    assert_eq!(sandbox.run(&["config", "validate", "Nope"]).code, 2);
}

#[test]
fn doctor_on_a_healthy_state_dir() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let run = sandbox.run(&["config", "doctor"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_snapshot!("doctor_healthy", run.transcript());
}

#[test]
fn doctor_finds_every_kind_of_problem() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let conf_d = sandbox.conf_d();
    std::fs::set_permissions(
        conf_d.join("database"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    sandbox.env("NEXUS_CACHE_BACKEND", "null");
    sandbox.write("mount", "auto_sync = true\n");
    sandbox.write("uploads.toml", "max_concurrent = 2\n");
    sandbox.write("my-brick", "x = 1\n");
    sandbox.write("cache.new", "# newer default\n");
    sandbox.write("search.old", "# what init --force replaced\n");
    sandbox.write(".search.Ab12Cd.tmp", "half a fi");
    sandbox.write(
        "permissions",
        "enforce = \"yes\"\nenfroce_zone_isolation = false\n",
    );
    let run = sandbox.run(&["config", "doctor"]);
    assert_eq!(run.code, 1);
    assert_snapshot!("doctor_problems", run.transcript());
    let json = sandbox.run(&["config", "doctor", "--format", "json"]);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(parsed["healthy"], false);
    let checks: Vec<&str> = parsed["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(checks.len(), 11, "{checks:?}");
}

#[test]
fn doctor_without_a_state_dir_says_to_run_init() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["config", "doctor"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("run `nexus config init`"),
        "{}",
        run.stdout
    );
}

/// With a file where the state dir belongs, nothing below it can be judged:
/// those checks say `skipped`, never `ok`.
#[test]
fn doctor_skips_what_it_cannot_judge_when_the_state_dir_is_a_file() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.state(), "").unwrap();
    let run = sandbox.run(&["config", "doctor"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.starts_with("problem  state dir\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("skipped  configuration\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("\nok "), "{}", run.stdout);
    let json = sandbox.run(&["config", "doctor", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let skipped: Vec<bool> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["skipped"] == true)
        .collect();
    assert_eq!(
        skipped.iter().filter(|s| !**s).count(),
        1,
        "{}",
        json.stdout
    );
    assert!(
        !skipped[0],
        "the state dir check itself ran: {}",
        json.stdout
    );
}

#[test]
fn doctor_flags_everything_others_can_write_with_the_fix() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let drop_in = sandbox.write("database.d/50-x.toml", "pool_size = 2\n");
    let chmod = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let mounts = sandbox.conf_d().join("mounts");
    chmod(&mounts, 0o666);
    chmod(&sandbox.conf_d().join("database.d"), 0o777);
    chmod(&drop_in, 0o602);
    let run = sandbox.run(&["config", "doctor"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    for (path, mode) in [
        ("conf.d/mounts", "0666"),
        ("conf.d/database.d", "0777"),
        ("conf.d/database.d/50-x.toml", "0602"),
    ] {
        let expected = format!(
            "`[ROOT]/state/etc/{path}` is writable by everyone (mode {mode}), so anyone can change the configuration: run `chmod go-w [ROOT]/state/etc/{path}`"
        );
        assert!(
            run.stdout.contains(&expected),
            "{expected}\n{}",
            run.transcript()
        );
    }
    assert!(
        run.stdout.contains("problem  writable by others"),
        "{}",
        run.stdout
    );
}

#[test]
fn doctor_says_the_vfs_will_not_show_a_symlinked_file() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let mounts = sandbox.conf_d().join("mounts");
    let real = sandbox.state().join("mounts.real");
    std::fs::rename(&mounts, &real).unwrap();
    std::os::unix::fs::symlink(&real, &mounts).unwrap();
    // Bricks read it...
    let get = sandbox.run(&["config", "get", "mounts.auto_sync"]);
    assert_eq!(get.code, 0, "{}", get.transcript());
    // ...and doctor says the VFS will not.
    let run = sandbox.run(&["config", "doctor"]);
    assert!(
        run.stdout.contains("`[ROOT]/state/etc/conf.d/mounts` is a symlink: bricks read through it, but the VFS does not follow symlinks"),
        "{}",
        run.transcript()
    );
    assert!(
        run.stdout.contains("problem  hidden from the vfs"),
        "{}",
        run.stdout
    );
}

#[test]
fn doctor_judges_what_lies_around_the_files_too() {
    use std::os::unix::fs::PermissionsExt;
    let chmod = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let sandbox = Sandbox::new();
    sandbox.init();
    let state = sandbox.state();
    // A non-sticky world-writable directory above the state dir.
    let above = state.parent().unwrap().to_owned();
    chmod(&above, 0o777);
    // A symlinked brick file whose target sits in a world-writable directory.
    let shared = above.join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o777);
    std::fs::rename(sandbox.conf_d().join("database"), shared.join("database")).unwrap();
    std::os::unix::fs::symlink(shared.join("database"), sandbox.conf_d().join("database")).unwrap();
    // A group-writable record, a world-writable lock.
    chmod(&state.join("var/lib/confd/seeded.toml"), 0o664);
    chmod(&state.join("var/lib/confd/lock"), 0o666);
    // Odd entries: a dangling NAME.d, ignored files in a NAME.d, a readable
    // back-up of a secret drop-in.
    std::os::unix::fs::symlink("/nonexistent", sandbox.conf_d().join("mounts.d")).unwrap();
    std::os::unix::fs::symlink("looped", sandbox.conf_d().join("looped")).unwrap();
    sandbox.write("cache.d/50-local.conf", "kv_size = 1\n");
    let backup = sandbox.write("llm.d/50-x.toml.old", "api_key = \"sk-x\"\n");
    chmod(&backup, 0o644);
    let run = sandbox.run(&["config", "doctor"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    for expected in [
        "`[ROOT]`, a directory above the configuration, is writable by everyone and not sticky, so someone else can replace what is below it: run `chmod o-w [ROOT]` (or `chmod +t [ROOT]`)".to_owned(),
        "`[ROOT]/shared` is writable by everyone (mode 0777)".to_owned(),
        "`[ROOT]/state/var/lib/confd/seeded.toml` is writable by its group (mode 0664)".to_owned(),
        "`[ROOT]/state/var/lib/confd/lock` is writable by everyone (mode 0666)".to_owned(),
        "`[ROOT]/state/etc/conf.d/mounts.d` is a symlink to `/nonexistent`, which does not exist".to_owned(),
        "`[ROOT]/state/etc/conf.d/looped` is a symlink to `looped`, which leads back to itself (a symlink loop)".to_owned(),
        "`[ROOT]/state/etc/conf.d/cache.d/50-local.conf` is ignored: drop-ins are regular files named `*.toml`".to_owned(),
        "`[ROOT]/state/etc/conf.d/llm.d/50-x.toml.old` holds secrets but is readable by group or others".to_owned(),
    ] {
        assert!(run.stdout.contains(&expected), "{expected}\n{}", run.transcript());
    }
    assert!(!run.transcript().contains("sk-x"), "{}", run.transcript());
    chmod(&above, 0o700);
}

#[test]
fn doctor_checks_the_mode_of_every_copy_of_a_secret_file() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    sandbox.init();
    for name in [
        "database.old",
        "database.new",
        "database~",
        ".database.swp",
        ".database.a1B2c3.tmp",
    ] {
        let path = sandbox.write(name, "url = \"postgres://u:sk-copy@h/db\"\n");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let run = sandbox.run(&["config", "doctor"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    for name in [
        "database.old",
        "database.new",
        "database~",
        ".database.swp",
        ".database.a1B2c3.tmp",
    ] {
        let expected = format!(
            "`[ROOT]/state/etc/conf.d/{name}` holds secrets but is readable by group or others"
        );
        assert!(
            run.stdout.contains(&expected),
            "{expected}\n{}",
            run.transcript()
        );
    }
    assert!(
        !run.transcript().contains("sk-copy"),
        "{}",
        run.transcript()
    );
}

#[test]
fn doctor_says_when_it_cannot_list_conf_d() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    sandbox.init();
    std::fs::set_permissions(sandbox.conf_d(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let run = sandbox.run_as_nobody(&["config", "doctor"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("cannot list `[ROOT]/state/etc/conf.d`"),
        "{}",
        run.transcript()
    );
}

#[test]
fn doctor_judges_owners_and_what_lies_above_a_symlink_target() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    sandbox.init();
    let above = sandbox.state().parent().unwrap().to_owned();
    // conf.d lives elsewhere, below a directory everyone may write.
    let open = above.join("open");
    std::fs::create_dir_all(open.join("b")).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::rename(sandbox.conf_d(), open.join("b/conf.d")).unwrap();
    std::os::unix::fs::symlink(open.join("b/conf.d"), sandbox.conf_d()).unwrap();
    // And a brick file belongs to someone else.
    std::os::unix::fs::chown(open.join("b/conf.d/mounts"), Some(1234), None).unwrap();
    let run = sandbox.run(&["config", "doctor"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    for expected in [
        "`[ROOT]/open`, a directory above the configuration, is writable by everyone and not sticky",
        "`[ROOT]/state/etc/conf.d/mounts` belongs to uid 1234, who can change the configuration",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected}\n{}",
            run.transcript()
        );
    }
    assert_eq!(
        run.stdout
            .matches("`[ROOT]/open`, a directory above")
            .count(),
        1,
        "reported once: {}",
        run.stdout
    );
}

#[test]
fn doctor_names_what_the_vfs_hides_links_that_lead_nowhere_and_a_readable_store() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    sandbox.init();
    // A drop-in bricks load but the VFS cannot list (a line feed in its name).
    sandbox.write("cache.d/80-nl\nx.toml", "kv_size = 6\n");
    // A store readable by others, and one left by an earlier version.
    let vfs = sandbox.state().join("var/lib/vfs");
    std::fs::create_dir_all(&vfs).unwrap();
    std::fs::write(vfs.join("vfs-meta.redb"), "").unwrap();
    std::fs::set_permissions(
        vfs.join("vfs-meta.redb"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::write(sandbox.state().join("var/lib/vfs-meta.redb"), "").unwrap();
    std::fs::set_permissions(
        sandbox.state().join("var/lib/vfs-meta.redb"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let run = sandbox.run(&["config", "doctor"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    for expected in [
        "`[ROOT]/state/etc/conf.d/cache.d/80-nl\\u000Ax.toml` has a name the VFS cannot show",
        "`[ROOT]/state/var/lib/vfs/vfs-meta.redb` holds content hashes of files others may not read",
        "`[ROOT]/state/var/lib/vfs-meta.redb` holds content hashes of files others may not read",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected}\n{}",
            run.transcript()
        );
    }

    // A conf.d that is a symlink loop, or leads nowhere, is named as such.
    for (target, expected) in [
        ("conf.d", "is a symlink loop"),
        (
            "/nonexistent/conf.d",
            "`[ROOT]/state/etc/conf.d` is a dangling symlink",
        ),
    ] {
        let sandbox = Sandbox::new();
        std::fs::create_dir_all(sandbox.state().join("etc")).unwrap();
        std::os::unix::fs::symlink(target, sandbox.conf_d()).unwrap();
        let run = sandbox.run(&["config", "doctor"]);
        assert_eq!(run.code, 1, "{}", run.transcript());
        assert!(
            run.stdout.contains(expected),
            "{expected}\n{}",
            run.transcript()
        );
        assert!(
            !run.stdout.contains("does not exist: run"),
            "{}",
            run.stdout
        );
    }
}

/// `validate` exits as `show` does: 2 when every problem is in the command
/// line (a bad `--set`), 1 when a file or the environment is to blame too.
#[test]
fn validate_exits_2_when_only_the_command_line_is_wrong() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let set = ["--set", "mounts.auto_sync=maybe"];
    let show = sandbox.run(&[&set[..], &["config", "show", "mounts"]].concat());
    let validate = sandbox.run(&[&set[..], &["config", "validate", "mounts"]].concat());
    assert_eq!(
        (show.code, validate.code),
        (2, 2),
        "{}",
        validate.transcript()
    );
    sandbox.write("cache", "kv_size = \"big\"\n");
    let both = sandbox.run(&[&set[..], &["config", "validate", "mounts", "cache"]].concat());
    assert_eq!(both.code, 1, "{}", both.transcript());
}
