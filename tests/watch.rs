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
pub(crate) struct Watching {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Stderr after the banner.
    stderr: mpsc::Receiver<String>,
    /// Stderr up to the banner, the banner last.
    start: Vec<String>,
}

impl Watching {
    pub(crate) fn start(sandbox: &Sandbox, args: &[&str]) -> Self {
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
        let (stderr_tx, stderr_lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = stderr_tx.send(line);
            }
        });
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        // Warnings (a directory polled) may come first.
        let mut start = Vec::new();
        while !start
            .last()
            .is_some_and(|l: &String| l.starts_with("watching "))
        {
            let line = stderr_lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("a banner on stderr; saw {start:?}"));
            assert!(
                line.starts_with("watching ") || line.starts_with("warning: "),
                "{line}"
            );
            start.push(line);
        }
        Watching {
            child,
            lines,
            stderr: stderr_lines,
            start,
        }
    }

    /// The banner: `watching BRICK (HASH), … (Ctrl-C to stop)`.
    fn banner(&self) -> &str {
        self.start.last().expect("a banner")
    }

    /// The next line on stderr after the banner, within 10 s.
    fn next_stderr(&self) -> String {
        self.stderr
            .recv_timeout(PATIENCE)
            .expect("a line on stderr within 10 s")
    }

    pub(crate) fn next_line(&self) -> String {
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
    // inside the state dir (a switch up there: the next test).
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
    crate::support::copy_nexus(&nexus);
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
fn a_service_user_sees_its_state_dir_symlink_switched_in_a_0711_directory_above() {
    // `/srv/apps/nexus -> nexus-1` in a `0711` `/srv/apps`: polled, quietly
    // (a directory above the state dir is often unreadable on purpose).
    let sandbox = Sandbox::new();
    let root = sandbox.state().parent().unwrap().to_owned();
    for (release, auto_sync) in [("s1", "false"), ("s2", "true")] {
        let conf_d = root.join(release).join("etc/conf.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    let watching = watch_as_nobody(
        &sandbox,
        "rmdir state && ln -s s1 state && chmod 0711 .",
        &["mounts"],
    );
    assert_eq!(watching.start.len(), 1, "{:?}", watching.start);
    shell(&root, "ln -sfn s2 state.tmp && mv -T state.tmp state");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
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

/// `nexus config watch ARGS…` as `nobody`, on a state dir root owns (made
/// with `setup`, run in the sandbox root, before the watch starts): the
/// service user can search every directory on the way but, where one is
/// `0711`, not read it, and so not watch it with inotify.
fn watch_as_nobody(sandbox: &Sandbox, setup: &str, args: &[&str]) -> Watching {
    let root = sandbox.state().parent().unwrap().to_owned();
    std::fs::create_dir_all(sandbox.state()).unwrap();
    shell(&root, &format!("chmod 0755 . && {setup}"));
    // A copy the service user can run wherever the build tree is.
    let nexus = root.join("nexus");
    crate::support::copy_nexus(&nexus);
    let state = sandbox.state();
    let mut all = vec![
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        nexus.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "config",
        "watch",
    ];
    all.extend_from_slice(args);
    Watching::spawn(sandbox.command_with(std::path::Path::new("setpriv"), &all))
}

/// The warning that `dir` is polled instead of watched, said once.
fn polling(dir: &std::path::Path) -> String {
    format!(
        "warning: cannot watch `{}` (permission denied): checking it every 500 ms instead",
        dir.display()
    )
}

#[test]
fn a_service_user_still_hears_edits_once_conf_d_turns_0711() {
    // inotify needs read permission: the watch the service user had on
    // `conf.d` is lost when it is set again after the `chmod`, and edits
    // must still be heard, by polling, with a word on stderr about it.
    let sandbox = Sandbox::new();
    sandbox.init();
    let watching = watch_as_nobody(&sandbox, "true", &["mounts"]);
    assert_eq!(watching.start.len(), 1, "{:?}", watching.start);
    shell(&sandbox.conf_d(), "chmod 0711 .");
    assert_eq!(watching.next_stderr(), polling(&sandbox.conf_d()));
    sandbox.write("mounts", "auto_sync = true\n");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
    // Readable again: watched again, and edits still heard.
    shell(&sandbox.conf_d(), "chmod 0755 .");
    sandbox.write("mounts", "auto_sync = false\n");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: true -> false"), "{line}");
}

#[test]
fn a_service_user_watches_a_conf_d_it_cannot_list_from_the_start() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let watching = watch_as_nobody(&sandbox, "chmod 0711 state/etc/conf.d", &["mounts"]);
    assert_eq!(watching.start[0], polling(&sandbox.conf_d()));
    assert!(
        watching.banner().starts_with("watching mounts ("),
        "{}",
        watching.banner()
    );
    // Saved by an editor (a new inode), then written in place.
    let temp = sandbox.write(".mounts.tmp", "auto_sync = true\n");
    std::fs::rename(temp, sandbox.conf_d().join("mounts")).unwrap();
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
    sandbox.write("mounts", "auto_sync = false\n");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: true -> false"), "{line}");
}

#[test]
fn a_service_user_sees_a_release_switch_in_a_0711_state_dir() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    for (release, auto_sync) in [("rel1", "false"), ("rel2", "true")] {
        let conf_d = state.join(release).join("conf.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    let watching = watch_as_nobody(
        &sandbox,
        "ln -s rel1 state/etc && chmod 0711 state",
        &["mounts"],
    );
    assert_eq!(watching.start[0], polling(&state));
    shell(&state, "ln -sfn rel2 etc.tmp && mv -T etc.tmp etc");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
    // The release switched to is the one watched now.
    std::fs::write(state.join("rel2/conf.d/mounts"), "auto_sync = false\n").unwrap();
    let line = watching.next_line();
    assert!(line.contains("auto_sync: true -> false"), "{line}");
}

#[test]
fn a_service_user_sees_a_conf_d_symlink_switched_in_a_0711_etc() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    for (tree, auto_sync) in [("a", "false"), ("b", "true")] {
        let conf_d = state.join("trees").join(tree);
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    let etc = state.join("etc");
    let watching = watch_as_nobody(
        &sandbox,
        "mkdir state/etc && ln -s ../trees/a state/etc/conf.d && chmod 0711 state/etc",
        &["mounts"],
    );
    assert_eq!(watching.start[0], polling(&etc));
    shell(
        &etc,
        "ln -sfn ../trees/b conf.d.tmp && mv -T conf.d.tmp conf.d",
    );
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
}

#[test]
fn a_service_user_sees_an_in_place_edit_of_a_linked_file_in_a_0711_directory() {
    // `conf.d/mounts` -> a file in a directory the service user cannot read,
    // even outside the state dir: the file's own entry is polled.
    let sandbox = Sandbox::new();
    sandbox.init();
    let root = sandbox.state().parent().unwrap().to_owned();
    let shared = root.join("shared");
    let watching = watch_as_nobody(
        &sandbox,
        "mkdir shared && echo 'auto_sync = false' > shared/mounts.toml && chmod 0711 shared \
         && ln -sfn ../../../shared/mounts.toml state/etc/conf.d/mounts",
        &["mounts"],
    );
    assert_eq!(watching.start[0], polling(&shared));
    std::fs::write(shared.join("mounts.toml"), "auto_sync = true\n").unwrap();
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
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
