//! `nexus fleet show|get|diff|status`.

use confd::{BrickName, Precedence};
use serde_json::json;
use toml::Value;

use super::{checked_node, connect, fleet_config, fleet_texts, load_fleet_only};
use crate::config::BrickKey;
use crate::output::{json_origin, json_value, toml_document};
use crate::{Failure, Format, Global};

/// `nexus fleet show BRICK [--node NODE]`: the text as stored.
pub(crate) fn show(
    global: &Global,
    brick: &BrickName,
    node: Option<&str>,
    show_secrets: bool,
) -> Result<(), Failure> {
    let node = checked_node(node)?;
    let config = fleet_config(global)?;
    let key = confd_fleet::keys::key_for(&config, node, brick);
    let client = connect(&config)?;
    let (_, entry) = client
        .get(&key)
        .map_err(|e| Failure::Config(e.to_string()))?;
    let Some(entry) = entry else {
        return Err(Failure::Config(format!("`{key}` is not set in the fleet")));
    };
    let text = String::from_utf8(entry.value).map_err(|_| {
        Failure::Config(format!(
            "etcd key `{key}`@{} is not UTF-8 text",
            entry.mod_revision
        ))
    })?;
    let text = match confd::bricks::lookup(brick.as_str()) {
        Some(schema) if !show_secrets => confd::secret::redact_file_text(&text, schema).text,
        _ => text,
    };
    match global.format {
        Format::Text => print!("{text}"),
        Format::Json => println!(
            "{:#}",
            json!({
                "brick": brick.as_str(),
                "key": key,
                "revision": entry.mod_revision,
                "text": text,
            })
        ),
    }
    Ok(())
}

/// The fleet's view of `brick` for `node` (default: this host's).
fn fleet_view(
    global: &Global,
    brick: &BrickName,
    node: Option<&str>,
) -> Result<confd::BrickConfig, Failure> {
    let node = checked_node(node)?;
    let config = fleet_config(global)?;
    let node = node.unwrap_or(&config.node).to_owned();
    let client = connect(&config)?;
    let texts = fleet_texts(&client, &config, brick, Some(&node), None)?;
    Ok(load_fleet_only(global, brick, texts)?)
}

/// `nexus fleet get BRICK.key [--node NODE]`.
pub(crate) fn get(
    global: &Global,
    target: &BrickKey,
    node: Option<&str>,
    with_origin: bool,
    show_secrets: bool,
) -> Result<(), Failure> {
    let view = fleet_view(global, &target.brick, node)?;
    let (Some(value), Some(origin)) = (view.value(&target.key), view.origin_of(&target.key)) else {
        return Err(Failure::Config(format!("`{target}` is not set")));
    };
    if !matches!(
        origin.precedence(),
        Precedence::Fleet | Precedence::FleetNode
    ) {
        return Err(Failure::Config(format!(
            "`{target}` is not set by the fleet (it is `{origin}`)"
        )));
    }
    let value = if view.is_secret(&target.key) && !show_secrets {
        confd::secret::redact(value)
    } else {
        value.clone()
    };
    match global.format {
        Format::Text => {
            let text = match &value {
                Value::Table(t) => toml_document(t, None).trim_end().to_owned(),
                other => other.to_string(),
            };
            if with_origin {
                println!("{origin}\t{text}");
            } else {
                println!("{text}");
            }
        }
        Format::Json => println!(
            "{:#}",
            json!({
                "key": target.to_string(),
                "value": json_value(&value),
                "origin": json_origin(origin),
            })
        ),
    }
    Ok(())
}

/// `nexus fleet diff BRICK`: what the fleet sets for this host against
/// what is in force on it, as a unified diff of the two (secrets hidden).
pub(crate) fn diff(global: &Global, brick: &BrickName) -> Result<(), Failure> {
    let fleet = fleet_view(global, brick, None)?;
    let host = crate::config::load(global, brick)?;
    let fleet_text = toml_document(&fleet.redacted_table(), None);
    let host_text = toml_document(&host.redacted_table(), None);
    let diff = similar::TextDiff::from_lines(&fleet_text, &host_text);
    let (from, to) = (format!("fleet/{brick}"), format!("host/{brick}"));
    let unified = diff
        .unified_diff()
        .context_radius(3)
        .header(&from, &to)
        .to_string();
    match global.format {
        Format::Text => print!("{unified}"),
        Format::Json => println!(
            "{:#}",
            json!({
                "brick": brick.as_str(),
                "differs": diff.ratio() < 1.0,
                "diff": unified,
            })
        ),
    }
    Ok(())
}

/// `nexus fleet status`: the endpoints and their answers, the cluster
/// revision, and the age of each brick's cache. Exit status 1 when no
/// endpoint answered.
pub(crate) fn status(global: &Global) -> Result<(), Failure> {
    let config = fleet_config(global)?;
    let state = global.loader().resolved_state_dir()?;
    let client = connect(&config)?;
    let answers = client.status_of_each();
    let revision = answers
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok().map(|s| s.revision))
        .max();
    let dir = confd_fleet::cache::dir(&state);
    let mut cached = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        for name in names {
            let Ok(brick) = BrickName::new(&name) else {
                continue;
            };
            match confd_fleet::cache::load(&state, &brick) {
                Ok(Some((record, age))) => cached.push((name, Ok((record, age)))),
                Ok(None) => {}
                Err(message) => cached.push((name, Err(message))),
            }
        }
    }
    match global.format {
        Format::Text => {
            println!("prefix {}  node {}", config.prefix(), config.node);
            for (endpoint, answer) in &answers {
                match answer {
                    Ok(s) => println!(
                        "{endpoint}  ok  revision {}{}  etcd {}",
                        s.revision,
                        if s.is_leader { "  leader" } else { "" },
                        s.version
                    ),
                    Err(e) => println!("{endpoint}  no answer: {e}"),
                }
            }
            match revision {
                Some(revision) => println!("cluster revision {revision}"),
                None => println!("cluster revision unknown: no endpoint answered"),
            }
            println!("cache {}", crate::output::shown_path(&dir));
            for (brick, record) in &cached {
                match record {
                    Ok((record, age)) => println!(
                        "  {brick}  revision {}  {} old",
                        record.revision,
                        confd_fleet::cache::shown_age(*age)
                    ),
                    Err(message) => println!("  {brick}  unusable: {message}"),
                }
            }
        }
        Format::Json => {
            let endpoints: Vec<_> = answers
                .iter()
                .map(|(endpoint, answer)| match answer {
                    Ok(s) => json!({
                        "endpoint": endpoint, "answered": true, "revision": s.revision,
                        "leader": s.is_leader, "version": s.version,
                    }),
                    Err(e) => {
                        json!({ "endpoint": endpoint, "answered": false, "error": e.to_string() })
                    }
                })
                .collect();
            let cache: Vec<_> = cached
                .iter()
                .map(|(brick, record)| match record {
                    Ok((record, age)) => json!({
                        "brick": brick, "revision": record.revision, "age_seconds": age.as_secs(),
                    }),
                    Err(message) => json!({ "brick": brick, "error": message }),
                })
                .collect();
            println!(
                "{:#}",
                json!({
                    "prefix": config.prefix(),
                    "node": config.node,
                    "endpoints": endpoints,
                    "revision": revision,
                    "cache_dir": dir.display().to_string(),
                    "cache": cache,
                })
            );
        }
    }
    if revision.is_none() {
        return Err(Failure::Silent);
    }
    Ok(())
}
