//! Shared helpers: state directories, host snapshots, polling.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vfs_etc::VfsPath;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A state directory with `etc/` holding `files` (relative path, content).
pub fn state_with(files: &[(&str, &str)]) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("etc"))?;
    for (rel, content) in files {
        let path = dir.path().join("etc").join(rel);
        std::fs::create_dir_all(path.parent().unwrap_or(dir.path()))?;
        std::fs::write(path, content)?;
    }
    Ok(dir)
}

/// The metadata store `mount_etc` keeps for the state dir `state` (where `StateDir` says).
pub fn store_path(state: &Path) -> PathBuf {
    confd::StateDir::at(state).vfs_metastore()
}

/// A parsed VFS path (panics on a bad literal: test code only).
pub fn p(s: &str) -> VfsPath {
    s.parse()
        .unwrap_or_else(|e| panic!("bad test path {s:?}: {e}"))
}

/// What identifies a host file's state: content, mtime, ctime, inode and mode.
#[derive(Debug, PartialEq, Eq)]
pub struct HostState {
    pub content: Option<Vec<u8>>,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub ino: u64,
    pub mode: u32,
}

/// Every path under `root` (root included) with its state, not following symlinks.
pub fn snapshot(root: &Path) -> std::io::Result<BTreeMap<PathBuf, HostState>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        let content = if meta.is_file() {
            Some(std::fs::read(&path)?)
        } else {
            None
        };
        if meta.is_dir() {
            for child in std::fs::read_dir(&path)? {
                stack.push(child?.path());
            }
        }
        out.insert(
            path,
            HostState {
                content,
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
                ino: meta.ino(),
                mode: meta.mode(),
            },
        );
    }
    Ok(out)
}

/// Polls `check` until it holds or `timeout` passes; generous timeouts keep slow machines green.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Re-runs this test binary with only `test` (an `#[ignore]`d child test) and `envs` set.
pub fn child_command(test: &str, envs: &[(&str, &Path)]) -> std::io::Result<std::process::Command> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Ok(cmd)
}

/// The VFS as the tests written before access control see it: a caller with every right
/// (anonymous local callers are made admins), so they keep testing what they tested.
/// Access control itself is tested in `access.rs`.
pub fn unrestricted(vfs: &vfs_etc::Vfs) -> vfs_etc::Session<'_> {
    static ROOT: vfs_etc::Caller = vfs_etc::Caller::AnonymousLocal;
    let all = vfs_etc::access::VfsPolicy {
        policy: vfs_etc::access::AnonymousRights {
            anonymous_local: vfs_etc::Right::Admin,
            anonymous_remote: vfs_etc::Right::None,
        },
        ..vfs_etc::access::VfsPolicy::default()
    };
    vfs.set_policy(vfs_etc::access::Policy::new(&all).unwrap_or_default());
    vfs.as_caller(&ROOT)
}
