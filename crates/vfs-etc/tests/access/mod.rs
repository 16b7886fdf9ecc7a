//! Access control (DESIGN.md §11), one module per subject: every cell of caller kind ×
//! right × mount × operation × file kind (`matrix`), the policy brick loaded from a state dir
//! and its denials (`policy`), and a property test that no caller below admin ever gets a
//! secret file's bytes or etag (`leak`). Here, the fixture they share.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config;
use rustix::io::Errno;
use vfs_etc::access::{AceDecl, AnonymousRights, GroupDecl, Policy, VfsPolicy};
use vfs_etc::backend::HostDir;
use vfs_etc::entry::Etag;
use vfs_etc::metastore::{MemoryMetastore, Metastore};
use vfs_etc::vfs::Access;
use vfs_etc::{Caller, Right, Vfs, VfsPath, WriteMode, boot, watch};

use crate::support::{TestResult, eventually, p};

mod leak;
mod matrix;
mod policy;

const PUBLIC: &[u8] = b"public content\n";

const SECRET: &[u8] = b"api_key = \"sk-hunter2\"\n";

/// The mounts of the matrix: `/etc` read-only and `/tmp` writable, both host directories so
/// that both hold secret (0600) files, each with a metastore the test can watch.
struct Fixture {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    vfs: Vfs,
    stores: Vec<Arc<MemoryMetastore>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Public,
    Secret,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Public => "public",
            Kind::Secret => "secret",
        }
    }
}

/// Every operation of the matrix; each works on files of its own, so a success in one cell
/// does not change another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Stat,
    ReadDir,
    Write,
    CreateExclusiveExisting,
    CreateExclusiveNew,
    Mkdir,
    Unlink,
    Rmdir,
    Rename,
}

const OPS: [Op; 10] = [
    Op::Read,
    Op::Stat,
    Op::ReadDir,
    Op::Write,
    Op::CreateExclusiveExisting,
    Op::CreateExclusiveNew,
    Op::Mkdir,
    Op::Unlink,
    Op::Rmdir,
    Op::Rename,
];

impl Op {
    fn tag(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Stat => "stat",
            Op::ReadDir => "readdir",
            Op::Write => "write",
            Op::CreateExclusiveExisting => "excl-existing",
            Op::CreateExclusiveNew => "excl-new",
            Op::Mkdir => "mkdir",
            Op::Unlink => "unlink",
            Op::Rmdir => "rmdir",
            Op::Rename => "rename",
        }
    }
}

fn write_file(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    std::fs::write(path, content)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// One host tree: for every operation and kind, `OP-KIND` (a file, or for `rmdir` a
/// directory; 0644/0755 public, 0600/0700 secret).
fn populate(root: &Path) -> std::io::Result<()> {
    for op in OPS {
        for kind in [Kind::Public, Kind::Secret] {
            let path = root.join(format!("{}-{}", op.tag(), kind.name()));
            let (content, file_mode, dir_mode) = match kind {
                Kind::Public => (PUBLIC, 0o644, 0o755),
                Kind::Secret => (SECRET, 0o600, 0o700),
            };
            if op == Op::Rmdir || op == Op::ReadDir {
                std::fs::create_dir(&path)?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(dir_mode))?;
                if op == Op::ReadDir {
                    write_file(&path.join("inside"), content, file_mode)?;
                }
            } else {
                write_file(&path, content, file_mode)?;
            }
        }
    }
    Ok(())
}

fn fixture(policy: Policy) -> Result<Fixture, Box<dyn std::error::Error>> {
    let (etc, tmp) = (tempfile::tempdir()?, tempfile::tempdir()?);
    for root in [etc.path(), tmp.path()] {
        // A temporary directory is 0700: below it, every file would be secret.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))?;
        populate(root)?;
    }
    let mut vfs = Vfs::new();
    let mut stores = Vec::new();
    for (point, dir, access) in [
        ("/etc", etc.path(), Access::ReadOnly),
        ("/tmp", tmp.path(), Access::ReadWrite),
    ] {
        let backend = match access {
            Access::ReadOnly => HostDir::open_read_only(dir)?,
            Access::ReadWrite => HostDir::open_writable(dir)?,
        };
        let store = Arc::new(MemoryMetastore::new());
        vfs.mount(p(point), Arc::new(backend), store.clone(), access)?;
        stores.push(store);
    }
    vfs.set_policy(policy);
    Ok(Fixture {
        _dirs: (etc, tmp),
        vfs,
        stores,
    })
}

fn compile(decl: &VfsPolicy) -> Result<Policy, String> {
    Policy::new(decl).map_err(|v| v.message)
}

/// A policy giving `caller` exactly `right` on every path (and nothing to anyone else).
fn granting(caller: &Caller, right: Right) -> Result<Policy, String> {
    let mut decl = VfsPolicy {
        policy: AnonymousRights {
            anonymous_local: Right::None,
            anonymous_remote: Right::None,
        },
        ..VfsPolicy::default()
    };
    match caller {
        Caller::AnonymousLocal => decl.policy.anonymous_local = right,
        Caller::AnonymousRemote => decl.policy.anonymous_remote = right,
        Caller::Principal(name) => {
            decl.group = vec![GroupDecl {
                name: "team".into(),
                users: vec![name.clone()],
                member_groups: Vec::new(),
            }];
            decl.ace = vec![AceDecl {
                right,
                groups: vec!["team".into()],
                path: "/".into(),
            }];
        }
    }
    compile(&decl)
}

fn callers() -> [Caller; 3] {
    [
        Caller::AnonymousLocal,
        Caller::AnonymousRemote,
        Caller::principal("alice"),
    ]
}
