//! The policy's pure rules: groups, nesting, cycles, which ace decides.

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn group(name: &str, users: &[&str], member_groups: &[&str]) -> GroupDecl {
    GroupDecl {
        name: name.to_owned(),
        users: users.iter().map(|s| (*s).to_owned()).collect(),
        member_groups: member_groups.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn ace(right: Right, groups: &[&str], path: &str) -> AceDecl {
    AceDecl {
        right,
        groups: groups.iter().map(|s| (*s).to_owned()).collect(),
        path: path.to_owned(),
    }
}

fn p(s: &str) -> VfsPath {
    VfsPath::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn compile(decl: &VfsPolicy) -> Result<Policy, String> {
    Policy::new(decl).map_err(|v| v.message)
}

fn alice() -> Caller {
    Caller::principal("alice")
}

#[test]
fn rights_are_ordered_read_write_admin() {
    assert!(Right::None < Right::Read);
    assert!(Right::Read < Right::Write);
    assert!(Right::Write < Right::Admin);
}

#[test]
fn without_a_policy_anonymous_local_reads_and_nobody_else_has_anything() {
    let policy = Policy::default();
    let etc = p("/etc/conf.d/llm");
    assert_eq!(policy.right(&Caller::AnonymousLocal, &etc), Right::Read);
    assert_eq!(policy.right(&Caller::AnonymousRemote, &etc), Right::None);
    assert_eq!(policy.right(&alice(), &etc), Right::None);
}

#[test]
fn the_longest_matching_prefix_decides_on_whole_components() -> TestResult {
    let policy = compile(&VfsPolicy {
        group: vec![group("ops", &["alice"], &[])],
        ace: vec![
            ace(Right::Write, &["ops"], "/"),
            ace(Right::None, &["ops"], "/etc/conf.d"),
            ace(Right::Admin, &["ops"], "/etc/conf.d/mounts"),
        ],
        ..VfsPolicy::default()
    })?;
    let right = |path: &str| policy.right(&alice(), &p(path));
    assert_eq!(right("/tmp/x"), Right::Write);
    assert_eq!(right("/etc"), Right::Write);
    assert_eq!(right("/etc/conf.d"), Right::None);
    assert_eq!(right("/etc/conf.d/llm"), Right::None);
    assert_eq!(right("/etc/conf.d/mounts"), Right::Admin);
    assert_eq!(right("/etc/conf.d/mounts.d/x"), Right::None);
    assert_eq!(right("/etc/conf.dx"), Right::Write);
    Ok(())
}

/// An ace for a group the caller is not in does not count, even with a longer prefix.
#[test]
fn only_aces_naming_the_callers_groups_match() -> TestResult {
    let policy = compile(&VfsPolicy {
        group: vec![group("ops", &["alice"], &[]), group("dev", &["bob"], &[])],
        ace: vec![
            ace(Right::Read, &["ops"], "/"),
            ace(Right::Admin, &["dev"], "/etc"),
        ],
        ..VfsPolicy::default()
    })?;
    assert_eq!(policy.right(&alice(), &p("/etc/x")), Right::Read);
    assert_eq!(
        policy.right(&Caller::principal("bob"), &p("/etc/x")),
        Right::Admin
    );
    assert_eq!(
        policy.right(&Caller::principal("bob"), &p("/tmp")),
        Right::None
    );
    assert_eq!(
        policy.right(&Caller::principal("carol"), &p("/etc")),
        Right::None
    );
    Ok(())
}

/// Several aces with the same prefix that all apply: the highest right wins, whatever their
/// order in the file.
#[test]
fn among_aces_with_the_same_prefix_the_highest_right_wins() -> TestResult {
    for aces in [
        vec![
            ace(Right::Read, &["ops"], "/etc"),
            ace(Right::Admin, &["dev"], "/etc"),
            ace(Right::None, &["ops"], "/etc/"),
        ],
        vec![
            ace(Right::None, &["ops"], "/etc"),
            ace(Right::Admin, &["dev"], "/etc/."),
            ace(Right::Read, &["ops"], "/etc"),
        ],
    ] {
        let policy = compile(&VfsPolicy {
            group: vec![group("ops", &["alice"], &[]), group("dev", &["alice"], &[])],
            ace: aces,
            ..VfsPolicy::default()
        })?;
        assert_eq!(policy.right(&alice(), &p("/etc/conf.d/llm")), Right::Admin);
    }
    Ok(())
}

#[test]
fn members_of_a_nested_group_have_the_outer_groups_rights() -> TestResult {
    let policy = compile(&VfsPolicy {
        group: vec![
            group("admins", &["root"], &["ops"]),
            group("ops", &[], &["oncall"]),
            group("oncall", &["alice"], &[]),
        ],
        ace: vec![ace(Right::Admin, &["admins"], "/")],
        ..VfsPolicy::default()
    })?;
    assert_eq!(policy.right(&alice(), &p("/etc")), Right::Admin);
    assert_eq!(
        policy.right(&Caller::principal("root"), &p("/etc")),
        Right::Admin
    );
    Ok(())
}

#[test]
fn cycles_are_refused_naming_the_groups() {
    let err = Policy::new(&VfsPolicy {
        group: vec![
            group("a", &[], &["b"]),
            group("b", &[], &["c"]),
            group("c", &["alice"], &["a"]),
            group("d", &[], &["a"]),
        ],
        ..VfsPolicy::default()
    })
    .err();
    assert_eq!(
        err.map(|v| (v.message, v.keys)),
        Some((
            "groups include each other in a cycle: `a` includes `b` includes `c` includes `a`"
                .to_owned(),
            vec!["group"]
        ))
    );
    let itself = Policy::new(&VfsPolicy {
        group: vec![group("a", &[], &["a"])],
        ..VfsPolicy::default()
    })
    .err()
    .map(|v| v.message);
    assert_eq!(
        itself.as_deref(),
        Some("groups include each other in a cycle: `a` includes `a`")
    );
}

#[test]
fn unknown_groups_and_bad_paths_are_refused() {
    let message = |decl: VfsPolicy| Policy::new(&decl).err().map(|v| v.message);
    assert_eq!(
        message(VfsPolicy {
            group: vec![group("a", &[], &["nope"])],
            ..VfsPolicy::default()
        })
        .as_deref(),
        Some("group `a` names group `nope`, which no `[[group]]` declares")
    );
    assert_eq!(
        message(VfsPolicy {
            ace: vec![ace(Right::Read, &["nope"], "/")],
            ..VfsPolicy::default()
        })
        .as_deref(),
        Some("`ace[0]` names group `nope`, which no `[[group]]` declares")
    );
    assert_eq!(
        message(VfsPolicy {
            group: vec![group("a", &[], &[])],
            ace: vec![ace(Right::Read, &[], "/")],
            ..VfsPolicy::default()
        })
        .as_deref(),
        Some("`ace[0]` names no group")
    );
    assert!(
        message(VfsPolicy {
            group: vec![group("a", &[], &[])],
            ace: vec![ace(Right::Read, &["a"], "etc")],
            ..VfsPolicy::default()
        })
        .is_some_and(|m| m.starts_with("`ace[0]` has path `etc`: "))
    );
    assert_eq!(
        message(VfsPolicy {
            group: vec![group("a", &[], &[]), group("a", &[], &[])],
            ..VfsPolicy::default()
        })
        .as_deref(),
        Some("group `a` is declared twice")
    );
}

/// Counts the error events logged on this thread.
#[derive(Default, Clone)]
struct ErrorCounter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl tracing::Subscriber for ErrorCounter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::ERROR {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// An invalid policy is reported once, not at every reload that finds it still invalid; a
/// different problem, or the same one after a fix, is reported again.
#[test]
fn an_invalid_policy_is_reported_once() -> TestResult {
    let state = tempfile::tempdir()?;
    let conf_d = state.path().join("etc/conf.d");
    std::fs::create_dir_all(&conf_d)?;
    let counter = ErrorCounter::default();
    let reports = || counter.0.load(std::sync::atomic::Ordering::Relaxed);
    let access = AccessControl::default();
    tracing::subscriber::with_default(counter.clone(), || -> TestResult {
        std::fs::write(conf_d.join("vfs"), "[policy\n")?;
        assert!(access.follow(state.path()).is_err());
        access.reload();
        access.reload();
        assert_eq!(reports(), 1);
        std::fs::write(conf_d.join("vfs"), "[policy]\nanonymous_local = 1\n")?;
        access.reload();
        assert_eq!(reports(), 2);
        std::fs::write(conf_d.join("vfs"), "")?;
        access.reload();
        assert!(access.error().is_none());
        std::fs::write(conf_d.join("vfs"), "[policy]\nanonymous_local = 1\n")?;
        access.reload();
        assert_eq!(reports(), 3);
        Ok(())
    })
}

#[test]
fn only_the_policy_files_and_the_directories_to_them_touch_the_policy() {
    for rel in [
        "",
        "conf.d",
        "conf.d/vfs",
        "conf.d/vfs.d",
        "conf.d/vfs.d/50-x.toml",
    ] {
        assert!(super::touches_policy(rel), "{rel:?}");
    }
    for rel in [
        "conf.d/mounts",
        "conf.d/vfs.dx",
        "conf.d/vfsx",
        "sub/conf.d/vfs",
        "vfs",
    ] {
        assert!(!super::touches_policy(rel), "{rel:?}");
    }
}
