//! `explain`, `diff`, `path`, JSON output, help, completions and the man page.

use insta::assert_snapshot;

use crate::support::Sandbox;

#[test]
fn explain_lists_every_layer_and_marks_the_winner() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    sandbox.write("mounts", "auto_sync = true\n");
    sandbox.write("mounts.d/50-x.toml", "auto_sync = false\n");
    sandbox.env("NEXUS_AUTO_SYNC_MOUNTS", "yes");
    let run = sandbox.run(&[
        "config",
        "explain",
        "mounts.auto_sync",
        "--set",
        "mounts.auto_sync=off",
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_snapshot!("explain_text", run.stdout);
    let json = sandbox.run(&["config", "explain", "mounts.auto_sync", "--format", "json"]);
    assert_snapshot!("explain_json", json.stdout);
    assert_eq!(sandbox.run(&["config", "explain", "mounts.nope"]).code, 1);
}

/// A key whose table a higher layer replaced is set by no layer's value:
/// `explain` lists the layer that had it and marks no winner, as `get` says
/// it is not set.
#[test]
fn explain_marks_no_winner_for_a_key_whose_table_was_replaced() {
    let sandbox = Sandbox::new();
    sandbox.write("zz", "[t]\na = 1\n");
    sandbox.write("zz.d/10.toml", "t = [1, 2]\n");
    assert_eq!(sandbox.run(&["config", "get", "zz.t.a"]).code, 1);
    let run = sandbox.run(&["config", "explain", "zz.t.a"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout
            .starts_with("zz.t.a is not set: a higher layer replaced a table above it\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("\n* "), "{}", run.stdout);
    let json = sandbox.run(&["config", "explain", "zz.t.a", "--format", "json"]);
    assert!(json.stdout.contains("\"wins\": false"), "{}", json.stdout);
    assert!(!json.stdout.contains("\"wins\": true"), "{}", json.stdout);
}

#[test]
fn explain_redacts_secrets() {
    let sandbox = Sandbox::new();
    sandbox.write("database", "url = \"postgresql://u:canary@h/db\"\n");
    let run = sandbox.run(&["config", "explain", "database.url"]);
    assert!(!run.stdout.contains("canary"), "{}", run.stdout);
    assert!(run.stdout.contains("<redacted>"));
}

#[test]
fn show_and_get_in_json_have_a_stable_schema() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let path = sandbox.write("cache.d/50-x.toml", "backend = \"null\"\n");
    let show = sandbox.run(&["config", "show", "cache", "--format", "json"]);
    assert_snapshot!("show_json", show.stdout);
    let get = sandbox.run(&["--format", "json", "config", "get", "cache.backend"]);
    let parsed: serde_json::Value = serde_json::from_str(&get.stdout).unwrap();
    assert_eq!(parsed["value"], "null");
    assert_eq!(parsed["origin"]["layer"], "drop-in");
    assert_eq!(
        parsed["origin"]["path"],
        sandbox.redact(&path.display().to_string())
    );
    assert_eq!(parsed["origin"]["line"], 1);
}

#[test]
fn show_in_json_gives_every_value_shown_an_origin_an_empty_table_included() {
    // The same walk as a watch's diff, which sees `[extra]` appear: a value
    // `show` prints has an origin, even a table with nothing in it.
    let sandbox = Sandbox::new();
    let path = sandbox.write("shelf", "size = 3\n[extra]\n");
    let show = sandbox.run(&["config", "show", "shelf", "--format", "json"]);
    assert_eq!(show.code, 0, "{}", show.transcript());
    let parsed: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(parsed["config"]["extra"], serde_json::json!({}));
    let origin = &parsed["origins"]["extra"];
    assert_eq!(
        origin["path"],
        sandbox.redact(&path.display().to_string()),
        "{}",
        show.stdout
    );
    assert_eq!(origin["line"], 2, "{}", show.stdout);
    assert_eq!(parsed["origins"]["size"]["line"], 1, "{}", show.stdout);
}

#[test]
fn diff_against_the_shipped_default() {
    let sandbox = Sandbox::new();
    sandbox.init();
    assert_eq!(sandbox.run(&["config", "diff", "mounts"]).stdout, "");
    sandbox.run(&["config", "set", "mounts.auto_sync", "true"]);
    let run = sandbox.run(&["config", "diff", "mounts"]);
    assert_eq!(run.code, 0);
    assert_snapshot!("diff_mounts", run.stdout);
    assert_eq!(sandbox.run(&["config", "diff", "my-brick"]).code, 2);
}

#[test]
fn path_says_where_everything_is_and_why() {
    let mut sandbox = Sandbox::new();
    assert_snapshot!("path_flag", sandbox.run(&["config", "path"]).stdout);
    let state = sandbox.state();
    sandbox.env("NEXUS_STATE_DIR", state.to_str().unwrap());
    let from_env = sandbox.run_raw(&["config", "path", "--format", "json"]);
    let parsed: serde_json::Value = serde_json::from_str(&from_env.stdout).unwrap();
    assert_eq!(parsed["source"], "env NEXUS_STATE_DIR");
    assert_eq!(parsed["conf_d"], "[ROOT]/state/etc/conf.d");
    let default = Sandbox::new().run_raw(&["config", "path"]);
    assert!(
        default.stdout.contains("[ROOT]/home/.nexus\n"),
        "{}",
        default.stdout
    );
}

#[test]
fn every_command_has_an_example_in_its_help() {
    let sandbox = Sandbox::new();
    for command in [
        &["--help"][..],
        &["config", "init", "--help"],
        &["config", "show", "--help"],
        &["config", "get", "--help"],
        &["config", "explain", "--help"],
        &["config", "set", "--help"],
        &["config", "edit", "--help"],
        &["config", "validate", "--help"],
        &["config", "doctor", "--help"],
        &["config", "diff", "--help"],
        &["config", "path", "--help"],
        &["config", "watch", "--help"],
        &["config", "--help"],
        &["vfs", "--help"],
        &["vfs", "ls", "--help"],
        &["vfs", "cat", "--help"],
        &["vfs", "stat", "--help"],
        &["vfs", "write", "--help"],
        &["vfs", "rm", "--help"],
        &["vfs", "mkdir", "--help"],
        &["vfs", "mv", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
    ] {
        let run = sandbox.run_raw(command);
        assert_eq!(run.code, 0, "{command:?}");
        assert!(
            run.stdout.contains("Example"),
            "{command:?} has no example:\n{}",
            run.stdout
        );
    }
}

#[test]
fn completions_and_man_page_come_from_the_command_definition() {
    let sandbox = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = sandbox.run_raw(&["completions", shell]);
        assert_eq!(run.code, 0);
        assert!(
            run.stdout.contains("doctor"),
            "{shell} completion lacks subcommands"
        );
    }
    let man = sandbox.run_raw(&["man"]);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH nexus"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    assert_eq!(sandbox.run_raw(&["completions", "tcsh"]).code, 2);
}

#[test]
fn no_colour_unless_a_terminal() {
    let sandbox = Sandbox::new();
    // Not a terminal (and NO_COLOR is set by the sandbox): plain text.
    let run = sandbox.run(&["config", "show", "Bad"]);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}
