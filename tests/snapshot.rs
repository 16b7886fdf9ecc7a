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
            .contains("9 bricks checked, 0 invalid, 0 stale"),
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

#[test]
fn what_a_snapshot_will_not_overwrite_or_hold() {
    let sandbox = host();
    let dir = sandbox.state().with_file_name("out");
    std::fs::create_dir(&dir).unwrap();
    let refused = |target: &Path, why: &str| {
        let run = sandbox.run(&["config", "snapshot", "--output", target.to_str().unwrap()]);
        assert_eq!(run.code, 1, "{}", run.transcript());
        assert!(run.stderr.contains(why), "{}", run.stderr);
    };
    // Not a file: a FIFO, a device, a dangling link are left as they are.
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    refused(&fifo, "not a regular file");
    std::os::unix::fs::symlink("/dev/null", dir.join("null")).unwrap();
    refused(&dir.join("null"), "not a regular file");
    std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
    refused(&dir.join("dangling"), "a symlink to nothing");
    assert!(
        std::fs::symlink_metadata(dir.join("dangling"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // Not where loads would read it as a brick's file.
    let cache = sandbox.conf_d().join("cache");
    let before = std::fs::read(&cache).unwrap();
    refused(&cache, "in the state dir's `etc`");
    assert_eq!(std::fs::read(&cache).unwrap(), before);

    // A bare relative name is the current directory's.
    let mut cmd = sandbox.command_with(&nexus_bin(), &[]);
    cmd.args(["--state-dir", sandbox.state().to_str().unwrap()])
        .args(["config", "snapshot", "--output", "bare.toml"])
        .current_dir(&dir);
    let run = sandbox.finish(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(dir.join("bare.toml").is_file());

    // As root, into a directory of another user: the file stays root's,
    // secrets and all.
    use std::os::unix::fs::MetadataExt;
    let theirs = dir.join("nobody");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let file = theirs.join("s.toml");
    let run = sandbox.run(&["config", "snapshot", "--output", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600));

    // A typo is not snapshotted as an empty brick.
    let run = sandbox.run(&[
        "config",
        "snapshot",
        "cahce",
        "--output",
        dir.join("t.toml").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("did you mean `cache`?"),
        "{}",
        run.stderr
    );

    // An unregistered brick's keys may be secrets: the file is private, and
    // --no-secrets cannot tell what to withhold.
    sandbox.write("relay", "password = \"relay-secret\"\n");
    let file = dir.join("relay.toml");
    let run = sandbox.run(&[
        "config",
        "snapshot",
        "relay",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(mode(&file), 0o600);
    let run = sandbox.run(&[
        "config",
        "snapshot",
        "relay",
        "--no-secrets",
        "--output",
        dir.join("r2.toml").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("cannot withhold the secrets of `relay`"),
        "{}",
        run.stderr
    );

    // More than a guest can read back is refused, not written.
    for blob in ["blob1", "blob2", "blob3"] {
        sandbox.write(blob, &format!("data = \"{}\"\n", "x".repeat(400_000)));
    }
    let run = sandbox.run(&[
        "config",
        "snapshot",
        "blob1",
        "blob2",
        "blob3",
        "--output",
        dir.join("big.toml").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("a guest reads at most"),
        "{}",
        run.stderr
    );
    assert!(!dir.join("big.toml").exists());

    // SOURCE_DATE_EPOCH is a number of seconds, or an error.
    let mut dated = Sandbox::new();
    dated.env("SOURCE_DATE_EPOCH", "yesterday");
    let run = dated.run_raw(&[
        "--state-dir",
        sandbox.state().to_str().unwrap(),
        "config",
        "snapshot",
        "--output",
        dir.join("d.toml").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("SOURCE_DATE_EPOCH"), "{}", run.stderr);
}

#[test]
fn a_guest_is_told_what_it_cannot_do_and_keeps_its_own_profile() {
    let sandbox = host();
    let file = sandbox.state().with_file_name("s.toml");
    let run = sandbox.run(&["config", "snapshot", "--output", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let mut guest = Sandbox::new();
    guest.env("NEXUS_CONFIG_SNAPSHOT", file.to_str().unwrap());
    for args in [
        &["config", "set", "mounts.auto_sync", "true"][..],
        &["config", "init"],
        &["config", "diff", "cache"],
    ] {
        let run = guest.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.transcript());
        assert!(
            run.stderr
                .contains("reads its configuration from the snapshot"),
            "{}",
            run.stderr
        );
        assert!(!guest.conf_d().exists(), "{args:?} created conf.d");
    }
    let doctor = guest.run(&["config", "doctor"]);
    assert_eq!(doctor.code, 0, "{}", doctor.transcript());
    assert!(
        doctor.stdout.contains("ok       snapshot"),
        "{}",
        doctor.stdout
    );
    let path = guest.run(&["config", "path"]);
    assert!(path.stdout.contains("snapshot"), "{}", path.stdout);

    // The snapshot layer is one layer in explain, not one per key.
    let explain = guest.run(&["config", "explain", "uploads.max_concurrent"]);
    assert_eq!(
        explain
            .stdout
            .lines()
            .filter(|l| l.get(2..).is_some_and(|l| l.starts_with("snapshot ")))
            .count(),
        1,
        "{}",
        explain.stdout
    );

    // The host's profile by default; the guest's own when it sets one.
    let pool = guest.run(&["config", "get", "database.pool_size"]);
    assert_eq!(pool.stdout, "20\n", "{}", pool.transcript());
    let pool = guest.run(&[
        "--profile",
        "minimal",
        "config",
        "get",
        "database.pool_size",
        "--show-origin",
    ]);
    assert_eq!(
        pool.stdout,
        "profile 'minimal' default\t1\n",
        "{}",
        pool.transcript()
    );

    // A relative path would name another file in each directory.
    let mut relative = Sandbox::new();
    relative.env("NEXUS_CONFIG_SNAPSHOT", "s.toml");
    let run = relative.run(&["config", "show", "cache"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("must be an absolute path"),
        "{}",
        run.stderr
    );

    // A snapshot is not taken from a snapshot: it would lose what it withheld.
    let run = guest.run(&[
        "config",
        "snapshot",
        "--output",
        guest.state().with_file_name("x").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("take snapshots on the host"),
        "{}",
        run.stderr
    );

    // --check lists the linked bricks it does not hold.
    let only = sandbox.state().with_file_name("only.toml");
    sandbox.run(&[
        "config",
        "snapshot",
        "cache",
        "--output",
        only.to_str().unwrap(),
    ]);
    let check = sandbox.run(&["config", "snapshot", "--check", only.to_str().unwrap()]);
    assert!(
        check.stdout.contains("absent   database"),
        "{}",
        check.stdout
    );
}
