//! Loading a brick: its inputs resolved once, its files read, its layers
//! assembled.
//!
//! - this module: the [`Loader`] builder, the load's `Inputs` and the cache;
//! - `overrides`: `--set`, parsed once, and the command-line layer;
//! - `env_layer`: the deprecated variables, read once, and their layer;
//! - `assemble`: stacking the layers (pure: inputs and texts in);
//! - `checks`: types and unknown keys against the schema's defaults.

mod assemble;
mod checks;
mod env_layer;
mod overrides;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

pub use checks::suggest;
pub(crate) use env_layer::EnvSnapshot;
pub use overrides::{Override, OverrideError};

use crate::bricks::{self, Brick, Schema};
use crate::cache::{self, Snapshot};
use crate::env::Env;
use crate::error::InputSource;
use crate::file::{list_drop_ins, read_config_file};
use crate::fleet::{self, FleetLayers, FleetSource};
use crate::profile::UnknownProfile;
use crate::{BrickConfig, BrickName, Error, KeyPath, Profile, StateDir, origin::FileKind};
use assemble::Files;

/// The variable that names the profile.
const PROFILE_VAR: &str = "NEXUS_PROFILE";

/// Loads brick configurations with everything explicit: state dir, profile,
/// environment, command-line overrides and strictness.
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
/// #[brick(name = "relay")]
/// struct Relay {
///     #[brick(default = false, env = "RELAY_ENABLED")]
///     enabled: bool,
///     #[brick(default = 4, profile(lite = 2))]
///     pool: u32,
/// }
///
/// # let dir = tempfile::tempdir().unwrap();
/// let config = confd::Loader::new()
///     .state_dir(dir.path())
///     .profile("lite")
///     .env([("RELAY_ENABLED", "yes")])
///     .cli_override("other.key", "4")
///     .load("relay")?;
/// assert_eq!(config.get::<bool>("enabled")?, Some(true));
/// assert_eq!(config.origin("enabled").unwrap().to_string(), "env RELAY_ENABLED");
/// assert_eq!(config.get::<u32>("pool")?, Some(2));
/// # Ok::<(), confd::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Loader {
    state_dir: Option<PathBuf>,
    /// A name that is not a profile is kept to fail the load with.
    profile: Option<Result<Profile, String>>,
    env: Env,
    /// Parsed where they are given; a malformed one fails every load.
    overrides: Vec<Result<Override, OverrideError>>,
    strict: bool,
    candidate: Option<(PathBuf, String)>,
    uncached: bool,
    /// Where the fleet layers come from (DESIGN.md §10).
    fleet: fleet::Choice,
    /// A snapshot to read in place of `$STATE/etc` (else `$NEXUS_CONFIG_SNAPSHOT`).
    snapshot: Option<PathBuf>,
}

/// Everything a load depends on besides the brick's files, resolved once at
/// its start: the state dir, the profile, the brick's variables, its
/// overrides. Layers are assembled from this alone, and it is the cache's
/// key, so both see the same environment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Inputs {
    pub(crate) state: StateDir,
    pub(crate) brick: BrickName,
    /// The schema's `cache_id`, if it has one.
    pub(crate) schema: Option<&'static str>,
    pub(crate) profile: Profile,
    pub(crate) env: EnvSnapshot,
    /// This brick's overrides, in the order given.
    pub(crate) overrides: Vec<(KeyPath, String)>,
    pub(crate) strict: bool,
    /// The brick's fleet layers at their revisions, and their warnings.
    pub(crate) fleet: FleetLayers,
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
        let value = name.into();
        self.profile = Some(value.parse().map_err(|_| value));
        self
    }

    /// Uses this profile instead of `$NEXUS_PROFILE` or `full`: for a caller
    /// that has parsed it already.
    #[must_use]
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = Some(Ok(profile));
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
    pub fn cli_override(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.overrides
            .push(Override::new(key.as_ref(), value.as_ref()));
        self
    }

    /// Adds overrides parsed already (`"BRICK.key=value".parse()`).
    #[must_use]
    pub fn overrides(mut self, overrides: impl IntoIterator<Item = Override>) -> Self {
        self.overrides.extend(overrides.into_iter().map(Ok));
        self
    }

    /// Whether loads may be answered from the process-wide cache (default
    /// `true`). Turn it off to measure or to force a re-read.
    #[must_use]
    pub fn cache(mut self, enabled: bool) -> Self {
        self.uncached = !enabled;
        self
    }

    /// Reads every brick from the configuration snapshot at `path` in place
    /// of `$STATE/etc` (as `NEXUS_CONFIG_SNAPSHOT=PATH` does): profile
    /// defaults < snapshot < environment < `--set`. The profile, unless set,
    /// is the one the snapshot was taken with.
    #[must_use]
    pub fn snapshot(mut self, path: impl Into<PathBuf>) -> Self {
        self.snapshot = Some(path.into());
        self
    }

    /// The snapshot this loader reads in place of `$STATE/etc`, if any.
    pub fn resolved_snapshot(&self) -> Result<Option<PathBuf>, Error> {
        match &self.snapshot {
            Some(path) => Ok(Some(path.clone())),
            None => match self.env.get(crate::snapshot::SNAPSHOT_VAR)? {
                Some(path) if Path::new(&path).is_relative() => {
                    Err(crate::snapshot::SnapshotError::RelativePath { path: path.into() }.into())
                }
                path => Ok(path.map(PathBuf::from)),
            },
        }
    }

    /// A variable of this loader's environment.
    pub(crate) fn env_var(&self, var: &str) -> Result<Option<String>, Error> {
        Ok(self.env.get(var)?)
    }

    /// Makes unknown keys in registered bricks errors instead of warnings
    /// (and an unreachable fleet an error, for a fleet source that honours it).
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Whether this loader is strict.
    #[must_use]
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Takes the fleet layers from `source` instead of the process-wide one
    /// ([`fleet::install`]).
    #[must_use]
    pub fn fleet(mut self, source: Arc<dyn FleetSource>) -> Self {
        self.fleet = fleet::Choice::Given(fleet::Given(source));
        self
    }

    /// Loads from the local layers only, without any fleet layer: how the
    /// `fleet` brick itself is loaded, and how a fleet source reads its own
    /// settings.
    #[must_use]
    pub fn without_fleet(mut self) -> Self {
        self.fleet = fleet::Choice::Off;
        self
    }

    /// The fleet source this loader asks, if any.
    #[must_use]
    pub fn fleet_source(&self) -> Option<&Arc<dyn FleetSource>> {
        self.fleet.source()
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
        Ok(StateDir::resolve(self.state_dir.as_deref(), &self.env)?)
    }

    /// The profile this loader uses.
    pub fn resolved_profile(&self) -> Result<Profile, Error> {
        let (value, from) = match &self.profile {
            Some(Ok(profile)) => return Ok(*profile),
            Some(Err(value)) => (value.clone(), InputSource::Flag("--profile")),
            None => match self.env.get(PROFILE_VAR)? {
                Some(value) => (value, InputSource::Env(PROFILE_VAR)),
                None => {
                    // A guest runs with the profile its host had.
                    if let Some(path) = self.resolved_snapshot()? {
                        let snapshot = crate::snapshot::cached(&path)?;
                        return Ok(snapshot.profile().unwrap_or_default());
                    }
                    return Ok(Profile::default());
                }
            },
        };
        value.parse().map_err(|e: UnknownProfile| {
            UnknownProfile {
                from: Some(from),
                ..e
            }
            .into()
        })
    }

    /// The inputs of a load of `brick`, each resolved once.
    fn inputs(&self, brick: &BrickName, schema: Option<&dyn Schema>) -> Result<Inputs, Error> {
        let env = env_layer::snapshot(&self.env, schema)?;
        let state = self.resolved_state_dir()?;
        let profile = self.resolved_profile()?;
        let mut overrides = Vec::new();
        for o in &self.overrides {
            let o = o.as_ref().map_err(|m| Error::from(m.clone()))?;
            if &o.brick == brick {
                overrides.push((o.key.clone(), o.value.clone()));
            }
        }
        // Asked last, once the local inputs are known to be good: the source
        // may wait for a server (for at most its timeout). A snapshot holds
        // the host's values, the fleet's among them: it stands in for the
        // fleet as for `$STATE/etc`.
        let fleet = match self.fleet.source() {
            Some(source) if self.resolved_snapshot()?.is_none() => {
                source.layers(&self.clone().without_fleet(), brick)?
            }
            _ => FleetLayers::default(),
        };
        Ok(Inputs {
            state,
            brick: brick.clone(),
            schema: schema.and_then(|s| s.cache_id()),
            profile,
            env,
            overrides,
            strict: self.strict,
            fleet,
        })
    }

    /// Loads one brick: a shipped brick with its schema, any other valid name
    /// from its files and overrides alone.
    ///
    /// A repeated load of a brick whose files, environment and overrides are
    /// unchanged is answered from a process-wide cache after a `stat` of each
    /// file (see `crate::cache` for why that is never stale).
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
        let inputs = self.inputs(brick, schema)?;
        if let Some(path) = self.resolved_snapshot()? {
            // The snapshot is parsed once per version of its file, so each
            // load only stacks its layers.
            let snapshot = crate::snapshot::cached(&path)?;
            let (layer, withheld) = snapshot.layer(brick.as_str(), &path, inputs.profile);
            let files = Files {
                snapshot: Some((path, layer, withheld)),
                ..Files::default()
            };
            let config = assemble::assemble(&inputs, schema, files)?;
            return finish(&config, true);
        }
        let cacheable = !self.uncached
            && self.candidate.is_none()
            && schema.is_none_or(|s| s.cache_id().is_some());
        if cacheable && let Some(hit) = cache::lookup(&inputs) {
            return finish(&hit, false);
        }
        let loaded_at = SystemTime::now();
        let main = inputs.state.main_file(brick);
        let drop_in_dir = inputs.state.drop_in_dir(brick);
        // The drop-ins are listed once, for the snapshot and the read; the
        // snapshot's `stat`s come before any file is read.
        let (snapshot, drop_ins) = if cacheable {
            Snapshot::take(&main, &drop_in_dir)
        } else {
            (None, list_drop_ins(&drop_in_dir))
        };
        let files = self.read_files(&inputs.state, main, &drop_in_dir, drop_ins);
        let config = assemble::assemble(&inputs, schema, files)?;
        let finished = finish(&config, true)?;
        if let Some(snapshot) = snapshot {
            cache::store(inputs, snapshot, loaded_at, &config);
        }
        Ok(finished)
    }

    /// The texts of the main file and the drop-ins, in merge order; a file
    /// that cannot be read is an error, and the others are still read.
    fn read_files(
        &self,
        state: &StateDir,
        main: PathBuf,
        drop_in_dir: &Path,
        drop_ins: Result<Vec<PathBuf>, Error>,
    ) -> Files {
        let mut files = Files::default();
        match self.read(&main) {
            Ok(Some(text)) => files.texts.push((main, text, FileKind::MainFile)),
            Ok(None) => {}
            Err(e) => files.errors.push(e),
        }
        match drop_ins {
            Ok(paths) => {
                for path in self.with_candidate_drop_in(drop_in_dir, paths) {
                    match self.read(&path) {
                        Ok(Some(text)) => files.texts.push((path, text, FileKind::DropIn)),
                        Ok(None) => {}
                        Err(e) => files.errors.push(e),
                    }
                }
            }
            Err(e) => files.errors.push(e),
        }
        // A file where the state dir, `etc` or `conf.d` belongs fails every
        // lookup below it: report that once, and only when something failed,
        // so a good load pays no extra `stat`.
        if !files.errors.is_empty()
            && let Err(e) = state.check_layout()
        {
            files.errors.clear();
            files.errors.push(e.into());
        }
        files
    }

    /// The drop-ins in order, with a candidate drop-in that does not exist yet.
    fn with_candidate_drop_in(&self, dir: &Path, mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
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
        paths
    }
}
