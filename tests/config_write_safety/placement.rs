//! Where a set puts its value and what it says: a commented default only in
//! its own table, after the header comment, line endings and a byte order
//! mark kept, unknown keys and bricks, bad values, files too large.

use crate::support::Sandbox;

#[test]
fn set_replaces_a_commented_default_only_in_its_own_table() {
    let sandbox = Sandbox::new();
    // A `#kv_size` line inside a multi-line string is part of `url`.
    let url = "url = \"\"\"\n#kv_size = 5\n\"\"\"\n";
    sandbox.write("cache", url);
    let run = sandbox.run(&["config", "set", "cache.kv_size", "9"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(sandbox.read("cache"), format!("{url}kv_size = 9\n"));
    let url_now: toml::Table = sandbox.read("cache").parse().unwrap();
    assert_eq!(url_now["url"].as_str(), Some("#kv_size = 5\n"));
    // The same in a literal string.
    let literal = "url = '''\n#kv_size = 5\n'''\n";
    sandbox.write("cache", literal);
    sandbox.run(&["config", "set", "cache.kv_size", "9"]);
    assert_eq!(sandbox.read("cache"), format!("{literal}kv_size = 9\n"));

    // A commented line under `[server]` is not the default of `foo.port`.
    sandbox.write("web", "[server]\n#port = 80\n");
    let run = sandbox.run(&["config", "set", "web.foo.port", "1"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        sandbox.read("web"),
        "[server]\n#port = 80\n\n[foo]\nport = 1\n"
    );
    assert_eq!(
        sandbox.run(&["config", "get", "web.foo.port"]).stdout,
        "1\n"
    );
    // But it is the default of `server.port`.
    sandbox.run(&["config", "set", "web.server.port", "8080"]);
    assert_eq!(
        sandbox.read("web"),
        "[server]\nport = 8080\n\n[foo]\nport = 1\n"
    );
}

#[test]
fn set_puts_a_key_without_a_commented_default_after_the_header_comment() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "mounts",
        "# My mounts, by hand.\n# Second line.\n\n# Some other note.\n",
    );
    let run = sandbox.run(&["config", "set", "mounts.auto_sync", "true"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        sandbox.read("mounts"),
        "# My mounts, by hand.\n# Second line.\n\nauto_sync = true\n\n# Some other note.\n"
    );
}

#[test]
fn set_keeps_crlf_line_endings_and_a_byte_order_mark() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "cache",
        "\u{feff}# Windows-edited\r\n#kv_size = 256\r\nbackend = \"null\"\r\n",
    );
    let run = sandbox.run(&["config", "set", "cache.kv_size", "9"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let run = sandbox.run(&["config", "set", "cache.path_size", "10"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        sandbox.read("cache"),
        "\u{feff}# Windows-edited\r\nkv_size = 9\r\nbackend = \"null\"\r\npath_size = 10\r\n"
    );
}

#[test]
fn set_of_an_unknown_key_warns_with_a_suggestion_and_fails_under_strict() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let before = sandbox.read("cache");
    let strict = sandbox.run(&["--strict", "config", "set", "cache.kv_sise", "5"]);
    assert_eq!(strict.code, 2, "{}", strict.transcript());
    assert!(
        strict.stderr.contains(
            "`cache.kv_sise` is not a key of the `cache` brick (did you mean `kv_size`?)"
        ),
        "{}",
        strict.stderr
    );
    assert_eq!(sandbox.read("cache"), before);
    let lenient = sandbox.run(&["config", "set", "cache.kv_sise", "5"]);
    assert_eq!(lenient.code, 0, "{}", lenient.transcript());
    assert!(
        lenient.stderr.starts_with(
            "warning: `cache.kv_sise` is not a key of the `cache` brick (did you mean `kv_size`?)"
        ),
        "{}",
        lenient.stderr
    );
    // A key under a plain value, and a whole table, are command-line errors.
    let under = sandbox.run(&["config", "set", "cache.backend.sub", "5"]);
    assert_eq!(under.code, 2, "{}", under.transcript());
    assert!(
        under
            .stderr
            .contains("`cache.backend` is a value, not a table"),
        "{}",
        under.stderr
    );
}

#[test]
fn a_bad_value_is_blamed_on_the_value_and_a_broken_file_on_the_file() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let bad = sandbox.run(&["config", "set", "uploads.max_chunk_size", "1"]);
    assert_eq!(bad.code, 2, "{}", bad.transcript());
    assert!(
        bad.stderr.contains("`1` breaks a rule of `uploads`"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains("conf.d/uploads:"), "{}", bad.stderr);
    // The file is already broken elsewhere: that is not the value's fault.
    let broken = sandbox.conf_d().join("search");
    std::fs::write(&broken, "zoekt_url = 5\n").unwrap();
    let run = sandbox.run(&["config", "set", "search.index_dir", "/x"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("conf.d/search:1:"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("does not load as it is, so nothing was set"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "zoekt_url = 5\n");
}

#[test]
fn set_and_edit_refuse_a_file_over_the_size_limit_before_writing_it() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let before = sandbox.read("cache");
    // One argument holds at most 128 KiB: eight of these fit in the file,
    // a ninth would make a file no load accepts.
    let big = "x".repeat(120 * 1024);
    for i in 1..=8 {
        let run = sandbox.run(&["config", "set", &format!("cache.extra{i}"), &big]);
        assert_eq!(run.code, 0, "{}", run.transcript());
    }
    let run = sandbox.run(&["config", "set", "cache.extra9", &big]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("limited to 1 MiB"), "{}", run.stderr);
    assert!(
        run.stderr.len() < 1000,
        "the value is echoed whole: {} bytes",
        run.stderr.len()
    );
    assert_eq!(sandbox.run(&["config", "get", "cache.backend"]).code, 0);
    std::fs::write(sandbox.conf_d().join("cache"), &before).unwrap();
    let script = sandbox.editor(
        "huge-editor",
        "head -c 1100000 /dev/zero | tr '\\0' '#' >> \"$1\"",
    );
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "cache"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("configuration files are limited to 1 MiB"),
        "{}",
        run.stderr
    );
    assert_eq!(sandbox.read("cache"), before);
}

#[test]
fn set_speaks_json_and_suggests_across_case() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let run = sandbox.run(&["--format", "json", "config", "set", "cache.kv_size", "5"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["brick"], "cache");
    assert_eq!(json["key"], "kv_size");
    assert_eq!(json["changed"], true);
    let again = sandbox.run(&["--format", "json", "config", "set", "cache.kv_size", "5"]);
    let json: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(json["changed"], false);
    let upper = sandbox.run(&["--strict", "config", "set", "cache.KV_SIZE", "5"]);
    assert_eq!(upper.code, 2, "{}", upper.transcript());
    assert!(
        upper.stderr.contains("did you mean `kv_size`?"),
        "{}",
        upper.stderr
    );
}

#[test]
fn a_value_a_drop_in_overrides_is_still_checked() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    sandbox.write("cache.d/50-ops.toml", "kv_size = 1\nbackend = \"null\"\n");
    let before = sandbox.read("cache");
    for (key, value) in [("cache.kv_size", "-3"), ("cache.backend", "Dragonfly")] {
        let run = sandbox.run(&["config", "set", key, value]);
        assert_eq!(run.code, 2, "{}", run.transcript());
        // Quoted once: by serde ("unknown variant `Dragonfly`") or by `set`.
        assert_eq!(
            run.stderr.matches(&format!("`{value}`")).count(),
            1,
            "{}",
            run.stderr
        );
    }
    assert_eq!(sandbox.read("cache"), before);
    let script = sandbox.editor("negative-editor", r#"echo 'kv_size = -5' >> "$1""#);
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "cache"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("[ROOT]/state/etc/conf.d/cache:"),
        "{}",
        run.stderr
    );
    assert_eq!(sandbox.read("cache"), before);
    // A rule across keys may still rely on another file for the rest.
    sandbox.write("uploads.d/50-big.toml", "max_chunk_size = 900000000\n");
    let run = sandbox.run(&["config", "set", "uploads.default_chunk_size", "800000000"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
}

#[test]
fn a_mistyped_brick_is_warned_about_and_refused_under_strict() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let strict = sandbox.run(&["--strict", "config", "set", "databse.pool_size", "3"]);
    assert_eq!(strict.code, 2, "{}", strict.transcript());
    assert!(
        strict
            .stderr
            .contains("`databse` is not a registered brick (did you mean `database`?)"),
        "{}",
        strict.stderr
    );
    assert!(!sandbox.conf_d().join("databse").exists());
    let lenient = sandbox.run(&["config", "set", "databse.pool_size", "3"]);
    assert_eq!(lenient.code, 0, "{}", lenient.transcript());
    assert!(
        lenient.stderr.contains("did you mean `database`?"),
        "{}",
        lenient.stderr
    );
    // A brick of one's own, with a name like no other, is no typo.
    let mine = sandbox.run(&["--strict", "config", "set", "smtp-relay.host", "mx"]);
    assert_eq!(mine.code, 0, "{}", mine.transcript());
    assert!(mine.stderr.is_empty(), "{}", mine.stderr);
}

#[test]
fn setting_the_value_a_key_already_holds_leaves_the_file_as_written() {
    let sandbox = Sandbox::new();
    sandbox.write("cache", "kv_size = 0x100 # hex on purpose\n");
    let before = std::fs::metadata(sandbox.conf_d().join("cache"))
        .unwrap()
        .modified()
        .unwrap();
    let run = sandbox.run(&["--format", "json", "config", "set", "cache.kv_size", "256"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["changed"], false);
    assert_eq!(sandbox.read("cache"), "kv_size = 0x100 # hex on purpose\n");
    let after = std::fs::metadata(sandbox.conf_d().join("cache"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}
