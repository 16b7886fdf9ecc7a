//! `nexus vfs …`: the booted VFS from the command line, read-only refusals included; one
//! module per subject, and here the helpers they share.

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod commands;
mod escape;
mod scan;
mod store;
mod versions;

fn nexus(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("--state-dir")
        .arg(state)
        .arg("vfs")
        .args(args)
        .env_remove("NEXUS_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run nexus")
}

/// Gives anonymous local callers (`nexus vfs` without `--as` or `--remote`) `right` in the
/// state dir's VFS policy, for tests of what the VFS does once access is granted.
fn grant_anonymous_local(state: &Path, right: &str) {
    std::fs::create_dir_all(state.join("etc/conf.d")).expect("mkdir");
    std::fs::write(
        state.join("etc/conf.d/vfs"),
        format!("[policy]\nanonymous_local = \"{right}\"\n"),
    )
    .expect("write policy");
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn state() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf_d = dir.path().join("etc/conf.d");
    std::fs::create_dir_all(conf_d.join("cache.d")).expect("mkdir");
    std::fs::write(conf_d.join("mounts"), "auto_sync = true\n").expect("write");
    std::fs::write(conf_d.join("cache.d/50-x.toml"), "backend = \"null\"\n").expect("write");
    dir
}

/// The etag `nexus vfs stat` should print for `data`.
fn blake3_hex(data: &[u8]) -> String {
    vfs_etc::entry::Etag::of(data).to_string()
}

/// `nexus vfs ARGS` on `state` as the unprivileged user `nobody` (the tests run as root).
fn nexus_as_nobody(state: &Path, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_nexus"))
        .arg("--state-dir")
        .arg(state)
        .arg("vfs")
        .args(args)
        .env_remove("NEXUS_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv")
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// A state dir that `nobody` may read (etc and the files in it) but not write.
fn state_readable_by_all() -> tempfile::TempDir {
    let s = state();
    chmod(s.path(), 0o755);
    s
}
