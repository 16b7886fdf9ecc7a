//! `nexus config show`, `get` and `explain`.

use confd::{BrickConfig, BrickName, KeyPath, Origin};
use serde_json::json;
use toml::Value;

use super::docs::KeyFacts;
use super::{BrickKey, load};
use crate::output::{json_origin, json_value, toml_document};
use crate::{Failure, Format, Global};

/// A value as it may be printed: redacted when secret, unless asked.
fn shown(config: &BrickConfig, key: &KeyPath, value: &Value, show_secrets: bool) -> Value {
    if show_secrets {
        value.clone()
    } else {
        config.redacted_value(key, value)
    }
}

pub(crate) fn show(
    global: &Global,
    brick: &BrickName,
    with_origin: bool,
    show_secrets: bool,
) -> Result<(), Failure> {
    let config = load(global, brick)?;
    let table = if show_secrets {
        config.table().clone()
    } else {
        config.redacted_table()
    };
    match global.format {
        Format::Text => {
            let origins = with_origin.then(|| config.origins());
            print!("{}", toml_document(&table, origins));
        }
        Format::Json => {
            // The leaves of what is shown: a redacted secret table is one
            // leaf, so the keys set under it are not listed either.
            let origins: serde_json::Map<_, _> =
                confd::value::leaves_with_origins(&table, config.origins())
                    .iter()
                    .map(|(key, _, origin)| (key.to_string(), json_origin(origin)))
                    .collect();
            let document = json!({
                "brick": config.name(),
                "profile": config.profile().as_str(),
                "config": json_value(&Value::Table(table)),
                "origins": origins,
                "warnings": config.warnings().iter().map(ToString::to_string).collect::<Vec<_>>(),
            });
            println!("{document:#}");
        }
    }
    Ok(())
}

pub(crate) fn get(
    global: &Global,
    target: &BrickKey,
    with_origin: bool,
    show_secrets: bool,
) -> Result<(), Failure> {
    let config = load(global, &target.brick)?;
    let (Some(value), Some(origin)) = (config.value(&target.key), config.origin_of(&target.key))
    else {
        return Err(Failure::Config(format!("`{target}` is not set")));
    };
    print_got(
        global,
        &config,
        target,
        (value, origin),
        with_origin,
        show_secrets,
    );
    Ok(())
}

/// Prints the value `got` of `target` in `config`, with its origin, as
/// `config get` and `fleet get` do: redacted as `show` would (a table with a
/// secret inside included) unless secrets are shown.
pub(crate) fn print_got(
    global: &Global,
    config: &BrickConfig,
    target: &BrickKey,
    (value, origin): (&Value, &Origin),
    with_origin: bool,
    show_secrets: bool,
) {
    let value = shown(config, &target.key, value, show_secrets);
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
        Format::Json => {
            let document = json!({
                "key": target.to_string(),
                "value": json_value(&value),
                "origin": json_origin(origin),
            });
            println!("{document:#}");
        }
    }
}

pub(crate) fn explain(
    global: &Global,
    target: &BrickKey,
    show_secrets: bool,
) -> Result<(), Failure> {
    let config = load(global, &target.brick)?;
    let layers = config.explain(&target.key);
    // What the brick declares of the key comes first, then the layers.
    let schema = confd::bricks::lookup(target.brick.as_str());
    let facts = schema.and_then(|schema| KeyFacts::of(schema, &target.key));
    if layers.is_empty() {
        // An optional key its brick declares is a fair question: unset is
        // its answer. Any other key nobody sets is a mistake.
        let Some(facts) = facts else {
            return Err(Failure::Config(format!(
                "`{target}` is not set by any layer"
            )));
        };
        match global.format {
            Format::Text => {
                println!("{}", facts.explain_text(show_secrets));
                println!("{target} is not set by any layer");
            }
            Format::Json => {
                let mut document = serde_json::Map::new();
                document.insert("key".into(), json!(target.to_string()));
                document.extend(facts.json_fields(show_secrets));
                document.insert("layers".into(), json!([]));
                println!("{:#}", serde_json::Value::Object(document));
            }
        }
        return Ok(());
    }
    // The last layer that sets the key wins, unless a higher layer replaced
    // a table above it (`[t] a = 1` in the main file, `t = [1]` in a
    // drop-in): then no layer's value is the key's.
    let winner = config
        .value(&target.key)
        .is_some()
        .then(|| layers.len() - 1);
    let shown: Vec<(Value, &confd::Origin)> = layers
        .iter()
        .map(|(value, origin)| (shown(&config, &target.key, value, show_secrets), origin))
        .collect();
    match global.format {
        Format::Text => {
            if let Some(facts) = &facts {
                println!("{}", facts.explain_text(show_secrets));
            }
            match winner {
                Some(winner) => println!("{target} = {}", shown[winner].0),
                None => println!("{target} is not set: a higher layer replaced a table above it"),
            }
            let values: Vec<String> = shown.iter().map(|(v, _)| v.to_string()).collect();
            let width = values.iter().map(|v| v.chars().count()).max().unwrap_or(0);
            for (i, ((_, origin), value)) in shown.iter().zip(&values).enumerate() {
                let mark = if Some(i) == winner { "*" } else { " " };
                let layer = origin.precedence().to_string();
                println!("{mark} {layer:<15} {value:<width$}  {origin}");
            }
        }
        Format::Json => {
            let entries: Vec<_> = shown
                .iter()
                .enumerate()
                .map(|(i, (value, origin))| {
                    json!({ "value": json_value(value), "origin": json_origin(origin), "wins": Some(i) == winner })
                })
                .collect();
            let mut document = serde_json::Map::new();
            document.insert("key".into(), json!(target.to_string()));
            document.extend(match &facts {
                Some(facts) => facts.json_fields(show_secrets),
                None => KeyFacts::json_undeclared(config.is_secret(&target.key)),
            });
            document.insert("layers".into(), json!(entries));
            println!("{:#}", serde_json::Value::Object(document));
        }
    }
    Ok(())
}
