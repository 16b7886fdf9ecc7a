//! `nexus config snapshot`: the file a sandbox or VM boots with, its modes,
//! its cpio archive, `--check`, and a guest `nexus` reading it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::{Run, Sandbox, nexus_bin};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `nexus ARGS…` under `umask`, through the shell.
fn run_with_umask(sandbox: &Sandbox, umask: &str, args: &[&str]) -> Run {
    let mut cmd = sandbox.command_with(Path::new("/bin/sh"), &[]);
    cmd.arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(nexus_bin())
        .arg("--state-dir")
        .arg(sandbox.state())
        .args(args);
    sandbox.finish(cmd.output().unwrap())
}

fn host() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.init();
    for (key, value) in [
        ("llm.api_key", "sk-host-secret"),
        ("cache.backend", "null"),
        ("uploads.max_concurrent", "9"),
    ] {
        let run = sandbox.run(&["config", "set", key, value]);
        assert_eq!(run.code, 0, "{}", run.transcript());
    }
    sandbox
}

#[test]
fn modes_follow_the_secrets_under_any_umask() {
    let sandbox = host();
    for umask in ["000", "077", "022"] {
        let with = sandbox.state().with_file_name(format!("with-{umask}.toml"));
        let run = run_with_umask(
            &sandbox,
            umask,
            &["config", "snapshot", "--output", with.to_str().unwrap()],
        );
        assert_eq!(run.code, 0, "{}", run.transcript());
        assert_eq!(mode(&with), 0o600, "umask {umask}");
        assert!(
            std::fs::read_to_string(&with)
                .unwrap()
                .contains("sk-host-secret")
        );

        let without = sandbox
            .state()
            .with_file_name(format!("without-{umask}.toml"));
        let run = run_with_umask(
            &sandbox,
            umask,
            &[
                "config",
                "snapshot",
                "--no-secrets",
                "--output",
                without.to_str().unwrap(),
            ],
        );
        assert_eq!(run.code, 0, "{}", run.transcript());
        assert!(run.stdout.contains("secret"), "{}", run.stdout);
        assert_eq!(mode(&without), 0o644, "umask {umask}");
        let text = std::fs::read_to_string(&without).unwrap();
        assert!(!text.contains("sk-host-secret"), "{text}");
        assert!(text.contains("withheld = [\"api_key\"]"), "{text}");
    }
    // A later snapshot with a secret over one without: the file closes up.
    let file = sandbox.state().with_file_name("without-022.toml");
    let run = sandbox.run(&["config", "snapshot", "--output", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(mode(&file), 0o600);
}

#[test]
fn the_cpio_archive_unpacks_with_cpio_to_the_same_bytes() {
    let sandbox = host();
    let toml = sandbox.state().with_file_name("s.toml");
    let cpio = sandbox.state().with_file_name("s.cpio");
    let run = sandbox.run(&["config", "snapshot", "--output", toml.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let run = sandbox.run(&[
        "config",
        "snapshot",
        "--format",
        "cpio",
        "--output",
        cpio.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(mode(&cpio), 0o600, "the archive holds the secret too");

    let listed = Command::new("cpio")
        .args(["-t", "--quiet", "-F"])
        .arg(&cpio)
        .output()
        .expect("cpio (Debian package cpio) lists the archive");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        "etc\netc/confd\netc/confd/snapshot.toml\n"
    );
    let out = tempfile::tempdir().unwrap();
    let unpacked = Command::new("cpio")
        .args(["-i", "-d", "--quiet", "-F"])
        .arg(&cpio)
        .current_dir(out.path())
        .output()
        .expect("cpio unpacks the archive");
    assert!(
        unpacked.status.success(),
        "{}",
        String::from_utf8_lossy(&unpacked.stderr)
    );
    let file = out.path().join("etc/confd/snapshot.toml");
    assert_eq!(std::fs::read(&file).unwrap(), std::fs::read(&toml).unwrap());
    assert_eq!(mode(&file), 0o600);

    // Content-addressable: the same inputs, the same archive.
    let again = sandbox.state().with_file_name("again.cpio");
    sandbox.run(&[
        "config",
        "snapshot",
        "--format",
        "cpio",
        "--output",
        again.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&cpio).unwrap()
    );
}

#[test]
fn a_guest_nexus_reads_the_snapshot_and_check_names_what_went_stale() {
    let sandbox = host();
    let file = sandbox.state().with_file_name("s.toml");
    let run = sandbox.run(&[
        "config",
        "snapshot",
        "--no-secrets",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());

    let check = sandbox.run(&["config", "snapshot", "--check", file.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.transcript());
    assert!(
        check
            .stdout
            .contains("7 bricks checked, 0 invalid, 0 stale"),
        "{}",
        check.stdout
    );

    // The host changes; the snapshot is now stale, and says which key.
    sandbox.run(&["config", "set", "cache.backend", "postgres"]);
    let check = sandbox.run(&[
        "--format",
        "json",
        "config",
        "snapshot",
        "--check",
        file.to_str().unwrap(),
    ]);
    assert_eq!(check.code, 0, "{}", check.transcript());
    let report: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    let cache = report["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["brick"] == "cache")
        .unwrap();
    assert_eq!(cache["status"], "stale");
    assert_eq!(cache["changed"], serde_json::json!(["backend"]));

    // A guest with an empty state dir of its own.
    let mut guest = Sandbox::new();
    guest.env("NEXUS_CONFIG_SNAPSHOT", file.to_str().unwrap());
    let show = guest.run(&["config", "show", "uploads", "--origin"]);
    assert_eq!(show.code, 0, "{}", show.transcript());
    assert!(
        show.stdout.contains("max_concurrent = 9"),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("on the host)"), "{}", show.stdout);
    let llm = guest.run(&["config", "show", "llm"]);
    assert!(
        llm.stderr
            .contains("`llm.api_key` was withheld from the snapshot"),
        "{}",
        llm.stderr
    );

    // Tampered: refused, naming the file, by the guest and by --check.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("max_concurrent = 9", "max_concurrent = 1"),
    )
    .unwrap();
    let show = guest.run(&["config", "show", "uploads"]);
    assert_eq!(show.code, 1, "{}", show.transcript());
    assert!(
        show.stderr.contains("is corrupt: the values of `uploads`"),
        "{}",
        show.stderr
    );
    let check = sandbox.run(&["config", "snapshot", "--check", file.to_str().unwrap()]);
    assert_eq!(check.code, 1, "{}", check.transcript());

    // Archive formats are for snapshots only.
    let show = sandbox.run(&["--format", "cpio", "config", "show", "cache"]);
    assert_eq!(show.code, 2, "{}", show.transcript());
}
