//! Every error of DESIGN.md §4, rendered as users see it (snapshots, with the
//! temporary state dir shown as `[ROOT]`).

use std::os::unix::fs::symlink;

use insta::assert_snapshot;

use crate::support::State;

/// Loads `brick` and returns the rendered error, redacted.
fn error_text(state: &State, loader: confd::Loader, brick: &str) -> String {
    let err = loader.load(brick).expect_err("the load should fail");
    state.redact(&err.to_string())
}

#[test]
fn malformed_toml() {
    let state = State::new();
    state.write("cache", "backend = \"auto\"\nkv_size = = 5\n");
    assert_snapshot!(error_text(&state, state.loader(), "cache"));
}

#[test]
fn malformed_toml_in_a_secret_brick_hides_values() {
    let state = State::new();
    state.write("llm", "api_key = \"sk-live-canary\" trailing\n");
    let text = error_text(&state, state.loader(), "llm");
    assert!(!text.contains("sk-live-canary"), "{text}");
    assert_snapshot!(text);
}

#[test]
fn wrong_type_in_a_file() {
    let state = State::new();
    state.write("uploads", "max_concurrent = \"four\"\n");
    assert_snapshot!(error_text(&state, state.loader(), "uploads"));
}

#[test]
fn wrong_type_from_env_and_cli() {
    let state = State::new();
    let env = state.loader().env([("NEXUS_CACHE_KV_SIZE", "lots")]);
    assert_snapshot!("wrong_type_from_env", error_text(&state, env, "cache"));
    let cli = state.loader().cli_override("mounts.auto_sync", "maybe");
    let err = cli.load("mounts").unwrap_err();
    assert!(err.is_usage(), "a bad --set is a command-line problem");
    assert_snapshot!("wrong_type_from_cli", state.redact(&err.to_string()));
}

#[test]
fn a_table_where_a_value_belongs() {
    let state = State::new();
    state.write("mounts", "[auto_sync]\nx = 1\n");
    assert_snapshot!(error_text(&state, state.loader(), "mounts"));
}

#[test]
fn failed_validation_names_every_origin() {
    let state = State::new();
    state.write("uploads", "min_chunk_size = 20000000\n");
    let loader = state
        .loader()
        .env([("NEXUS_UPLOAD_MAX_CHUNK_SIZE", "30000000")]);
    let err = loader.load("uploads").unwrap_err();
    assert!(
        !err.is_usage(),
        "a rule broken by files and env is not the command line's"
    );
    assert_snapshot!(error_text(&state, loader, "uploads"));
}

#[test]
fn a_rule_broken_with_a_set_value_is_a_command_line_problem() {
    let state = State::new();
    let err = state
        .loader()
        .cli_override("uploads.min_chunk_size", "999999999")
        .load("uploads")
        .unwrap_err();
    assert!(matches!(err, confd::Error::Validation { .. }), "{err}");
    assert!(err.is_usage(), "{err}");
}

#[test]
fn several_problems_are_all_reported() {
    let state = State::new();
    state.write(
        "uploads",
        "max_concurrent = \"four\"\nsession_ttl_hours = true\n",
    );
    state.write("uploads.d/x.toml", "this is not toml\n");
    assert_snapshot!(error_text(&state, state.loader(), "uploads"));
}

#[test]
fn unknown_key_warns_with_a_suggestion_and_fails_when_strict() -> Result<(), confd::Error> {
    let state = State::new();
    state.write("mounts", "auto_synk = true\n");
    let config = state.loader().load("mounts")?;
    let warnings: Vec<String> = config
        .warnings()
        .iter()
        .map(|w| state.redact(&w.to_string()))
        .collect();
    assert_snapshot!("unknown_key_warning", warnings.join("\n"));
    assert_snapshot!(
        "unknown_key_strict",
        error_text(&state, state.loader().strict(true), "mounts")
    );
    Ok(())
}

#[test]
fn invalid_brick_names_are_rejected_before_any_lookup() {
    let state = State::new();
    // Files a path-traversing name could reach if it were ever used as one.
    std::fs::write(state.root().join("etc/x"), "x = 1\n").unwrap();
    std::fs::write(state.conf_d().join("Mounts"), "auto_sync = true\n").unwrap();
    let long = "a".repeat(65);
    let mut lines = Vec::new();
    for name in [
        "../x",
        "a/b",
        "",
        ".",
        "..",
        "a\0b",
        "Mounts",
        long.as_str(),
    ] {
        let err = state.loader().load(name).unwrap_err();
        assert!(
            matches!(err, confd::Error::InvalidBrickName(_)),
            "{name:?}: {err:?}"
        );
        assert!(err.is_usage());
        lines.push(err.to_string());
    }
    assert_snapshot!(lines.join("\n"));
}

#[test]
fn a_file_that_is_not_utf8() {
    let state = State::new();
    state.write("mounts", b"# ok\nauto_sync = \"\xff\xfe\"\n");
    assert_snapshot!(error_text(&state, state.loader(), "mounts"));
}

#[test]
fn a_directory_where_a_file_belongs() {
    let state = State::new();
    std::fs::create_dir(state.conf_d().join("mounts")).unwrap();
    assert_snapshot!(error_text(&state, state.loader(), "mounts"));
}

#[test]
fn a_file_where_the_drop_in_directory_belongs() {
    let state = State::new();
    state.write("mounts.d", "auto_sync = true\n");
    assert_snapshot!(error_text(&state, state.loader(), "mounts"));
}

#[test]
fn a_file_over_one_mebibyte() {
    let state = State::new();
    let mut big = String::from("auto_sync = true\n");
    big.push_str(&"# padding\n".repeat(110_000));
    state.write("mounts", big);
    assert_snapshot!(error_text(&state, state.loader(), "mounts"));
    // Exactly at the limit is fine.
    let mut exact = String::from("auto_sync = true\n");
    exact.push_str(&"#".repeat(confd::file::MAX_FILE_SIZE as usize - exact.len()));
    state.write("mounts", exact);
    assert!(state.loader().load("mounts").is_ok());
}

#[test]
fn a_symlink_loop() {
    let state = State::new();
    symlink("mounts", state.conf_d().join("mounts")).unwrap();
    assert_snapshot!(error_text(&state, state.loader(), "mounts"));
}

#[test]
fn a_symlink_loop_among_drop_ins() {
    let state = State::new();
    std::fs::create_dir(state.conf_d().join("mounts.d")).unwrap();
    symlink("b.toml", state.conf_d().join("mounts.d/a.toml")).unwrap();
    symlink("a.toml", state.conf_d().join("mounts.d/b.toml")).unwrap();
    assert_snapshot!(error_text(&state, state.loader(), "mounts"));
}

#[test]
fn a_dangling_symlink() {
    let state = State::new();
    symlink("/nonexistent/confd-target", state.conf_d().join("mounts")).unwrap();
    assert_snapshot!(error_text(&state, state.loader(), "mounts"));
}

#[test]
fn a_fifo_where_a_file_belongs() {
    let state = State::new();
    let path = state.conf_d().join("mounts");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    // Must not block: the loader never opens it for reading.
    assert_snapshot!(error_text(&state, state.loader(), "mounts"));
}

#[test]
fn permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let state = State::new();
    let path = state.write("mounts", "auto_sync = true\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&path).is_ok() {
        // Root (and CAP_DAC_OVERRIDE) reads it anyway; nothing to observe.
        eprintln!("skipped: running with the power to read mode-000 files");
        return;
    }
    assert_snapshot!(error_text(&state, state.loader(), "mounts"));
}

#[test]
fn unknown_profile() {
    let state = State::new();
    let from_env = state
        .loader()
        .env([("NEXUS_PROFILE", "huge")])
        .load("mounts")
        .unwrap_err();
    assert!(!from_env.is_usage());
    let from_flag = state.loader().profile("Full").load("mounts").unwrap_err();
    assert!(from_flag.is_usage());
    assert_snapshot!(format!("{from_env}\n{from_flag}"));
}

#[test]
fn a_malformed_override() {
    let state = State::new();
    let err = state
        .loader()
        .cli_override("mounts", "true")
        .load("mounts")
        .unwrap_err();
    assert!(err.is_usage());
    assert_snapshot!(err.to_string());
}

#[test]
fn secrets_never_appear_in_errors_or_debug_output() -> Result<(), Box<dyn std::error::Error>> {
    let canary = "postgresql://admin:canary-7f3a@db/prod";
    let state = State::new();
    state.write("database", format!("url = \"{canary}\"\n"));
    state.write("llm", format!("api_key = \"{canary}\"\nmodel = 5\n"));
    let db = state.loader().load("database")?;
    assert_eq!(db.get::<String>("url")?.as_deref(), Some(canary));
    for shown in [format!("{db}"), format!("{db:?}"), format!("{db:#?}")] {
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains(confd::secret::REDACTED), "{shown}");
    }
    // A secret of the wrong type is reported without its value.
    state.write("database.d/a.toml", "read_replica_url = 42\n");
    let err = state.loader().load("database").unwrap_err();
    assert!(!format!("{err}{err:?}").contains("canary"));
    let llm = state.loader().load("llm").unwrap_err();
    assert!(!format!("{llm}{llm:?}").contains("canary"));
    // A secret given on the command line is not shown in its origin.
    let cli = state
        .loader()
        .cli_override("llm.api_key", "sk-canary")
        .load("mounts")?;
    assert!(!format!("{cli:?}").contains("canary"));
    std::fs::remove_file(state.conf_d().join("llm"))?;
    let llm = state
        .loader()
        .cli_override("llm.api_key", "sk-canary")
        .load("llm")?;
    let origin = llm.origin("api_key").unwrap().to_string();
    assert_eq!(origin, "--set llm.api_key=<redacted>");
    Ok(())
}

/// Errors are shown to people and written to logs: whatever a file, a
/// variable or an override holds, the rendered error drives no terminal.
#[test]
fn errors_never_carry_raw_control_characters() {
    const ESC: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}";
    let escaped = "\\u001b]0;pwned\\u0007\\u001b[2J\\u009b";
    let cases: Vec<(&str, String, confd::Loader)> = vec![
        (
            "cache",
            format!("backend = \"{escaped}\"\n"),
            confd::Loader::new(),
        ),
        (
            "uploads",
            format!("min_chunk_size = 9\n#{escaped}\n"),
            confd::Loader::new(),
        ),
        (
            "cache",
            "kv_size = 1\n".to_owned(),
            confd::Loader::new().profile(ESC),
        ),
        (
            "cache",
            "kv_size = 1\n".to_owned(),
            confd::Loader::new().cli_override(format!("cache.{ESC}"), "1"),
        ),
        (
            "cache",
            "kv_size = 1\n".to_owned(),
            confd::Loader::new().cli_override("cache.kv_size", ESC),
        ),
        (
            "mounts",
            "auto_sync = 1\n".to_owned(),
            confd::Loader::new().env([("NEXUS_AUTO_SYNC_MOUNTS", ESC)]),
        ),
    ];
    for (brick, text, loader) in cases {
        let state = State::new();
        state.write(brick, &text);
        // A drop-in directory whose name holds escapes, in every path shown.
        let odd = state.conf_d().join(format!("{brick}.d/{ESC}.toml"));
        std::fs::create_dir_all(odd.parent().expect("parent")).expect("mkdir");
        std::fs::write(&odd, format!("x = = {escaped}\n")).expect("write");
        let err = loader
            .state_dir(state.root())
            .cache(false)
            .load(brick)
            .expect_err("the load should fail");
        let shown = err.to_string();
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "{brick} {text:?}: {shown:?}"
        );
    }
}

/// Each operation has its own error (issue 13): a `--set` is parsed into an
/// `OverrideError`, a value read out of a loaded configuration fails with a
/// `GetError`, the state dir with a `StateDirError`, and a load wraps them.
#[test]
fn each_operation_has_its_own_error() -> Result<(), Box<dyn std::error::Error>> {
    use confd::error::{GetError, InputSource, OverrideError, StateDirError};

    let bad_set: OverrideError = "mounts".parse::<confd::loader::Override>().unwrap_err();
    assert!(confd::Error::from(bad_set).is_usage());

    let state = State::new();
    state.write("mounts", "auto_sync = true\n");
    let config = state.loader().load("mounts")?;
    assert!(matches!(
        config.get::<bool>("a..b"),
        Err(GetError::InvalidKeyPath(_))
    ));
    let wrong = config.get::<String>("auto_sync").unwrap_err();
    let GetError::Value { key, origin, .. } = &wrong else {
        panic!("expected a value error, got {wrong:?}")
    };
    assert_eq!(key, "mounts.auto_sync");
    assert!(
        origin.to_string().ends_with("conf.d/mounts:1:13"),
        "{origin}"
    );

    let relative = confd::Loader::new()
        .env([("NEXUS_STATE_DIR", "rel")])
        .resolved_state_dir()
        .unwrap_err();
    let confd::Error::StateDir(StateDirError::Invalid { from, .. }) = &relative else {
        panic!("expected an invalid state dir, got {relative:?}")
    };
    assert_eq!(*from, InputSource::Env("NEXUS_STATE_DIR"));
    assert!(!relative.is_usage());
    Ok(())
}

/// An error's cause is in its message or in `source()`, never in both, so a
/// printer of error chains (anyhow's `{:#}`) shows each cause once.
#[test]
fn no_cause_is_printed_twice() {
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut messages = vec![e.to_string()];
        let mut source = e.source();
        while let Some(cause) = source {
            messages.push(cause.to_string());
            source = cause.source();
        }
        messages
    }
    let state = State::new();
    std::fs::create_dir_all(state.conf_d().join("mounts")).unwrap(); // where a file belongs
    symlink("cache", state.conf_d().join("cache")).unwrap(); // a loop: an I/O error
    let errors: Vec<Box<dyn std::error::Error>> = vec![
        Box::new(state.loader().load("mounts").unwrap_err()),
        Box::new(state.loader().load("cache").unwrap_err()),
        Box::new(
            confd::atomic::replace_file(&state.conf_d().join("no/such/dir/x"), b"x", 0o644)
                .unwrap_err(),
        ),
        Box::new(confd::seed::create_dirs(&state.write("a-file", "x").join("sub")).unwrap_err()),
    ];
    for e in &errors {
        let messages = chain(e.as_ref());
        for (i, cause) in messages.iter().enumerate().skip(1) {
            assert!(
                !messages[..i].iter().any(|m| m.contains(cause.as_str())),
                "a cause printed twice: {messages:?}"
            );
        }
    }
}
