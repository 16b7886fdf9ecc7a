//! Access control (DESIGN.md §11): every cell of caller kind × right × mount × operation ×
//! file kind, the policy brick loaded from a state dir (defaults, nesting, fail-closed, live
//! reload), denials that change nothing and are logged, and a property test that no caller
//! below admin ever gets a secret file's bytes or etag.

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

/// What Linux-ordered access control answers: `Ok` or the errno.
fn expected(op: Op, kind: Kind, read_only: bool, right: Right) -> Result<(), Errno> {
    let needs = |wanted: Right| {
        if right >= wanted {
            Ok(())
        } else {
            Err(Errno::ACCESS)
        }
    };
    // What a secret file's content needs; a directory's secrecy is not the VFS's business.
    let content = if kind == Kind::Secret {
        Right::Admin
    } else {
        Right::Read
    };
    match op {
        Op::Read => needs(content),
        Op::Stat | Op::ReadDir => needs(Right::Read),
        // EEXIST comes before EROFS and EACCES, as on Linux.
        Op::CreateExclusiveExisting => Err(Errno::EXIST),
        _ if read_only => Err(Errno::ROFS),
        Op::Write if kind == Kind::Secret => needs(Right::Admin),
        Op::Write | Op::CreateExclusiveNew | Op::Mkdir | Op::Unlink | Op::Rmdir | Op::Rename => {
            needs(Right::Write)
        }
    }
}

/// Runs `op` on the files of `kind` under `mount`, checking what a success returned.
fn run(
    vfs: &Vfs,
    caller: &Caller,
    right: Right,
    op: Op,
    kind: Kind,
    mount: &str,
) -> Result<Result<(), Errno>, Box<dyn std::error::Error>> {
    let s = vfs.as_caller(caller);
    let target: VfsPath = format!("{mount}/{}-{}", op.tag(), kind.name()).parse()?;
    let content = if kind == Kind::Secret { SECRET } else { PUBLIC };
    let errno = |raw: Option<i32>| Errno::from_raw_os_error(raw.unwrap_or(0));
    Ok(match op {
        Op::Read => s
            .read(&target)
            .map(|f| assert_eq!(f.data, content))
            .map_err(|e| errno(e.raw_os_error())),
        Op::Stat => s
            .stat(&target)
            .map(|m| {
                // The etag of a secret file is an admin's, like its content.
                let shown = m.etag.is_some();
                let may = kind == Kind::Public || right == Right::Admin;
                assert_eq!(shown, may, "{caller} stat {target}: etag shown: {shown}");
                assert_eq!(
                    m.mode & 0o777,
                    if kind == Kind::Secret { 0o600 } else { 0o644 }
                );
                assert!(m.owner.is_some());
            })
            .map_err(|e| errno(e.raw_os_error())),
        Op::ReadDir => s
            .read_dir(&target)
            .map(|names| {
                assert_eq!(
                    names.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
                    ["inside"]
                );
            })
            .map_err(|e| errno(e.raw_os_error())),
        Op::Write => s
            .write(&target, b"new\n", WriteMode::Replace)
            .map(drop)
            .map_err(|e| errno(e.raw_os_error())),
        Op::CreateExclusiveExisting => s
            .write(&target, b"new\n", WriteMode::CreateNew)
            .map(drop)
            .map_err(|e| errno(e.raw_os_error())),
        Op::CreateExclusiveNew => s
            .write(
                &format!("{target}.new").parse()?,
                b"new\n",
                WriteMode::CreateNew,
            )
            .map(drop)
            .map_err(|e| errno(e.raw_os_error())),
        Op::Mkdir => s
            .mkdir(&format!("{target}.d").parse()?)
            .map(drop)
            .map_err(|e| errno(e.raw_os_error())),
        Op::Unlink => s.unlink(&target).map_err(|e| errno(e.raw_os_error())),
        Op::Rmdir => s.rmdir(&target).map_err(|e| errno(e.raw_os_error())),
        Op::Rename => s
            .rename(&target, &format!("{target}.moved").parse()?)
            .map_err(|e| errno(e.raw_os_error())),
    })
}

fn callers() -> [Caller; 3] {
    [
        Caller::AnonymousLocal,
        Caller::AnonymousRemote,
        Caller::principal("alice"),
    ]
}

/// Every cell: 3 caller kinds × 4 rights × 2 mounts × 10 operations × 2 file kinds, with the
/// errno Linux's order gives; a refused call leaves both metastores untouched.
#[test]
fn every_cell_of_callers_rights_mounts_operations_and_file_kinds() -> TestResult {
    let mut cells = 0;
    let mut failures = Vec::new();
    for caller in callers() {
        for right in [Right::None, Right::Read, Right::Write, Right::Admin] {
            let fx = fixture(granting(&caller, right)?)?;
            for (mount, read_only) in [("/etc", true), ("/tmp", false)] {
                for op in OPS {
                    for kind in [Kind::Public, Kind::Secret] {
                        let before: Vec<u64> = fx
                            .stores
                            .iter()
                            .map(|s| s.generation())
                            .collect::<Result<_, _>>()?;
                        let got = run(&fx.vfs, &caller, right, op, kind, mount)?;
                        let want = expected(op, kind, read_only, right);
                        cells += 1;
                        if got != want {
                            failures.push(format!(
                                "{caller} with {right} on {mount}: {op:?} {kind:?}: got {got:?}, want {want:?}"
                            ));
                        }
                        if got.is_err() {
                            let after: Vec<u64> = fx
                                .stores
                                .iter()
                                .map(|s| s.generation())
                                .collect::<Result<_, _>>()?;
                            if after != before {
                                failures.push(format!(
                                    "{caller} with {right} on {mount}: refused {op:?} {kind:?} changed the metastore"
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cells, 3 * 4 * 2 * 10 * 2);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// A missing file or parent is ENOENT whatever the caller's right, as on Linux for a
/// searchable directory: the denial comes after the lookup.
#[test]
fn enoent_comes_before_eacces() -> TestResult {
    let nobody = Caller::AnonymousRemote;
    let fx = fixture(granting(&nobody, Right::None)?)?;
    let s = fx.vfs.as_caller(&nobody);
    let noent = Some(Errno::NOENT.raw_os_error());
    for mount in ["/etc", "/tmp"] {
        let missing: VfsPath = format!("{mount}/missing").parse()?;
        let below: VfsPath = format!("{mount}/missing/file").parse()?;
        assert_eq!(s.read(&missing).err().and_then(|e| e.raw_os_error()), noent);
        assert_eq!(s.stat(&missing).err().and_then(|e| e.raw_os_error()), noent);
        assert_eq!(
            s.read_dir(&missing).err().and_then(|e| e.raw_os_error()),
            noent
        );
        assert_eq!(
            s.write(&below, b"x", WriteMode::Replace)
                .err()
                .and_then(|e| e.raw_os_error()),
            noent
        );
        assert_eq!(s.mkdir(&below).err().and_then(|e| e.raw_os_error()), noent);
    }
    // On the writable mount, removing a missing name is ENOENT too (Linux looks it up
    // before it checks the directory's write permission).
    assert_eq!(
        s.unlink(&p("/tmp/missing"))
            .err()
            .and_then(|e| e.raw_os_error()),
        noent
    );
    assert_eq!(
        s.rmdir(&p("/tmp/missing"))
            .err()
            .and_then(|e| e.raw_os_error()),
        noent
    );
    assert_eq!(
        s.rename(&p("/tmp/missing"), &p("/tmp/x"))
            .err()
            .and_then(|e| e.raw_os_error()),
        noent
    );
    // An existing one is EACCES.
    assert_eq!(
        s.read(&p("/tmp/read-public"))
            .err()
            .and_then(|e| e.raw_os_error()),
        Some(Errno::ACCESS.raw_os_error())
    );
    Ok(())
}

/// A file made secret after its entry was stored (a `chmod 600` the VFS has not seen yet) is
/// refused on the `fstat` of the open file: the bytes never leave, and the store is left as
/// it was.
#[test]
fn a_file_made_secret_behind_the_vfs_is_still_refused() -> TestResult {
    let local = Caller::AnonymousLocal;
    let fx = fixture(granting(&local, Right::Write)?)?;
    let s = fx.vfs.as_caller(&local);
    assert_eq!(s.read(&p("/tmp/read-public"))?.data, PUBLIC);
    let host = s.stat(&p("/tmp"))?;
    assert_eq!(host.kind, vfs_etc::entry::Kind::Dir);
    let dir = fx._dirs.1.path();
    std::fs::set_permissions(
        dir.join("stat-public"),
        std::fs::Permissions::from_mode(0o600),
    )?;
    std::fs::set_permissions(
        dir.join("read-public"),
        std::fs::Permissions::from_mode(0o600),
    )?;
    // `stat-public` has no etag yet: stat would hash it, and must not for this caller.
    let generation = fx.stores[1].generation()?;
    let meta = s.stat(&p("/tmp/stat-public"))?;
    assert_eq!(meta.etag, None);
    let err = s
        .read(&p("/tmp/read-public"))
        .err()
        .and_then(|e| e.raw_os_error());
    assert_eq!(err, Some(Errno::ACCESS.raw_os_error()));
    assert_eq!(fx.stores[1].generation()?, generation);
    Ok(())
}

/// A file others could not reach on the host (below a directory without `o+x`) is as secret
/// as one without `o+r`, whatever its own mode: admins only, still listed.
#[test]
fn a_public_file_in_a_private_directory_is_secret() -> TestResult {
    let reader = Caller::principal("alice");
    let fx = fixture(granting(&reader, Right::Write)?)?;
    let dir = fx._dirs.1.path().join("private");
    std::fs::create_dir(&dir)?;
    write_file(&dir.join("open"), PUBLIC, 0o644)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    fx.vfs.reconcile(&p("/tmp"))?;
    let s = fx.vfs.as_caller(&reader);
    let open = p("/tmp/private/open");
    let eacces = Some(Errno::ACCESS.raw_os_error());
    assert_eq!(s.read(&open).err().and_then(|e| e.raw_os_error()), eacces);
    assert_eq!(
        s.write(&open, b"x", WriteMode::Replace)
            .err()
            .and_then(|e| e.raw_os_error()),
        eacces
    );
    assert_eq!(s.stat(&open)?.etag, None);
    assert_eq!(s.read_dir(&p("/tmp/private"))?.len(), 1);
    // A writer may create a file there, but not read it back: below the same private
    // directory, it is secret too.
    s.write(&p("/tmp/private/mine"), b"mine", WriteMode::CreateNew)?;
    let mine = s.read(&p("/tmp/private/mine"));
    assert_eq!(mine.err().and_then(|e| e.raw_os_error()), eacces);
    let admin = granting(&reader, Right::Admin)?;
    fx.vfs.set_policy(admin);
    assert_eq!(s.read(&open)?.data, PUBLIC);
    assert_eq!(s.stat(&open)?.etag, Some(Etag::of(PUBLIC)));
    Ok(())
}

#[test]
fn a_principal_in_a_nested_group_has_the_outer_groups_right() -> TestResult {
    let policy = compile(&VfsPolicy {
        group: vec![
            GroupDecl {
                name: "admins".into(),
                users: Vec::new(),
                member_groups: vec!["ops".into()],
            },
            GroupDecl {
                name: "ops".into(),
                users: vec!["alice".into()],
                member_groups: Vec::new(),
            },
        ],
        ace: vec![
            AceDecl {
                right: Right::Read,
                groups: vec!["ops".into()],
                path: "/".into(),
            },
            AceDecl {
                right: Right::Admin,
                groups: vec!["admins".into()],
                path: "/etc".into(),
            },
        ],
        ..VfsPolicy::default()
    })?;
    let fx = fixture(policy)?;
    let alice = Caller::principal("alice");
    let bob = Caller::principal("bob");
    assert_eq!(
        fx.vfs.as_caller(&alice).read(&p("/etc/read-secret"))?.data,
        SECRET
    );
    // Under /tmp only `ops`'s read applies.
    let tmp_secret = fx.vfs.as_caller(&alice).read(&p("/tmp/read-secret"));
    assert_eq!(
        tmp_secret.err().and_then(|e| e.raw_os_error()),
        Some(Errno::ACCESS.raw_os_error())
    );
    let bobs = fx.vfs.as_caller(&bob).read(&p("/etc/read-public"));
    assert_eq!(
        bobs.err().and_then(|e| e.raw_os_error()),
        Some(Errno::ACCESS.raw_os_error())
    );
    Ok(())
}

/// A state dir with `files` under `etc/`.
fn state_with_policy(policy: Option<&str>) -> std::io::Result<tempfile::TempDir> {
    let state = tempfile::tempdir()?;
    let etc = state.path().join("etc");
    std::fs::create_dir_all(etc.join("conf.d"))?;
    write_file(&etc.join("conf.d/mounts"), b"auto_sync = true\n", 0o644)?;
    write_file(&etc.join("conf.d/llm"), SECRET, 0o600)?;
    if let Some(text) = policy {
        write_file(&etc.join("conf.d/vfs"), text.as_bytes(), 0o644)?;
    }
    Ok(state)
}

#[test]
fn without_a_policy_file_the_defaults_apply() -> TestResult {
    let state = state_with_policy(None)?;
    let (vfs, _) = boot(state.path())?;
    assert!(vfs.policy_error().is_none());
    let local = vfs.as_caller(&Caller::AnonymousLocal);
    assert_eq!(
        local.read(&p("/etc/conf.d/mounts"))?.data,
        b"auto_sync = true\n"
    );
    // Read, not write: not even the writable /tmp.
    let denied = local.write(&p("/tmp/x"), b"x", WriteMode::Replace);
    assert_eq!(
        denied.err().and_then(|e| e.raw_os_error()),
        Some(Errno::ACCESS.raw_os_error())
    );
    // The secret brick: listed, stat without etag, not readable.
    let names: Vec<String> = local
        .read_dir(&p("/etc/conf.d"))?
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["llm", "mounts"]);
    assert_eq!(local.stat(&p("/etc/conf.d/llm"))?.etag, None);
    let err = local
        .read(&p("/etc/conf.d/llm"))
        .err()
        .and_then(|e| e.raw_os_error());
    assert_eq!(err, Some(Errno::ACCESS.raw_os_error()));
    for path in ["/", "/etc", "/etc/conf.d/mounts"] {
        let remote = vfs.as_caller(&Caller::AnonymousRemote).stat(&p(path));
        assert_eq!(
            remote.err().and_then(|e| e.raw_os_error()),
            Some(Errno::ACCESS.raw_os_error()),
            "{path}"
        );
    }
    let principal = vfs
        .as_caller(&Caller::principal("alice"))
        .read(&p("/etc/conf.d/mounts"));
    assert_eq!(
        principal.err().and_then(|e| e.raw_os_error()),
        Some(Errno::ACCESS.raw_os_error())
    );
    Ok(())
}

#[test]
fn a_policy_file_grants_what_it_says() -> TestResult {
    let state = state_with_policy(Some(
        r#"
        [policy]
        anonymous_remote = "read"

        [[group]]
        name = "admins"
        users = ["root"]
        member_groups = ["ops"]

        [[group]]
        name = "ops"
        users = ["alice"]

        [[ace]]
        right = "admin"
        groups = ["admins"]
        "#,
    ))?;
    let (vfs, _) = boot(state.path())?;
    assert!(vfs.policy_error().is_none(), "{:?}", vfs.policy_error());
    assert_eq!(
        vfs.as_caller(&Caller::principal("alice"))
            .read(&p("/etc/conf.d/llm"))?
            .data,
        SECRET
    );
    let meta = vfs
        .as_caller(&Caller::principal("alice"))
        .stat(&p("/etc/conf.d/llm"))?;
    assert_eq!(meta.etag, Some(Etag::of(SECRET)));
    assert_eq!(
        vfs.as_caller(&Caller::AnonymousRemote)
            .read(&p("/etc/conf.d/mounts"))?
            .data,
        b"auto_sync = true\n"
    );
    Ok(())
}

/// Every way a policy can be wrong, each failing closed: every call by every caller is
/// refused with the error naming the policy file, line and column.
#[test]
fn an_invalid_policy_fails_closed_naming_the_file_line_and_column() -> TestResult {
    for (policy, says) in [
        (
            "[policy\nanonymous_local = \"read\"\n",
            "malformed TOML at `",
        ),
        (
            "[policy]\nanonymous_local = \"reed\"\n",
            "invalid value for `vfs.policy.anonymous_local`",
        ),
        (
            "[policy]\nanonymus_local = \"admin\"\n",
            "unknown key `vfs.policy.anonymus_local`",
        ),
        (
            "[[group]]\nname = \"a\"\nmember_groups = [\"b\"]\n\n[[group]]\nname = \"b\"\nmember_groups = [\"a\"]\n",
            "groups include each other in a cycle: `a` includes `b` includes `a`",
        ),
        (
            "[[ace]]\nright = \"read\"\ngroups = [\"nobody\"]\n",
            "names group `nobody`",
        ),
        (
            "[[ace]]\nrigth = \"admin\"\ngroups = []\n",
            "invalid value for `vfs.ace[0].rigth`",
        ),
        (
            "[[group]]\nname = \"a\"\n\n[[ace]]\nright = \"reed\"\ngroups = [\"a\"]\n",
            "invalid value for `vfs.ace[0].right`",
        ),
    ] {
        let state = state_with_policy(Some(policy))?;
        let (vfs, _) = boot(state.path())?;
        let error = vfs.policy_error().map(|e| e.to_string());
        let file = state.path().join("etc/conf.d/vfs");
        let file = file.display().to_string();
        let error = error.unwrap_or_else(|| panic!("{policy:?} was accepted"));
        assert!(error.contains(says), "{policy:?}: {error}");
        assert!(error.contains(&format!("{file}:")), "{policy:?}: {error}");
        for caller in callers() {
            let s = vfs.as_caller(&caller);
            let refusals = [
                s.read(&p("/etc/conf.d/mounts"))
                    .err()
                    .map(|e| (e.raw_os_error(), e.to_string())),
                s.stat(&p("/etc/missing"))
                    .err()
                    .map(|e| (e.raw_os_error(), e.to_string())),
                s.read_dir(&p("/"))
                    .err()
                    .map(|e| (e.raw_os_error(), e.to_string())),
                s.write(&p("/tmp/x"), b"x", WriteMode::Replace)
                    .err()
                    .map(|e| (e.raw_os_error(), e.to_string())),
                s.rename(&p("/tmp/a"), &p("/tmp/b"))
                    .err()
                    .map(|e| (e.raw_os_error(), e.to_string())),
            ];
            for refusal in refusals {
                let (errno, text) =
                    refusal.unwrap_or_else(|| panic!("{caller} allowed with {policy:?}"));
                assert_eq!(errno, Some(Errno::ACCESS.raw_os_error()));
                assert!(text.contains(&format!("{file}:")), "{text}");
                assert!(text.contains("refused until its policy is fixed"), "{text}");
            }
        }
    }
    Ok(())
}

/// The position is the bad value's: line and column in the file.
#[test]
fn a_policy_error_points_at_the_line_and_column() -> TestResult {
    let state = state_with_policy(Some("[policy]\nanonymous_local = \"reed\"\n"))?;
    let (vfs, _) = boot(state.path())?;
    let error = vfs
        .policy_error()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let at = format!("{}:2:19", state.path().join("etc/conf.d/vfs").display());
    assert!(error.contains(&at), "{error}");
    Ok(())
}

/// The watcher of `/etc` reloads the policy: a change applies to the next call, an invalid
/// one fails closed until it is fixed, and a fix opens again.
#[test]
fn the_policy_reloads_live() -> TestResult {
    let state = state_with_policy(None)?;
    let (vfs, _) = boot(state.path())?;
    let _watcher = watch(&vfs, &p("/etc"))?;
    let file = state.path().join("etc/conf.d/vfs");
    let remote = Caller::AnonymousRemote;
    let mounts = p("/etc/conf.d/mounts");
    let reads = || vfs.as_caller(&remote).read(&mounts).is_ok();
    assert!(!reads());
    write_file(&file, b"[policy]\nanonymous_remote = \"read\"\n", 0o644)?;
    assert!(
        eventually(Duration::from_secs(10), reads),
        "the new policy was not applied"
    );
    write_file(&file, b"[policy\n", 0o644)?;
    assert!(
        eventually(Duration::from_secs(10), || vfs.policy_error().is_some()),
        "an invalid policy was not noticed"
    );
    let local = vfs.as_caller(&Caller::AnonymousLocal).read(&mounts);
    assert!(
        local.is_err_and(|e| e.to_string().contains("conf.d/vfs:1:")),
        "an invalid policy did not fail closed"
    );
    // A drop-in counts too.
    std::fs::create_dir(state.path().join("etc/conf.d/vfs.d"))?;
    write_file(&file, b"", 0o644)?;
    write_file(
        &state.path().join("etc/conf.d/vfs.d/50-remote.toml"),
        b"[policy]\nanonymous_remote = \"read\"\n",
        0o644,
    )?;
    assert!(
        eventually(Duration::from_secs(10), || vfs.policy_error().is_none()
            && reads()),
        "the fixed policy was not applied"
    );
    std::fs::remove_file(state.path().join("etc/conf.d/vfs.d/50-remote.toml"))?;
    assert!(
        eventually(Duration::from_secs(10), || !reads()),
        "removing the drop-in did not take the right away"
    );
    Ok(())
}

/// A subscriber that keeps every event's fields as text.
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        if let Ok(mut all) = self.0.lock() {
            all.push(fields.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn denials_are_logged_with_caller_operation_and_path_never_content() -> TestResult {
    let fx = fixture(Policy::default())?;
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        let local = fx.vfs.as_caller(&Caller::AnonymousLocal);
        let _ = local.read(&p("/etc/read-secret"));
        let _ = local.write(
            &p("/tmp/write-public"),
            b"attempted content",
            WriteMode::Replace,
        );
        let _ = fx
            .vfs
            .as_caller(&Caller::principal("mallory\n"))
            .rename(&p("/tmp/rename-public"), &p("/tmp/x"));
    });
    let events = recorder.0.lock().map_err(|e| e.to_string())?.clone();
    let denials: Vec<&String> = events
        .iter()
        .filter(|e| e.contains("vfs access denied"))
        .collect();
    assert_eq!(denials.len(), 3, "{events:#?}");
    assert!(
        denials[0].contains("caller=anonymous local caller")
            && denials[0].contains("operation=\"read\"")
            && denials[0].contains("path=/etc/read-secret"),
        "{}",
        denials[0]
    );
    assert!(
        denials[1].contains("operation=\"write\"") && denials[1].contains("path=/tmp/write-public"),
        "{}",
        denials[1]
    );
    assert!(
        denials[2].contains("caller=user `mallory\\n`")
            && denials[2].contains("path=/tmp/rename-public -> /tmp/x"),
        "{}",
        denials[2]
    );
    for e in &events {
        assert!(
            !e.contains("hunter2") && !e.contains("attempted content"),
            "{e}"
        );
    }
    Ok(())
}

/// What a caller below admin may try, on names that include the secret files.
#[derive(Debug, Clone)]
enum Step {
    Read(usize),
    Stat(usize),
    List(usize),
    Write(usize, usize, bool),
    Unlink(usize),
    Mkdir(usize),
    Rmdir(usize),
    Rename(usize, usize),
}

const NAMES: [&str; 10] = [
    "/etc/read-secret",
    "/etc/read-public",
    "/tmp/read-secret",
    "/tmp/write-secret",
    "/tmp/read-public",
    "/tmp/new",
    "/tmp/rmdir-secret",
    "/tmp/readdir-secret",
    "/tmp/readdir-secret/inside",
    "/tmp/new/inside",
];
const WRITES: [&[u8]; 3] = [b"", b"mine\n", b"api_key = \"mine\"\n"];

fn step() -> impl Strategy<Value = Step> {
    let name = 0..NAMES.len();
    prop_oneof![
        name.clone().prop_map(Step::Read),
        name.clone().prop_map(Step::Stat),
        name.clone().prop_map(Step::List),
        (name.clone(), 0..WRITES.len(), any::<bool>()).prop_map(|(n, d, x)| Step::Write(n, d, x)),
        name.clone().prop_map(Step::Unlink),
        name.clone().prop_map(Step::Mkdir),
        name.clone().prop_map(Step::Rmdir),
        (name.clone(), name).prop_map(|(a, b)| Step::Rename(a, b)),
    ]
}

proptest! {
    #![proptest_config(Config { cases: 48, ..Config::default() })]

    /// No sequence of calls by a caller below admin (here a writer, the most a non-admin can
    /// be) returns a secret file's bytes, or its etag.
    #[test]
    fn no_caller_below_admin_ever_reads_a_secret(
        right in prop_oneof![Just(Right::Read), Just(Right::Write)],
        who in 0..3usize,
        steps in proptest::collection::vec(step(), 1..24),
    ) {
        let caller = callers()[who].clone();
        let fx = fixture(granting(&caller, right).map_err(TestCaseError::fail)?)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let s = fx.vfs.as_caller(&caller);
        let secret_etag = Etag::of(SECRET);
        let leaks = |data: &[u8]| data.windows(SECRET.len()).any(|w| w == SECRET);
        for step in steps {
            let path = |i: usize| NAMES[i].parse::<VfsPath>().map_err(|e| TestCaseError::fail(e.to_string()));
            match step {
                Step::Read(i) => {
                    if let Ok(f) = s.read(&path(i)?) {
                        prop_assert!(!leaks(&f.data), "{caller} read a secret at {}", NAMES[i]);
                        prop_assert_ne!(f.metadata.etag, Some(secret_etag));
                    }
                }
                Step::Stat(i) => {
                    if let Ok(m) = s.stat(&path(i)?) {
                        prop_assert_ne!(m.etag, Some(secret_etag), "{} stat {}", caller, NAMES[i]);
                    }
                }
                Step::List(i) => { let _ = s.read_dir(&path(i)?); }
                Step::Write(i, d, exclusive) => {
                    let mode = if exclusive { WriteMode::CreateNew } else { WriteMode::Replace };
                    if let Ok(m) = s.write(&path(i)?, WRITES[d], mode) {
                        prop_assert_ne!(m.etag, Some(secret_etag));
                    }
                }
                Step::Unlink(i) => { let _ = s.unlink(&path(i)?); }
                Step::Mkdir(i) => { let _ = s.mkdir(&path(i)?); }
                Step::Rmdir(i) => { let _ = s.rmdir(&path(i)?); }
                Step::Rename(a, b) => { let _ = s.rename(&path(a)?, &path(b)?); }
            }
        }
    }
}

/// Mounting needs no policy: `mount_etc` leaves it to the first call (or `policy_error`),
/// which loads what the file says then.
#[test]
fn the_policy_is_loaded_by_the_first_call_not_by_the_mount() -> TestResult {
    let state = state_with_policy(Some("[policy\n"))?;
    let (vfs, _) = boot(state.path())?;
    write_file(
        &state.path().join("etc/conf.d/vfs"),
        b"[policy]\nanonymous_remote = \"read\"\n",
        0o644,
    )?;
    let remote = vfs.as_caller(&Caller::AnonymousRemote);
    assert_eq!(
        remote.read(&p("/etc/conf.d/mounts"))?.data,
        b"auto_sync = true\n"
    );
    assert!(vfs.policy_error().is_none());
    Ok(())
}
