//! `nexus config validate` and `nexus config doctor`: find every problem, not
//! just the first, and say how to fix each.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use confd::{BrickName, StateDir, Warning};
use serde_json::{Value as Json, json};

use crate::{Failure, Format, Global};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Severity {
    /// Makes the command exit 1.
    Error,
    /// Worth fixing; fails `doctor` (and `validate --strict` turns the
    /// underlying unknown keys into errors).
    Warning,
    /// For information only.
    Note,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// One finding, with where it points when it points somewhere.
struct Finding {
    severity: Severity,
    check: &'static str,
    message: String,
    brick: Option<String>,
    key: Option<String>,
    position: Option<(String, u32, u32)>,
}

impl Finding {
    fn new(severity: Severity, check: &'static str, message: String) -> Self {
        Finding {
            severity,
            check,
            message,
            brick: None,
            key: None,
            position: None,
        }
    }

    fn from_error(brick: &str, error: &confd::Error) -> Self {
        Finding {
            severity: Severity::Error,
            check: "configuration",
            message: error.to_string(),
            brick: Some(brick.to_owned()),
            key: error.key().map(str::to_owned),
            position: error
                .position()
                .map(|(path, line, column)| (path.display().to_string(), line, column)),
        }
    }

    fn from_warning(brick: &str, warning: &Warning) -> Self {
        let (check, key, position) = match warning {
            Warning::UnknownKey { key, origin, .. } => (
                "unknown keys",
                Some(key.clone()),
                match origin {
                    confd::Origin::File {
                        path, line, column, ..
                    } => Some((path.display().to_string(), *line, *column)),
                    _ => None,
                },
            ),
            Warning::Deprecated { key, .. } => ("deprecated environment", Some(key.clone()), None),
            _ => ("configuration", None, None),
        };
        Finding {
            severity: Severity::Warning,
            check,
            message: warning.to_string(),
            brick: Some(brick.to_owned()),
            key,
            position,
        }
    }

    fn to_json(&self) -> Json {
        let mut object = json!({
            "severity": self.severity.as_str(),
            "check": self.check,
            "message": self.message,
            "brick": self.brick,
            "key": self.key,
        });
        if let Some((path, line, column)) = &self.position {
            object["path"] = json!(path);
            object["line"] = json!(line);
            object["column"] = json!(column);
        }
        object
    }
}

/// The bricks present in `conf.d` (as `NAME` or `NAME.d`) plus the registered ones.
fn all_bricks(state: &StateDir) -> Vec<BrickName> {
    let mut names: Vec<String> = confd::bricks::registered()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    if let Ok(entries) = std::fs::read_dir(state.conf_d()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".d").unwrap_or(&name).to_owned();
            if BrickName::new(&stem).is_ok() {
                names.push(stem);
            }
        }
    }
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| BrickName::new(&n).ok())
        .collect()
}

/// Loads each brick and turns its errors and warnings into findings.
fn check_bricks(global: &Global, bricks: &[BrickName]) -> Vec<(String, Vec<Finding>)> {
    bricks
        .iter()
        .map(|brick| {
            let findings = match global.loader().load(brick.as_str()) {
                Ok(config) => config
                    .warnings()
                    .iter()
                    .map(|w| Finding::from_warning(brick.as_str(), w))
                    .collect(),
                Err(error) => error
                    .problems()
                    .into_iter()
                    .map(|e| Finding::from_error(brick.as_str(), e))
                    .collect(),
            };
            (brick.to_string(), findings)
        })
        .collect()
}

fn print_finding(finding: &Finding) {
    match finding.severity {
        Severity::Error => crate::output::error(&finding.message),
        Severity::Warning => crate::output::warning(&finding.message),
        Severity::Note => eprintln!("note: {}", finding.message),
    }
}

pub(crate) fn validate(global: &Global, requested: &[BrickName]) -> Result<(), Failure> {
    let state = global.loader().resolved_state_dir()?;
    let bricks = if requested.is_empty() {
        all_bricks(&state)
    } else {
        requested.to_vec()
    };
    let results = check_bricks(global, &bricks);
    let invalid = results
        .iter()
        .filter(|(_, f)| f.iter().any(|f| f.severity == Severity::Error))
        .count();
    match global.format {
        Format::Text => {
            for (brick, findings) in &results {
                let errors = findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error)
                    .count();
                if errors == 0 {
                    println!("ok       {brick}");
                } else {
                    println!(
                        "invalid  {brick} ({errors} problem{})",
                        if errors == 1 { "" } else { "s" }
                    );
                }
                findings.iter().for_each(print_finding);
            }
            println!("{} bricks checked, {invalid} invalid", results.len());
        }
        Format::Json => {
            let bricks: Vec<Json> = results
                .iter()
                .map(|(brick, findings)| {
                    json!({
                        "brick": brick,
                        "valid": !findings.iter().any(|f| f.severity == Severity::Error),
                        "diagnostics": findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            println!("{:#}", json!({ "valid": invalid == 0, "bricks": bricks }));
        }
    }
    if invalid > 0 {
        Err(Failure::Silent)
    } else {
        Ok(())
    }
}

pub(crate) fn doctor(global: &Global) -> Result<(), Failure> {
    let state = global.loader().resolved_state_dir()?;
    let mut findings = check_state_dir(&state);
    if state.conf_d().is_dir() {
        findings.extend(check_conf_d(&state));
        let bricks = all_bricks(&state);
        findings.extend(
            check_bricks(global, &bricks)
                .into_iter()
                .flat_map(|(_, f)| f),
        );
    }
    let failing = findings
        .iter()
        .filter(|f| f.severity != Severity::Note)
        .count();
    match global.format {
        Format::Text => {
            for check in CHECKS {
                let mine: Vec<&Finding> = findings.iter().filter(|f| f.check == *check).collect();
                let bad = mine.iter().filter(|f| f.severity != Severity::Note).count();
                println!("{:<8} {check}", if bad == 0 { "ok" } else { "problem" });
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
                    json!({ "check": check, "findings": mine })
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
];

fn check_state_dir(state: &StateDir) -> Vec<Finding> {
    let mut findings = Vec::new();
    for dir in [state.root().to_owned(), state.etc_dir(), state.conf_d()] {
        match std::fs::metadata(&dir) {
            Err(_) => {
                findings.push(Finding::new(
                    Severity::Error,
                    "state dir",
                    format!(
                        "`{}` does not exist: run `nexus config init`",
                        dir.display()
                    ),
                ));
                break;
            }
            Ok(m) if !m.is_dir() => findings.push(Finding::new(
                Severity::Error,
                "state dir",
                format!("`{}` is not a directory", dir.display()),
            )),
            Ok(_) => findings.extend(writable_by_others(&dir)),
        }
    }
    findings.extend(hidden_from_vfs(&state.conf_d()));
    // Whoever may rename an entry above the state dir may swap the whole
    // tree; a sticky directory (`/tmp`) lets nobody rename another's entry.
    for ancestor in state.root().ancestors().skip(1) {
        if let Ok(meta) = std::fs::metadata(ancestor)
            && meta.permissions().mode() & 0o1002 == 0o002
        {
            findings.push(Finding::new(
                Severity::Error,
                "writable by others",
                format!(
                    "`{}`, above the state dir, is writable by everyone and not sticky, so anyone can replace the state dir: run `chmod o-w {}` (or `chmod +t`)",
                    ancestor.display(),
                    ancestor.display()
                ),
            ));
        }
    }
    // What seeding and the VFS keep: the record decides upgrades, the lock
    // orders writers, the store holds the VFS's view of /etc.
    let var_lib = state.var_lib();
    for path in [
        var_lib.clone(),
        var_lib.join("confd"),
        var_lib.join("confd/seeded.toml"),
        var_lib.join("confd/lock"),
        var_lib.join("vfs"),
        var_lib.join("vfs/vfs-meta.redb"),
    ] {
        findings.extend(writable_by_others(&path));
    }
    findings
}

/// A directory or file of the configuration that others may change: anyone
/// (or any member of its group) could then redirect `database.url`, or drop
/// in a file of their own. A symlink is judged by its target, and so is the
/// directory holding the target, where the target can be replaced.
fn writable_by_others(path: &Path) -> Vec<Finding> {
    let mut judged = vec![path.to_owned()];
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && let Some(dir) = std::fs::canonicalize(path)
            .ok()
            .and_then(|target| target.parent().map(Path::to_owned))
    {
        judged.push(dir);
    }
    judged
        .into_iter()
        .filter_map(|path| {
            let mode = std::fs::metadata(&path).ok()?.permissions().mode() & 0o7777;
            let (severity, who, so) = if mode & 0o002 != 0 {
                (Severity::Error, "everyone", "anyone")
            } else if mode & 0o020 != 0 {
                (Severity::Warning, "its group", "every member of the group")
            } else {
                return None;
            };
            Some(Finding::new(
                severity,
                "writable by others",
                format!(
                    "`{}` is writable by {who} (mode {mode:04o}), so {so} can change the configuration: run `chmod go-w {}`",
                    path.display(),
                    path.display()
                ),
            ))
        })
        .collect()
}

/// A symlink under `$STATE/etc`: bricks follow it, but the VFS never follows
/// a symlink, so what it points to is missing from `/etc` there.
fn hidden_from_vfs(path: &Path) -> Option<Finding> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.file_type().is_symlink().then(|| {
        Finding::new(
            Severity::Warning,
            "hidden from the vfs",
            format!(
                "`{}` is a symlink: bricks read through it, but the VFS does not follow symlinks, so `/etc` in the VFS will not show it (replace it with the file or directory itself)",
                path.display()
            ),
        )
    })
}

fn check_conf_d(state: &StateDir) -> Vec<Finding> {
    let mut findings = Vec::new();
    let registered: Vec<String> = confd::bricks::registered()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    let entries = match std::fs::read_dir(state.conf_d()) {
        Ok(entries) => entries,
        Err(e) => {
            findings.push(Finding::new(
                Severity::Error,
                "state dir",
                format!(
                    "cannot list `{}` ({e}): its files were not checked; run doctor as a user who can read it",
                    state.conf_d().display()
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
        if path.is_file() && !confd::holds_secrets(&name) && confd::holds_secrets(copy_of(&name)) {
            findings.extend(secret_mode(&path));
        }
        if std::fs::metadata(&path).is_err()
            && let Ok(target) = std::fs::read_link(&path)
        {
            findings.push(Finding::new(
                Severity::Warning,
                "unrecognised files",
                format!(
                    "`{}` is a symlink to `{}`, which does not exist",
                    path.display(),
                    target.display()
                ),
            ));
            continue;
        }
        let is_dir = path.is_dir();
        if is_dir && let Some(brick) = name.strip_suffix(".d") {
            findings.extend(hidden_from_vfs(&path));
            findings.extend(writable_by_others(&path));
            findings.extend(check_files_in(&path, brick));
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
                    path.display()
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
                    path.display()
                ),
            ));
            continue;
        }
        findings.extend(hidden_from_vfs(&path));
        findings.extend(writable_by_others(&path));
        if confd::holds_secrets(&name) {
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
    if let Some(leftover) = confd::Leftover::of_name(name) {
        return match leftover {
            confd::Leftover::NewDefault { of }
            | confd::Leftover::Replaced { of }
            | confd::Leftover::InterruptedWrite { of } => of,
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
    let (severity, check, message) = match confd::Leftover::of_name(name)? {
        confd::Leftover::NewDefault { of } => (
            Severity::Warning,
            "pending upgrades",
            format!(
                "holds a newer shipped default than your edited `{of}`: merge what you want, then delete it"
            ),
        ),
        confd::Leftover::Replaced { of } => (
            Severity::Note,
            "pending upgrades",
            format!(
                "is your earlier `{of}`, kept by `nexus config init --force`: delete it when you no longer need it"
            ),
        ),
        confd::Leftover::InterruptedWrite { .. } => (
            Severity::Warning,
            "stale temporary files",
            "is left over from an interrupted write: delete it".to_owned(),
        ),
    };
    Some(Finding::new(
        severity,
        check,
        format!("`{}` {message}", path.display()),
    ))
}

fn check_files_in(dir: &Path, brick: &str) -> Vec<Finding> {
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
        if confd::holds_secrets(brick) && path.is_file() {
            findings.extend(secret_mode(&path));
        }
        if name.ends_with(".old") {
            findings.push(Finding::new(
                Severity::Note,
                "unrecognised files",
                format!(
                    "`{}` is ignored (drop-ins end in `.toml`): delete it when you no longer need it",
                    path.display()
                ),
            ));
        } else if let Some(finding) = leftover(&path, &name) {
            findings.push(finding);
        } else if confd::is_drop_in_name(name.as_bytes()) && path.is_file() {
            findings.extend(hidden_from_vfs(&path));
            findings.extend(writable_by_others(&path));
        } else if !name.starts_with('.') && !name.ends_with('~') && !name.ends_with(".swp") {
            findings.push(Finding::new(
                Severity::Warning,
                "unrecognised files",
                format!(
                    "`{}` is ignored: drop-ins are regular files named `*.toml`",
                    path.display()
                ),
            ));
        }
    }
    findings
}

fn secret_mode(path: &Path) -> Option<Finding> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then(|| {
        Finding::new(
            Severity::Error,
            "secret file permissions",
            format!(
                "`{}` holds secrets but is readable by group or others (mode {mode:04o}): run `chmod 600 {}`",
                path.display(),
                path.display()
            ),
        )
    })
}

fn unrecognised(path: &Path, name: &str, registered: &[String], is_dir: bool) -> Finding {
    let what = if is_dir { "drop-ins for" } else { "a file for" };
    match confd::suggest(name, registered) {
        Some(suggestion) => Finding::new(
            Severity::Warning,
            "unrecognised files",
            format!(
                "`{}` is {what} an unregistered brick `{name}` (did you mean `{suggestion}`?)",
                path.display()
            ),
        ),
        None => Finding::new(
            Severity::Note,
            "unrecognised files",
            format!(
                "`{}` is {what} the unregistered brick `{name}`: it loads with no defaults",
                path.display()
            ),
        ),
    }
}
