//! `nexus config set` and `nexus config edit`: comment-preserving, validated,
//! atomic, and never touching the file on error.

use std::os::unix::fs::PermissionsExt;

use insta::assert_snapshot;

use crate::support::Sandbox;

#[test]
fn set_replaces_the_documented_line_and_keeps_everything_else() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let before = sandbox.read("cache");
    let run = sandbox.run(&["config", "set", "cache.kv_size", "4096"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let after = sandbox.read("cache");
    // Exactly one line changed: the commented default became the setting.
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed, [("#kv_size = 256", "kv_size = 4096")]);
    assert_eq!(before.lines().count(), after.lines().count());
    assert_eq!(
        sandbox.run(&["config", "get", "cache.kv_size"]).stdout,
        "4096\n"
    );
    // Setting it again edits the same line instead of adding one.
    sandbox.run(&["config", "set", "cache.kv_size", "8"]);
    let again = sandbox.read("cache");
    assert_eq!(again.matches("kv_size = ").count(), 1, "{again}");
    assert!(again.contains("\nkv_size = 8\n"));
}

#[test]
fn set_keeps_comments_order_and_trailing_comments_of_a_user_file() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "uploads",
        "# mine\nmax_concurrent = 2   # tuned for the NAS\n\n# end\n",
    );
    let run = sandbox.run(&["config", "set", "uploads.max_concurrent", "6"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        sandbox.read("uploads"),
        "# mine\nmax_concurrent = 6   # tuned for the NAS\n\n# end\n"
    );
}

#[test]
fn set_parses_by_type_and_refuses_bad_values_without_writing() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let before = sandbox.read("mounts");
    let bad = sandbox.run(&["config", "set", "mounts.auto_sync", "maybe"]);
    assert_eq!(bad.code, 2, "{}", bad.transcript());
    assert_snapshot!("set_bad_bool", bad.stderr);
    let bad_enum = sandbox.run(&["config", "set", "cache.backend", "redis"]);
    // A bad value is a command-line error wherever it is caught, and the
    // message is about the value given, not a line of the file.
    assert_eq!(bad_enum.code, 2, "{}", bad_enum.transcript());
    assert_snapshot!("set_bad_enum", bad_enum.stderr);
    // The brick's own rule is checked on the whole result.
    let bad_rule = sandbox.run(&["config", "set", "uploads.min_chunk_size", "999999999"]);
    assert_eq!(bad_rule.code, 2, "{}", bad_rule.transcript());
    assert!(
        bad_rule.stderr.contains("`999999999`"),
        "{}",
        bad_rule.stderr
    );
    assert!(
        bad_rule
            .stderr
            .contains("min_chunk_size ≤ default_chunk_size"),
        "{}",
        bad_rule.stderr
    );
    assert_eq!(sandbox.read("mounts"), before);
    assert!(!sandbox.read("uploads").contains("999999999"));
    // A string key keeps what looks like a number as a string.
    sandbox.run(&["config", "set", "search.index_dir", "0123"]);
    assert!(sandbox.read("search").contains("\nindex_dir = \"0123\"\n"));
}

#[test]
fn set_creates_missing_files_with_the_bricks_mode() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["config", "set", "llm.api_key", "sk-new"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        !run.transcript().contains("sk-new"),
        "set echoed a secret: {}",
        run.transcript()
    );
    let path = sandbox.conf_d().join("llm");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = sandbox.read("llm");
    assert!(text.contains("\napi_key = \"sk-new\"\n"), "{text}");
    assert!(
        text.contains("# Provider:"),
        "a new file starts from the documented default"
    );

    let run = sandbox.run(&[
        "config",
        "set",
        "mounts.auto_sync",
        "on",
        "--drop-in",
        "50-local",
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(sandbox.read("mounts.d/50-local.toml"), "auto_sync = true\n");
    let mode = std::fs::metadata(sandbox.conf_d().join("mounts.d/50-local.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    assert_eq!(
        sandbox.run(&["config", "get", "mounts.auto_sync"]).stdout,
        "true\n"
    );
    let bad = sandbox.run(&[
        "config",
        "set",
        "mounts.auto_sync",
        "on",
        "--drop-in",
        "../evil",
    ]);
    assert_eq!(bad.code, 2);
}

#[test]
fn set_warns_when_a_higher_layer_still_wins() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    sandbox.env("NEXUS_AUTO_SYNC_MOUNTS", "1");
    let run = sandbox.run(&["config", "set", "mounts.auto_sync", "false"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr
            .contains("is overridden by `env NEXUS_AUTO_SYNC_MOUNTS`"),
        "{}",
        run.stderr
    );
}

#[test]
fn set_leaves_no_temporary_file_behind() {
    let sandbox = Sandbox::new();
    sandbox.init();
    sandbox.run(&["config", "set", "cache.kv_size", "1"]);
    let hidden: Vec<_> = std::fs::read_dir(sandbox.conf_d())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn edit_validates_and_replaces_atomically() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let script = sandbox.editor(
        "good-editor",
        r#"sed -i 's/^#auto_sync = false/auto_sync = true/' "$1""#,
    );
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "mounts"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(sandbox.read("mounts").contains("\nauto_sync = true\n"));
    assert_eq!(
        sandbox.run(&["config", "get", "mounts.auto_sync"]).stdout,
        "true\n"
    );
}

#[test]
fn edit_leaves_the_file_untouched_when_the_result_is_invalid() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let before = sandbox.read("uploads");
    let mtime = std::fs::metadata(sandbox.conf_d().join("uploads"))
        .unwrap()
        .modified()
        .unwrap();
    let script = sandbox.editor("bad-editor", r#"echo 'max_concurrent = "many"' >> "$1""#);
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "uploads"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("expected integer, found string"),
        "{}",
        run.stderr
    );
    // Errors point at the real file, not the temporary copy.
    assert!(
        run.stderr.contains("[ROOT]/state/etc/conf.d/uploads:"),
        "{}",
        run.stderr
    );
    assert_eq!(sandbox.read("uploads"), before);
    assert_eq!(
        std::fs::metadata(sandbox.conf_d().join("uploads"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
}

#[test]
fn edit_with_no_change_writes_nothing() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let mtime = std::fs::metadata(sandbox.conf_d().join("cache"))
        .unwrap()
        .modified()
        .unwrap();
    let script = sandbox.editor("noop-editor", "true");
    sandbox.env("VISUAL", &script).env("EDITOR", "false");
    let run = sandbox.run(&["config", "edit", "cache"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("no changes"));
    assert_eq!(
        std::fs::metadata(sandbox.conf_d().join("cache"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
}

#[test]
fn edit_offers_to_edit_again_on_a_terminal() {
    // Drive the prompt through a pseudo-terminal with `script`.
    assert!(
        std::process::Command::new("script")
            .arg("--version")
            .output()
            .is_ok(),
        "this test needs `script`: apt-get install bsdutils"
    );
    let mut sandbox = Sandbox::new();
    sandbox.init();
    // First run breaks the file; the second (after "y") fixes it.
    let counter = sandbox.state().with_file_name("count");
    let body = format!(
        r#"if [ -f {c} ]; then sed -i 's/^max_concurrent = "x"$/max_concurrent = 7/' "$1"; else touch {c}; echo 'max_concurrent = "x"' >> "$1"; fi"#,
        c = counter.display()
    );
    let script = sandbox.editor("twice-editor", &body);
    sandbox.env("EDITOR", &script);
    let state = sandbox.state();
    let command = format!(
        "{} --state-dir {} config edit uploads",
        crate::support::nexus_bin().display(),
        state.display()
    );
    let mut cmd = sandbox.command_with(
        std::path::Path::new("script"),
        &["-qec", &command, "/dev/null"],
    );
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = stdin.write_all(b"y\n");
    }
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("edit again?"), "{text}");
    assert!(
        sandbox.read("uploads").contains("\nmax_concurrent = 7\n"),
        "{text}"
    );
}

#[test]
fn set_succeeds_on_a_valid_file_and_warns_when_the_environment_is_broken() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    sandbox.env("NEXUS_CACHE_KV_SIZE", "lots");
    let run = sandbox.run(&["config", "set", "cache.kv_size", "64"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(sandbox.read("cache").contains("\nkv_size = 64\n"));
    assert!(
        run.stderr
            .contains("the file is valid, but the configuration in force is not")
            && run.stderr.contains("`env NEXUS_CACHE_KV_SIZE`"),
        "{}",
        run.stderr
    );
}
