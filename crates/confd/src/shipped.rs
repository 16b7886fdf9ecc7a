//! The default files shipped for every linked brick, generated from its
//! declaration (DESIGN.md §9), and the record of every version ever shipped,
//! which lets an upgrade tell an untouched default from a user's edit.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

use crate::bricks::{KeyDecl, Schema};
use crate::{KeyPath, Profile};

/// One shipped default file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShippedFile {
    /// The brick name, which is also the file name.
    pub name: &'static str,
    /// The file's text.
    pub contents: &'static str,
}

impl ShippedFile {
    /// The hash seeding records for this file: blake3 of its bytes, in hex.
    #[must_use]
    pub fn hash(&self) -> String {
        content_hash(self.contents.as_bytes())
    }
}

/// The hash seeding records for file contents: blake3 of the bytes, in hex.
///
/// Bytes, not meaning: like dpkg, a file whose only change is a comment or
/// white space counts as edited, so nothing the user typed is ever replaced.
#[must_use]
pub fn content_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// One release's set of shipped defaults: the files themselves and, for each,
/// the hashes of every version ever shipped (the current one included).
///
/// [`Shipped::builtin`] is what this build ships. Tests build others with
/// [`Shipped::new`] to present an older or newer release without rebuilding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shipped {
    files: Vec<ShippedFile>,
    history: BTreeMap<String, BTreeSet<String>>,
}

impl Shipped {
    /// The defaults of every brick linked into this program, with the
    /// hashes each brick declares for its earlier files.
    #[must_use]
    pub fn builtin() -> Self {
        let past = crate::bricks::registered().iter().map(|schema| {
            let hashes = schema.shipped_history().iter().map(|h| (*h).to_owned());
            (schema.name().to_owned(), hashes)
        });
        Shipped::new(shipped_files(), past)
    }

    /// A release shipping `files`, where `past` lists, per file name, the
    /// hashes of earlier versions. Each file's current hash is always part of
    /// its history.
    #[must_use]
    pub fn new<I, H>(files: impl IntoIterator<Item = ShippedFile>, past: I) -> Self
    where
        I: IntoIterator<Item = (String, H)>,
        H: IntoIterator<Item = String>,
    {
        let mut files: Vec<ShippedFile> = files.into_iter().collect();
        files.sort_by_key(|f| f.name);
        files.dedup_by_key(|f| f.name);
        let mut history: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, hashes) in past {
            history.entry(name).or_default().extend(hashes);
        }
        for file in &files {
            history
                .entry(file.name.to_owned())
                .or_default()
                .insert(file.hash());
        }
        Shipped { files, history }
    }

    /// The files, sorted by name.
    #[must_use]
    pub fn files(&self) -> &[ShippedFile] {
        &self.files
    }

    /// Whether `hash` is any version ever shipped of file `name`.
    #[must_use]
    pub fn was_shipped(&self, name: &str, hash: &str) -> bool {
        self.history.get(name).is_some_and(|h| h.contains(hash))
    }

    /// The hashes of every version of file `name` ever shipped.
    #[must_use]
    pub fn history(&self, name: &str) -> Option<&BTreeSet<String>> {
        self.history.get(name)
    }
}

/// Every linked brick's default file, sorted by name.
#[must_use]
pub fn shipped_files() -> Vec<ShippedFile> {
    static FILES: OnceLock<Vec<ShippedFile>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            crate::bricks::registered()
                .iter()
                .map(|schema| ShippedFile {
                    name: schema.name(),
                    // Generated once per program and kept for its life.
                    contents: Box::leak(default_file(*schema).into_boxed_str()),
                })
                .collect()
        })
        .clone()
}

/// The default file of a linked brick, if `name` is one.
#[must_use]
pub fn shipped_file(name: &str) -> Option<ShippedFile> {
    shipped_files().into_iter().find(|f| f.name == name)
}

/// The default file of a brick, generated from its declaration: every key
/// commented out with its documentation, its `full` default and the
/// defaults of the other profiles, its variables, its secret and reload
/// marks; the first line points editors at its installed JSON Schema.
#[must_use]
pub fn default_file(schema: &dyn Schema) -> String {
    let name = schema.name();
    let mut out = format!(
        "#:schema ../../share/confd/schema/{name}.json\n\
         # /etc/conf.d/{name} — configuration of the `{name}` brick (TOML).\n#\n"
    );
    if !schema.doc().is_empty() {
        comment(&mut out, schema.doc());
        out.push_str("#\n");
    }
    if !schema.secret_keys().is_empty() {
        out.push_str(
            "# This file holds secrets: it is created with mode 0600, and `nexus config\n\
             # show` redacts them unless given --show-secrets.\n#\n",
        );
    }
    let _ = write!(
        out,
        "# Every setting below is commented out and shows its built-in default.\n\
         # Uncomment a line and change the value to override it. Files in\n\
         # conf.d/{name}.d/*.toml override this file, in byte-wise name order.\n\
         # See what is in force, and why: `nexus config show {name} --origin`.\n"
    );
    let defaults = schema.defaults(Profile::Full);
    let per_profile: Vec<(Profile, toml::Table)> = Profile::ALL
        .iter()
        .map(|p| (*p, schema.defaults(*p)))
        .collect();
    // Every key on a line of its own, a nested one as a dotted key
    // (`#tls.min_version = "1.2"`): uncommenting that one line sets it,
    // where a commented `#[tls]` header would have to be uncommented too.
    for key in schema.keys() {
        let Ok(path) = key.path.parse::<KeyPath>() else {
            continue;
        };
        out.push('\n');
        if key.table {
            comment(&mut out, &format!("Table `{}`: {}", key.path, key.doc));
            continue;
        }
        comment(&mut out, &key_notes(key, &path, &per_profile));
        match crate::layer::value_at(&defaults, &path) {
            Some(value) => {
                let _ = writeln!(out, "#{} = {}", key.path, inline(value));
            }
            // An optional key: TOML has no null, so there is no value to show.
            None => comment(
                &mut out,
                &format!("Unset by default: add `{} = …` to set it.", key.path),
            ),
        }
    }
    out
}

/// `value` as TOML on one line: a comment line that holds a multi-line
/// string would end in the middle of it, and the rest would be live TOML.
fn inline(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if c.is_control() => {
                        let _ = write!(out, "\\u{:04X}", u32::from(c));
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        toml::Value::Table(table) if table.is_empty() => "{}".to_owned(),
        toml::Value::Table(table) => {
            let entries: Vec<String> = table
                .iter()
                .map(|(k, v)| format!("{} = {}", KeyPath::from_segments([k.as_str()]), inline(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
        other => other.to_string(),
    }
}

/// A key's documentation and what its declaration adds to it.
fn key_notes(key: &KeyDecl, path: &KeyPath, per_profile: &[(Profile, toml::Table)]) -> String {
    let mut notes = key.doc.to_owned();
    let mut line = |text: String| {
        if !notes.is_empty() {
            notes.push('\n');
        }
        notes.push_str(&text);
    };
    if key.secret {
        line("Secret: never shown in full.".to_owned());
    }
    let values: Vec<String> = per_profile
        .iter()
        .map(|(p, t)| match crate::layer::value_at(t, path) {
            Some(value) => format!("{p} {}", inline(value)),
            None => format!("{p} unset"),
        })
        .collect();
    let full = per_profile
        .iter()
        .find(|(p, _)| *p == Profile::Full)
        .and_then(|(_, t)| crate::layer::value_at(t, path));
    if per_profile
        .iter()
        .any(|(_, t)| crate::layer::value_at(t, path) != full)
    {
        line(format!(
            "The default depends on the profile: {}. Shown: full.",
            values.join(", ")
        ));
    }
    match (key.env, key.env_inverted) {
        ([], _) => {}
        ([var], true) => line(format!(
            "Replaces {var}, whose meaning is inverted: {var}=1 is {} = false.",
            key.path
        )),
        (vars, _) => line(format!("Replaces {}.", vars.join(" and "))),
    }
    if key.reload {
        line("Applied live: changing it needs no restart.".to_owned());
    }
    notes
}

/// `text` as `# ` comment lines, each paragraph line wrapped to fit 80
/// columns.
fn comment(out: &mut String, text: &str) {
    const WIDTH: usize = 78;
    for line in text.lines() {
        let mut current = String::new();
        for word in line.split(' ') {
            if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > WIDTH {
                let _ = writeln!(out, "# {current}");
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        if current.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {current}");
        }
    }
}

/// Whether a brick's file holds secrets and is created with mode 0600.
#[must_use]
pub fn holds_secrets(name: &str) -> bool {
    crate::bricks::lookup(name).is_some_and(|s| !s.secret_keys().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_always_holds_the_current_files() {
        let file = ShippedFile {
            name: "relay",
            contents: "#host = \"localhost\"\n",
        };
        let shipped = Shipped::new([file], [("relay".to_owned(), vec!["0".repeat(64)])]);
        assert!(shipped.was_shipped("relay", &file.hash()));
        assert!(shipped.was_shipped("relay", &"0".repeat(64)));
        assert!(!shipped.was_shipped("relay", &content_hash(b"host = \"x\"\n")));
    }
}
