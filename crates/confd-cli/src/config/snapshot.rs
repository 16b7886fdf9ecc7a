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
    check_output(output, &loader.resolved_state_dir()?)?;
    let snapshot = confd::snapshot::take(&loader, &names, SnapshotOptions { no_secrets })?;
    let text = snapshot.to_toml();
    // What a guest can read back: a load refuses bigger files.
    if text.len() as u64 > confd::file::MAX_FILE_SIZE {
        return Err(Failure::Config(format!(
            "the snapshot would be {} bytes; a guest reads at most {} (snapshot fewer bricks at a time)",
            text.len(),
            confd::file::MAX_FILE_SIZE
        )));
    }
    let mode = if snapshot.holds_secrets() {
        confd::seed::SECRET_FILE_MODE
    } else {
        confd::seed::FILE_MODE
    };
    let bytes = if cpio {
        let mtime = match snapshot.snapshot.taken {
            None => 0,
            Some(t) => u32::try_from(t).map_err(|_| {
                Failure::Config(format!(
                    "`SOURCE_DATE_EPOCH` {t} is past what a cpio archive can date (2106)"
                ))
            })?,
        };
        confd::snapshot::to_cpio(&text, mode, mtime)
            .map_err(|e| Failure::Config(format!("cannot build the cpio archive: {e}")))?
    } else {
        text.into_bytes()
    };
    confd::atomic::write_output_file(output, &bytes, mode)
        .map_err(|e| Failure::Config(e.to_string()))?;
    let withheld: usize = snapshot.bricks.values().map(|b| b.withheld.len()).sum();
    let note = match (withheld, mode == confd::seed::SECRET_FILE_MODE) {
        (0, true) => ", secrets included: mode 0600".to_owned(),
        (0, false) => String::new(),
        (n, _) => format!(", {n} secret{} withheld", if n == 1 { "" } else { "s" }),
    };
    println!(
        "wrote {} ({} brick{}{note})",
        crate::output::shown_path(output),
        snapshot.bricks.len(),
        if snapshot.bricks.len() == 1 { "" } else { "s" },
    );
    Ok(())
}

/// Refuses an output that is not a file to replace or create (a device, a
/// FIFO, a dangling link would become a file full of secrets) or that lies
/// in the state dir's `etc`, where it would be read as a brick's file.
fn check_output(output: &Path, state: &confd::StateDir) -> Result<(), Failure> {
    let refuse = |why: &str| {
        Err(Failure::Config(format!(
            "cannot write the snapshot to `{}`: {why}",
            crate::output::shown_path(output)
        )))
    };
    match (std::fs::symlink_metadata(output), std::fs::metadata(output)) {
        (Err(_), _) => {}
        (Ok(link), Err(_)) if link.file_type().is_symlink() => {
            return refuse("it is a symlink to nothing");
        }
        (Ok(_), Ok(meta)) if !meta.is_file() => {
            return refuse("it is not a regular file (a snapshot replaces only a file)");
        }
        _ => {}
    }
    let resolve = |path: &Path| {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let dir = absolute.parent().map(Path::to_owned).unwrap_or_default();
        std::fs::canonicalize(&dir).unwrap_or(dir)
    };
    let etc = std::fs::canonicalize(state.etc_dir()).unwrap_or_else(|_| state.etc_dir());
    if resolve(output).starts_with(&etc) {
        return refuse("it is in the state dir's `etc`, which loads read as configuration");
    }
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
    /// A brick linked here that the snapshot does not hold: a guest loads
    /// its defaults.
    Absent,
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
        let status = if crate::config::schema::lookup(name).is_none() {
            Status::Unknown
        } else {
            match guest.load(name) {
                Err(e) => Status::Invalid(e.to_string()),
                Ok(_) => match host.load(name) {
                    Err(e) => Status::Stale(vec![format!("(the host's own load fails: {e})")]),
                    Ok(now) => {
                        let changed = changed_keys(&now, taken);
                        let hash_differs = taken
                            .hash
                            .as_ref()
                            .is_some_and(|h| *h != now.effective_hash().to_string());
                        if changed.is_empty() && !hash_differs {
                            Status::Current
                        } else {
                            Status::Stale(changed)
                        }
                    }
                },
            }
        };
        results.push((name.clone(), status));
    }
    for schema in confd::bricks::registered() {
        if !snapshot.bricks.contains_key(schema.name()) {
            results.push((schema.name().to_owned(), Status::Absent));
        }
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
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
                Status::Absent => json!({ "brick": name, "status": "absent" }),
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
                Status::Stale(keys) if keys.is_empty() => {
                    println!("stale    {name} (a withheld secret changed here since)");
                }
                Status::Stale(keys) => {
                    println!("stale    {name} (changed here since: {})", keys.join(", "));
                }
                Status::Unknown => {
                    println!("unknown  {name} (not a brick linked here: not checked)");
                }
                Status::Absent => {
                    println!("absent   {name} (not in the snapshot: a guest loads its defaults)");
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
    let host: Vec<(KeyPath, &toml::Value)> = confd::value::leaves(now.table());
    let snap: Vec<(KeyPath, &toml::Value)> = confd::value::leaves(&taken.values);
    for (key, value) in &host {
        if withheld.contains(key.to_string().as_str()) {
            continue;
        }
        if confd::layer::value_at(&taken.values, key) != Some(*value) {
            keys.insert(key.to_string());
        }
    }
    for (key, _) in &snap {
        if confd::layer::value_at(now.table(), key).is_none() {
            keys.insert(key.to_string());
        }
    }
    keys.into_iter().collect()
}

/// `doctor` in a guest: its loads read the snapshot, not conf.d, so the
/// snapshot is what is checked (readable, intact, every brick loading).
pub(crate) fn doctor(global: &Global, file: &Path) -> Result<(), Failure> {
    let snapshot = Snapshot::read(file).map_err(|e| Failure::Config(e.to_string()))?;
    let loader = global.loader();
    let mut problems = 0;
    for name in snapshot.bricks.keys() {
        if let Err(e) = loader.load(name) {
            problems += 1;
            crate::output::error(&e.to_string());
        }
    }
    let shown = crate::output::shown_path(file);
    if global.format == Format::Json {
        println!(
            "{:#}",
            json!({ "ok": problems == 0, "snapshot": file.display().to_string(),
                    "bricks": snapshot.bricks.len(), "invalid": problems })
        );
    } else if problems == 0 {
        println!(
            "ok       snapshot `{shown}` ({} bricks; conf.d is not read)",
            snapshot.bricks.len()
        );
    } else {
        println!(
            "problem  snapshot `{shown}` ({problems} of {} bricks do not load)",
            snapshot.bricks.len()
        );
    }
    if problems > 0 {
        Err(Failure::Silent)
    } else {
        Ok(())
    }
}
