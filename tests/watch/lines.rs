//! What a watch's lines say (JSON, text, secrets redacted, new warnings once,
//! hashes, restart), its banner, and how it ends when it cannot write.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use super::{PATIENCE, Watching};
use crate::support::{Sandbox, nexus_bin};

#[test]
fn json_lines_name_the_brick_key_values_and_origin() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let watching = Watching::start(&sandbox, &["mounts", "cache", "--format", "json"]);
    let path = sandbox.write("mounts.d/50-local.toml", "auto_sync = true\n");

    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("one JSON document per line");
    assert_eq!(event["event"], "reloaded", "{line}");
    assert_eq!(event["brick"], "mounts");
    assert_eq!(event["hash"].as_str().map(str::len), Some(64));
    assert_eq!(event["changes"][0]["key"], "auto_sync");
    assert_eq!(event["changes"][0]["old"]["value"], false);
    assert_eq!(event["changes"][0]["new"]["value"], true);
    assert_eq!(
        event["changes"][0]["new"]["origin"]["text"],
        format!("{}:1:13", path.display())
    );

    // A broken file is reported, and the watch goes on.
    sandbox.write("cache", "backend = = 1\n");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["event"], "invalid", "{line}");
    assert_eq!(event["brick"], "cache");
    assert!(event["serving_hash"].is_string(), "{line}");
}

#[test]
fn text_lines_redact_secrets() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let watching = Watching::start(&sandbox, &["database"]);
    let temp = sandbox.write(
        ".database.tmp",
        "url = \"postgresql://app:hunter2@db/nexus\"\n",
    );
    std::fs::rename(temp, sandbox.conf_d().join("database")).unwrap();

    let line = watching.next_line();
    assert!(line.starts_with("reloaded database "), "{line}");
    assert!(line.contains("url: \"\" -> \"<redacted>\""), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
}

#[test]
fn a_secret_is_shown_in_a_line_only_with_show_secrets() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let hidden = Watching::start(&sandbox, &["llm"]);
    let shown = Watching::start(&sandbox, &["llm", "--show-secrets"]);
    sandbox.write("llm.d/50-key.toml", "api_key = \"sk-watch-1\"\n");
    let hidden_line = hidden.next_line();
    assert!(hidden_line.starts_with("reloaded llm "), "{hidden_line}");
    assert!(!hidden_line.contains("sk-watch-1"), "{hidden_line}");
    let shown_line = shown.next_line();
    assert!(shown_line.contains("\"sk-watch-1\""), "{shown_line}");
}

#[test]
fn the_banner_says_why_a_brick_is_invalid() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let path = sandbox.write("cache", "backend = = 1\n");
    let watching = Watching::start(&sandbox, &["cache"]);
    let banner = watching.banner();
    assert!(
        banner.starts_with(&format!(
            "watching cache (invalid: malformed TOML at `{}:1:11`: ",
            path.display()
        )),
        "{banner}"
    );
    assert!(banner.ends_with(") (Ctrl-C to stop)"), "{banner}");
    assert!(!banner.contains('\n'), "{banner}");
    // The event is printed too.
    let line = watching.next_line();
    assert!(
        line.starts_with("invalid cache (serving nothing): "),
        "{line}"
    );
}

/// Runs a watch with stdout on `stdout`, makes one change, and waits (10 s
/// at most) for the watch to end: how it ended, and its stderr.
fn watch_until_it_ends(stdout: Stdio) -> (Option<i32>, String) {
    let sandbox = Sandbox::new();
    sandbox.init();
    let state = sandbox.state();
    let mut child = sandbox
        .command_with(
            &nexus_bin(),
            &[
                "--state-dir",
                state.to_str().unwrap(),
                "config",
                "watch",
                "mounts",
            ],
        )
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nexus");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    assert!(banner.starts_with("watching "), "{banner}");
    sandbox.write("mounts", "auto_sync = true\n");
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the watch did not end within {PATIENCE:?} of a failed write");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    (status.code(), rest)
}

#[test]
fn a_line_that_cannot_be_written_ends_the_watch_with_an_error() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let (code, stderr) = watch_until_it_ends(Stdio::from(full));
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "error: cannot write to standard output: No space left on device (os error 28)\n"
    );
}

#[test]
fn a_closed_pipe_ends_the_watch_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let (code, stderr) = watch_until_it_ends(Stdio::from(writer));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn a_reload_says_a_new_warning_once() {
    // `get` says an unknown key is ignored; a watch said nothing, ever.
    let sandbox = Sandbox::new();
    sandbox.init();
    let path = sandbox.write("mounts.d/50-typo.toml", "auto_synk = true\n");
    let watching = Watching::start(&sandbox, &["mounts"]);
    let warning = format!(
        "warning: unknown key `mounts.auto_synk` at `{}:1:13` (did you mean `auto_sync`?): \
         the brick ignores it",
        path.display()
    );
    assert_eq!(watching.start, [warning, watching.banner().to_owned()]);

    sandbox.write("mounts.d/60-typo.toml", "prefech = 1\n");
    let line = watching.next_line();
    assert!(line.starts_with("reloaded mounts "), "{line}");
    let warning = watching.next_stderr();
    assert!(
        warning.starts_with("warning: unknown key `mounts.prefech` at "),
        "{warning}"
    );
    // Said once: a reload for another reason says nothing again.
    sandbox.write("mounts", "auto_sync = true\n");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
    sandbox.write("mounts", "auto_sync = false\n");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: true -> false"), "{line}");
    // Written before the line, but its reader thread may lag: a bounded wait.
    let again = watching.stderr.recv_timeout(Duration::from_millis(300));
    assert!(again.is_err(), "a warning said again: {again:?}");
}

#[test]
fn the_hash_of_a_brick_holding_secrets_is_shown_only_with_show_secrets() {
    let sandbox = Sandbox::new();
    sandbox.init();
    // The hash covers the secret: anyone could confirm a guess with it.
    let hidden = Watching::start(&sandbox, &["llm", "--format", "json"]);
    let shown = Watching::start(&sandbox, &["llm", "--format", "json", "--show-secrets"]);
    let text = Watching::start(&sandbox, &["llm"]);
    sandbox.write("llm.d/50-key.toml", "api_key = \"hunter2\"\n");
    let event: serde_json::Value = serde_json::from_str(&hidden.next_line()).unwrap();
    assert_eq!(event["hash"], "<redacted>", "{event}");
    assert_eq!(event["previous_hash"], "<redacted>", "{event}");
    let event: serde_json::Value = serde_json::from_str(&shown.next_line()).unwrap();
    assert_eq!(event["hash"].as_str().map(str::len), Some(64), "{event}");
    let line = text.next_line();
    assert!(
        line.starts_with("reloaded llm <redacted> (restart):"),
        "{line}"
    );
}

#[test]
fn json_lines_say_whether_the_change_needs_a_restart() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let watching = Watching::start(&sandbox, &["cache", "--format", "json"]);
    let text = Watching::start(&sandbox, &["cache"]);

    // `permission_ttl` is declared `reload`: the brick applies it live.
    sandbox.write("cache.d/50-ttl.toml", "permission_ttl = 30\n");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["event"], "reloaded", "{line}");
    assert_eq!(event["restart"], false, "{line}");
    assert_eq!(event["changes"][0]["key"], "permission_ttl", "{line}");
    assert_eq!(event["changes"][0]["reload"], true, "{line}");
    let line = text.next_line();
    assert!(
        line.contains(" (live): permission_ttl: 300 -> 30"),
        "{line}"
    );

    // `backend` is not: a restart.
    sandbox.write("cache.d/60-backend.toml", "backend = \"null\"\n");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["restart"], true, "{line}");
    assert_eq!(event["changes"][0]["key"], "backend", "{line}");
    assert_eq!(event["changes"][0]["reload"], false, "{line}");
    let line = text.next_line();
    assert!(line.contains(" (restart): backend: "), "{line}");

    // Broken, then fixed back to the same values: nothing to restart.
    sandbox.write("cache.d/60-backend.toml", "backend = = 1\n");
    let line = watching.next_line();
    assert!(line.contains("\"event\":\"invalid\""), "{line}");
    sandbox.write("cache.d/60-backend.toml", "backend = \"null\"\n");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["event"], "reloaded", "{line}");
    assert_eq!(event["changes"], serde_json::json!([]), "{line}");
    assert_eq!(event["restart"], false, "{line}");
}
