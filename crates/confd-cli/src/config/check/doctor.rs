//! `nexus config doctor`: the state dir, its permissions and owners, what
//! the VFS will not show, leftovers, and every brick.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use confd::{BrickName, StateDir};
use serde_json::{Value as Json, json};

use super::vfs_policy::check_vfs_policy;
use super::{Finding, Severity, all_bricks, check_bricks};
use crate::{Failure, Format, Global};

pub(crate) fn doctor(global: &Global) -> Result<(), Failure> {
    let state = global.loader().resolved_state_dir()?;
    let trusted = Trusted::of(&state);
    // A file (or a loop) where the state dir, `etc` or `conf.d` belongs, or
    // above it: nothing below it can be judged, so those checks say
    // "skipped", not "ok".
    let layout = state.check_layout();
    let broken = layout.is_err();
    let mut findings = match layout {
        Err(e) => vec![Finding::new(Severity::Error, "state dir", e.to_string())],
        Ok(()) => check_state_dir(&state, &trusted),
    };
    if state.conf_d().is_dir() {
        findings.extend(check_conf_d(&state, &trusted));
        findings.extend(check_vfs_policy(&state));
        let bricks = all_bricks(&state);
        findings.extend(
            check_bricks(global, &bricks)
                .into_iter()
                .flat_map(|(_, f)| f),
        );
    }
    // A directory above several judged paths is reported once.
    let mut seen = std::collections::HashSet::new();
    findings.retain(|f| seen.insert(f.message.clone()));
    let skipped = |check: &str| broken && check != "state dir";
    let failing = findings
        .iter()
        .filter(|f| f.severity != Severity::Note)
        .count();
    match global.format {
        Format::Text => {
            for check in CHECKS {
                let mine: Vec<&Finding> = findings.iter().filter(|f| f.check == *check).collect();
                let bad = mine.iter().filter(|f| f.severity != Severity::Note).count();
                let verdict = match (bad, skipped(check)) {
                    (0, true) => "skipped",
                    (0, false) => "ok",
                    _ => "problem",
                };
                println!("{verdict:<8} {check}");
                for finding in mine {
                    println!(
                        "  {}: {}",
                        finding.severity.as_str(),
                        finding.message.replace('\n', "\n    ")
                    );
                }
            }
            if failing == 0 {
                println!("no problems found");
            } else {
                println!(
                    "{failing} problem{} found",
                    if failing == 1 { "" } else { "s" }
                );
            }
        }
        Format::Json => {
            let checks: Vec<Json> = CHECKS
                .iter()
                .map(|check| {
                    let mine: Vec<Json> = findings
                        .iter()
                        .filter(|f| f.check == *check)
                        .map(Finding::to_json)
                        .collect();
                    json!({ "check": check, "skipped": mine.is_empty() && skipped(check), "findings": mine })
                })
                .collect();
            println!("{:#}", json!({ "healthy": failing == 0, "checks": checks }));
        }
    }
    if failing > 0 {
        Err(Failure::Silent)
    } else {
        Ok(())
    }
}

/// Every check `doctor` runs, in the order it reports them.
const CHECKS: &[&str] = &[
    "state dir",
    "secret file permissions",
    "writable by others",
    "hidden from the vfs",
    "deprecated environment",
    "unrecognised files",
    "pending upgrades",
    "stale temporary files",
    "unknown keys",
    "configuration",
    "vfs access policy",
];

/// What is wrong with the state dir whose layout holds: the permissions and owners of it, its
/// `etc` and `conf.d`, and of what lies above them.
fn check_state_dir(state: &StateDir, trusted: &Trusted) -> Vec<Finding> {
    let mut findings = Vec::new();
    for dir in [state.root().to_owned(), state.etc_dir(), state.conf_d()] {
        match std::fs::metadata(&dir) {
            // A symlink loop or a dangling link was named by `check_layout`.
            Err(_) => {
                let message = format!(
                    "`{}` does not exist: run `nexus config init`",
                    crate::output::shown_path(&dir)
                );
                findings.push(Finding::new(Severity::Error, "state dir", message));
                break;
            }
            Ok(m) if !m.is_dir() => findings.push(Finding::new(
                Severity::Error,
                "state dir",
                format!("`{}` is not a directory", crate::output::shown_path(&dir)),
            )),
            Ok(_) => findings.extend(writable_by_others(&dir, trusted)),
        }
    }
    findings.extend(hidden_from_vfs(&state.conf_d()));
    findings.extend(readable_store(state));
    // Whoever may rename an entry above the state dir may swap the whole
    // tree, through a symlinked state dir too.
    let real_root = std::fs::canonicalize(state.root()).unwrap_or_else(|_| state.root().to_owned());
    findings.extend(unsafe_ancestors(&real_root, trusted));
    // What seeding and the VFS keep: the record decides upgrades, the lock
    // orders writers, the store holds the VFS's view of /etc.
    for path in [
        state.var_lib(),
        state.confd_lib(),
        state.seed_record(),
        state.write_lock(),
        state.vfs_lib(),
        state.vfs_metastore(),
    ] {
        findings.extend(writable_by_others(&path, trusted));
    }
    findings
}

/// Who may own what doctor judges: root, the user running it, and the
/// owner of the state dir (a service's own state dir).
struct Trusted {
    uids: Vec<u32>,
}

impl Trusted {
    fn of(state: &StateDir) -> Self {
        let mut uids = vec![0, rustix::process::geteuid().as_raw()];
        uids.extend(std::fs::metadata(state.root()).map(|m| m.uid()));
        Trusted { uids }
    }

    fn owns(&self, meta: &std::fs::Metadata) -> bool {
        self.uids.contains(&meta.uid())
    }
}

/// A directory or file of the configuration that others may change: anyone
/// (or any member of its group, or its owner, when that is not someone
/// trusted) could then redirect `database.url`, or drop in a file of their
/// own. A symlink is judged by its target, and so is every directory above
/// the target, where the target can be replaced.
fn writable_by_others(path: &Path, trusted: &Trusted) -> Vec<Finding> {
    let mut findings: Vec<Finding> = judge_entry(path, trusted).into_iter().collect();
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && let Some(dir) = std::fs::canonicalize(path)
            .ok()
            .and_then(|target| target.parent().map(Path::to_owned))
    {
        findings.extend(judge_entry(&dir, trusted));
        findings.extend(unsafe_ancestors(&dir, trusted));
    }
    findings
}

/// What is wrong with who may change `path` itself.
fn judge_entry(path: &Path, trusted: &Trusted) -> Option<Finding> {
    let meta = std::fs::metadata(path).ok()?;
    let mode = meta.permissions().mode() & 0o7777;
    let (severity, who, so) = if mode & 0o002 != 0 {
        (Severity::Error, "everyone", "anyone")
    } else if mode & 0o020 != 0 {
        (Severity::Warning, "its group", "every member of the group")
    } else if !trusted.owns(&meta) {
        return Some(Finding::new(
            Severity::Warning,
            "writable by others",
            format!(
                "`{}` belongs to uid {}, who can change the configuration (neither root, you, nor the state dir's owner): run `chown` to give it to one of them",
                crate::output::shown_path(path),
                meta.uid()
            ),
        ));
    } else {
        return None;
    };
    Some(Finding::new(
        severity,
        "writable by others",
        format!(
            "`{}` is writable by {who} (mode {mode:04o}), so {so} can change the configuration: run `chmod go-w {}`",
            crate::output::shown_path(path),
            crate::output::shown_path(path)
        ),
    ))
}

/// The directories above `dir` that let someone untrusted replace it: one
/// everyone may write and that is not sticky (`/tmp` is), or one owned by
/// someone untrusted.
fn unsafe_ancestors(dir: &Path, trusted: &Trusted) -> Vec<Finding> {
    dir.ancestors()
        .skip(1)
        .filter_map(|ancestor| {
            let meta = std::fs::metadata(ancestor).ok()?;
            let mode = meta.permissions().mode();
            let shown = crate::output::shown_path(ancestor);
            let (why, fix) = if mode & 0o1002 == 0o002 {
                (
                    "is writable by everyone and not sticky".to_owned(),
                    format!("`chmod o-w {shown}` (or `chmod +t {shown}`)"),
                )
            } else if !trusted.owns(&meta) {
                (
                    format!("belongs to uid {}", meta.uid()),
                    format!("`chown root {shown}`"),
                )
            } else {
                return None;
            };
            Some(Finding::new(
                Severity::Error,
                "writable by others",
                format!(
                    "`{shown}`, a directory above the configuration, {why}, so someone else can replace what is below it: run {fix}"
                ),
            ))
        })
        .collect()
}

/// What bricks read under `$STATE/etc` but the VFS does not show: a symlink
/// (the VFS never follows one), or a name it cannot represent (not UTF-8,
/// or with a control character).
fn hidden_from_vfs(path: &Path) -> Option<Finding> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let name = path.file_name()?;
    let why = if meta.file_type().is_symlink() {
        "is a symlink: bricks read through it, but the VFS does not follow symlinks, so `/etc` in the VFS will not show it (replace it with the file or directory itself)"
    } else if name
        .to_str()
        .is_none_or(|n| n.chars().any(char::is_control))
    {
        "has a name the VFS cannot show (not UTF-8, or with a control character): bricks read it, `/etc` in the VFS will not list it; rename it"
    } else {
        return None;
    };
    Some(Finding::new(
        Severity::Warning,
        "hidden from the vfs",
        format!("`{}` {why}", crate::output::shown_path(path)),
    ))
}

/// The VFS's metadata store holds content hashes of files others may not
/// read (the 0600 secret bricks): it, and the directory holding it, must be
/// its owner's alone. The store of an earlier version (`var/lib/vfs-meta.redb`)
/// counts too.
fn readable_store(state: &StateDir) -> Vec<Finding> {
    [
        state.vfs_lib(),
        state.vfs_metastore(),
        state.legacy_vfs_metastore(),
    ]
    .into_iter()
    .filter_map(|path| {
        let mode = std::fs::metadata(&path).ok()?.permissions().mode() & 0o7777;
        (mode & 0o077 != 0).then(|| {
            Finding::new(
                Severity::Error,
                "secret file permissions",
                format!(
                    "`{}` holds content hashes of files others may not read, but group or others may read it (mode {mode:04o}): run `chmod go-rwx {}`",
                    crate::output::shown_path(&path),
                    crate::output::shown_path(&path)
                ),
            )
        })
    })
    .collect()
}

fn check_conf_d(state: &StateDir, trusted: &Trusted) -> Vec<Finding> {
    let mut findings = Vec::new();
    let registered = crate::config::schema::registered_names();
    let entries = match std::fs::read_dir(state.conf_d()) {
        Ok(entries) => entries,
        Err(e) => {
            findings.push(Finding::new(
                Severity::Error,
                "state dir",
                format!(
                    "cannot list `{}` ({e}): its files were not checked; run doctor as a user who can read it",
                    crate::output::shown_path(&state.conf_d())
                ),
            ));
            return findings;
        }
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        // A back-up, leftover or editor's copy of a secret brick's file
        // holds its secrets too: `database.old`, `database~`, `.database.swp`.
        if path.is_file()
            && !confd::shipped::holds_secrets(&name)
            && confd::shipped::holds_secrets(copy_of(&name))
        {
            findings.extend(secret_mode(&path));
        }
        if let Err(error) = std::fs::metadata(&path)
            && let Ok(target) = std::fs::read_link(&path)
        {
            let what = if error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                "which leads back to itself (a symlink loop)"
            } else {
                "which does not exist"
            };
            findings.push(Finding::new(
                Severity::Warning,
                "unrecognised files",
                format!(
                    "`{}` is a symlink to `{}`, {what}",
                    crate::output::shown_path(&path),
                    crate::output::shown_path(&target)
                ),
            ));
            continue;
        }
        let is_dir = path.is_dir();
        if is_dir
            && let Some(brick) = name.strip_suffix(".d")
            && BrickName::new(brick).is_ok()
        {
            findings.extend(hidden_from_vfs(&path));
            findings.extend(writable_by_others(&path, trusted));
            findings.extend(check_files_in(&path, brick, trusted));
            if !registered.iter().any(|r| r == brick) {
                findings.push(unrecognised(&path, brick, &registered, true));
            }
            continue;
        }
        if let Some(finding) = leftover(&path, &name) {
            findings.push(finding);
            continue;
        }
        if let Some(stem) = name.strip_suffix(".toml") {
            findings.push(Finding::new(
                Severity::Warning,
                "unrecognised files",
                format!(
                    "`{}` is ignored: main files have no extension (did you mean `{stem}`? drop-ins go in `{stem}.d/`)",
                    crate::output::shown_path(&path)
                ),
            ));
            continue;
        }
        if BrickName::new(&name).is_err() {
            findings.push(Finding::new(
                Severity::Warning,
                "unrecognised files",
                format!(
                    "`{}` is ignored: `{name}` is not a valid brick name",
                    crate::output::shown_path(&path)
                ),
            ));
            continue;
        }
        findings.extend(hidden_from_vfs(&path));
        findings.extend(writable_by_others(&path, trusted));
        if confd::shipped::holds_secrets(&name) {
            findings.extend(secret_mode(&path));
        }
        if !registered.contains(&name) {
            findings.push(unrecognised(&path, &name, &registered, false));
        }
    }
    findings
}

/// The brick file that `name` is a copy of, by the names seeding, atomic
/// writes and editors give copies (or `name` itself).
fn copy_of(name: &str) -> &str {
    if let Some(leftover) = confd::seed::Leftover::of_name(name) {
        return match leftover {
            confd::seed::Leftover::NewDefault { of }
            | confd::seed::Leftover::Replaced { of }
            | confd::seed::Leftover::InterruptedWrite { of } => of,
        };
    }
    let name = name.strip_suffix('~').unwrap_or(name);
    let name = name.strip_prefix(".#").unwrap_or(name);
    match name.strip_prefix('.').and_then(|n| n.strip_suffix(".swp")) {
        Some(swapped) => swapped,
        None => name,
    }
}

/// `.new` files and interrupted writes, wherever they are.
fn leftover(path: &Path, name: &str) -> Option<Finding> {
    let (severity, check, message) = match confd::seed::Leftover::of_name(name)? {
        confd::seed::Leftover::NewDefault { of } => (
            Severity::Warning,
            "pending upgrades",
            format!(
                "holds a newer shipped default than your edited `{of}`: merge what you want, then delete it"
            ),
        ),
        confd::seed::Leftover::Replaced { of } => (
            Severity::Note,
            "pending upgrades",
            format!(
                "is your earlier `{of}`, kept by `nexus config init --force`: delete it when you no longer need it"
            ),
        ),
        confd::seed::Leftover::InterruptedWrite { .. } => (
            Severity::Warning,
            "stale temporary files",
            "is left over from an interrupted write: delete it".to_owned(),
        ),
    };
    Some(Finding::new(
        severity,
        check,
        format!("`{}` {message}", crate::output::shown_path(path)),
    ))
}

fn check_files_in(dir: &Path, brick: &str, trusted: &Trusted) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return findings;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        // A back-up or leftover of a secret brick holds its secrets too.
        if confd::shipped::holds_secrets(brick) && path.is_file() {
            findings.extend(secret_mode(&path));
        }
        if name.ends_with(".old") {
            findings.push(Finding::new(
                Severity::Note,
                "unrecognised files",
                format!(
                    "`{}` is ignored (drop-ins end in `.toml`): delete it when you no longer need it",
                    crate::output::shown_path(&path)
                ),
            ));
        } else if let Some(finding) = leftover(&path, &name) {
            findings.push(finding);
        } else if confd::file::is_drop_in_name(name.as_bytes()) && path.is_file() {
            findings.extend(hidden_from_vfs(&path));
            findings.extend(writable_by_others(&path, trusted));
        } else if !name.starts_with('.') && !name.ends_with('~') && !name.ends_with(".swp") {
            findings.push(Finding::new(
                Severity::Warning,
                "unrecognised files",
                format!(
                    "`{}` is ignored: drop-ins are regular files named `*.toml`",
                    crate::output::shown_path(&path)
                ),
            ));
        }
    }
    findings
}

fn secret_mode(path: &Path) -> Option<Finding> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    // With a POSIX ACL the group bits are its mask, which grants the users
    // the ACL names on purpose: only `other` is judged, as `set` does.
    if rustix::fs::getxattr_query(path, "system.posix_acl_access").is_ok() {
        return (mode & 0o007 != 0).then(|| {
            Finding::new(
                Severity::Error,
                "secret file permissions",
                format!(
                    "`{}` holds secrets but is readable by others (mode {mode:04o}, with an ACL): run `chmod o-rwx {}`, and check `getfacl {}`",
                    crate::output::shown_path(path),
                    crate::output::shown_path(path),
                    crate::output::shown_path(path)
                ),
            )
        });
    }
    (mode & 0o077 != 0).then(|| {
        Finding::new(
            Severity::Error,
            "secret file permissions",
            format!(
                "`{}` holds secrets but is readable by group or others (mode {mode:04o}): run `chmod 600 {}`",
                crate::output::shown_path(path),
                crate::output::shown_path(path)
            ),
        )
    })
}

fn unrecognised(path: &Path, name: &str, registered: &[String], is_dir: bool) -> Finding {
    let what = if is_dir { "drop-ins for" } else { "a file for" };
    match confd::loader::suggest(name, registered) {
        Some(suggestion) => Finding::new(
            Severity::Warning,
            "unrecognised files",
            format!(
                "`{}` is {what} an unregistered brick `{name}` (did you mean `{suggestion}`?)",
                crate::output::shown_path(path)
            ),
        ),
        None => Finding::new(
            Severity::Note,
            "unrecognised files",
            format!(
                "`{}` is {what} the unregistered brick `{name}`: it loads with no defaults",
                crate::output::shown_path(path)
            ),
        ),
    }
}
