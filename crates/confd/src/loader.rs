//! Assembling a brick's layers into its effective configuration.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::bricks::{self, Brick, Schema};
use crate::config::Warning;
use crate::env::{self, Env};
use crate::file::{list_drop_ins, read_config_file};
use crate::layer::{Layer, OriginNode, OriginTable, value_at};
use crate::value::parse_typed;
use crate::{BrickConfig, BrickName, Error, KeyPath, Origin, Precedence, Profile, StateDir};

/// Loads brick configurations with everything explicit: state dir, profile,
/// environment, command-line overrides and strictness.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let config = confd::Loader::new()
///     .state_dir(dir.path())
///     .profile("lite")
///     .env([("NEXUS_AUTO_SYNC_MOUNTS", "yes")])
///     .cli_override("database.pool_size", "4")
///     .load("mounts")?;
/// assert_eq!(config.get::<bool>("auto_sync")?, Some(true));
/// assert_eq!(config.origin("auto_sync").unwrap().to_string(), "env NEXUS_AUTO_SYNC_MOUNTS");
/// # Ok::<(), confd::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Loader {
    state_dir: Option<PathBuf>,
    profile: Option<String>,
    env: Env,
    overrides: Vec<(String, String)>,
    strict: bool,
    candidate: Option<(PathBuf, String)>,
}

/// A parsed `--set BRICK.key=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The brick it applies to.
    pub brick: BrickName,
    /// The key inside the brick.
    pub key: KeyPath,
    /// The raw value, parsed later by the type of the key.
    pub value: String,
}

impl std::str::FromStr for Override {
    type Err = Error;

    /// Parses `BRICK.key=value`.
    fn from_str(spec: &str) -> Result<Self, Error> {
        let (target, value) = spec.split_once('=').ok_or_else(|| Error::InvalidOverride {
            spec: spec.to_owned(),
            reason: "expected BRICK.key=value".to_owned(),
        })?;
        let (brick, key) = parse_target(target).map_err(|reason| Error::InvalidOverride {
            spec: spec.to_owned(),
            reason,
        })?;
        Ok(Override {
            brick,
            key,
            value: value.to_owned(),
        })
    }
}

/// Splits `brick.key.path` into a brick name and a key path.
fn parse_target(target: &str) -> Result<(BrickName, KeyPath), String> {
    let (brick, key) = target
        .split_once('.')
        .ok_or_else(|| format!("`{target}` names no key: expected BRICK.key"))?;
    let brick = BrickName::new(brick).map_err(|e| e.to_string())?;
    let key = key.parse::<KeyPath>().map_err(|e| e.to_string())?;
    Ok((brick, key))
}

impl Loader {
    /// A loader reading the process environment, with no overrides.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses this state dir instead of `$NEXUS_STATE_DIR` or `~/.nexus`.
    #[must_use]
    pub fn state_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(path.into());
        self
    }

    /// Uses this profile instead of `$NEXUS_PROFILE` or `full`; an unknown
    /// name is an error when loading.
    #[must_use]
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// Replaces the process environment with `vars` (also for
    /// `NEXUS_STATE_DIR` and `NEXUS_PROFILE`).
    #[must_use]
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.env = Env::Map(map);
        self
    }

    /// Adds `--set key=value`, where `key` is `brick.key.path`. Overrides of
    /// other bricks are ignored by a load; a malformed one fails every load.
    #[must_use]
    pub fn cli_override(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.push((key.into(), value.into()));
        self
    }

    /// Makes unknown keys in registered bricks errors instead of warnings.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Loads as if the file at `path` (the main file or a drop-in, which
    /// need not exist yet) held `contents`: how an edit is validated before
    /// it is written.
    #[must_use]
    pub fn with_candidate(mut self, path: impl Into<PathBuf>, contents: impl Into<String>) -> Self {
        self.candidate = Some((path.into(), contents.into()));
        self
    }

    /// The contents of a configuration file, or of the candidate standing in for it.
    fn read(&self, path: &Path) -> Result<Option<String>, Error> {
        match &self.candidate {
            Some((candidate, text)) if candidate == path => Ok(Some(text.clone())),
            _ => read_config_file(path),
        }
    }

    /// The state dir this loader reads.
    pub fn resolved_state_dir(&self) -> Result<StateDir, Error> {
        StateDir::resolve(self.state_dir.as_deref(), &self.env)
    }

    /// The profile this loader uses.
    pub fn resolved_profile(&self) -> Result<Profile, Error> {
        let (value, from) = match &self.profile {
            Some(p) => (Some(p.clone()), "--profile"),
            None => (self.env.get("NEXUS_PROFILE")?, "env NEXUS_PROFILE"),
        };
        match value {
            None => Ok(Profile::default()),
            Some(value) => value
                .parse()
                .map_err(|_| Error::UnknownProfile { value, from }),
        }
    }

    /// Loads one brick: a shipped brick with its schema, any other valid name
    /// from its files and overrides alone.
    pub fn load(&self, name: &str) -> Result<BrickConfig, Error> {
        let brick = BrickName::new(name)?;
        self.assemble(&brick, bricks::lookup(name))
    }

    /// Loads a typed brick and checks its rules.
    pub fn load_typed<T: Brick>(&self) -> Result<T, Error> {
        let brick = BrickName::new(T::NAME)?;
        self.assemble(&brick, Some(bricks::schema_of::<T>()))?
            .deserialize()
    }

    /// The drop-ins in order, with a candidate drop-in that does not exist yet.
    fn drop_ins(&self, dir: &Path) -> Result<Vec<PathBuf>, Error> {
        let mut paths = list_drop_ins(dir)?;
        if let Some((candidate, _)) = &self.candidate
            && candidate.parent() == Some(dir)
            && !paths.contains(candidate)
        {
            paths.push(candidate.clone());
            paths.sort_by(|a, b| a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes()));
        }
        Ok(paths)
    }

    fn overrides_for(&self, brick: &BrickName) -> Result<Vec<(KeyPath, &str)>, Error> {
        let mut mine = Vec::new();
        for (target, value) in &self.overrides {
            let (name, key) = parse_target(target).map_err(|reason| Error::InvalidOverride {
                spec: format!("{target}={value}"),
                reason,
            })?;
            if &name == brick {
                mine.push((key, value.as_str()));
            }
        }
        Ok(mine)
    }

    fn assemble(
        &self,
        brick: &BrickName,
        schema: Option<&dyn Schema>,
    ) -> Result<BrickConfig, Error> {
        let overrides = self.overrides_for(brick)?;
        let profile = self.resolved_profile()?;
        let state = self.resolved_state_dir()?;
        let secret_keys = schema.map_or(&[][..], |s| s.secret_keys());
        let redact_snippets = !secret_keys.is_empty();
        let defaults = schema.map(|s| s.defaults(profile)).unwrap_or_default();

        let mut layers = Vec::new();
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        if schema.is_some() {
            layers.push(Layer::from_table(
                defaults.clone(),
                &Origin::ProfileDefault(profile),
            ));
        }

        let main = state.main_file(brick);
        let mut files = Vec::new();
        match self.read(&main) {
            Ok(Some(text)) => files.push((main, text, Precedence::MainFile)),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
        match self.drop_ins(&state.drop_in_dir(brick)) {
            Ok(paths) => {
                for path in paths {
                    match self.read(&path) {
                        Ok(Some(text)) => files.push((path, text, Precedence::DropIn)),
                        Ok(None) => {}
                        Err(e) => errors.push(e),
                    }
                }
            }
            Err(e) => errors.push(e),
        }
        for (path, text, precedence) in &files {
            match Layer::parse(text, path, *precedence, redact_snippets) {
                Ok(layer) => layers.push(layer),
                Err(e) => errors.push(e),
            }
        }

        if let Some(schema) = schema {
            let mut env_layer = Layer::empty(Precedence::Env);
            for alias in schema.env_aliases() {
                let key: KeyPath = alias.key.parse()?;
                let full_key = format!("{brick}.{key}");
                for var in alias.vars {
                    let Some(raw) = self.env.get(var)? else {
                        continue;
                    };
                    if env::first_warning_for(var) {
                        tracing::warn!(
                            "environment variable `{var}` is deprecated: set `{key}` in `conf.d/{brick}` instead"
                        );
                    }
                    warnings.push(Warning::Deprecated {
                        var: (*var).to_owned(),
                        key: full_key.clone(),
                    });
                    let origin = Origin::Env((*var).to_owned());
                    match parse_typed(&raw, value_at(&defaults, &key)) {
                        Ok(Value::Boolean(b)) if alias.inverted => {
                            env_layer.insert(&key, Value::Boolean(!b), origin);
                        }
                        Ok(value) => env_layer.insert(&key, value, origin),
                        Err(message) => errors.push(Error::InvalidValue {
                            message: with_found(message, &raw, secret_keys.contains(&alias.key)),
                            key: full_key.clone(),
                            origin,
                        }),
                    }
                    break;
                }
            }
            layers.push(env_layer);
        }

        let mut cli_layer = Layer::empty(Precedence::Cli);
        for (key, raw) in overrides {
            let secret = secret_keys.contains(&key.to_string().as_str());
            let shown = if secret { crate::REDACTED } else { raw };
            let origin = Origin::Cli(format!("{brick}.{key}={shown}"));
            match parse_typed(raw, value_at(&defaults, &key)) {
                Ok(value) => cli_layer.insert(&key, value, origin),
                Err(message) => errors.push(Error::InvalidValue {
                    key: format!("{brick}.{key}"),
                    origin,
                    message: with_found(message, raw, secret),
                }),
            }
        }
        layers.push(cli_layer);

        let mut table = Table::new();
        let mut origins = OriginTable::new();
        for layer in &layers {
            layer.clone().merge_into(&mut table, &mut origins);
        }
        let mut config = BrickConfig {
            name: brick.to_string(),
            profile,
            table,
            origins,
            layers,
            secret_keys,
            warnings,
        };

        if let Some(schema) = schema {
            let path = KeyPath::default();
            for problem in
                check_against_defaults(&config, &config.table, &config.origins, &defaults, &path)
            {
                match problem {
                    Error::UnknownKey {
                        key,
                        origin,
                        suggestion,
                    } if !self.strict => {
                        tracing::warn!("unknown key `{key}` at `{origin}`");
                        config.warnings.push(Warning::UnknownKey {
                            key,
                            origin,
                            suggestion,
                        });
                    }
                    other => errors.push(other),
                }
            }
            if errors.is_empty()
                && let Err(e) = schema.check(&config)
            {
                errors.push(e);
            }
        }
        match Error::from_list(errors) {
            Some(e) => Err(e),
            None => Ok(config),
        }
    }
}

/// Adds the offending text to an expectation, unless it is a secret.
fn with_found(expected: String, raw: &str, secret: bool) -> String {
    if secret {
        expected
    } else {
        format!("{expected}, found `{}`", raw.escape_debug())
    }
}

/// Type errors and unknown keys of a merged table against the brick's
/// defaults, which list every key it knows with its type.
fn check_against_defaults(
    config: &BrickConfig,
    table: &Table,
    origins: &OriginTable,
    defaults: &Table,
    prefix: &KeyPath,
) -> Vec<Error> {
    let mut problems = Vec::new();
    for (key, value) in table {
        let path = prefix.child(key);
        let Some(node) = origins.get(key) else {
            continue;
        };
        let origin = node.origin().clone();
        let full_key = format!("{}.{path}", config.name);
        let expected = match defaults.get(key) {
            None => {
                problems.push(Error::UnknownKey {
                    key: full_key,
                    origin,
                    suggestion: suggest(key, defaults.keys()),
                });
                continue;
            }
            Some(expected) => expected,
        };
        match (expected, value) {
            (Value::Table(expected), Value::Table(actual)) => {
                if let OriginNode::Table { children, .. } = node {
                    problems.extend(check_against_defaults(
                        config, actual, children, expected, &path,
                    ));
                }
            }
            (Value::Float(_), Value::Integer(_)) => {}
            (expected, actual) if expected.same_type(actual) => {}
            (expected, actual) => problems.push(Error::InvalidType {
                key: full_key,
                origin,
                expected: expected.type_str(),
                found: actual.type_str(),
            }),
        }
    }
    problems
}

/// The known name most like `unknown`, if one is close enough to be a typo
/// (`auto_synk` → `auto_sync`, `mount` → `mounts`).
#[must_use]
pub fn suggest<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a String>,
) -> Option<String> {
    known
        .into_iter()
        .map(|k| (strsim::normalized_damerau_levenshtein(unknown, k), k))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone())
}
