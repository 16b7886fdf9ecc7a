//! `nexus config watch`: a running watch prints one line per change.
//!
//! Each test spawns the binary, waits for its "watching" banner on stderr
//! (from then on edits are seen), edits a file, reads one line from stdout
//! with a generous limit, and kills the child.
//!
//! `lines`: what a line says (JSON, secrets, warnings, the banner) and how a
//! watch ends; `moves`: directories switched or moved, and service users
//! that can search but not read them.

mod lines;
mod moves;

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
    pub(crate) fn banner(&self) -> &str {
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

/// Runs a shell command in `dir`, as an operator would type it.
fn shell(dir: &std::path::Path, script: &str) {
    let status = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .status()
        .expect("run sh");
    assert!(status.success(), "{script}: {status}");
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
