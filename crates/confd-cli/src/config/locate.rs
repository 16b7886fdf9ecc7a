//! `nexus config diff` and `nexus config path`.

use confd::{BrickName, state_dir::StateDirSource};
use serde_json::json;

use crate::{Failure, Format, Global};

pub(crate) fn diff(global: &Global, brick: &BrickName) -> Result<(), Failure> {
    let shipped = confd::shipped::shipped_file(brick.as_str()).ok_or_else(|| {
        // A brick known from its installed schema has keys but not the file
        // its own binary ships (the schema keeps no declaration order).
        let why = if crate::config::schema::lookup(brick.as_str()).is_some() {
            "this binary does not link it; it is known from its installed schema"
        } else {
            "it is not a registered brick"
        };
        Failure::Usage(format!(
            "`{brick}` has no shipped default to compare with ({why})"
        ))
    })?;
    let state = global.loader().resolved_state_dir()?;
    let path = state.main_file(brick);
    let (current, label) = match confd::file::read_config_file(&path)? {
        Some(text) => (text, path.display().to_string()),
        None => (
            String::new(),
            format!("{} (missing)", crate::output::shown_path(&path)),
        ),
    };
    let current = redact_secrets(brick, &path, &current);
    let diff = similar::TextDiff::from_lines(shipped.contents, &current);
    let changed = diff.ratio() < 1.0;
    match global.format {
        Format::Text => {
            if changed {
                let shipped_label = format!("shipped/{brick}");
                print!(
                    "{}",
                    diff.unified_diff()
                        .context_radius(3)
                        .header(&shipped_label, &label)
                );
            }
        }
        Format::Json => {
            let unified = diff
                .unified_diff()
                .context_radius(3)
                .header(&format!("shipped/{brick}"), &label)
                .to_string();
            println!(
                "{:#}",
                json!({ "brick": brick.as_str(), "path": path.display().to_string(), "differs": changed, "diff": unified })
            );
        }
    }
    Ok(())
}

/// `text` with every secret hidden, as `show` hides it: a diff of
/// `conf.d/llm` must not print the API key, whether in a value, over the
/// lines of a multi-line string, or in a commented-out old line
/// (`confd::secret::redact_file_text`). An empty secret stays visible.
pub(crate) fn redact_secrets(brick: &BrickName, path: &std::path::Path, text: &str) -> String {
    let Some(schema) = crate::config::schema::lookup(brick.as_str()) else {
        return text.to_owned();
    };
    let shown = confd::secret::redact_file_text(text, schema);
    if !shown.parsed {
        crate::output::warning(&format!(
            "`{}` is not valid TOML, so every value in it is hidden: see `nexus config validate {brick}`",
            path.display()
        ));
    }
    shown.text
}

pub(crate) fn path(global: &Global) -> Result<(), Failure> {
    let state = global.loader().resolved_state_dir()?;
    let source = match state.source() {
        StateDirSource::Explicit => "--state-dir",
        StateDirSource::Env => "env NEXUS_STATE_DIR",
        StateDirSource::Default => "default (~/.nexus)",
    };
    let mut rows = vec![
        ("state dir", state.root().to_owned()),
        ("etc", state.etc_dir()),
        ("conf.d", state.conf_d()),
        ("metastore", state.vfs_metastore()),
    ];
    // A guest's loads read the snapshot in place of conf.d.
    if let Some(snapshot) = global.loader().resolved_snapshot()? {
        rows.push(("snapshot", snapshot));
    }
    match global.format {
        Format::Text => {
            for (name, path) in &rows {
                println!("{name:<10} {}", crate::output::shown_path(path));
            }
            println!("(state dir from {source})");
            if rows.iter().any(|(name, _)| *name == "snapshot") {
                println!(
                    "(loads read the snapshot, from NEXUS_CONFIG_SNAPSHOT, in place of conf.d)"
                );
            }
        }
        Format::Json => {
            let mut object = serde_json::Map::new();
            for (name, path) in &rows {
                object.insert(
                    name.replace(['.', ' '], "_"),
                    json!(path.display().to_string()),
                );
            }
            object.insert("source".into(), json!(source));
            println!("{:#}", serde_json::Value::Object(object));
        }
    }
    Ok(())
}
