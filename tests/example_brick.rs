//! A brick from outside the workspace (examples/smtp-brick: its own crate,
//! written against the README and DESIGN.md §9 only) with a product binary
//! `fn main() { confd_cli::main() }`: every command knows it as `nexus` knows
//! the shipped bricks, and knows nothing else.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{Run, Sandbox};

/// Builds the example once per test run. It is built from a copy in the
/// target dir with the workspace's `Cargo.lock`, so it gets exactly the
/// dependency versions the workspace is tested with, nothing in the source
/// tree is written, and what it shares with the workspace is built once.
pub(crate) fn mailer() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = std::path::absolute(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            .expect("the workspace root");
        let target = root.join("target/example");
        let source = target.join("smtp-brick");
        std::fs::create_dir_all(source.join("src")).expect("a copy of the example");
        let example = root.join("examples/smtp-brick");
        let crates = root.join("crates").display().to_string();
        let manifest = std::fs::read_to_string(example.join("Cargo.toml"))
            .expect("examples/smtp-brick/Cargo.toml")
            .replace("../../crates", &crates);
        std::fs::write(source.join("Cargo.toml"), manifest).unwrap();
        for file in ["lib.rs", "main.rs"] {
            std::fs::copy(
                example.join("src").join(file),
                source.join("src").join(file),
            )
            .unwrap();
        }
        std::fs::copy(root.join("Cargo.lock"), source.join("Cargo.lock")).unwrap();
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--manifest-path"])
            .arg(source.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("run cargo to build examples/smtp-brick");
        assert!(status.success(), "examples/smtp-brick does not build");
        target.join("debug/mailer")
    })
}

fn run(sandbox: &Sandbox, args: &[&str]) -> Run {
    let state = sandbox.state();
    let mut all = vec!["--state-dir", state.to_str().unwrap()];
    all.extend_from_slice(args);
    sandbox.finish(
        sandbox
            .command_with(mailer(), &all)
            .output()
            .expect("run mailer"),
    )
}

#[test]
fn a_product_binary_knows_its_own_brick_and_nothing_else() {
    use std::os::unix::fs::PermissionsExt;
    let mut sandbox = Sandbox::new();
    let init = run(&sandbox, &["config", "init"]);
    assert_eq!(init.code, 0, "{}", init.transcript());
    // Only the linked bricks are seeded: the product links no shipped brick, only its own
    // and, through confd-cli's `nexus vfs`, the VFS's access policy.
    let mut names: Vec<String> = std::fs::read_dir(sandbox.conf_d())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // Its own brick, and the bricks the CLI's own commands bring along: the
    // fleet's address and the VFS's policy.
    assert_eq!(names, ["fleet", "smtp", "vfs"]);
    let file = sandbox.conf_d().join("smtp");
    // It declares a secret, so its file is private; the generated default
    // points editors at its schema and documents every key, tables included.
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("#:schema ../../share/confd/schema/smtp.json\n"),
        "{text}"
    );
    for line in [
        "#host = \"localhost\"",
        "# Table `tls`: TLS client settings.",
        "#tls.min_version = \"1.2\"",
        "cloud 16",
    ] {
        assert!(text.contains(line), "`{line}` missing from\n{text}");
    }

    // A secret set through the CLI is redacted by show, with its origin.
    let set = run(&sandbox, &["config", "set", "smtp.password", "hunter2"]);
    assert_eq!(set.code, 0, "{}", set.transcript());
    let show = run(&sandbox, &["config", "show", "smtp", "--origin"]);
    assert!(!show.stdout.contains("hunter2"), "{}", show.stdout);
    assert!(
        show.stdout.contains("password = \"<redacted>\""),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("[tls]"), "{}", show.stdout);

    // Profiles.
    let pool = run(
        &sandbox,
        &["--profile", "cloud", "config", "get", "smtp.pool"],
    );
    assert_eq!(pool.stdout, "16\n", "{}", pool.transcript());

    // Its rule across keys and its types are checked, naming the file.
    sandbox.write("smtp.d/50-port.toml", "port = 0\n");
    let rule = run(&sandbox, &["config", "validate", "smtp"]);
    assert_eq!(rule.code, 1, "{}", rule.transcript());
    assert!(
        rule.stderr
            .contains("port 0 cannot keep 4 connections open"),
        "{}",
        rule.stderr
    );
    sandbox.write("smtp.d/50-port.toml", "port = \"twenty-five\"\n");
    let typed = run(&sandbox, &["config", "validate", "smtp"]);
    assert_eq!(typed.code, 1, "{}", typed.transcript());
    assert!(
        typed.stderr.contains("smtp.d/50-port.toml:1:8"),
        "{}",
        typed.stderr
    );
    std::fs::remove_file(sandbox.conf_d().join("smtp.d/50-port.toml")).unwrap();

    // Plain and inverted variables, the first declared winning.
    sandbox
        .env("SMTP_PORT", "2525")
        .env("NEXUS_SMTP_PORT", "587");
    sandbox.env("SMTP_INSECURE", "1");
    let port = run(&sandbox, &["config", "get", "smtp.port", "--show-origin"]);
    assert_eq!(
        port.stdout,
        "env NEXUS_SMTP_PORT\t587\n",
        "{}",
        port.transcript()
    );
    let tls = run(&sandbox, &["config", "get", "smtp.verify_tls"]);
    assert_eq!(tls.stdout, "false\n", "{}", tls.transcript());

    // A shipped brick is not known to this binary.
    let cache = run(&sandbox, &["config", "show", "cache"]);
    assert!(
        cache.stderr.contains("`cache` is not a registered brick"),
        "{}",
        cache.transcript()
    );
}

#[test]
fn a_product_binary_documents_its_brick_and_tells_reload_from_restart() {
    let sandbox = Sandbox::new();
    let docs = run(&sandbox, &["config", "docs"]);
    assert_eq!(docs.code, 0, "{}", docs.transcript());
    let sections: Vec<&str> = docs
        .stdout
        .lines()
        .filter(|l| l.starts_with("## "))
        .collect();
    // Its own brick, and the bricks the CLI's `fleet` and `vfs` commands
    // bring along.
    assert_eq!(sections, ["## `fleet`", "## `smtp`", "## `vfs`"]);
    assert!(
        docs.stdout.contains("\n### `smtp.tls.min_version`\n"),
        "{}",
        docs.stdout
    );
    assert!(
        docs.stdout.contains(
            "- defaults by profile: minimal `1`, embedded `4`, lite `4`, full `4`, cloud `16`"
        ),
        "{}",
        docs.stdout
    );
    let explain = run(&sandbox, &["config", "explain", "smtp.pool"]);
    assert!(
        explain
            .stdout
            .starts_with("Connections kept open.\n  type       integer (0 to 4294967295)\n"),
        "{}",
        explain.transcript()
    );
    assert!(
        explain.stdout.contains("  reload     yes"),
        "{}",
        explain.stdout
    );
    let explain = run(&sandbox, &["config", "explain", "smtp.verify_tls"]);
    assert!(
        explain
            .stdout
            .contains("  variables  SMTP_INSECURE (inverted"),
        "{}",
        explain.stdout
    );
}
