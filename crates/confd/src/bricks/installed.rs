//! The schema of a brick a program does not link, read from the JSON Schema
//! the brick installed at `$STATE/share/confd/schema/NAME.json` (DESIGN.md
//! §9): its keys, types, defaults per profile, variables and secret and
//! reload marks, but not its code, so not its rules across keys.
//!
//! A program opts in with [`use_installed_schemas`]: from then on
//! [`lookup`](super::lookup) falls back to the installed file for a name no
//! linked brick has, so every part of confd that asks for a brick's schema
//! (loads, redaction of secrets, file modes) knows the brick.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError, RwLock};

use serde_json::{Map, Value as Json};
use toml::{Table, Value};

use super::{EnvAlias, KeyDecl, Schema, Shape};
use crate::{BrickConfig, BrickName, Error, KeyPath, Profile, StateDir};

/// A schema read from an installed JSON Schema file.
#[derive(Debug)]
pub struct InstalledSchema {
    name: &'static str,
    doc: &'static str,
    keys: Vec<KeyDecl>,
    shape: Shape,
    defaults: Vec<(Profile, Table)>,
    env_aliases: &'static [EnvAlias],
    secret_keys: &'static [&'static str],
}

/// Why an installed schema file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the installed schema `{}`: {reason}", path.display())]
pub struct InstalledSchemaError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl InstalledSchema {
    /// Reads brick `name`'s installed schema from `state`; `Ok(None)` when
    /// none is installed.
    ///
    /// Its strings live as long as the program (the loader's views are
    /// `'static`): read each file once, as [`lookup`](super::lookup) does.
    pub fn read(state: &StateDir, name: &BrickName) -> Result<Option<Self>, InstalledSchemaError> {
        let path = state.schema_file(name);
        let fail = |reason: String| InstalledSchemaError {
            path: path.clone(),
            reason,
        };
        let Some(text) = crate::file::read_config_file(&path).map_err(|e| fail(e.to_string()))?
        else {
            return Ok(None);
        };
        InstalledSchema::parse(name.as_str(), &text)
            .map(Some)
            .map_err(fail)
    }

    /// The schema of brick `name` from the text of its JSON Schema, as
    /// [`json_schema`](super::json_schema) writes it.
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        let root: Json = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let root = root
            .as_object()
            .ok_or_else(|| "not a JSON Schema object".to_owned())?;
        match root.get("title").and_then(Json::as_str) {
            Some(title) if title == name => {}
            Some(title) => {
                return Err(format!(
                    "its `title` is `{}`, not `{name}`",
                    crate::shown::one_line(title)
                ));
            }
            None => return Err("it has no `title` naming the brick".to_owned()),
        }
        if root.get("type").and_then(Json::as_str) != Some("object") {
            return Err("its `type` is not `object`".to_owned());
        }
        let mut reader = Reader {
            keys: Vec::new(),
            defaults: Profile::ALL.iter().map(|p| (*p, Table::new())).collect(),
        };
        let shape = reader.node(root, &KeyPath::from_segments::<_, String>([]))?;
        let leak = |s: &str| -> &'static str { Box::leak(s.into()) };
        let env_aliases: Vec<EnvAlias> = reader
            .keys
            .iter()
            .filter(|k| !k.env.is_empty())
            .map(|k| {
                let alias = EnvAlias::new(k.env, leak(&k.path));
                if k.env_inverted {
                    alias.inverted()
                } else {
                    alias
                }
            })
            .collect();
        let secret_keys: Vec<&'static str> = reader
            .keys
            .iter()
            .filter(|k| k.secret)
            .map(|k| leak(&k.path))
            .collect();
        Ok(InstalledSchema {
            name: leak(name),
            doc: leak(root.get("description").and_then(Json::as_str).unwrap_or("")),
            keys: reader.keys,
            shape,
            defaults: reader.defaults,
            env_aliases: Box::leak(env_aliases.into_boxed_slice()),
            secret_keys: Box::leak(secret_keys.into_boxed_slice()),
        })
    }
}

/// What reading the properties collects.
struct Reader {
    keys: Vec<KeyDecl>,
    defaults: Vec<(Profile, Table)>,
}

impl Reader {
    /// The shape of the schema `node` at `path`, collecting its keys and
    /// defaults on the way.
    fn node(&mut self, node: &Map<String, Json>, path: &KeyPath) -> Result<Shape, String> {
        // As deep as a file's tables may go, no deeper: the stack stays safe.
        if path.segments().len() > crate::layer::MAX_DEPTH {
            return Err(format!(
                "it nests tables deeper than {}",
                crate::layer::MAX_DEPTH
            ));
        }
        let at = |what: &str| {
            if path.is_empty() {
                format!("`{what}`")
            } else {
                format!("`{what}` of `{path}`")
            }
        };
        let kind = node.get("type").and_then(Json::as_str);
        if let Some(variants) = node.get("enum") {
            let variants = variants
                .as_array()
                .and_then(|v| v.iter().map(|v| v.as_str().map(str::to_owned)).collect())
                .ok_or_else(|| format!("{} is not an array of strings", at("enum")))?;
            return Ok(Shape::Enum(variants));
        }
        let bound = |key: &str, or: i64| node.get(key).and_then(Json::as_i64).unwrap_or(or);
        Ok(match kind {
            Some("boolean") => Shape::Bool,
            Some("integer") => Shape::Integer {
                min: bound("minimum", i64::MIN),
                max: bound("maximum", i64::MAX),
            },
            Some("number") => Shape::Float,
            Some("string") => Shape::String,
            Some("array") => Shape::Array(Box::new(match node.get("items") {
                Some(Json::Object(items)) => Reader::shape_only(items, path)?,
                _ => Shape::Any,
            })),
            Some("object") => match node.get("properties") {
                Some(Json::Object(properties)) => {
                    let mut keys = Vec::new();
                    for (key, property) in properties {
                        // Paths are dotted strings (secret keys, variables'
                        // keys): a segment must not hold a dot or a quote.
                        if !crate::key_path::is_bare(key) {
                            return Err(format!(
                                "the key `{}` {}is not a bare key (letters, digits, `_` and `-`)",
                                crate::shown::one_line(key),
                                if path.is_empty() {
                                    String::new()
                                } else {
                                    format!("under `{path}` ")
                                }
                            ));
                        }
                        let child = path.child(key);
                        let property = property
                            .as_object()
                            .ok_or_else(|| format!("the schema of `{child}` is not an object"))?;
                        keys.push((key.clone(), self.property(property, &child)?));
                    }
                    Shape::Table(keys)
                }
                Some(_) => return Err(format!("{} is not an object", at("properties"))),
                None => Shape::Map(Box::new(match node.get("additionalProperties") {
                    Some(Json::Object(values)) => Reader::shape_only(values, path)?,
                    _ => Shape::Any,
                })),
            },
            _ => Shape::Any,
        })
    }

    /// The shape of a schema that declares no key (an array's items, a
    /// map's values).
    fn shape_only(node: &Map<String, Json>, path: &KeyPath) -> Result<Shape, String> {
        let mut inner = Reader {
            keys: Vec::new(),
            defaults: Vec::new(),
        };
        inner.node(node, path)
    }

    /// One declared key: its marks, its defaults per profile, its shape.
    fn property(&mut self, node: &Map<String, Json>, path: &KeyPath) -> Result<Shape, String> {
        let dotted = path.to_string();
        let leak = |s: &str| -> &'static str { Box::leak(s.into()) };
        let env: Vec<&'static str> = match node.get("x-confd-env") {
            None => Vec::new(),
            Some(vars) => vars
                .as_array()
                .and_then(|v| {
                    v.iter()
                        .map(|v| v.as_str().filter(|v| is_variable_name(v)).map(leak))
                        .collect()
                })
                .ok_or_else(|| {
                    format!("`x-confd-env` of `{dotted}` is not an array of variable names")
                })?,
        };
        let flag = |key: &str| node.get(key).and_then(Json::as_bool).unwrap_or(false);
        let index = self.keys.len();
        self.keys.push(KeyDecl {
            path: dotted.clone(),
            doc: leak(node.get("description").and_then(Json::as_str).unwrap_or("")),
            env: Box::leak(env.into_boxed_slice()),
            env_inverted: flag("x-confd-env-inverted"),
            secret: flag("writeOnly"),
            reload: flag("x-confd-reload"),
            table: false,
        });
        let shape = self.node(node, path)?;
        if matches!(shape, Shape::Table(_)) {
            self.keys[index].table = true;
            return Ok(shape);
        }
        let Some(default) = node.get("default") else {
            // No default: the key may be left out (an `Option`).
            return Ok(Shape::Optional(Box::new(shape)));
        };
        let profiles = match node.get("x-confd-profiles") {
            None => Map::new(),
            Some(Json::Object(profiles)) => profiles.clone(),
            Some(_) => return Err(format!("`x-confd-profiles` of `{dotted}` is not an object")),
        };
        // `default` is the profile the file was written for; `full`'s is in
        // `x-confd-profiles` when that profile's differs.
        let full = profiles.get(Profile::Full.as_str()).unwrap_or(default);
        for (profile, table) in &mut self.defaults {
            let value = profiles.get(profile.as_str()).unwrap_or(full);
            let value = to_toml(value)
                .ok_or_else(|| format!("the default of `{dotted}` has no TOML form"))?;
            // The loader types values by their default: one that contradicts
            // `type` would make the schema say two things.
            if !fits(&shape, &value) {
                return Err(format!(
                    "the {profile} default of `{dotted}` is not of its type, {}",
                    shape.describe()
                ));
            }
            insert_at(table, path.segments(), value);
        }
        Ok(shape)
    }
}

/// Whether `value` is of `shape`.
fn fits(shape: &Shape, value: &Value) -> bool {
    match (shape.required(), value) {
        (Shape::Any, _)
        | (Shape::Bool, Value::Boolean(_))
        | (Shape::Float, Value::Float(_) | Value::Integer(_))
        | (Shape::String, Value::String(_)) => true,
        (Shape::Integer { .. }, Value::Integer(_)) | (Shape::Enum(_), Value::String(_)) => {
            refusal(shape.required(), value).is_none()
        }
        (Shape::Array(items), Value::Array(values)) => values.iter().all(|v| fits(items, v)),
        (Shape::Map(values), Value::Table(table)) => table.values().all(|v| fits(values, v)),
        (Shape::Table(_), Value::Table(_)) => true,
        _ => false,
    }
}

/// A name a shell gives a variable: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A JSON value as TOML; `None` for a `null` or a number TOML cannot hold.
fn to_toml(value: &Json) -> Option<Value> {
    Some(match value {
        Json::Null => return None,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Float(n.as_f64()?),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(to_toml).collect::<Option<_>>()?),
        Json::Object(map) => Value::Table(
            map.iter()
                .map(|(k, v)| Some((k.clone(), to_toml(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// Puts `value` at `segments` in `table`, making the tables on the way.
fn insert_at(table: &mut Table, segments: &[String], value: Value) {
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut table = table;
    for segment in parents {
        let entry = table
            .entry(segment.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        let Value::Table(inner) = entry else {
            return;
        };
        table = inner;
    }
    table.insert(last.clone(), value);
}

impl Schema for InstalledSchema {
    fn name(&self) -> &'static str {
        self.name
    }

    fn doc(&self) -> &'static str {
        self.doc
    }

    fn defaults(&self, profile: Profile) -> Table {
        self.defaults
            .iter()
            .find(|(p, _)| *p == profile)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    }

    fn keys(&self) -> &[KeyDecl] {
        &self.keys
    }

    fn shape(&self) -> Shape {
        self.shape.clone()
    }

    fn checks_rules(&self) -> bool {
        false
    }

    fn env_aliases(&self) -> &'static [EnvAlias] {
        self.env_aliases
    }

    fn secret_keys(&self) -> &'static [&'static str] {
        self.secret_keys
    }

    /// What the brick's types would refuse: a value outside its enum or its
    /// integer range. Types themselves were checked against the defaults.
    fn check(&self, config: &BrickConfig) -> Result<(), Error> {
        let mut errors = Vec::new();
        for (key, value) in crate::value::leaves(config.table()) {
            let Some(shape) = self.shape.at(&key) else {
                continue;
            };
            if let Some(problem) = refusal(shape.required(), value) {
                let message = if config.is_secret(&key) {
                    "the value is not acceptable (not shown: the key is secret)".to_owned()
                } else {
                    crate::shown::cut_quoted(&problem)
                };
                let origin = config.origin_of(&key).cloned();
                errors.push(match origin {
                    Some(origin) => Error::InvalidValue {
                        key: format!("{}.{key}", self.name),
                        origin,
                        message,
                    },
                    None => Error::Deserialize {
                        brick: self.name.to_owned(),
                        message: format!("`{key}`: {message}"),
                    },
                });
            }
        }
        Error::from_list(errors).map_or(Ok(()), Err)
    }
}

/// Why the brick's type would refuse `value`, said as serde says it.
fn refusal(shape: &Shape, value: &Value) -> Option<String> {
    match (shape, value) {
        (Shape::Enum(variants), Value::String(s)) if !variants.contains(s) => {
            let expected: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
            Some(format!(
                "unknown variant `{s}`, expected one of {}",
                expected.join(", ")
            ))
        }
        (Shape::Integer { min, max }, Value::Integer(i)) if i < min || i > max => Some(format!(
            "invalid value: integer `{i}`, expected an integer from {min} to {max}"
        )),
        (Shape::Array(items), Value::Array(values)) => {
            values.iter().find_map(|v| refusal(items.required(), v))
        }
        _ => None,
    }
}

/// Where [`lookup`](super::lookup) finds installed schemas, once a program
/// opted in, and what it has read there.
struct Installed {
    state: Option<StateDir>,
    read: BTreeMap<String, Option<&'static dyn Schema>>,
}

static INSTALLED: RwLock<Installed> = RwLock::new(Installed {
    state: None,
    read: BTreeMap::new(),
});

/// Makes [`lookup`](super::lookup) fall back, for a name no linked brick
/// has, to the schema installed in `state` (`share/confd/schema/NAME.json`),
/// so a tool such as `nexus` knows bricks it does not link. Each file is read
/// once; a file that cannot be used counts as absent (with a log line), and
/// [`InstalledSchema::read`] says why.
pub fn use_installed_schemas(state: &StateDir) {
    let mut installed = INSTALLED.write().unwrap_or_else(PoisonError::into_inner);
    if installed.state.as_ref().map(StateDir::root) != Some(state.root()) {
        installed.state = Some(state.clone());
        installed.read.clear();
    }
}

/// The installed schema of `name`, if the program opted in and one is there.
pub(super) fn installed(name: &str) -> Option<&'static dyn Schema> {
    let state = {
        let installed = INSTALLED.read().unwrap_or_else(PoisonError::into_inner);
        let state = installed.state.clone()?;
        if let Some(read) = installed.read.get(name) {
            return *read;
        }
        state
    };
    // Only a valid brick name becomes a file name.
    let brick = BrickName::new(name).ok()?;
    // One reader at a time, so a file is read (and its strings leaked) once.
    static READING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = READING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(read) = INSTALLED
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .read
        .get(name)
    {
        return *read;
    }
    let schema = read_from(&state, &brick);
    let mut installed = INSTALLED.write().unwrap_or_else(PoisonError::into_inner);
    if installed.state.as_ref() == Some(&state) {
        installed.read.insert(name.to_owned(), schema);
    }
    schema
}

fn read_from(state: &StateDir, brick: &BrickName) -> Option<&'static dyn Schema> {
    match InstalledSchema::read(state, brick) {
        Ok(Some(schema)) => Some(Box::leak(Box::new(schema))),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}
