//! The policy brick `vfs` loaded from a state dir: defaults, what a file grants, failing
//! closed with a positioned error, live reload, loading at the first call, and denials
//! logged without content.

#[allow(clippy::wildcard_imports)] // the helpers of this directory's `mod.rs`
use super::*;

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
