//! Documentation from the declaration (DESIGN.md §9): what a key is, as its
//! brick declares it, for the head of `nexus config explain`, and
//! `nexus config docs`, a Markdown reference of bricks and their keys.
//!
//! Everything here is read from `Schema::keys()` and the schema's defaults
//! per profile, so the reference cannot drift from the code.

use std::fmt::Write as _;

use confd::bricks::{KeyDecl, Schema};
use confd::{BrickName, KeyPath, Profile, secret::redact};
use serde_json::{Value as Json, json};
use toml::Value;

use crate::output::json_value;
use crate::{Failure, Format, Global};

/// What a key without a default in any profile shows for its default.
const UNSET: &str = "none (unset unless a layer sets it)";

/// What a brick declares of one key.
pub(crate) struct KeyFacts<'a> {
    decl: &'a KeyDecl,
    /// The key's value in each profile's defaults (a profile without one is
    /// left out).
    defaults: Vec<(Profile, Value)>,
    /// What the key holds, as people read it (`integer (0 to 65535)`, `one
    /// of "auto", "null"`), from the brick's type.
    described: Option<String>,
}

impl<'a> KeyFacts<'a> {
    /// The declaration of `key` in `schema`, if the brick declares it.
    pub(crate) fn of(schema: &'a dyn Schema, key: &KeyPath) -> Option<Self> {
        // Compared as key paths, so `a."b"` finds the declaration `a.b`.
        let decl = schema
            .keys()
            .iter()
            .find(|k| k.path.parse::<KeyPath>().is_ok_and(|path| path == *key))?;
        Some(Self::new(schema, decl))
    }

    fn new(schema: &dyn Schema, decl: &'a KeyDecl) -> Self {
        let path: Option<KeyPath> = decl.path.parse().ok();
        let defaults = Profile::ALL
            .iter()
            .filter_map(|profile| {
                let table = schema.defaults(*profile);
                let value = confd::layer::value_at(&table, path.as_ref()?)?.clone();
                Some((*profile, value))
            })
            .collect();
        let described = path
            .as_ref()
            .and_then(|path| schema.shape().at(path).map(confd::bricks::Shape::describe));
        KeyFacts {
            decl,
            defaults,
            described,
        }
    }

    /// What the key holds, for people: the brick type's shape, else the
    /// TOML type of its default.
    fn described_type(&self) -> Option<String> {
        self.described
            .clone()
            .or_else(|| self.type_name().map(str::to_owned))
    }

    /// The key's TOML type, from its default value (a nested table is a
    /// `table`); `None` when no profile gives it a default.
    fn type_name(&self) -> Option<&'static str> {
        if self.decl.table {
            return Some("table");
        }
        self.default_in(Profile::default())
            .or_else(|| self.defaults.first().map(|(_, v)| v))
            .map(Value::type_str)
    }

    fn default_in(&self, profile: Profile) -> Option<&Value> {
        self.defaults
            .iter()
            .find(|(p, _)| *p == profile)
            .map(|(_, v)| v)
    }

    /// Whether every profile has the same default.
    fn one_default(&self) -> Option<&Value> {
        let first = self.default_in(Profile::default())?;
        (self.defaults.len() == Profile::ALL.len() && self.defaults.iter().all(|(_, v)| v == first))
            .then_some(first)
    }

    /// Whether the default depends on the profile.
    fn by_profile(&self) -> bool {
        self.one_default().is_none() && !self.defaults.is_empty()
    }

    /// The profiles whose default differs from the default profile's.
    fn other_defaults(&self) -> impl Iterator<Item = (Profile, Option<&Value>)> {
        let base = self.default_in(Profile::default());
        Profile::ALL
            .into_iter()
            .map(|p| (p, self.default_in(p)))
            .filter(move |(_, v)| *v != base)
    }

    /// The defaults in words, each value through `shown`: `300`, or
    /// `minimal 1, embedded 3, lite 8, full 20, cloud 30` when they differ.
    fn defaults_text(&self, shown: impl Fn(&Value) -> String) -> String {
        if let Some(value) = self.one_default() {
            return shown(value);
        }
        if self.defaults.is_empty() {
            // An optional key (`Option<T>`, `default = None`): TOML has no
            // null to show.
            return UNSET.to_owned();
        }
        Profile::ALL
            .iter()
            .map(|p| {
                let value = self.default_in(*p).map_or("unset".to_owned(), &shown);
                format!("{p} {value}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The variables in words: `NEXUS_DATABASE_URL, then POSTGRES_URL`,
    /// `NEXUS_DISABLE_X (inverted)`, or `none`.
    fn variables_text(&self, shown: impl Fn(&str) -> String) -> String {
        if self.decl.env.is_empty() {
            return "none".to_owned();
        }
        let vars: Vec<String> = self.decl.env.iter().map(|v| shown(v)).collect();
        let mut text = vars.join(", then ");
        if self.decl.env_inverted {
            text.push_str(" (inverted: a true value sets `false`)");
        }
        text
    }

    /// The lines `explain` prints before the layers: the doc comment, then
    /// type, defaults, variables, secret and reload class.
    pub(crate) fn explain_text(&self, show_secrets: bool) -> String {
        let mut out = String::new();
        for line in self.decl.doc.lines() {
            let _ = writeln!(out, "{line}");
        }
        let value = |v: &Value| self.shown_value(v, show_secrets).to_string();
        let mut field = |name: &str, text: &str| {
            let _ = writeln!(out, "  {name:<10} {text}");
        };
        field(
            "type",
            &self
                .described_type()
                .unwrap_or_else(|| "(optional; no default to tell it by)".to_owned()),
        );
        field(
            if self.by_profile() {
                "defaults"
            } else {
                "default"
            },
            &self.defaults_text(value),
        );
        field("variables", &self.variables_text(str::to_owned));
        field(
            "secret",
            if self.decl.secret {
                "yes: never shown in full without --show-secrets"
            } else {
                "no"
            },
        );
        field("reload", self.reload_text());
        out
    }

    fn reload_text(&self) -> &'static str {
        if self.decl.reload {
            "yes: the brick applies a change live, no restart"
        } else {
            "no: a change needs a restart"
        }
    }

    /// A default as shown: a secret one redacted unless secrets are shown.
    fn shown_value(&self, value: &Value, show_secrets: bool) -> Value {
        if self.decl.secret && !show_secrets {
            redact(value)
        } else {
            value.clone()
        }
    }

    /// The JSON fields of the declaration, for `explain` and `docs`
    /// (docs/JSON.md): `doc`, `type`, `defaults` (profile → value),
    /// `env`, `env_inverted`, `secret`, `reload`.
    pub(crate) fn json_fields(&self, show_secrets: bool) -> serde_json::Map<String, Json> {
        let defaults: serde_json::Map<String, Json> = self
            .defaults
            .iter()
            .map(|(p, v)| {
                (
                    p.as_str().to_owned(),
                    json_value(&self.shown_value(v, show_secrets)),
                )
            })
            .collect();
        let mut fields = serde_json::Map::new();
        fields.insert("declared".into(), json!(true));
        fields.insert("doc".into(), json!(self.decl.doc));
        fields.insert("type".into(), json!(self.type_name()));
        fields.insert("shape".into(), json!(self.described_type()));
        fields.insert("defaults".into(), Json::Object(defaults));
        fields.insert("env".into(), json!(self.decl.env));
        fields.insert("env_inverted".into(), json!(self.decl.env_inverted));
        fields.insert("secret".into(), json!(self.decl.secret));
        fields.insert("reload".into(), json!(self.decl.reload));
        fields
    }

    /// The JSON fields for a key its brick does not declare (an unknown key,
    /// or any key of a brick that is not registered): the same names, empty.
    pub(crate) fn json_undeclared(secret: bool) -> serde_json::Map<String, Json> {
        let mut fields = serde_json::Map::new();
        fields.insert("declared".into(), json!(false));
        fields.insert("doc".into(), Json::Null);
        fields.insert("type".into(), Json::Null);
        fields.insert("shape".into(), Json::Null);
        fields.insert("defaults".into(), json!({}));
        fields.insert("env".into(), json!([]));
        fields.insert("env_inverted".into(), json!(false));
        fields.insert("secret".into(), json!(secret));
        fields.insert("reload".into(), json!(false));
        fields
    }
}

/// `text` as a Markdown code span, whatever backticks it holds.
fn code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if longest == 0 {
        format!("{fence}{text}{fence}")
    } else {
        format!("{fence} {text} {fence}")
    }
}

/// `text` made safe for one Markdown table cell: one line, no bare `|`
/// (GitHub's tables split on it even inside a code span).
fn cell(text: &str) -> String {
    text.replace(['\n', '\r'], " ").replace('|', "\\|")
}

/// The first paragraph of a doc comment, on one line.
fn summary(doc: &str) -> String {
    let paragraph: Vec<&str> = doc
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    paragraph.join(" ")
}

/// The bricks `names` asks for (all registered ones if empty), each once.
fn chosen(names: &[BrickName]) -> Result<Vec<&'static dyn Schema>, Failure> {
    if names.is_empty() {
        return Ok(confd::bricks::registered().to_vec());
    }
    let mut chosen: Vec<&'static dyn Schema> = Vec::new();
    for name in names {
        let schema = confd::bricks::lookup(name.as_str()).ok_or_else(|| {
            let known: Vec<String> = confd::bricks::registered()
                .iter()
                .map(|s| s.name().to_owned())
                .collect();
            let hint = confd::loader::suggest(name.as_str(), &known)
                .map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"));
            Failure::Config(format!(
                "`{name}` is not a registered brick{hint}: this program knows {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if !chosen.iter().any(|s| s.name() == schema.name()) {
            chosen.push(schema);
        }
    }
    Ok(chosen)
}

/// `nexus config docs [BRICK…] [--table]`.
pub(crate) fn docs(global: &Global, names: &[BrickName], table: bool) -> Result<(), Failure> {
    let schemas = chosen(names)?;
    match global.format {
        Format::Json => {
            let bricks: Vec<Json> = schemas.iter().map(|s| brick_json(*s)).collect();
            println!("{:#}", json!({ "bricks": bricks }));
        }
        Format::Text if table => print!("{}", brick_table(&schemas)),
        Format::Text => print!("{}", reference(&schemas)),
    }
    Ok(())
}

/// The keys a reference lists: every declared one, nested tables included.
fn facts_of(schema: &dyn Schema) -> Vec<KeyFacts<'_>> {
    schema
        .keys()
        .iter()
        .map(|decl| KeyFacts::new(schema, decl))
        .collect()
}

fn brick_json(schema: &dyn Schema) -> Json {
    let keys: Vec<Json> = facts_of(schema)
        .iter()
        .map(|facts| {
            let mut fields = serde_json::Map::new();
            fields.insert("key".into(), json!(facts.decl.path));
            fields.extend(facts.json_fields(false));
            fields.remove("declared");
            Json::Object(fields)
        })
        .collect();
    json!({
        "brick": schema.name(),
        "doc": schema.doc(),
        "holds_secrets": !schema.secret_keys().is_empty(),
        "keys": keys,
    })
}

/// The Markdown reference: a section per brick, a subsection per key. A
/// secret's default is redacted (a brick's file holding secrets is 0600, so
/// its defaults are not everyone's to read either).
pub(crate) fn reference(schemas: &[&dyn Schema]) -> String {
    let mut out = String::from("# Configuration reference\n");
    for schema in schemas {
        let name = schema.name();
        let _ = write!(out, "\n## {}\n\n", code(name));
        if !schema.doc().is_empty() {
            let _ = writeln!(out, "{}\n", schema.doc().trim_end());
        }
        let _ = writeln!(
            out,
            "File {} (TOML), overridden by {} in byte-wise name order{}.",
            code(&format!("$NEXUS_STATE_DIR/etc/conf.d/{name}")),
            code(&format!("conf.d/{name}.d/*.toml")),
            if schema.secret_keys().is_empty() {
                ""
            } else {
                "; it holds secrets, so it is created with mode 0600"
            }
        );
        for facts in facts_of(*schema) {
            let _ = write!(
                out,
                "\n### {}\n\n",
                code(&format!("{name}.{}", facts.decl.path))
            );
            if !facts.decl.doc.is_empty() {
                let _ = writeln!(out, "{}\n", facts.decl.doc.trim_end());
            }
            let _ = writeln!(
                out,
                "- type: {}",
                facts
                    .described_type()
                    .unwrap_or_else(|| "(optional; no default to tell it by)".to_owned())
            );
            if !facts.decl.table {
                let label = if facts.by_profile() {
                    "defaults by profile"
                } else {
                    "default"
                };
                let _ = writeln!(
                    out,
                    "- {label}: {}",
                    facts.defaults_text(|v| code(&facts.shown_value(v, false).to_string()))
                );
                let _ = writeln!(out, "- variables: {}", facts.variables_text(code));
                if facts.decl.secret {
                    let _ = writeln!(
                        out,
                        "- secret: never shown in full without `--show-secrets`"
                    );
                }
                let _ = writeln!(
                    out,
                    "- reload: {}",
                    if facts.decl.reload {
                        "yes, applied live (no restart)"
                    } else {
                        "no, a change needs a restart"
                    }
                );
            }
        }
    }
    out
}

/// The README's table: one row per brick, its keys with their defaults and
/// marks, its variables.
pub(crate) fn brick_table(schemas: &[&dyn Schema]) -> String {
    let mut out = String::from(
        "| brick | what it configures | keys = default | environment variables → key |\n\
         |---|---|---|---|\n",
    );
    for schema in schemas {
        let all = facts_of(*schema);
        let keys: Vec<String> = all
            .iter()
            .filter(|f| !f.decl.table)
            .map(|facts| {
                let shown = |v: &Value| facts.shown_value(v, false).to_string();
                let mut text = match facts.default_in(Profile::default()) {
                    Some(value) => code(&format!("{} = {}", facts.decl.path, shown(value))),
                    None => format!("{} unset", code(&facts.decl.path)),
                };
                let mut marks: Vec<String> = Vec::new();
                let others: Vec<String> = facts
                    .other_defaults()
                    .map(|(p, v)| {
                        let v = v.map_or("unset".to_owned(), shown);
                        format!("{p} {}", code(&v))
                    })
                    .collect();
                if !others.is_empty() {
                    marks.push(others.join(", "));
                }
                if facts.decl.secret {
                    marks.push("secret".to_owned());
                }
                if facts.decl.reload {
                    marks.push("reload".to_owned());
                }
                if !marks.is_empty() {
                    let _ = write!(text, " ({})", marks.join("; "));
                }
                text
            })
            .collect();
        let vars: Vec<String> = all
            .iter()
            .filter(|f| !f.decl.env.is_empty())
            .map(|facts| {
                let names: Vec<String> = facts.decl.env.iter().map(|v| code(v)).collect();
                let inverted = if facts.decl.env_inverted {
                    " (inverted)"
                } else {
                    ""
                };
                format!(
                    "{} → {}{inverted}",
                    names.join(", then "),
                    code(&facts.decl.path)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            code(schema.name()),
            cell(&summary(schema.doc())),
            cell(&keys.join("; ")),
            cell(&if vars.is_empty() {
                "none".to_owned()
            } else {
                vars.join("; ")
            }),
        );
    }
    out
}

#[cfg(test)]
mod tests;
