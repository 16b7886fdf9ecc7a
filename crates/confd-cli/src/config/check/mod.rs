//! `nexus config validate` and `nexus config doctor`: find every problem, not
//! just the first, and say how to fix each. The findings and the brick
//! checks both use are here; doctor's checks of the tree are in `doctor`.

use confd::{BrickName, StateDir, Warning};
use serde_json::{Value as Json, json};

use crate::{Failure, Format, Global};

mod doctor;
mod vfs_policy;

pub(crate) use doctor::doctor;

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
    /// Whether the problem is in the command line (a bad `--set`).
    usage: bool,
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
            usage: false,
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
            usage: error.is_usage(),
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
            usage: false,
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
    let mut names = crate::config::schema::registered_names();
    if let Ok(entries) = std::fs::read_dir(state.conf_d()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".d").unwrap_or(&name).to_owned();
            if BrickName::new(&stem).is_ok() {
                names.push(stem);
            }
        }
    }
    // A brick this binary does not link is known by its installed schema.
    if let Ok(entries) = std::fs::read_dir(state.schema_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".json")
                && BrickName::new(stem).is_ok()
            {
                names.push(stem.to_owned());
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
            let mut findings: Vec<Finding> = match global.loader().load(brick.as_str()) {
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
            let schema = super::schema::lookup(brick.as_str());
            if let Some(problem) = schema
                .is_none()
                .then(|| super::schema::installed_problem(global, brick))
                .flatten()
            {
                let mut finding = Finding::new(Severity::Warning, "schema", problem);
                finding.brick = Some(brick.to_string());
                findings.push(finding);
            }
            if schema.is_some_and(super::schema::rules_unchecked) {
                let mut finding = Finding::new(
                    Severity::Note,
                    "rules",
                    format!(
                        "`{brick}`: rules across keys were not checked: this binary does not link the brick, which is known from its installed schema"
                    ),
                );
                finding.brick = Some(brick.to_string());
                findings.push(finding);
            }
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
    let errors = || {
        results
            .iter()
            .flat_map(|(_, f)| f)
            .filter(|f| f.severity == Severity::Error)
    };
    if invalid == 0 {
        Ok(())
    } else if errors().all(|f| f.usage) {
        Err(Failure::SilentUsage)
    } else {
        Err(Failure::Silent)
    }
}
