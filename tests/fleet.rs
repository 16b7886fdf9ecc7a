//! `nexus fleet …` and the fleet layer in every `nexus config` read, against
//! a real etcd server (DESIGN.md §10).

use std::time::{Duration, Instant};

use crate::etcd::Etcd;
use crate::support::Sandbox;

/// A sandbox whose `conf.d/fleet` names `etcd`, node `h1`.
fn host(etcd: &Etcd, extra: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.init();
    let list: Vec<String> = etcd
        .endpoints()
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect();
    sandbox.write(
        "fleet",
        &format!("endpoints = [{}]\nnode = \"h1\"\n{extra}", list.join(", ")),
    );
    sandbox
}

fn ok(run: &crate::support::Run) {
    assert_eq!(run.code, 0, "{}", run.transcript());
}

/// The value and `mod_revision` of `key`.
fn stored(etcd: &Etcd, key: &str) -> Option<(String, i64)> {
    let (_, entry) = etcd.client().get(key).expect("get");
    entry.map(|e| (String::from_utf8(e.value).expect("utf-8"), e.mod_revision))
}

#[test]
fn fleet_values_show_their_etcd_origin_in_every_read() {
    let etcd = Etcd::start();
    let sandbox = host(&etcd, "");
    ok(&sandbox.run(&["fleet", "set", "cache.backend", "postgres"]));
    ok(&sandbox.run(&["fleet", "set", "cache.kv_size", "7", "--node", "h1"]));
    let (_, fleet_rev) = stored(&etcd, "/nexus/conf.d/cache").expect("fleet key");
    let (_, node_rev) = stored(&etcd, "/nexus/nodes/h1/conf.d/cache").expect("node key");

    let show = sandbox.run(&["config", "show", "cache", "--origin"]);
    ok(&show);
    assert!(
        show.stdout.contains(&format!(
            "backend = \"postgres\"  # etcd /nexus/conf.d/cache@{fleet_rev}:1:11"
        )),
        "{}",
        show.stdout
    );
    let get = sandbox.run(&["config", "get", "cache.kv_size", "--show-origin"]);
    ok(&get);
    assert_eq!(
        get.stdout,
        format!("etcd /nexus/nodes/h1/conf.d/cache@{node_rev}:1:11\t7\n")
    );
    // The host's own file wins, and `explain` lists every layer.
    sandbox.write("cache", "kv_size = 9\n");
    let explain = sandbox.run(&["config", "explain", "cache.kv_size"]);
    ok(&explain);
    // The layers follow the key's declaration, from the `KEY = VALUE` line.
    let lines: Vec<&str> = explain
        .stdout
        .lines()
        .skip_while(|l| *l != "cache.kv_size = 9")
        .collect();
    assert_eq!(
        lines.first(),
        Some(&"cache.kv_size = 9"),
        "{}",
        explain.stdout
    );
    assert!(
        lines[1].starts_with("  profile default 256"),
        "{}",
        explain.stdout
    );
    assert!(
        lines[2].starts_with("  fleet node      7")
            && lines[2].ends_with(&format!(
                "etcd /nexus/nodes/h1/conf.d/cache@{node_rev}:1:11"
            )),
        "{}",
        explain.stdout
    );
    assert!(
        lines[3].starts_with("* main file       9"),
        "{}",
        explain.stdout
    );

    let json = sandbox.run(&["config", "show", "cache", "--format", "json"]);
    ok(&json);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let origin = &document["origins"]["backend"];
    assert_eq!(origin["layer"], "fleet");
    assert_eq!(origin["key"], "/nexus/conf.d/cache");
    assert_eq!(origin["revision"], fleet_rev);
    assert_eq!(origin["line"], 1);
    let explain = sandbox.run(&["config", "explain", "cache.kv_size", "--format", "json"]);
    let document: serde_json::Value = serde_json::from_str(&explain.stdout).expect("json");
    assert_eq!(document["layers"][1]["origin"]["layer"], "fleet-node");
}

#[test]
fn an_invalid_write_changes_nothing_in_etcd() {
    let etcd = Etcd::start();
    let sandbox = host(&etcd, "");
    ok(&sandbox.run(&["fleet", "set", "cache.kv_size", "7"]));
    let before = stored(&etcd, "/nexus/conf.d/cache");

    let run = sandbox.run(&["fleet", "set", "cache.backend", "bogus"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stderr.contains("unknown variant `bogus`"),
        "{}",
        run.stderr
    );

    let file = sandbox.state().with_file_name("cache.toml");
    std::fs::write(&file, "kv_size = 3\nbackend = 12\n").expect("write");
    let run = sandbox.run(&["fleet", "push", "cache", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("invalid type for `cache.backend` at `[ROOT]/cache.toml:2:11`"),
        "{}",
        run.stderr
    );
    std::fs::write(&file, "kv_size = [\n").expect("write");
    let run = sandbox.run(&["fleet", "push", "cache", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("malformed TOML at `[ROOT]/cache.toml:"),
        "{}",
        run.stderr
    );
    // A rule across keys is checked too.
    std::fs::write(&file, "min_chunk_size = 100\nmax_chunk_size = 10\n").expect("write");
    let run = sandbox.run(&["fleet", "push", "uploads", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert_eq!(stored(&etcd, "/nexus/conf.d/uploads"), None);

    let run = sandbox.run(&["fleet", "push", "fleet", file.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("the `fleet` brick is read from each host's own files only")
    );
    assert_eq!(stored(&etcd, "/nexus/conf.d/cache"), before);
    assert_eq!(stored(&etcd, "/nexus/conf.d/fleet"), None);
}

#[test]
fn set_keeps_the_comments_and_layout_of_the_stored_text() {
    let etcd = Etcd::start();
    let sandbox = host(&etcd, "");
    let file = sandbox.state().with_file_name("cache.toml");
    let text = "# the fleet's cache\nbackend = \"null\"   # for now\n\n# sizes\nkv_size = 1\n";
    std::fs::write(&file, text).expect("write");
    ok(&sandbox.run(&["fleet", "push", "cache", file.to_str().unwrap()]));
    ok(&sandbox.run(&["fleet", "set", "cache.kv_size", "2"]));
    let (now, _) = stored(&etcd, "/nexus/conf.d/cache").expect("key");
    assert_eq!(now, text.replace("kv_size = 1", "kv_size = 2"));
    let show = sandbox.run(&["fleet", "show", "cache"]);
    ok(&show);
    assert_eq!(show.stdout, now);
}

#[test]
fn concurrent_sets_of_different_keys_all_survive() {
    let etcd = Etcd::start();
    let sandbox = host(&etcd, "");
    let keys = crate::config_write_safety::CACHE_KEYS;
    let children: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let target = format!("cache.{key}");
            let value = (1000 + i).to_string();
            let state = sandbox.state();
            sandbox
                .command_with(
                    &crate::support::nexus_bin(),
                    &[
                        "--state-dir",
                        state.to_str().unwrap(),
                        "fleet",
                        "set",
                        &target,
                        &value,
                    ],
                )
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let (text, _) = stored(&etcd, "/nexus/conf.d/cache").expect("key");
    let table: toml::Table = text.parse().expect("toml");
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            table.get(*key).and_then(toml::Value::as_integer),
            Some(1000 + i as i64),
            "{text}"
        );
    }
}

#[test]
fn an_edit_racing_another_write_is_refused_naming_both_revisions() {
    let etcd = Etcd::start();
    let mut sandbox = host(&etcd, "");
    ok(&sandbox.run(&["fleet", "set", "cache.kv_size", "1"]));
    let (_, read_at) = stored(&etcd, "/nexus/conf.d/cache").expect("key");
    // The "editor" changes the key behind the edit's back, then edits.
    let state = sandbox.state();
    let editor = sandbox.editor(
        "racing-editor",
        &format!(
            "{} --state-dir {} fleet set cache.path_size 77 >/dev/null && \
             sed -i 's/kv_size = 1/kv_size = 2/' \"$1\"",
            crate::support::nexus_bin().display(),
            state.display()
        ),
    );
    sandbox.env("EDITOR", &editor);
    let run = sandbox.run(&["fleet", "edit", "cache"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let (text, now) = stored(&etcd, "/nexus/conf.d/cache").expect("key");
    assert!(
        run.stderr.contains(&format!(
            "`/nexus/conf.d/cache` changed meanwhile: it was revision {read_at} when read and is \
             revision {now} now; nothing was written"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("your version is kept in"),
        "{}",
        run.stderr
    );
    assert_eq!(text, "kv_size = 1\npath_size = 77\n");
}

#[test]
fn an_invalid_edit_is_not_written() {
    let etcd = Etcd::start();
    let mut sandbox = host(&etcd, "");
    ok(&sandbox.run(&["fleet", "set", "cache.kv_size", "1"]));
    let before = stored(&etcd, "/nexus/conf.d/cache");
    let editor = sandbox.editor("bad-editor", "echo 'kv_size = \"many\"' > \"$1\"");
    sandbox.env("EDITOR", &editor);
    let run = sandbox.run(&["fleet", "edit", "cache"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("invalid type for `cache.kv_size` at `etcd /nexus/conf.d/cache:1:11`"),
        "{}",
        run.stderr
    );
    assert_eq!(stored(&etcd, "/nexus/conf.d/cache"), before);
}

#[test]
fn status_names_the_endpoints_the_revision_and_the_cache() {
    let etcd = Etcd::start();
    let sandbox = host(&etcd, "");
    ok(&sandbox.run(&["fleet", "set", "cache.kv_size", "1"]));
    ok(&sandbox.run(&["config", "show", "cache"]));
    let run = sandbox.run(&["fleet", "status", "--format", "json"]);
    ok(&run);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(status["endpoints"][0]["answered"], true);
    assert_eq!(status["endpoints"][0]["leader"], true);
    let revision = status["revision"].as_i64().expect("revision");
    assert!(revision >= 2, "{status}");
    assert_eq!(status["cache"][0]["brick"], "cache");
    assert!(status["cache"][0]["age_seconds"].as_u64().expect("age") < 60);
}

#[test]
fn a_stopped_etcd_costs_the_timeout_then_the_cache_serves_with_a_warning() {
    let mut etcd = Etcd::start();
    let sandbox = host(&etcd, "timeout_ms = 300\n");
    ok(&sandbox.run(&["fleet", "set", "cache.kv_size", "7"]));
    ok(&sandbox.run(&["config", "show", "cache"]));
    let (_, revision) = stored(&etcd, "/nexus/conf.d/cache").expect("key");
    etcd.freeze(0);
    let started = Instant::now();
    let run = sandbox.run(&["config", "get", "cache.kv_size", "--show-origin"]);
    let waited = started.elapsed();
    ok(&run);
    assert!(waited < Duration::from_millis(1500), "waited {waited:?}");
    assert_eq!(
        run.stdout,
        format!("etcd /nexus/conf.d/cache@{revision}:1:11\t7\n")
    );
    assert!(
        run.stderr.contains(
            "did not answer within 300 ms: `cache` uses the fleet layer cached at revision"
        ),
        "{}",
        run.stderr
    );
    let strict = sandbox.run(&["--strict", "config", "get", "cache.kv_size"]);
    assert_eq!(strict.code, 1, "{}", strict.transcript());
    assert!(
        strict.stderr.contains("under `--strict`"),
        "{}",
        strict.stderr
    );
    // A write waits no longer, and writes nothing.
    let started = Instant::now();
    let set = sandbox.run(&["fleet", "set", "cache.kv_size", "8"]);
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(set.code, 1, "{}", set.transcript());
    assert!(
        set.stderr.contains("did not answer within 300 ms"),
        "{}",
        set.stderr
    );
    // `fleet status` says no endpoint answered, and exits 1.
    let started = Instant::now();
    let status = sandbox.run(&["fleet", "status"]);
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(status.code, 1, "{}", status.transcript());
    assert!(status.stdout.contains("no answer"), "{}", status.stdout);
    etcd.thaw(0);
    assert_eq!(
        stored(&etcd, "/nexus/conf.d/cache").map(|(t, _)| t),
        Some("kv_size = 7\n".to_owned())
    );
}

#[test]
fn a_write_for_an_unknown_brick_warns_with_a_suggestion_and_strict_refuses() {
    let etcd = Etcd::start();
    let sandbox = host(&etcd, "");
    let run = sandbox.run(&["--strict", "fleet", "set", "cahce.backend", "postgres"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("`cahce` is not a registered brick (did you mean `cache`?)"),
        "{}",
        run.stderr
    );
    assert_eq!(stored(&etcd, "/nexus/conf.d/cahce"), None);
    let run = sandbox.run(&["fleet", "set", "cahce.backend", "postgres"]);
    ok(&run);
    assert!(
        run.stderr.contains("did you mean `cache`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_node_name_that_is_not_one_key_segment_is_refused() {
    let etcd = Etcd::start();
    let sandbox = host(&etcd, "");
    for bad in ["../h2", "a/b", "", "a b", "."] {
        let run = sandbox.run(&["fleet", "set", "cache.kv_size", "1", "--node", bad]);
        assert_eq!(run.code, 2, "{bad:?}: {}", run.transcript());
        assert!(run.stderr.contains("invalid node name"), "{}", run.stderr);
    }
    let (_, entries) = etcd
        .client()
        .read_prefixes(&["/".to_owned()])
        .expect("read");
    assert!(entries[0].is_empty(), "nothing written: {:?}", entries[0]);
}

#[test]
fn a_host_in_no_fleet_is_told_how_to_join_one() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let run = sandbox.run(&["fleet", "status"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert_eq!(
        run.stderr,
        "error: this host is in no fleet: set `endpoints` in `[ROOT]/state/etc/conf.d/fleet`\n"
    );
}

#[test]
fn config_watch_prints_a_line_for_a_fleet_change() {
    let etcd = Etcd::start();
    let sandbox = host(&etcd, "");
    ok(&sandbox.run(&["fleet", "set", "cache.kv_size", "1"]));
    let watching = crate::watch::Watching::start(&sandbox, &["cache", "--format", "json"]);
    ok(&sandbox.run(&["fleet", "set", "cache.kv_size", "2"]));
    let (_, revision) = stored(&etcd, "/nexus/conf.d/cache").expect("key");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["event"], "reloaded", "{line}");
    assert_eq!(event["changes"][0]["key"], "kv_size");
    assert_eq!(event["changes"][0]["new"]["value"], 2);
    assert_eq!(
        event["changes"][0]["new"]["origin"]["text"],
        format!("etcd /nexus/conf.d/cache@{revision}:1:11")
    );
    // An invalid text pushed by hand is reported; the last good stays.
    etcd.put("/nexus/conf.d/cache", "kv_size = =\n");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["event"], "invalid", "{line}");
}

#[test]
fn diff_shows_what_the_host_overrides_and_get_reads_any_nodes_view() {
    let etcd = Etcd::start();
    let sandbox = host(&etcd, "");
    ok(&sandbox.run(&["fleet", "set", "cache.backend", "postgres"]));
    ok(&sandbox.run(&["fleet", "set", "cache.kv_size", "5", "--node", "h2"]));
    sandbox.write("cache.d/50-local.toml", "backend = \"null\"\n");
    let diff = sandbox.run(&["fleet", "diff", "cache"]);
    ok(&diff);
    assert!(
        diff.stdout.starts_with("--- fleet/cache\n+++ host/cache\n"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains("\n-backend = \"postgres\"\n+backend = \"null\"\n"),
        "{}",
        diff.stdout
    );
    assert_eq!(diff.stdout.matches("\n-").count(), 1, "{}", diff.stdout);

    let get = sandbox.run(&["fleet", "get", "cache.kv_size", "--node", "h2"]);
    ok(&get);
    assert_eq!(get.stdout, "5\n");
    let get = sandbox.run(&["fleet", "get", "cache.kv_size"]);
    assert_eq!(get.code, 1, "{}", get.transcript());
    assert!(
        get.stderr.contains("is not set by the fleet"),
        "{}",
        get.stderr
    );
}

#[test]
fn secrets_in_the_fleet_are_never_printed_unless_asked() {
    let etcd = Etcd::start();
    let sandbox = host(&etcd, "");
    let file = sandbox.state().with_file_name("llm.toml");
    std::fs::write(&file, "api_key = \"sk-live-123\"\nmodel = \"m\"\n").expect("write");
    ok(&sandbox.run(&["fleet", "push", "llm", file.to_str().unwrap()]));
    for args in [
        &["fleet", "show", "llm"][..],
        &["fleet", "show", "llm", "--format", "json"],
        &["fleet", "get", "llm.api_key"],
        &["fleet", "diff", "llm"],
        &["config", "show", "llm", "--origin"],
    ] {
        let run = sandbox.run(args);
        ok(&run);
        assert!(
            !run.transcript().contains("sk-live-123"),
            "{args:?}: {}",
            run.transcript()
        );
    }
    let run = sandbox.run(&["fleet", "get", "llm.api_key", "--show-secrets"]);
    assert_eq!(run.stdout, "\"sk-live-123\"\n");
    // A malformed secret text shows no value in its error either.
    std::fs::write(&file, "api_key = \"sk-live-456\" x\n").expect("write");
    let run = sandbox.run(&["fleet", "push", "llm", file.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(
        !run.transcript().contains("sk-live-456"),
        "{}",
        run.transcript()
    );
    // The host's cache of a secret brick is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(sandbox.state().join("var/lib/confd/fleet/llm"))
        .expect("cache")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_host_file_edit_is_judged_with_the_fleet_below_it_and_not_blocked_by_etcd() {
    let mut etcd = Etcd::start();
    let sandbox = host(&etcd, "timeout_ms = 300\n");
    // The fleet raises the ceiling; the host's default chunk relies on it.
    ok(&sandbox.run(&["fleet", "set", "uploads.max_chunk_size", "134217728"]));
    ok(&sandbox.run(&["config", "set", "uploads.default_chunk_size", "100000000"]));
    // Without the fleet's ceiling the same value breaks the rule.
    let alone = Sandbox::new();
    alone.init();
    let run = alone.run(&["config", "set", "uploads.default_chunk_size", "100000000"]);
    assert_eq!(run.code, 2, "{}", run.transcript());

    // etcd stopped: under --strict the edit is still judged (on the cached
    // fleet layer), and what is in force is reported.
    ok(&sandbox.run(&["config", "show", "uploads"]));
    etcd.freeze(0);
    let run = sandbox.run(&[
        "--strict",
        "config",
        "set",
        "uploads.default_chunk_size",
        "90000000",
    ]);
    ok(&run);
    assert!(
        run.stdout.starts_with("set uploads.default_chunk_size"),
        "{}",
        run.transcript()
    );
    assert!(run.stderr.contains("under `--strict`"), "{}", run.stderr);
}

#[test]
fn fleet_get_of_a_table_redacts_the_secret_inside_it_as_config_get_does() {
    // A product brick known from its installed schema, with a secret one
    // table down: `get mail.relay` prints the table, never the password.
    let etcd = Etcd::start();
    let sandbox = host(&etcd, "");
    let schemas = sandbox.state().join("share/confd/schema");
    std::fs::create_dir_all(&schemas).expect("mkdir");
    std::fs::write(
        schemas.join("mail.json"),
        r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "additionalProperties": false,
  "properties": {
    "relay": {
      "additionalProperties": false,
      "properties": {
        "host": { "default": "localhost", "type": "string", "x-confd-reload": false },
        "password": { "default": "", "type": "string", "writeOnly": true, "x-confd-reload": false }
      },
      "type": "object"
    }
  },
  "title": "mail",
  "type": "object",
  "x-confd-profile": "full"
}
"#,
    )
    .expect("schema");
    let file = sandbox.state().with_file_name("mail.toml");
    std::fs::write(
        &file,
        "[relay]\nhost = \"smtp.example\"\npassword = \"pw-live-789\"\n",
    )
    .expect("write");
    ok(&sandbox.run(&["fleet", "push", "mail", file.to_str().unwrap()]));
    for args in [
        &["fleet", "get", "mail.relay"][..],
        &["--format", "json", "fleet", "get", "mail.relay"],
        &["config", "get", "mail.relay"],
    ] {
        let run = sandbox.run(args);
        ok(&run);
        assert!(
            !run.transcript().contains("pw-live-789") && run.stdout.contains("smtp.example"),
            "{args:?}: {}",
            run.transcript()
        );
        assert!(
            run.stdout.contains("<redacted>"),
            "{args:?}: {}",
            run.stdout
        );
    }
    let shown = sandbox.run(&["fleet", "get", "mail.relay", "--show-secrets"]);
    assert!(
        shown.stdout.contains("pw-live-789"),
        "{}",
        shown.transcript()
    );
}
