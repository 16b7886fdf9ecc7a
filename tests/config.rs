//! `nexus config init|show|get`: output, origins, exit codes, warnings.

use insta::assert_snapshot;

use crate::support::Sandbox;

#[test]
fn init_then_show_with_origins() {
    let sandbox = Sandbox::new();
    let init = sandbox.run(&["config", "init"]);
    assert_snapshot!("init_fresh", init.transcript());
    sandbox.write("mounts.d/50-local.toml", "auto_sync = true\n");
    assert_snapshot!(
        "show_mounts_origin",
        sandbox
            .run(&["config", "show", "mounts", "--origin"])
            .transcript()
    );
    assert_snapshot!(
        "show_cache_plain",
        sandbox.run(&["config", "show", "cache"]).transcript()
    );
}

#[test]
fn get_prints_values_as_toml_writes_them() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let get = |key: &str| sandbox.run(&["config", "get", key]).stdout;
    assert_eq!(get("mounts.auto_sync"), "false\n");
    assert_eq!(get("database.pool_size"), "20\n");
    assert_eq!(get("cache.backend"), "\"auto\"\n");
    let shown = sandbox.run(&["config", "get", "cache.backend", "--show-origin"]);
    assert_eq!(shown.stdout, "profile 'full' default\t\"auto\"\n");
    let path = sandbox.write("cache", "backend = \"null\"\n");
    let shown = sandbox.run(&["config", "get", "cache.backend", "--show-origin"]);
    assert_eq!(
        shown.stdout,
        format!(
            "{}:1:11\t\"null\"\n",
            sandbox.redact(&path.display().to_string())
        )
    );
}

#[test]
fn global_flags_go_before_or_after_the_subcommand() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let state = sandbox.state();
    let state = state.to_str().unwrap();
    let before = sandbox.run_raw(&[
        "--state-dir",
        state,
        "--profile",
        "lite",
        "--set",
        "database.pool_size=5",
        "--strict",
        "config",
        "get",
        "database.pool_size",
        "--show-origin",
    ]);
    let after = sandbox.run_raw(&[
        "config",
        "get",
        "database.pool_size",
        "--show-origin",
        "--state-dir",
        state,
        "--profile",
        "lite",
        "--set",
        "database.pool_size=5",
        "--strict",
    ]);
    assert_eq!(before.code, 0, "{}", before.transcript());
    assert_eq!(before.stdout, "--set database.pool_size=5\t5\n");
    assert_eq!(before.stdout, after.stdout);
    let profile_only = sandbox.run(&["config", "get", "database.pool_size", "--profile", "lite"]);
    assert_eq!(profile_only.stdout, "8\n");
}

#[test]
fn state_dir_and_profile_come_from_the_environment() {
    let mut sandbox = Sandbox::new();
    let state = sandbox.state();
    sandbox
        .env("NEXUS_STATE_DIR", state.to_str().unwrap())
        .env("NEXUS_PROFILE", "cloud");
    assert_eq!(sandbox.run_raw(&["config", "init"]).code, 0);
    assert!(state.join("etc/conf.d/mounts").is_file());
    assert_eq!(
        sandbox
            .run_raw(&["config", "get", "database.pool_size"])
            .stdout,
        "30\n"
    );
}

#[test]
fn the_default_state_dir_is_dot_nexus_in_home() {
    let sandbox = Sandbox::new();
    let run = sandbox.run_raw(&["config", "init"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout.contains("[ROOT]/home/.nexus/etc/conf.d/mounts"),
        "{}",
        run.stdout
    );
}

#[test]
fn exit_codes_tell_configuration_problems_from_usage_errors() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let cases: Vec<(&[&str], i32)> = vec![
        (&["config", "show", "mounts"], 0),
        (&["config", "show", "../etc"], 2),
        (&["config", "show", "Mounts"], 2),
        (&["config", "get", "mounts"], 2),
        (&["config", "show", "mounts", "--set", "mounts"], 2),
        (
            &[
                "config",
                "show",
                "mounts",
                "--set",
                "mounts.auto_sync=maybe",
            ],
            2,
        ),
        (&["config", "show", "mounts", "--profile", "huge"], 2),
        (&["config", "show", "mounts", "--no-such-flag"], 2),
        (&["config", "get", "mounts.nope"], 1),
    ];
    for (args, want) in cases {
        let run = sandbox.run(args);
        assert_eq!(run.code, want, "{args:?}\n{}", run.transcript());
        if want != 0 {
            assert!(
                run.stdout.is_empty(),
                "{args:?} printed on stdout: {}",
                run.stdout
            );
        }
    }
    sandbox.write("uploads", "max_concurrent = \"four\"\n");
    let bad = sandbox.run(&["config", "show", "uploads"]);
    assert_snapshot!("bad_file", bad.transcript());
    let mut env = Sandbox::new();
    env.env("NEXUS_PROFILE", "huge");
    assert_eq!(env.run(&["config", "show", "mounts"]).code, 1);
}

#[test]
fn warnings_go_to_stderr_and_strict_makes_unknown_keys_fatal() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    sandbox.write("mounts.d/typo.toml", "auto_synk = true\n");
    sandbox.env("NEXUS_AUTO_SYNC_MOUNTS", "on");
    let run = sandbox.run(&["config", "get", "mounts.auto_sync"]);
    assert_eq!(run.stdout, "true\n");
    assert_snapshot!("warnings", run.stderr);
    let strict = sandbox.run(&["config", "get", "mounts.auto_sync", "--strict"]);
    assert_eq!(strict.code, 1);
    assert!(
        strict.stderr.contains("did you mean `auto_sync`?"),
        "{}",
        strict.stderr
    );
}

#[test]
fn secrets_are_redacted_unless_asked_for() {
    let sandbox = Sandbox::new();
    sandbox.init();
    sandbox.write("llm", "api_key = \"sk-canary-e2e\"\n");
    for args in [
        &["config", "show", "llm"][..],
        &["config", "show", "llm", "--origin"],
        &["config", "show", "llm", "--format", "json"],
        &["config", "get", "llm.api_key"],
        &["config", "get", "llm.api_key", "--format", "json"],
    ] {
        let run = sandbox.run(args);
        assert_eq!(run.code, 0, "{}", run.transcript());
        assert!(
            !run.transcript().contains("canary"),
            "{args:?} leaked: {}",
            run.transcript()
        );
        assert!(run.stdout.contains("<redacted>"), "{args:?}");
    }
    let shown = sandbox.run(&["config", "get", "llm.api_key", "--show-secrets"]);
    assert_eq!(shown.stdout, "\"sk-canary-e2e\"\n");
    let shown = sandbox.run(&["config", "show", "llm", "--show-secrets"]);
    assert!(shown.stdout.contains("sk-canary-e2e"));
}

#[test]
fn a_binary_copied_anywhere_seeds_every_shipped_file() {
    let sandbox = Sandbox::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("nexus");
    std::fs::copy(crate::support::nexus_bin(), &copy).unwrap();
    let state = elsewhere.path().join("fresh-state");
    let output = sandbox
        .command_with(
            &copy,
            &["--state-dir", state.to_str().unwrap(), "config", "init"],
        )
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let mut seeded: Vec<String> = std::fs::read_dir(state.join("etc/conf.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    seeded.sort();
    assert_eq!(
        seeded,
        [
            "cache",
            "database",
            // linked through confd-fleet: where the fleet is
            "fleet",
            "llm",
            "mounts",
            "permissions",
            "search",
            "uploads",
            // linked through vfs-etc: its access policy
            "vfs"
        ]
    );
    for name in &seeded {
        let text = std::fs::read_to_string(state.join("etc/conf.d").join(name)).unwrap();
        assert_eq!(text, confd::shipped::shipped_file(name).unwrap().contents);
    }
}

#[test]
fn an_unknown_brick_with_nothing_set_is_flagged_as_a_likely_typo() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let run = sandbox.run(&["config", "show", "mount"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains(
            "`mount` is not a registered brick and nothing configures it (did you mean `mounts`?)"
        ),
        "{}",
        run.stderr
    );
    sandbox.write("my-brick", "x = 1\n");
    let custom = sandbox.run(&["config", "show", "my-brick"]);
    assert_eq!(
        (custom.stdout.as_str(), custom.stderr.as_str()),
        ("x = 1\n", "")
    );
}
