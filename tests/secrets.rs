//! Secrets never leak from the binary (RELIABILITY.md): with a canary in
//! `llm.api_key` and `database.url` (in files, the environment and `--set`),
//! no command prints it, on stdout or stderr, with `RUST_LOG=trace`.
//!
//! `nexus vfs cat` of the secret files themselves is the one exception: it
//! prints a file's bytes, as `cat` does (the files are mode 0600); its stderr
//! is still checked.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{Run, Sandbox, nexus_bin};

const CANARY: &str = "sk-CANARY-5e3cr3t";

fn assert_clean(args: &[&str], run: &Run) {
    let all = run.transcript();
    assert!(
        !all.contains(CANARY) && !all.contains("5e3cr3t"),
        "`nexus {}` leaked the canary:\n{all}",
        args.join(" ")
    );
}

fn sandbox() -> Sandbox {
    let mut sandbox = Sandbox::new();
    sandbox.env("RUST_LOG", "trace");
    sandbox.init();
    sandbox.write("llm", &format!("api_key = \"{CANARY}\"\nmodel = \"m\"\n"));
    sandbox.write(
        "database",
        &format!("url = \"postgresql://u:{CANARY}@h/db\"\n"),
    );
    sandbox
}

#[test]
fn no_command_prints_the_canary() {
    let mut sandbox = sandbox();
    sandbox.env("NEXUS_READ_REPLICA_URL", CANARY);
    sandbox.env("EDITOR", "true");
    let set_secret = format!("llm.api_key={CANARY}");
    let commands: Vec<Vec<&str>> = vec![
        vec!["config", "show", "llm"],
        vec!["config", "show", "llm", "--origin"],
        vec!["config", "show", "database", "--origin"],
        vec!["--format", "json", "config", "show", "database"],
        vec!["--set", &set_secret, "config", "show", "llm", "--origin"],
        vec!["config", "get", "llm.api_key", "--show-origin"],
        vec!["config", "get", "database.url"],
        vec![
            "config",
            "get",
            "database.read_replica_url",
            "--show-origin",
        ],
        vec!["config", "explain", "llm.api_key"],
        vec!["config", "explain", "database.url"],
        vec!["config", "validate"],
        vec!["--strict", "config", "validate", "llm", "database"],
        vec!["config", "doctor"],
        vec!["config", "diff", "llm"],
        vec!["config", "diff", "database"],
        vec!["config", "set", "llm.model", "other"],
        vec!["config", "set", "llm.api_key", "sk-CANARY-5e3cr3t"],
        vec!["config", "set", "database.pool_size", "not-a-number"],
        vec!["config", "edit", "llm"],
        vec!["vfs", "ls", "/etc/conf.d"],
        vec!["vfs", "stat", "/etc/conf.d/llm"],
        vec!["vfs", "cat", "/etc/conf.d/mounts"],
        vec!["vfs", "write", "/etc/conf.d/llm", "x"],
    ];
    for args in &commands {
        let run = sandbox.run(args);
        assert_clean(args, &run);
    }
    // `cat` prints the file it is asked for; its errors and logs do not.
    let run = sandbox.run(&["vfs", "cat", "/etc/conf.d/llm"]);
    assert!(!run.stderr.contains(CANARY), "{}", run.stderr);

    // A malformed secret file: every command that reports it.
    sandbox.write("llm", &format!("api_key = \"{CANARY}\" junk\n"));
    sandbox.write(
        "database",
        &format!("url = \"{CANARY}\"\npool_size = \"x\"\n"),
    );
    for args in [
        vec!["config", "show", "llm"],
        vec!["config", "get", "llm.api_key"],
        vec!["config", "explain", "llm.api_key"],
        vec!["config", "validate"],
        vec!["config", "doctor"],
        vec!["config", "diff", "llm"],
        vec!["config", "set", "llm.model", "x"],
        vec!["config", "show", "database"],
        vec!["config", "set", "database.url", "sk-CANARY-5e3cr3t"],
    ] {
        let run = sandbox.run(&args);
        assert_clean(&args, &run);
    }
}

#[test]
fn watch_prints_no_canary() {
    let sandbox = sandbox();
    let state = sandbox.state();
    let mut child = sandbox
        .command_with(
            &nexus_bin(),
            &[
                "--state-dir",
                state.to_str().expect("utf8"),
                "config",
                "watch",
                "llm",
                "database",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    std::thread::sleep(Duration::from_millis(700));
    // A reload with a new secret, then a malformed one.
    sandbox.write("llm", &format!("api_key = \"{CANARY}-2\"\nmodel = \"n\"\n"));
    std::thread::sleep(Duration::from_millis(500));
    sandbox.write("llm", &format!("api_key = \"{CANARY}-3\" junk\n"));
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("kill");
    let output = child.wait_with_output().expect("output");
    let run = sandbox.finish(output);
    assert!(run.stderr.contains("watching"), "{}", run.transcript());
    assert_clean(&["config", "watch"], &run);
}
