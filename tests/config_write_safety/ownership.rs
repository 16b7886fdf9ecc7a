//! Owners, modes and secrets: a service user's file stays theirs, a secret
//! makes its file 0600, ACLs and the umask are respected, and root does not
//! write through a service user's link.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use super::mode;
use crate::support::{Sandbox, nexus_bin};

#[test]
fn set_keeps_the_owner_group_and_mode_of_a_service_users_file() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let path = sandbox.conf_d().join("cache");
    // As root (CI runs as root): a file that belongs to the service user.
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let run = sandbox.run(&["config", "set", "cache.kv_size", "9"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert!(sandbox.read("cache").contains("\nkv_size = 9\n"));
}

#[test]
fn set_refuses_a_file_whose_owner_it_cannot_keep() {
    let sandbox = Sandbox::new();
    sandbox.init();
    // Everything belongs to `nobody` but the file itself, which is root's:
    // nobody may replace it (the directory is theirs), but cannot give the
    // new file root's ownership, so the write must be refused.
    for dir in [
        sandbox.state(),
        sandbox.state().join("etc"),
        sandbox.conf_d(),
        sandbox.state().join("var"),
        sandbox.state().join("var/lib"),
        sandbox.state().join("var/lib/confd"),
    ] {
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    }
    std::os::unix::fs::chown(
        sandbox.state().join("var/lib/confd/lock"),
        Some(65534),
        None,
    )
    .unwrap();
    let path = sandbox.conf_d().join("cache");
    let before = sandbox.read("cache");
    let dir_mtime = || {
        std::fs::metadata(sandbox.conf_d())
            .unwrap()
            .modified()
            .unwrap()
    };
    let dir_before = dir_mtime();
    let run = sandbox.run_as_nobody(&["config", "set", "cache.kv_size", "9"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("belongs to uid 0 gid 0"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(sandbox.read("cache"), before);
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), 0);
    // Refused before anything was created: not even a temporary file came
    // and went in conf.d.
    assert_eq!(dir_mtime(), dir_before);
    let leftovers: Vec<_> = std::fs::read_dir(sandbox.conf_d())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_secret_written_into_a_readable_file_makes_it_0600_and_says_so() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let path = sandbox.conf_d().join("llm");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A non-secret key leaves the mode as the user chose it.
    let run = sandbox.run(&["config", "set", "llm.model", "big"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(mode(&path), 0o644);
    let run = sandbox.run(&["config", "set", "llm.api_key", "sk-canary-1"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(mode(&path), 0o600);
    assert!(run.stderr.contains("now holds a secret"), "{}", run.stderr);
    assert!(run.stderr.contains("mode is now 0600"), "{}", run.stderr);
    assert!(
        !run.transcript().contains("sk-canary"),
        "{}",
        run.transcript()
    );

    // The same through `edit`, into a drop-in's main file.
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let path = sandbox.conf_d().join("database");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
    let script = sandbox.editor(
        "secret-editor",
        r#"echo 'url = "postgres://u:sk-canary-2@db/x"' >> "$1""#,
    );
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "database"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(mode(&path), 0o600);
    assert!(run.stderr.contains("now holds a secret"), "{}", run.stderr);
}

#[test]
fn every_directory_and_file_confd_creates_has_its_mode_whatever_the_umask() {
    for umask in ["000", "077"] {
        let sandbox = Sandbox::new();
        let state = sandbox.state();
        let script = format!(
            "umask {umask} && \"$0\" --state-dir \"$1\" config set mounts.auto_sync on --drop-in 50-local \
             && \"$0\" --state-dir \"$1\" config set llm.model m --drop-in 50-local \
             && \"$0\" --state-dir \"$1\" config set cache.kv_size 1 \
             && \"$0\" --state-dir \"$1\" config init"
        );
        let output = sandbox
            .command_with(Path::new("/bin/sh"), &["-c", &script])
            .arg(nexus_bin())
            .arg(&state)
            .output()
            .unwrap();
        let run = sandbox.finish(output);
        assert_eq!(run.code, 0, "umask {umask}: {}", run.transcript());
        for dir in [
            "",
            "etc",
            "etc/conf.d",
            "etc/conf.d/mounts.d",
            "var",
            "var/lib",
            "var/lib/confd",
        ] {
            assert_eq!(mode(&state.join(dir)), 0o755, "umask {umask}: `{dir}`");
        }
        for (file, expected) in [
            ("etc/conf.d/mounts.d/50-local.toml", 0o644),
            ("etc/conf.d/llm.d/50-local.toml", 0o600),
            ("etc/conf.d/cache", 0o644),
            ("var/lib/confd/lock", 0o644),
            ("var/lib/confd/seeded.toml", 0o644),
            ("etc/conf.d/database", 0o600),
            ("etc/conf.d/search", 0o644),
        ] {
            assert_eq!(mode(&state.join(file)), expected, "umask {umask}: `{file}`");
        }
    }
}

#[test]
fn what_root_creates_in_a_service_users_state_dir_stays_the_services() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
    let run = sandbox.run(&["config", "set", "llm.model", "m", "--drop-in", "50-x"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    for entry in [
        "etc",
        "etc/conf.d",
        "etc/conf.d/llm.d",
        "etc/conf.d/llm.d/50-x.toml",
        "var",
        "var/lib",
        "var/lib/confd",
        "var/lib/confd/lock",
    ] {
        let meta = std::fs::metadata(state.join(entry)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "`{entry}`");
    }
    assert_eq!(mode(&state.join("etc/conf.d/llm.d/50-x.toml")), 0o600);
}

#[test]
fn set_stdin_reads_a_secret_that_never_reaches_the_process_list() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let run = sandbox.run_with_stdin(
        &["config", "set", "llm.api_key", "--stdin"],
        b"sk-from-stdin\n",
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        !run.transcript().contains("sk-from-stdin"),
        "{}",
        run.transcript()
    );
    let config: toml::Table = sandbox.read("llm").parse().unwrap();
    assert_eq!(config["api_key"].as_str(), Some("sk-from-stdin"));
    // A value and --stdin together are a usage error.
    let both = sandbox.run(&["config", "set", "llm.api_key", "x", "--stdin"]);
    assert_eq!(both.code, 2, "{}", both.transcript());
}

#[test]
fn a_misspelt_secret_in_a_secret_brick_tightens_the_mode_too() {
    let sandbox = Sandbox::new();
    sandbox.write("llm", "# mine\n");
    let path = sandbox.conf_d().join("llm");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = sandbox.run(&["config", "set", "llm.API_KEY", "sk-canary-3"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(mode(&path), 0o600);
    assert!(run.stderr.contains("now holds a secret"), "{}", run.stderr);
    assert!(
        !run.transcript().contains("sk-canary"),
        "{}",
        run.transcript()
    );
}

#[test]
fn root_does_not_write_through_a_service_users_link_out_of_the_state_dir() {
    let sandbox = Sandbox::new();
    sandbox.init();
    // A file only root may read, outside the state dir.
    let private = sandbox.state().with_file_name("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::write(private.join("database"), "url = \"postgres://root@db/x\"\n").unwrap();
    // In the service's state dir, the service points `cache` at it.
    let link = sandbox.conf_d().join("cache");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(private.join("database"), &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
    let run = sandbox.run(&["config", "set", "cache.kv_size", "5"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("is a symlink that uid 65534 owns, leading out of the state dir"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(private.join("database")).unwrap(),
        "url = \"postgres://root@db/x\"\n"
    );
}

#[test]
fn a_secret_into_a_file_with_an_acl_keeps_the_users_the_acl_names() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let path = sandbox.conf_d().join("llm");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    // `setfacl -m u:nobody:r`: user::rw-, user:65534:r--, group::---,
    // mask::r--, other::--- (the mode then reads 0640).
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1u16, 6u16, u32::MAX),
        (2, 4, 65534),
        (4, 0, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 0, u32::MAX),
    ] {
        acl.extend(tag.to_le_bytes());
        acl.extend(perm.to_le_bytes());
        acl.extend(id.to_le_bytes());
    }
    let flags = rustix::fs::XattrFlags::empty();
    rustix::fs::setxattr(&path, "system.posix_acl_access", &acl, flags).unwrap();
    let root = sandbox.state().parent().unwrap().to_owned();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = sandbox.run(&["config", "set", "llm.api_key", "sk-acl"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let mut value = [0u8; 64];
    let len = rustix::fs::getxattr(&path, "system.posix_acl_access", &mut value[..]).unwrap();
    assert_eq!(&value[..len], &acl[..], "the ACL changed");
    // The service the ACL names still reads its file.
    let read = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "cat",
        ])
        .arg(&path)
        .output()
        .expect("setpriv (util-linux) runs the check as `nobody`");
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    // And doctor does not tell the user to undo that grant.
    let doctor = sandbox.run(&["config", "doctor"]);
    assert!(
        !doctor.stdout.contains("conf.d/llm` holds secrets"),
        "{}",
        doctor.stdout
    );
}

#[test]
fn the_change_shown_by_a_refused_edit_hides_secrets() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let real = sandbox.conf_d().join("llm");
    let script = sandbox.editor("racing-secret-editor",
        &format!(
            "echo 'model = \"mine\"' >> \"$1\"\n\
             printf 'api_key = \"\"\"\\nsk-CANARY-1\\n\"\"\"\\n#api_key = \"sk-CANARY-2\"\\n' >> '{}'",
            real.display()
        ),
    );
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "llm"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("changed while you were editing it"),
        "{}",
        run.stderr
    );
    assert!(!run.transcript().contains("CANARY"), "{}", run.transcript());
    assert!(sandbox.read("llm").contains("sk-CANARY-1"));
}

/// A temporary file that cannot be created is reported for its directory,
/// with the system's reason once, and without tempfile's random name.
#[test]
fn a_directory_nobody_may_write_is_named_without_a_temporary_name() {
    let sandbox = Sandbox::new();
    sandbox.init();
    std::os::unix::fs::chown(
        sandbox.state().join("var/lib/confd/lock"),
        Some(65534),
        None,
    )
    .unwrap();
    let run = sandbox.run_as_nobody(&["config", "set", "newbrick.x", "1"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("cannot write `[ROOT]/state/etc/conf.d`: permission denied\n"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(".tmp") && !run.stderr.contains("at path"),
        "{}",
        run.stderr
    );
}
