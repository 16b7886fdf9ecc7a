//! Every cell of caller kind × right × mount × operation × file kind against what the policy
//! says, `ENOENT` before `EACCES`, and files made secret by their mode or a directory above.

#[allow(clippy::wildcard_imports)] // the helpers of this directory's `mod.rs`
use super::*;

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
