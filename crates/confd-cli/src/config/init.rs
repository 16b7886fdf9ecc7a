//! `nexus config init [--force] [--dry-run]`: seed and upgrade conf.d, one
//! line per shipped file, then install every registered brick's JSON Schema
//! in `share/confd/schema`, one line per schema file.

use std::fmt::Write as _;

use confd::{seed::SeedAction, seed::SeedReport};

use crate::output::shown_path;
use crate::{Failure, Format, Global};

pub(crate) fn init(global: &Global, force: bool, dry_run: bool) -> Result<(), Failure> {
    let state = global.loader().resolved_state_dir()?;
    // Seeding waits for the state dir's lock: say so rather than hang mute.
    if !dry_run
        && confd::seed::try_lock_state(state.root())
            .map_err(|e| Failure::Config(e.to_string()))?
            .is_none()
    {
        super::say_waiting(state.root());
    }
    let report = confd::seed::Seeder::new(state.root())
        .force(force)
        .dry_run(dry_run)
        .run()
        .map_err(|e| Failure::Config(e.to_string()))?;
    let schemas = confd::install::install_schemas(&state, confd::bricks::registered(), dry_run)
        .map_err(|e| Failure::Config(e.to_string()))?;
    match global.format {
        Format::Text => {
            print!("{}", text(&report));
            print!("{}", text(&schemas));
            if !report.dry_run {
                for warning in warnings(&report) {
                    crate::output::warning(&warning);
                }
            }
        }
        Format::Json => {
            let mut doc = json(&report);
            let schemas = json(&schemas);
            doc["schemas"] = schemas["files"].clone();
            if let (Some(all), Some(more)) =
                (doc["removed"].as_array_mut(), schemas["removed"].as_array())
            {
                all.extend(more.iter().cloned());
            }
            println!("{doc}");
        }
    }
    Ok(())
}

/// One line per file (`created  PATH`…), then one per stale temporary file
/// removed; each prefixed by `would: ` in a dry run.
fn text(report: &SeedReport) -> String {
    let prefix = if report.dry_run { "would: " } else { "" };
    let mut out = String::new();
    for (path, action) in &report.files {
        let side = action.side_file(path);
        let side = side.as_deref().map(shown_path);
        let path = shown_path(path);
        let line = match (action, side) {
            (SeedAction::Kept, Some(new)) => {
                format!("kept     {path} (edited; new default written to {new})")
            }
            (SeedAction::Forced, Some(old)) => format!("forced   {path} (yours kept as {old})"),
            (SeedAction::DeletedByUser, _) => format!("deleted by user {path} (not recreated)"),
            (SeedAction::NotSeeded, _) => format!("kept     {path} (not written by seeding)"),
            (action, _) => format!("{:<8} {path}", action.as_str()),
        };
        let _ = writeln!(out, "{prefix}{line}");
    }
    for path in &report.removed {
        let _ = writeln!(
            out,
            "{prefix}removed  {} (stale temporary file)",
            shown_path(path)
        );
    }
    out
}

/// A warning for each edited file kept beside a new default.
fn warnings(report: &SeedReport) -> Vec<String> {
    report
        .files
        .iter()
        .filter_map(|(path, action)| {
            let new = action.side_file(path).filter(|_| *action == SeedAction::Kept)?;
            Some(format!(
                "kept your edited `{}`; the new shipped default is in `{}`: merge what you want, then delete it",
                shown_path(path),
                shown_path(&new)
            ))
        })
        .collect()
}

/// One document: `{"dry_run": …, "files": [{"name", "path", "action", "new"|"old"}], "removed": […]}`
/// (`init` adds `"schemas"`, entries like `files`').
fn json(report: &SeedReport) -> serde_json::Value {
    let files: Vec<_> = report
        .files
        .iter()
        .map(|(path, action)| {
            let mut file = serde_json::json!({
                "name": path.file_name().map(|n| n.to_string_lossy()),
                "path": path.display().to_string(),
                "action": action.as_str(),
            });
            if let Some(side) = action.side_file(path) {
                let key = if *action == SeedAction::Kept {
                    "new"
                } else {
                    "old"
                };
                file[key] = serde_json::json!(side.display().to_string());
            }
            file
        })
        .collect();
    let removed: Vec<_> = report
        .removed
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    serde_json::json!({ "dry_run": report.dry_run, "files": files, "removed": removed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn report(dry_run: bool) -> SeedReport {
        let path = |name: &str| PathBuf::from("/s/etc/conf.d").join(name);
        SeedReport {
            files: vec![
                (path("a"), SeedAction::Created),
                (path("b"), SeedAction::Unchanged),
                (path("c"), SeedAction::Upgraded),
                (path("d"), SeedAction::Kept),
                (path("e"), SeedAction::DeletedByUser),
                (path("f"), SeedAction::Forced),
                (path("g"), SeedAction::NotSeeded),
            ],
            removed: vec![path(".a.XyZ123.tmp")],
            dry_run,
        }
    }

    #[test]
    fn every_action_has_its_line() {
        insta::assert_snapshot!(text(&report(false)), @r"
        created  /s/etc/conf.d/a
        unchanged /s/etc/conf.d/b
        upgraded /s/etc/conf.d/c
        kept     /s/etc/conf.d/d (edited; new default written to /s/etc/conf.d/d.new)
        deleted by user /s/etc/conf.d/e (not recreated)
        forced   /s/etc/conf.d/f (yours kept as /s/etc/conf.d/f.old)
        kept     /s/etc/conf.d/g (not written by seeding)
        removed  /s/etc/conf.d/.a.XyZ123.tmp (stale temporary file)
        ");
        assert!(
            text(&report(true))
                .lines()
                .all(|l| l.starts_with("would: "))
        );
        assert_eq!(warnings(&report(false)).len(), 1);
    }

    #[test]
    fn json_names_each_file_its_action_and_side_file() {
        let doc = json(&report(false));
        let files = doc["files"].as_array().expect("files");
        assert_eq!(files.len(), 7);
        assert_eq!(files[3]["action"], "kept");
        assert_eq!(files[3]["new"], "/s/etc/conf.d/d.new");
        assert_eq!(files[4]["action"], "deleted-by-user");
        assert_eq!(files[5]["old"], "/s/etc/conf.d/f.old");
        assert_eq!(doc["removed"][0], "/s/etc/conf.d/.a.XyZ123.tmp");
        assert_eq!(doc["dry_run"], false);
    }
}
