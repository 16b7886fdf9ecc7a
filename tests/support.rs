//! Running the built `nexus` binary in a temporary state dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `nexus` binary under test.
pub fn nexus_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nexus"))
}

/// Copies the `nexus` binary to `to`, for a user who cannot reach the build
/// tree, and returns once it can be executed: until then another test's
/// child, forked while the copy was open for writing, may still hold it
/// (exec fails with "text file busy").
pub fn copy_nexus(to: &Path) {
    std::fs::copy(nexus_bin(), to).expect("copy the nexus binary");
    for _ in 0..200 {
        match Command::new(to).arg("--version").output() {
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("cannot run the copy {}: {e}", to.display()),
            Ok(_) => return,
        }
    }
    panic!("the copy {} stayed busy for 2 s", to.display());
}

/// A temporary state dir and a clean environment to run `nexus` in.
pub struct Sandbox {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What one run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stdout and stderr together, for snapshots.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
            env: Vec::new(),
        }
    }

    /// The state dir (`[ROOT]/state`, not created until `init`).
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn conf_d(&self) -> PathBuf {
        self.state().join("etc/conf.d")
    }

    /// Writes `conf.d/<relative>`.
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.conf_d().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Sets an environment variable for every later run.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A command with a clean environment: no NEXUS_* leaks in from the
    /// developer's shell, HOME points into the sandbox, no colour.
    pub fn command_with(&self, bin: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.dir.path().join("home"))
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `nexus --state-dir STATE ARGS…`.
    pub fn run(&self, args: &[&str]) -> Run {
        let state = self.state();
        let mut all = vec!["--state-dir", state.to_str().unwrap()];
        all.extend_from_slice(args);
        self.run_raw(&all)
    }

    /// Runs `nexus --state-dir STATE ARGS…` with `input` on its standard
    /// input (`set --stdin`: a secret kept out of the process list).
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        use std::io::Write;
        let state = self.state();
        let mut all = vec!["--state-dir", state.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut child = self
            .command_with(&nexus_bin(), &all)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nexus");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("write to nexus");
        drop(stdin);
        self.finish(child.wait_with_output().expect("wait for nexus"))
    }

    /// Runs `nexus ARGS…` with no implicit flag.
    pub fn run_raw(&self, args: &[&str]) -> Run {
        self.finish(
            self.command_with(&nexus_bin(), args)
                .output()
                .expect("run nexus"),
        )
    }

    pub fn finish(&self, output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: self.redact(&String::from_utf8_lossy(&output.stdout)),
            stderr: self.redact(&String::from_utf8_lossy(&output.stderr)),
        }
    }

    /// `text` with the sandbox path replaced by `[ROOT]`.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.dir.path().display().to_string(), "[ROOT]")
    }

    /// The text of `conf.d/<relative>`.
    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.conf_d().join(relative)).unwrap()
    }

    /// Writes an executable editor script beside the state dir and returns
    /// its path, for `EDITOR`.
    pub fn editor(&self, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = self.state().with_file_name(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    /// Runs `nexus --state-dir STATE ARGS…` as the unprivileged user `nobody`
    /// (the tests run as root), with the sandbox opened for it to enter.
    pub fn run_as_nobody(&self, args: &[&str]) -> Run {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let output = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(nexus_bin())
            .arg("--state-dir")
            .arg(self.state())
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .output()
            .expect("setpriv (util-linux) runs the check as `nobody`");
        self.finish(output)
    }

    /// Runs `init` and asserts it worked.
    pub fn init(&self) -> &Self {
        let run = self.run(&["config", "init"]);
        assert_eq!(run.code, 0, "{}", run.transcript());
        self
    }
}
