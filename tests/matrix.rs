//! The adversarial matrix against the binary's entry points (RELIABILITY.md):
//! every input of `crates/confd/tests/adversarial.rs` × `nexus config show`,
//! `nexus config validate`, `nexus config set` and `nexus vfs cat`.
//!
//! Each run is killed after `adversarial::TIMEOUT` (and the input fails), runs under
//! `setrlimit(RLIMIT_AS)` of `adversarial::MEMORY_LIMIT` set in a `pre_exec` hook, must
//! not panic or die by a signal, and must leave `$STATE/etc` exactly as it was
//! (kind, size, mtime and content hash of every entry) unless it is a `set`
//! that succeeded, which may change the brick's main file only.

#[path = "../crates/confd/tests/adversarial.rs"]
mod adversarial;

use adversarial::{Expect, cases, snapshot};

use crate::support::{Run, Sandbox, nexus_bin};

/// Runs `nexus ARGS…` in the sandbox, bounded in time and memory.
pub(crate) fn run_bounded(sandbox: &Sandbox, args: &[&str]) -> Result<Run, String> {
    let mut command = sandbox.command_with(&nexus_bin(), args);
    command.env("RUST_LOG", "trace").env("RUST_BACKTRACE", "0");
    let (status, stdout, stderr) = adversarial::run_bounded(command)?;
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: sandbox.redact(&String::from_utf8_lossy(&stdout)),
        stderr: sandbox.redact(&String::from_utf8_lossy(&stderr)),
    };
    if status.code().is_none() || run.stderr.contains("panicked") {
        return Err(format!(
            "died ({status}): a panic, an abort or a stack overflow\n{}",
            run.transcript()
        ));
    }
    Ok(run)
}

/// The value `set` writes for a key of the matrix.
fn valid_value(key: &str) -> &'static str {
    match key {
        "model" => "claude",
        "x" => "1",
        _ => "5",
    }
}

#[test]
fn every_hostile_input_against_every_binary_entry_point() {
    let mut failures = Vec::new();
    let mut cells = 0;
    let entry_points = ["config show", "config validate", "config set", "vfs cat"];
    for case in cases() {
        let mut sandbox = Sandbox::new();
        std::fs::create_dir_all(sandbox.conf_d()).expect("conf.d");
        (case.setup)(&sandbox.conf_d());
        for (key, value) in &case.env {
            sandbox.env(key, value);
        }
        let etc = sandbox.state().join("etc");
        let main_file = sandbox.conf_d().join(case.brick);
        let conf_d = sandbox.redact(&sandbox.conf_d().display().to_string());
        let state = sandbox.state().display().to_string();
        let sets: Vec<String> = case
            .overrides
            .iter()
            .map(|(k, v)| format!("--set={k}={v}"))
            .collect();
        let key = format!("{}.{}", case.brick, case.set_key);
        let vfs_path = format!("/etc/conf.d/{}", case.brick);
        for entry in entry_points {
            cells += 1;
            let mut args = vec!["--state-dir", state.as_str()];
            args.extend(sets.iter().map(String::as_str));
            match entry {
                "config show" => args.extend(["config", "show", case.brick]),
                "config validate" => args.extend(["config", "validate", case.brick]),
                "config set" => args.extend(["config", "set", &key, valid_value(case.set_key)]),
                _ => args.extend(["vfs", "cat", &vfs_path]),
            }
            let before = snapshot(&etc);
            let run = match run_bounded(&sandbox, &args) {
                Ok(run) => run,
                Err(e) => {
                    failures.push(format!("{} × {entry}: {e}", case.name));
                    continue;
                }
            };
            let after = snapshot(&etc);
            let stderr = run.stderr.replace(&conf_d, "[CONF]");
            let mut problems = Vec::new();
            if run.code != 0 && run.stderr.trim().is_empty() {
                problems.push("failed without saying why".to_owned());
            }
            match entry {
                "config set" => {
                    // Only the brick's main file may change (`set` validates
                    // the file it writes; a broken environment variable can
                    // still fail the command afterwards), and what a
                    // successful `set` wrote must load.
                    let changed: Vec<_> = after
                        .iter()
                        .filter(|seen| !before.contains(seen))
                        .map(|seen| seen.path.clone())
                        .collect();
                    let others = changed
                        .iter()
                        .filter(|p| **p != main_file && **p != sandbox.conf_d())
                        .count();
                    if others > 0 {
                        problems.push(format!("set changed other files: {changed:?}"));
                    }
                    // The files alone must load after a successful `set`
                    // (a hostile variable of the case may still break the
                    // configuration in force, which `set` warns about).
                    let files_alone = confd::Loader::new()
                        .state_dir(sandbox.state())
                        .env(std::iter::empty::<(String, String)>())
                        .load(case.brick);
                    if run.code == 0 && files_alone.is_err() {
                        problems.push("set wrote a file that does not load".to_owned());
                    }
                }
                _ => {
                    if after != before {
                        problems.push("a file changed".to_owned());
                    }
                }
            }
            match (entry, &case.expect) {
                ("config show" | "config validate", Expect::Loads) => {
                    if run.code != 0 {
                        problems.push("a valid input was refused".to_owned());
                    }
                }
                ("config show" | "config validate", Expect::Fails(texts)) => {
                    if run.code == 0 {
                        problems.push("an invalid input was accepted".to_owned());
                    }
                    for text in texts {
                        if !stderr.contains(text) {
                            problems.push(format!("stderr lacks {text:?}"));
                        }
                    }
                }
                // `set` either fixes the key or refuses; `cat` prints bytes
                // or refuses. Both were checked above for a reason and files.
                _ => {
                    if ![0, 1, 2].contains(&run.code) {
                        problems.push("exit status outside 0, 1, 2".to_owned());
                    }
                }
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{} × {entry}: {}\n{}",
                    case.name,
                    problems.join("; "),
                    run.transcript().chars().take(2000).collect::<String>()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(cells, cases().len() * entry_points.len());
}
