//! Rendering configuration for people (TOML with origins) and programs (JSON),
//! and the one place that writes diagnostics to stderr.

use std::fmt::Write as _;
use std::io::IsTerminal;

use confd::{KeyPath, Origin, OriginNode, OriginTable};
use serde_json::{Value as Json, json};
use toml::{Table, Value};

/// Whether stderr gets colour: only on a terminal, never with `NO_COLOR`.
#[allow(clippy::disallowed_methods)] // NO_COLOR is the CLI's own business, not configuration
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn diagnostic(label: &str, ansi: &str, message: &str) {
    if colour() {
        eprintln!("\x1b[1;{ansi}m{label}\x1b[0m: {message}");
    } else {
        eprintln!("{label}: {message}");
    }
}

/// Prints an error on stderr.
pub(crate) fn error(message: &str) {
    diagnostic("error", "31", message);
}

/// Prints a warning on stderr.
pub(crate) fn warning(message: &str) {
    diagnostic("warning", "33", message);
}

/// A key as TOML writes it: bare when it can be, quoted otherwise.
fn toml_key(key: &str) -> String {
    KeyPath::from_segments([key]).to_string()
}

/// A table as a TOML document; with `origins`, each value is followed by a
/// comment naming where it came from, so the output is still valid TOML.
pub(crate) fn toml_document(table: &Table, origins: Option<&OriginTable>) -> String {
    let mut lines: Vec<(String, Option<String>)> = Vec::new();
    collect_lines(table, origins, &KeyPath::default(), &mut lines);
    let width = lines
        .iter()
        .filter(|(_, o)| o.is_some())
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (line, origin) in lines {
        match origin {
            Some(origin) => {
                let pad = width - line.chars().count();
                let _ = writeln!(out, "{line}{:pad$}  # {origin}", "");
            }
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

fn collect_lines(
    table: &Table,
    origins: Option<&OriginTable>,
    prefix: &KeyPath,
    lines: &mut Vec<(String, Option<String>)>,
) {
    for (key, value) in table.iter().filter(|(_, v)| !v.is_table()) {
        let origin = origins
            .and_then(|o| o.get(key))
            .map(|n| n.origin().to_string());
        lines.push((format!("{} = {value}", toml_key(key)), origin));
    }
    for (key, value) in table {
        let Value::Table(inner) = value else { continue };
        let path = prefix.child(key);
        if !lines.is_empty() {
            lines.push((String::new(), None));
        }
        lines.push((format!("[{path}]"), None));
        let children = origins.and_then(|o| match o.get(key) {
            Some(OriginNode::Table { children, .. }) => Some(children),
            _ => None,
        });
        collect_lines(inner, children, &path, lines);
    }
}

/// A TOML value as JSON (datetimes become their TOML text).
pub(crate) fn json_value(value: &Value) -> Json {
    match value {
        Value::String(s) => Json::String(s.clone()),
        Value::Integer(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Datetime(d) => Json::String(d.to_string()),
        Value::Array(items) => Json::Array(items.iter().map(json_value).collect()),
        Value::Table(t) => {
            Json::Object(t.iter().map(|(k, v)| (k.clone(), json_value(v))).collect())
        }
    }
}

/// An origin as JSON: its layer, its display text, and its parts.
pub(crate) fn json_origin(origin: &Origin) -> Json {
    let layer = match origin.precedence() {
        confd::Precedence::ProfileDefault => "profile-default",
        confd::Precedence::MainFile => "main-file",
        confd::Precedence::DropIn => "drop-in",
        confd::Precedence::Env => "env",
        confd::Precedence::Cli => "cli",
    };
    let mut object = json!({ "layer": layer, "text": origin.to_string() });
    match origin {
        Origin::ProfileDefault(profile) => object["profile"] = json!(profile.as_str()),
        Origin::File {
            path, line, column, ..
        } => {
            object["path"] = json!(path.display().to_string());
            object["line"] = json!(line);
            object["column"] = json!(column);
        }
        Origin::Env(var) => object["var"] = json!(var),
        Origin::Cli(_) => {}
    }
    object
}

/// Every leaf of a table with its origin, as `(key path, value, origin)`.
pub(crate) fn leaves<'a>(
    table: &'a Table,
    origins: &'a OriginTable,
    prefix: &KeyPath,
    out: &mut Vec<(KeyPath, &'a Value, &'a Origin)>,
) {
    for (key, value) in table {
        let path = prefix.child(key);
        match (value, origins.get(key)) {
            (Value::Table(inner), Some(OriginNode::Table { children, .. })) => {
                leaves(inner, children, &path, out);
            }
            (value, Some(node)) => out.push((path, value, node.origin())),
            (_, None) => {}
        }
    }
}
