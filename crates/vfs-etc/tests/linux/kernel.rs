//! Compared with the kernel on the real layout: a read-only bind mount, and the nexus
//! layout (read-only `/` and `/etc`, a tmpfs `/tmp`), each in a user and mount namespace,
//! run as `#[ignore]`d child tests of this binary.

#[allow(clippy::wildcard_imports)] // the helpers of this directory's `mod.rs`
use super::*;

const READ_ONLY_CHILD_ENV: &str = "VFS_ETC_LINUX_READ_ONLY_TREE";

/// The same comparison on a read-only mount, where Linux's order between the path checks and
/// `EROFS` matters (`write f/` is `EISDIR`, `unlink f/` is `EROFS`, `rmdir d/.` is `EINVAL`):
/// the host side runs on a read-only bind mount in a private user and mount namespace.
#[test]
fn every_operation_on_a_read_only_mount_answers_what_linux_answers() -> TestResult {
    let host = tempfile::tempdir()?;
    tree(host.path())?;
    let child = crate::support::child_command(
        "linux::kernel::read_only_comparison_child",
        &[(READ_ONLY_CHILD_ENV, host.path())],
    )?;
    let out = std::process::Command::new("unshare")
        .arg("-rm")
        .arg("sh")
        .arg("-c")
        .arg(r#"mount --bind -o ro "$0" "$0" && exec "$@""#)
        .arg(host.path())
        .arg(child.get_program())
        .args(child.get_args())
        .env(READ_ONLY_CHILD_ENV, host.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child: compared"),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Runs inside the namespace `every_operation_on_a_read_only_mount_answers_what_linux_answers`
/// sets up: the tree is read-only there, for the kernel and for the VFS.
#[test]
#[ignore = "child process of every_operation_on_a_read_only_mount_answers_what_linux_answers"]
fn read_only_comparison_child() -> TestResult {
    // The parent test's hand-off, not configuration.
    #[allow(clippy::disallowed_methods)]
    let Some(root) = std::env::var_os(READ_ONLY_CHILD_ENV) else {
        return Ok(());
    };
    let root = Path::new(&root);
    let probe = std::fs::write(root.join("probe"), "x").err();
    assert_eq!(
        probe.and_then(|e| e.raw_os_error()),
        Some(30),
        "the tree is not read-only"
    );
    let mut vfs = Vfs::new();
    vfs.mount(
        "/m".parse()?,
        Arc::new(HostDir::open_read_only(root)?),
        Arc::new(MemoryMetastore::new()),
        Access::ReadOnly,
    )?;
    let mut differences = Vec::new();
    let mut cases = 0;
    for rel in spellings() {
        for op in OPS {
            cases += 1;
            let expected = on_host(root, op, &rel);
            let got = through_vfs(&vfs, op, &rel)?;
            if got != expected {
                differences.push(format!(
                    "read-only {op:?} `{rel}`: linux {}, vfs {}",
                    name(expected),
                    name(got)
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    println!("child: compared {cases} cases");
    Ok(())
}

const LAYOUT_CHILD_ENV: &str = "VFS_ETC_LINUX_NEXUS_LAYOUT";

/// Regression (issue 12): `rm /etc`, `mv /etc /x` were `EBUSY` and `mv /etc/conf.d/mounts
/// /tmp`, `mv /tmp /tmp/x` were `EROFS` or `EBUSY`, where Linux answers `EROFS` and `EXDEV`:
/// it decides by the file system of the directory a name is in (`/` for `/etc`), and checks
/// `EXDEV` before `EBUSY` before `EROFS`. The layout of `nexus vfs` (`/` read-only, a
/// read-only `/etc`, a writable `/tmp`) is built for real in a private user and mount
/// namespace, entered with `chroot`, and every mutating call on every name is compared.
#[test]
fn mutations_across_the_nexus_layout_answer_what_linux_answers() -> TestResult {
    let work = tempfile::tempdir()?;
    let (root, etc) = (work.path().join("root"), work.path().join("etc"));
    for d in [root.join("etc"), root.join("tmp"), etc.join("conf.d")] {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(etc.join("conf.d/mounts"), "auto_sync = true\n")?;
    std::fs::write(etc.join("hosts"), "h\n")?;
    let child = crate::support::child_command(
        "linux::kernel::nexus_layout_comparison_child",
        &[(LAYOUT_CHILD_ENV, &root)],
    )?;
    let out = std::process::Command::new("unshare")
        .arg("-rm")
        .arg("sh")
        .arg("-c")
        .arg(
            r#"mount --bind -o ro "$0" "$0" && mount --bind -o ro "$1" "$0/etc" \
               && mount -t tmpfs tmpfs "$0/tmp" && shift && exec "$@""#,
        )
        .arg(&root)
        .arg(&etc)
        .arg(child.get_program())
        .args(child.get_args())
        .env(LAYOUT_CHILD_ENV, &root)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child: compared"),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The scratch tree of `/tmp`, on the host (after emptying it) and in memory.
fn scratch(host: Option<&Path>, memory: &MemoryBackend) -> io::Result<()> {
    if let Some(tmp) = host {
        for entry in std::fs::read_dir(tmp)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(path)?;
            } else {
                std::fs::remove_file(path)?;
            }
        }
        std::fs::write(tmp.join("f"), "file")?;
        std::fs::create_dir(tmp.join("d"))?;
        std::fs::write(tmp.join("d/inner"), "inner")?;
        std::fs::create_dir(tmp.join("e"))?;
    }
    memory.write("f", b"file", true)?;
    memory.mkdir("d")?;
    memory.write("d/inner", b"inner", true)?;
    memory.mkdir("e")?;
    Ok(())
}

/// Runs inside the namespace of `mutations_across_the_nexus_layout_answer_what_linux_answers`,
/// chrooted into the layout: the paths below are the kernel's own.
#[test]
#[ignore = "child process of mutations_across_the_nexus_layout_answer_what_linux_answers"]
fn nexus_layout_comparison_child() -> TestResult {
    // The parent test's hand-off, not configuration.
    #[allow(clippy::disallowed_methods)]
    let Some(root) = std::env::var_os(LAYOUT_CHILD_ENV) else {
        return Ok(());
    };
    std::os::unix::fs::chroot(&root)?;
    std::env::set_current_dir("/")?;
    let names = [
        "/",
        "/.",
        "/..",
        "/x",
        "/etc",
        "/etc/",
        "/etc/.",
        "/etc/..",
        "/etc/conf.d",
        "/etc/conf.d/mounts",
        "/etc/conf.d/..",
        "/etc/missing",
        "/tmp",
        "/tmp/.",
        "/tmp/..",
        "/tmp/f",
        "/tmp/d",
        "/tmp/e",
        "/tmp/x",
    ];
    let vfs_errno =
        |r: Result<(), io::Error>| r.err().map_or(0, |e| e.raw_os_error().unwrap_or(-1));
    let mut differences = Vec::new();
    let mut cases = 0;
    let mut compare =
        |what: String, host: &dyn Fn() -> i32, vfs: &dyn Fn(&Vfs) -> i32| -> TestResult {
            let memory = MemoryBackend::new();
            scratch(Some(Path::new("/tmp")), &memory)?;
            let expected = host();
            let mut v = Vfs::new();
            v.mount(
                "/etc".parse()?,
                Arc::new(HostDir::open_read_only("/etc")?),
                Arc::new(MemoryMetastore::new()),
                Access::ReadOnly,
            )?;
            v.mount(
                "/tmp".parse()?,
                Arc::new(memory),
                Arc::new(MemoryMetastore::new()),
                Access::ReadWrite,
            )?;
            let got = vfs(&v);
            cases += 1;
            if got != expected {
                differences.push(format!(
                    "{what}: linux {}, vfs {}",
                    name(expected),
                    name(got)
                ));
            }
            Ok(())
        };
    for n in names {
        let path: VfsPath = n.parse()?;
        compare(
            format!("rmdir `{n}`"),
            &|| code(std::fs::remove_dir(n)),
            &|v| vfs_errno(unrestricted(v).rmdir(&path).map_err(Into::into)),
        )?;
        compare(
            format!("unlink `{n}`"),
            &|| code(std::fs::remove_file(n)),
            &|v| vfs_errno(unrestricted(v).unlink(&path).map_err(Into::into)),
        )?;
        compare(
            format!("write `{n}`"),
            &|| {
                code(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(n),
                )
            },
            &|v| {
                vfs_errno(
                    unrestricted(v)
                        .write(&path, b"x", WriteMode::Replace)
                        .map(drop)
                        .map_err(Into::into),
                )
            },
        )?;
        compare(
            format!("mkdir `{n}`"),
            &|| code(std::fs::create_dir(n)),
            &|v| vfs_errno(unrestricted(v).mkdir(&path).map(drop).map_err(Into::into)),
        )?;
        for to in names {
            let target: VfsPath = to.parse()?;
            compare(
                format!("rename `{n}` `{to}`"),
                &|| code(std::fs::rename(n, to)),
                &|v| vfs_errno(unrestricted(v).rename(&path, &target).map_err(Into::into)),
            )?;
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    println!("child: compared {cases} cases");
    Ok(())
}
