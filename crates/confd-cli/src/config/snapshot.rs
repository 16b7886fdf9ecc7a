//! `nexus config snapshot`: every brick's effective configuration in one file
//! that a sandbox, container or VM loads in place of `$STATE/etc`, and
//! `--check`, which tells a guest about to run stale configuration.

use std::collections::BTreeSet;
use std::path::Path;

use confd::snapshot::{Snapshot, SnapshotOptions};
use confd::{BrickName, KeyPath};
use serde_json::json;

use crate::{Failure, Format, FormatArg, Global};

/// Takes the snapshot of `bricks` (every registered brick when empty) and
/// writes it to `output` atomically: 0600 when it holds a secret value.
pub(crate) fn write(
    global: &Global,
    bricks: &[BrickName],
    output: &Path,
    no_secrets: bool,
) -> Result<(), Failure> {
    let cpio = match global.format_arg {
        FormatArg::Text | FormatArg::Toml => false,
        FormatArg::Cpio => true,
        FormatArg::Json => {
            return Err(Failure::Usage(
                "a snapshot is written as `--format toml` (the default) or `--format cpio`"
                    .to_owned(),
            ));
        }
    };
    let names: Vec<String> = if bricks.is_empty() {
        confd::bricks::registered()
            .iter()
            .map(|s| s.name().to_owned())
            .collect()
    } else {
        bricks.iter().map(ToString::to_string).collect()
    };
    let loader = global.loader();
    let snapshot = confd::snapshot::take(&loader, &names, SnapshotOptions { no_secrets })?;
    let text = snapshot.to_toml();
    let mode = if snapshot.holds_secrets() {
        confd::SECRET_FILE_MODE
    } else {
        confd::FILE_MODE
    };
    let bytes = if cpio {
        let mtime = snapshot
            .snapshot
            .taken
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(0);
        confd::snapshot::to_cpio(&text, mode, mtime)
            .map_err(|e| Failure::Config(format!("cannot build the cpio archive: {e}")))?
    } else {
        text.into_bytes()
    };
    confd::replace_file(output, &bytes, mode).map_err(|e| Failure::Config(e.to_string()))?;
    let withheld: usize = snapshot.bricks.values().map(|b| b.withheld.len()).sum();
    let note = match (withheld, mode == confd::SECRET_FILE_MODE) {
        (0, true) => ", secrets included: mode 0600".to_owned(),
        (0, false) => String::new(),
        (n, _) => format!(", {n} secret{} withheld", if n == 1 { "" } else { "s" }),
    };
    if global.format == Format::Json {
        unreachable!("refused above");
    }
    println!(
        "wrote {} ({} brick{}{note})",
        crate::output::shown_path(output),
        snapshot.bricks.len(),
        if snapshot.bricks.len() == 1 { "" } else { "s" },
    );
    Ok(())
}

/// How one brick of a snapshot compares with what this host has.
enum Status {
    /// Valid, and what the host would load now.
    Current,
    /// Valid, but the host's configuration has changed since: these keys.
    Stale(Vec<String>),
    /// Not a brick linked here: its values could not be checked.
    Unknown,
    /// Its values do not load (a type, a rule across keys).
    Invalid(String),
}

/// Checks the snapshot at `file`: that it reads, that every brick linked
/// here loads from it, and what differs from this host's configuration now.
pub(crate) fn check(global: &Global, file: &Path) -> Result<(), Failure> {
    let snapshot = Snapshot::read(file).map_err(|e| Failure::Config(e.to_string()))?;
    let host = global.loader();
    // The guest's view: the snapshot alone, with no environment of its own.
    let guest = confd::Loader::new()
        .state_dir(host.resolved_state_dir()?.root())
        .env(Vec::<(String, String)>::new())
        .snapshot(file)
        .cache(false);
    let mut results = Vec::new();
    for (name, taken) in &snapshot.bricks {
        let status = if confd::bricks::lookup(name).is_none() {
            Status::Unknown
        } else {
            match guest.load(name) {
                Err(e) => Status::Invalid(e.to_string()),
                Ok(_) => match host.load(name) {
                    Err(e) => Status::Stale(vec![format!("(the host's own load fails: {e})")]),
                    Ok(now) if now.effective_hash().to_string() == taken.hash => Status::Current,
                    Ok(now) => Status::Stale(changed_keys(&now, taken)),
                },
            }
        };
        results.push((name.clone(), status));
    }
    let invalid = results
        .iter()
        .filter(|(_, s)| matches!(s, Status::Invalid(_)))
        .count();
    let stale = results
        .iter()
        .filter(|(_, s)| matches!(s, Status::Stale(_)))
        .count();
    if global.format == Format::Json {
        let bricks: Vec<serde_json::Value> = results
            .iter()
            .map(|(name, status)| match status {
                Status::Current => json!({ "brick": name, "status": "current" }),
                Status::Stale(keys) => json!({ "brick": name, "status": "stale", "changed": keys }),
                Status::Unknown => json!({ "brick": name, "status": "unknown" }),
                Status::Invalid(e) => json!({ "brick": name, "status": "invalid", "error": e }),
            })
            .collect();
        println!(
            "{:#}",
            json!({ "valid": invalid == 0, "stale": stale, "bricks": bricks })
        );
    } else {
        for (name, status) in &results {
            match status {
                Status::Current => println!("current  {name}"),
                Status::Stale(keys) => {
                    println!("stale    {name} (changed here since: {})", keys.join(", "))
                }
                Status::Unknown => {
                    println!("unknown  {name} (not a brick linked here: not checked)")
                }
                Status::Invalid(e) => {
                    println!("invalid  {name}");
                    crate::output::error(e);
                }
            }
        }
        println!(
            "{} bricks checked, {invalid} invalid, {stale} stale",
            results.len()
        );
        if stale > 0 {
            crate::output::warning(&format!(
                "a guest started with `{}` would run configuration this host has changed since",
                crate::output::shown_path(file)
            ));
        }
    }
    if invalid > 0 {
        Err(Failure::Silent)
    } else {
        Ok(())
    }
}

/// The keys whose values differ between the host's configuration now and
/// the snapshot (a key withheld from it is not compared). Keys only, never
/// values: they may be secrets.
fn changed_keys(now: &confd::BrickConfig, taken: &confd::snapshot::BrickSnapshot) -> Vec<String> {
    let withheld: BTreeSet<&str> = taken.withheld.iter().map(String::as_str).collect();
    let mut keys: BTreeSet<String> = BTreeSet::new();
    let host: Vec<(KeyPath, &toml::Value)> = confd::leaves(now.table());
    let snap: Vec<(KeyPath, &toml::Value)> = confd::leaves(&taken.values);
    for (key, value) in &host {
        if withheld.contains(key.to_string().as_str()) {
            continue;
        }
        if confd::value_at(&taken.values, key) != Some(*value) {
            keys.insert(key.to_string());
        }
    }
    for (key, _) in &snap {
        if confd::value_at(now.table(), key).is_none() {
            keys.insert(key.to_string());
        }
    }
    keys.into_iter().collect()
}
