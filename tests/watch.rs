//! `nexus config watch`: a running watch prints one line per change.
//!
//! Each test spawns the binary, waits for its "watching" banner on stderr
//! (from then on edits are seen), edits a file, reads one line from stdout
//! with a generous limit, and kills the child.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{Sandbox, nexus_bin};

const PATIENCE: Duration = Duration::from_secs(10);

/// A running `nexus config watch`, killed on drop.
struct Watching {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watching {
    fn start(sandbox: &Sandbox, args: &[&str]) -> Self {
        let state = sandbox.state();
        let mut all = vec!["--state-dir", state.to_str().unwrap(), "config", "watch"];
        all.extend_from_slice(args);
        Self::spawn(sandbox.command_with(&nexus_bin(), &all))
    }

    /// Runs `command` (a `nexus config watch`, perhaps behind `setpriv`).
    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nexus");
        let (banner_tx, banner) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = banner_tx.send(line);
            }
        });
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let first = banner.recv_timeout(PATIENCE).expect("a banner on stderr");
        assert!(first.starts_with("watching "), "{first}");
        Watching { child, lines }
    }

    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .expect("a line on stdout within 10 s")
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// Runs a shell command in `dir`, as an operator would type it.
fn shell(dir: &std::path::Path, script: &str) {
    let status = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .status()
        .expect("run sh");
    assert!(status.success(), "{script}: {status}");
}

#[test]
fn a_release_switch_of_a_symlinked_etc_is_seen() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    for (release, auto_sync) in [("rel1", "false"), ("rel2", "true"), ("bad", "\"yes\"")] {
        let conf_d = state.join(release).join("conf.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    shell(&state, "ln -s rel1 etc");
    let watching = Watching::start(&sandbox, &["mounts", "--format", "json"]);

    shell(&state, "ln -sfn rel2 etc.tmp && mv -T etc.tmp etc");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["event"], "reloaded", "{line}");
    assert_eq!(event["changes"][0]["key"], "auto_sync", "{line}");
    assert_eq!(event["changes"][0]["old"]["value"], false, "{line}");
    assert_eq!(event["changes"][0]["new"]["value"], true, "{line}");
    assert_eq!(
        event["changes"][0]["new"]["origin"]["text"],
        format!("{}:1:13", sandbox.conf_d().join("mounts").display()),
        "{line}"
    );
    let serving = event["hash"].clone();

    // A release with a bad file is reported and the last good one served.
    shell(&state, "ln -sfn bad etc.tmp && mv -T etc.tmp etc");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["event"], "invalid", "{line}");
    assert_eq!(event["serving_hash"], serving, "{line}");

    // Back to the first release, and an edit in it is seen.
    shell(&state, "ln -sfn rel1 etc.tmp && mv -T etc.tmp etc");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["event"], "reloaded", "{line}");
    assert_eq!(event["changes"][0]["new"]["value"], false, "{line}");
    std::fs::write(state.join("rel1/conf.d/mounts"), "auto_sync = true\n").unwrap();
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["changes"][0]["new"]["value"], true, "{line}");
}

#[test]
fn etc_moved_away_and_re_created_is_seen() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let watching = Watching::start(&sandbox, &["mounts"]);
    shell(
        &sandbox.state(),
        "mv etc etc.old && mkdir -p etc/conf.d && echo 'auto_sync = true' > etc/conf.d/mounts",
    );
    let line = watching.next_line();
    assert!(line.starts_with("reloaded mounts "), "{line}");
    assert!(line.contains("auto_sync: false -> true"), "{line}");
}

#[test]
fn a_service_user_watches_beneath_a_directory_it_cannot_list() {
    // `/srv/apps` at 0711: the service reaches its state dir but cannot read
    // the directory above it. The watch starts, and sees edits and switches
    // inside the state dir; only a switch up there would go unseen.
    let sandbox = Sandbox::new();
    let root = sandbox.state().parent().unwrap().to_owned();
    let state = sandbox.state();
    for (release, auto_sync) in [("rel1", "false"), ("rel2", "true")] {
        let conf_d = state.join(release).join("conf.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    shell(
        &state,
        "ln -s rel1 etc && chown -R nobody: . && chmod 0711 ..",
    );
    // A copy the service user can run wherever the build tree is.
    let nexus = root.join("nexus");
    std::fs::copy(nexus_bin(), &nexus).unwrap();
    let state_arg = state.to_str().unwrap();
    let nexus_arg = nexus.to_str().unwrap();
    let watching = Watching::spawn(sandbox.command_with(
        std::path::Path::new("setpriv"),
        &[
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            nexus_arg,
            "--state-dir",
            state_arg,
            "config",
            "watch",
            "mounts",
        ],
    ));
    shell(&state, "ln -sfn rel2 etc.tmp && mv -T etc.tmp etc");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
    std::fs::write(state.join("rel2/conf.d/mounts"), "auto_sync = false\n").unwrap();
    let line = watching.next_line();
    assert!(line.contains("auto_sync: true -> false"), "{line}");
}

#[test]
fn a_swapped_conf_d_symlink_is_seen() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    for (tree, auto_sync) in [("a", "false"), ("b", "true")] {
        let conf_d = state.join("trees").join(tree);
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    std::fs::create_dir_all(state.join("etc")).unwrap();
    shell(&state.join("etc"), "ln -s ../trees/a conf.d");
    let watching = Watching::start(&sandbox, &["mounts"]);
    shell(
        &state.join("etc"),
        "ln -sfn ../trees/b conf.d.tmp && mv -T conf.d.tmp conf.d",
    );
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
    // The tree swapped in is the one watched now.
    std::fs::write(state.join("trees/b/mounts"), "auto_sync = false\n").unwrap();
    let line = watching.next_line();
    assert!(line.contains("auto_sync: true -> false"), "{line}");
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
