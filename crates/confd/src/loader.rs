//! Assembling a brick's layers into its effective configuration.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use toml::{Table, Value};

use crate::bricks::{self, Brick, Schema};
use crate::cache::{self, CacheKey, Snapshot};
use crate::config::{Resolved, Warning};
use crate::env::{self, Env};
use crate::file::{list_drop_ins, read_config_file};
use crate::layer::{Layer, OriginNode, OriginTable, Source, parse_into, value_at};
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
    uncached: bool,
}

/// A parsed `--set BRICK.key=value`. `Debug` does not show the value, which
/// may be a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Override {
    /// The brick it applies to.
    pub brick: BrickName,
    /// The key inside the brick.
    pub key: KeyPath,
    /// The raw value, parsed later by the type of the key.
    pub value: String,
}

impl std::fmt::Debug for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Override")
            .field("brick", &self.brick)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for Override {
    type Err = Error;

    /// Parses `BRICK.key=value`. The error quotes the key, never the value.
    fn from_str(spec: &str) -> Result<Self, Error> {
        let Some((target, value)) = spec.split_once('=') else {
            return Err(invalid_override(
                spec,
                false,
                "expected `BRICK.key=value`, and there is no `=`".to_owned(),
            ));
        };
        let (brick, key) =
            parse_target(target).map_err(|reason| invalid_override(target, true, reason))?;
        Ok(Override {
            brick,
            key,
            value: value.to_owned(),
        })
    }
}

/// The error for a malformed `--set` whose key part is `target`, quoting no
/// more of it than [`crate::secret::shown_override`] allows.
fn invalid_override(target: &str, has_value: bool, reason: String) -> Error {
    Error::InvalidOverride {
        spec: crate::secret::shown_override(target, has_value),
        reason,
    }
}

/// Splits `brick.key.path` into a brick name and a key path. The reason
/// quotes none of `target`: the caller decides how much of it may be shown.
fn parse_target(target: &str) -> Result<(BrickName, KeyPath), String> {
    let (brick, key) = target.split_once('.').ok_or_else(|| {
        "expected `BRICK.key=value`, and no `.` separates the brick from the key".to_owned()
    })?;
    let brick = BrickName::new(brick).map_err(|e| format!("invalid brick name: {}", e.reason))?;
    let key = key
        .parse::<KeyPath>()
        .map_err(|e| format!("invalid key path: {}", e.reason))?;
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

    /// Whether loads may be answered from the process-wide cache (default
    /// `true`). Turn it off to measure or to force a re-read.
    #[must_use]
    pub fn cache(mut self, enabled: bool) -> Self {
        self.uncached = !enabled;
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
            // Held to the limits of a file on disk: an edit that would be
            // refused once written must be refused before.
            Some((candidate, text)) if candidate == path => {
                if text.len() as u64 > crate::file::MAX_FILE_SIZE {
                    return Err(Error::TooLarge {
                        path: path.to_owned(),
                        size: text.len() as u64,
                    });
                }
                Ok(Some(text.clone()))
            }
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
    ///
    /// A repeated load of a brick whose files, environment and overrides are
    /// unchanged is answered from a process-wide cache after a `stat` of each
    /// file (see the `cache` module for why that is never stale).
    pub fn load(&self, name: &str) -> Result<BrickConfig, Error> {
        let brick = BrickName::new(name)?;
        self.load_schema_of(&brick, bricks::lookup(name))
    }

    /// Loads a typed brick and checks its rules.
    pub fn load_typed<T: Brick>(&self) -> Result<T, Error> {
        let brick = BrickName::new(T::NAME)?;
        // Deserialize once: the value that passes the rules is the one returned.
        self.load_cached(&brick, Some(bricks::schema_of::<T>()), |config, fresh| {
            let typed: T = config.deserialize()?;
            if fresh {
                typed
                    .validate()
                    .map_err(|v| bricks::violation_error(T::NAME, config, v))?;
            }
            Ok(typed)
        })
    }

    /// Loads a brick described by a schema built at run time.
    pub fn load_schema(&self, schema: &dyn Schema) -> Result<BrickConfig, Error> {
        let brick = BrickName::new(schema.name())?;
        self.load_schema_of(&brick, Some(schema))
    }

    fn load_schema_of(
        &self,
        brick: &BrickName,
        schema: Option<&dyn Schema>,
    ) -> Result<BrickConfig, Error> {
        self.load_cached(brick, schema, |config, fresh| {
            if let (Some(schema), true) = (schema, fresh) {
                schema.check(config)?;
            }
            Ok(config.clone())
        })
    }

    /// Loads `brick`, from the cache when its files are unchanged, and
    /// `finish`es it: `fresh` is false for a cache hit, which passed the
    /// schema's checks when it was stored.
    fn load_cached<R>(
        &self,
        brick: &BrickName,
        schema: Option<&dyn Schema>,
        finish: impl FnOnce(&BrickConfig, bool) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let cacheable = !self.uncached
            && self.candidate.is_none()
            && schema.is_none_or(|s| s.cache_id().is_some());
        if !cacheable {
            return finish(&self.assemble(brick, schema)?, true);
        }
        let key = self.cache_key(brick, schema)?;
        if let Some(hit) = cache::lookup(&key) {
            return finish(&hit, false);
        }
        let loaded_at = SystemTime::now();
        let state = self.resolved_state_dir()?;
        let snapshot = Snapshot::take(&state.main_file(brick), &state.drop_in_dir(brick));
        let config = self.assemble(brick, schema)?;
        let finished = finish(&config, true)?;
        if let Some(snapshot) = snapshot {
            cache::store(key, snapshot, loaded_at, &config);
        }
        Ok(finished)
    }

    /// Everything besides the files that the load of `brick` depends on.
    fn cache_key(&self, brick: &BrickName, schema: Option<&dyn Schema>) -> Result<CacheKey, Error> {
        let mut env = Vec::new();
        for alias in schema.map_or(&[][..], |s| s.env_aliases()) {
            for var in alias.vars {
                env.push(self.env.get(var)?);
            }
        }
        Ok(CacheKey {
            state_dir: self.resolved_state_dir()?.root().to_owned(),
            brick: brick.to_string(),
            schema: schema.and_then(|s| s.cache_id()),
            profile: self.resolved_profile()?,
            env,
            overrides: self
                .overrides_for(brick)?
                .into_iter()
                .map(|(key, value)| (key.to_string(), value.to_owned()))
                .collect(),
            strict: self.strict,
        })
    }

    /// The drop-ins in order, with a candidate drop-in that does not exist yet.
    fn drop_ins(&self, dir: &Path) -> Result<Vec<PathBuf>, Error> {
        let mut paths = list_drop_ins(dir)?;
        if let Some((candidate, _)) = &self.candidate
            && candidate.parent() == Some(dir)
            && !paths.contains(candidate)
        {
            paths.push(candidate.clone());
            paths.sort_by(|a, b| {
                a.as_os_str()
                    .as_encoded_bytes()
                    .cmp(b.as_os_str().as_encoded_bytes())
            });
        }
        Ok(paths)
    }

    fn overrides_for(&self, brick: &BrickName) -> Result<Vec<(KeyPath, &str)>, Error> {
        let mut mine = Vec::new();
        for (target, value) in &self.overrides {
            let (name, key) =
                parse_target(target).map_err(|reason| invalid_override(target, true, reason))?;
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
        let defaults_layer = schema.map(|s| defaults_layer(s, profile));
        let empty = Table::new();
        let defaults = defaults_layer
            .as_ref()
            .map_or(&empty, |layer| layer.table());

        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        // The merged table starts as the defaults; each file is parsed
        // straight into it. The sources are kept so `explain` can show each
        // layer on its own later, which is rare and may re-parse.
        let mut sources = Vec::new();
        let (mut table, mut origins) = match &defaults_layer {
            Some(layer) => {
                sources.push(Source::Layer(Arc::clone(layer)));
                (layer.table().clone(), layer.origins().clone())
            }
            None => (Table::new(), OriginTable::new()),
        };

        for (path, text, precedence) in self.read_files(&state, brick, &mut errors) {
            match parse_into(
                &text,
                &path,
                precedence,
                redact_snippets,
                &mut table,
                &mut origins,
            ) {
                Ok(()) => sources.push(Source::File {
                    path,
                    text,
                    precedence,
                    redact: redact_snippets,
                }),
                Err(e) => errors.push(e),
            }
        }
        if let Some(schema) = schema {
            let env_layer = self.env_layer(brick, schema, defaults, &mut warnings, &mut errors)?;
            env_layer.merge_into(&mut table, &mut origins);
            sources.push(Source::Layer(Arc::new(env_layer)));
        }
        let cli_layer = cli_layer(brick, &overrides, defaults, secret_keys, &mut errors);
        cli_layer.merge_into(&mut table, &mut origins);
        sources.push(Source::Layer(Arc::new(cli_layer)));

        let mut resolved = Resolved {
            name: brick.to_string(),
            profile,
            table,
            origins,
            sources,
            secret_keys,
            known: defaults_layer.clone(),
            warnings,
        };
        if schema.is_some() {
            let mut problems = Vec::new();
            check_against_defaults(
                brick,
                &resolved.table,
                &resolved.origins,
                defaults,
                &mut Vec::new(),
                &mut problems,
            );
            for problem in problems {
                match problem {
                    Error::UnknownKey {
                        key,
                        origin,
                        suggestion,
                    } if !self.strict => {
                        tracing::warn!("unknown key `{key}` at `{origin}`");
                        resolved.warnings.push(Warning::UnknownKey {
                            key,
                            origin,
                            suggestion,
                        });
                    }
                    other => errors.push(other),
                }
            }
        }
        // The schema's own checks (types, rules) run in `finish`, once
        // these structural problems are out of the way.
        match Error::from_list(errors) {
            Some(e) => Err(e),
            None => Ok(BrickConfig::from(resolved)),
        }
    }

    /// The texts of the main file and the drop-ins, in merge order; a file
    /// that cannot be read is an error, and the others are still read.
    fn read_files(
        &self,
        state: &StateDir,
        brick: &BrickName,
        errors: &mut Vec<Error>,
    ) -> Vec<(PathBuf, String, Precedence)> {
        let mut files = Vec::new();
        let main = state.main_file(brick);
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
        // A file where the state dir, `etc` or `conf.d` belongs fails every
        // lookup below it: report that once, and only when something failed,
        // so a good load pays no extra `stat`.
        if !errors.is_empty()
            && let Err(e) = state.check_layout()
        {
            errors.clear();
            errors.push(e);
        }
        files
    }

    /// The layer of the brick's deprecated environment variables that are
    /// set, each warned about (in the log once per process).
    fn env_layer(
        &self,
        brick: &BrickName,
        schema: &dyn Schema,
        defaults: &Table,
        warnings: &mut Vec<Warning>,
        errors: &mut Vec<Error>,
    ) -> Result<Layer, Error> {
        let mut layer = Layer::empty(Precedence::Env);
        for alias in schema.env_aliases() {
            let key: KeyPath = alias.key.parse()?;
            let full_key = format!("{brick}.{key}");
            // The first variable set wins (`NEXUS_DRAGONFLY_URL`, then `DRAGONFLY_URL`).
            let mut found = None;
            for var in alias.vars {
                if let Some(raw) = self.env.get(var)? {
                    found = Some((*var, raw));
                    break;
                }
            }
            let Some((var, raw)) = found else {
                continue;
            };
            if env::first_warning_for(var) {
                tracing::warn!(
                    "environment variable `{var}` is deprecated: set `{key}` in `conf.d/{brick}` instead"
                );
            }
            let secret = crate::secret::at_or_under(schema.secret_keys(), &key);
            warnings.push(Warning::Deprecated {
                var: var.to_owned(),
                key: full_key.clone(),
                secret,
            });
            let origin = Origin::Env(var.to_owned());
            match parse_typed(&raw, value_at(defaults, &key)) {
                Ok(Value::Boolean(b)) if alias.inverted => {
                    layer.insert(&key, Value::Boolean(!b), origin);
                }
                Ok(value) => layer.insert(&key, value, origin),
                Err(message) => errors.push(Error::InvalidValue {
                    message: with_found(message, &raw, secret),
                    key: full_key,
                    origin,
                }),
            }
        }
        Ok(layer)
    }
}

/// The layer of this brick's `--set` overrides, each parsed by the type of
/// its key. The value is not shown in the origin of a secret, of a key under
/// one, or of a key unknown to a brick that holds secrets (a misspelt
/// `api_kee` is somebody's API key all the same).
fn cli_layer(
    brick: &BrickName,
    overrides: &[(KeyPath, &str)],
    defaults: &Table,
    secret_keys: &[&str],
    errors: &mut Vec<Error>,
) -> Layer {
    let mut layer = Layer::empty(Precedence::Cli);
    for (key, raw) in overrides {
        let secret = crate::secret::at_or_under(secret_keys, key)
            || (!secret_keys.is_empty() && value_at(defaults, key).is_none());
        // Cut short: a 100 KB `--set` makes a short origin.
        let shown = if secret {
            crate::REDACTED.to_owned()
        } else {
            crate::shown::quoted_input(raw)
        };
        let shown_key = crate::secret::shown_key(secret_keys, key);
        let origin = Origin::Cli(format!("{brick}.{shown_key}={shown}"));
        match parse_typed(raw, value_at(defaults, key)) {
            Ok(value) => layer.insert(key, value, origin),
            Err(message) => errors.push(Error::InvalidValue {
                key: format!("{brick}.{key}"),
                origin,
                message: with_found(message, raw, secret),
            }),
        }
    }
    layer
}

/// A schema's defaults for a profile as a layer. Serializing the defaults is
/// a good part of a load's cost, so layers of schemas with a `cache_id` are
/// built once per process and shared.
fn defaults_layer(schema: &dyn Schema, profile: Profile) -> Arc<Layer> {
    type Built = HashMap<(&'static str, Profile), Arc<Layer>>;
    static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
    let build = || {
        Arc::new(Layer::from_table(
            schema.defaults(profile),
            &Origin::ProfileDefault(profile),
        ))
    };
    let Some(id) = schema.cache_id() else {
        return build();
    };
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Arc::clone(built.entry((id, profile)).or_insert_with(build))
}

/// Adds the offending text to an expectation, unless it is a secret.
fn with_found(expected: String, raw: &str, secret: bool) -> String {
    if secret {
        expected
    } else {
        format!("{expected}, found `{}`", crate::shown::quoted_input(raw))
    }
}

/// Type errors and unknown keys of a merged table against the brick's
/// defaults, which list every key it knows with its type.
fn check_against_defaults(
    brick: &BrickName,
    table: &Table,
    origins: &OriginTable,
    defaults: &Table,
    prefix: &mut Vec<String>,
    problems: &mut Vec<Error>,
) {
    // Runs on every load: paths and messages are only built for problems.
    let full_key = |prefix: &[String], key: &str| {
        let path = KeyPath::from_segments(prefix.iter().map(String::as_str).chain([key]));
        format!("{brick}.{path}")
    };
    for (key, value) in table {
        let Some(node) = origins.get(key) else {
            continue;
        };
        let Some(expected) = defaults.get(key) else {
            problems.push(Error::UnknownKey {
                key: full_key(prefix, key),
                origin: node.origin().clone(),
                suggestion: suggest(key, defaults.keys()),
            });
            continue;
        };
        match (expected, value) {
            (Value::Table(expected), Value::Table(actual)) => {
                if let OriginNode::Table { children, .. } = node {
                    prefix.push(key.clone());
                    check_against_defaults(brick, actual, children, expected, prefix, problems);
                    prefix.pop();
                }
            }
            (Value::Float(_), Value::Integer(_)) => {}
            (expected, actual) if expected.same_type(actual) => {}
            (expected, actual) => problems.push(Error::InvalidType {
                key: full_key(prefix, key),
                origin: node.origin().clone(),
                expected: expected.type_str(),
                found: actual.type_str(),
            }),
        }
    }
}

/// The known name most like `unknown`, if one is close enough to be a typo
/// (`auto_synk` → `auto_sync`, `mount` → `mounts`).
#[must_use]
pub fn suggest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a String>) -> Option<String> {
    // The distance is at least the difference in length, so a name much
    // longer or shorter cannot score 0.6: skip it, and a 1 MB key in a file
    // costs no 1 MB × len edit-distance table per known key.
    let close_in_length = |k: &String| {
        let (a, b) = (unknown.chars().count(), k.chars().count());
        a.abs_diff(b) * 5 <= a.max(b) * 2
    };
    known
        .into_iter()
        .filter(|k| close_in_length(k))
        .map(|k| (strsim::normalized_damerau_levenshtein(unknown, k), k))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone())
}
