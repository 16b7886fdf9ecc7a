//! The effective configuration of one brick, with the origin of every value.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::de::Borrowed;
use crate::error::GetError;
use crate::layer::{Kept, Layer, OriginTable, origin_at, value_at};
use crate::secret::redact;
use crate::{KeyPath, Origin, Profile};

/// Something worth telling the user that does not stop the load.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Warning {
    /// A deprecated environment variable is set.
    Deprecated {
        /// The variable.
        var: String,
        /// The `brick.key` that replaces it.
        key: String,
        /// Whether the key is secret: then the advice is the brick's file,
        /// never `--set`, whose value every user can read in `/proc/*/cmdline`.
        secret: bool,
    },
    /// A secret was left out of the snapshot this load read: its value comes
    /// from this machine's own layers (or the default).
    Withheld {
        /// `brick.key`.
        key: String,
        /// The snapshot.
        snapshot: std::path::PathBuf,
    },
    /// A registered brick has a key its schema does not know.
    UnknownKey {
        /// `brick.key.path`.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// The closest known key, if one is close.
        suggestion: Option<String>,
    },
    /// The fleet layer came from the offline cache, or is missing
    /// (DESIGN.md §10): the complete message, with revision and age.
    Fleet(String),
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Deprecated { var, key, secret } => {
                let (brick, rest) = key.split_once('.').unwrap_or((key, ""));
                if *secret {
                    write!(
                        f,
                        "environment variable `{var}` is deprecated: set `{rest}` in \
                         `conf.d/{brick}` (mode 0600) instead; not with `--set`, which every \
                         user can read in the process list"
                    )
                } else {
                    write!(
                        f,
                        "environment variable `{var}` is deprecated: set `{rest}` in `conf.d/{brick}` \
                         (or `--set {key}=…`) instead"
                    )
                }
            }
            Warning::UnknownKey {
                key,
                origin,
                suggestion,
            } => {
                let unknown = crate::Error::UnknownKey {
                    key: key.clone(),
                    origin: origin.clone(),
                    suggestion: suggestion.clone(),
                };
                write!(f, "{unknown}: the brick ignores it")
            }
            Warning::Fleet(message) => f.write_str(&crate::shown::terminal_safe(message)),
            Warning::Withheld { key, snapshot } => write!(
                f,
                "`{key}` was withheld from the snapshot `{}`: it comes from this machine's \
                 environment, `--set` or its default",
                crate::shown::ShownPath(snapshot)
            ),
        }
    }
}

/// A brick's effective configuration: every layer merged, each value with its
/// origin. `Debug` and `Display` never show a secret value.
///
/// Cloning is cheap (a reference count), so a cached load can be handed out
/// again without copying tables.
#[derive(Clone)]
pub struct BrickConfig {
    inner: Arc<Resolved>,
}

/// What a load resolved, shared by every clone of a [`BrickConfig`].
pub(crate) struct Resolved {
    pub(crate) name: String,
    pub(crate) profile: Profile,
    pub(crate) table: Table,
    pub(crate) origins: OriginTable,
    /// Every layer merged, lowest first, holding what the merged tree
    /// displaced from it (the rest is in `table`, where `origins` name it).
    pub(crate) layers: Vec<Kept>,
    pub(crate) secret_keys: &'static [&'static str],
    /// The schema's keys without a default, known all the same.
    pub(crate) optional_keys: &'static [&'static str],
    /// The keys the schema declares `reload` (applied live by the brick).
    pub(crate) reload_keys: Vec<KeyPath>,
    /// The schema's defaults, which name every key the brick knows.
    pub(crate) known: Option<Arc<Layer>>,
    pub(crate) warnings: Vec<Warning>,
}

impl From<Resolved> for BrickConfig {
    fn from(resolved: Resolved) -> Self {
        BrickConfig {
            inner: Arc::new(resolved),
        }
    }
}

impl BrickConfig {
    /// The brick's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The profile whose defaults were used.
    #[must_use]
    pub fn profile(&self) -> Profile {
        self.inner.profile
    }

    /// The merged table, secrets included.
    #[must_use]
    pub fn table(&self) -> &Table {
        &self.inner.table
    }

    /// The value at a dotted key path, deserialized; `Ok(None)` if not set.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, GetError> {
        let path: KeyPath = key.parse()?;
        let Some(value) = value_at(&self.inner.table, &path) else {
            return Ok(None);
        };
        T::deserialize(Borrowed::Value(value))
            .map(Some)
            .map_err(|e| {
                let origin = self
                    .origin_of(&path)
                    .cloned()
                    .unwrap_or(Origin::ProfileDefault(self.inner.profile));
                GetError::Value {
                    key: format!("{}.{path}", self.inner.name),
                    message: self.describe_de_error(&path, e.message()),
                    origin,
                }
            })
    }

    /// The value at a key path, if set.
    #[must_use]
    pub fn value(&self, key: &KeyPath) -> Option<&Value> {
        value_at(&self.inner.table, key)
    }

    /// Where the winning value of a dotted key path came from.
    #[must_use]
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.origin_of(&key.parse().ok()?)
    }

    /// Where the winning value at `key` came from.
    #[must_use]
    pub fn origin_of(&self, key: &KeyPath) -> Option<&Origin> {
        origin_at(&self.inner.origins, key).map(|node| node.origin())
    }

    /// The origins of every key, shaped like [`BrickConfig::table`].
    #[must_use]
    pub fn origins(&self) -> &OriginTable {
        &self.inner.origins
    }

    /// Every layer that sets `key`, lowest first, with its value and origin.
    /// The last entry is the winner if the key is set
    /// ([`BrickConfig::value`] finds it); if not, a higher layer replaced a
    /// table above the key, and no entry wins.
    #[must_use]
    pub fn explain(&self, key: &KeyPath) -> Vec<(Value, Origin)> {
        self.inner
            .layers
            .iter()
            .filter_map(|layer| layer.at(key, &self.inner.table, &self.inner.origins))
            .collect()
    }

    /// The layers that were merged, lowest first, each on its own, as the
    /// load parsed them.
    #[must_use]
    pub fn layers(&self) -> Vec<Layer> {
        self.inner
            .layers
            .iter()
            .map(|layer| layer.whole(&self.inner.table, &self.inner.origins))
            .collect()
    }

    /// The whole configuration as a typed value.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, GetError> {
        // The common case pays for no path tracking; only a failure is
        // deserialized again to learn which key it was.
        // Borrowing the table costs no copy of it.
        if let Ok(value) = T::deserialize(Borrowed::Table(&self.inner.table)) {
            return Ok(value);
        }
        let value = Value::Table(self.inner.table.clone());
        serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
            // Origins stop at arrays (an array is one value, replaced whole), so a problem
            // inside one (`[[ace]]`'s `right`) is placed at the array, and named in full.
            let segments: Vec<String> = e
                .path()
                .iter()
                .map_while(|s| match s {
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    _ => None,
                })
                .collect();
            let in_array = e.path().iter().count() > segments.len();
            let path = KeyPath::from_segments(segments);
            let message = self.describe_de_error(&path, e.inner().message());
            let key = if in_array {
                e.path().to_string()
            } else {
                path.to_string()
            };
            match self.origin_of(&path) {
                Some(origin) if !path.is_empty() => GetError::Value {
                    key: format!("{}.{key}", self.inner.name),
                    origin: origin.clone(),
                    message,
                },
                _ => GetError::Shape {
                    brick: self.inner.name.clone(),
                    message,
                },
            }
        })
    }

    /// The hash of the merged values, stable across processes and
    /// platforms; equal for configurations that differ only in comments,
    /// formatting or which layer set a value. Computed on each call.
    #[must_use]
    pub fn effective_hash(&self) -> crate::EffectiveHash {
        crate::EffectiveHash::of(&self.inner.table)
    }

    /// The hash of the values a change of which needs a restart: every
    /// value but those of the keys the brick declares `reload` (see
    /// [`ConfigHashes`](crate::hash::ConfigHashes)). Equal to
    /// [`BrickConfig::effective_hash`] for a brick without `reload` keys.
    /// Computed on each call.
    #[must_use]
    pub fn restart_hash(&self) -> crate::EffectiveHash {
        crate::EffectiveHash::of_without(&self.inner.table, &self.inner.reload_keys)
    }

    /// Both hashes, for [`plan`](crate::watch::plan) to tell a reload from a restart.
    #[must_use]
    pub fn hashes(&self) -> crate::hash::ConfigHashes {
        crate::hash::ConfigHashes {
            effective: self.effective_hash(),
            restart: self.restart_hash(),
        }
    }

    /// Whether the brick applies a change of `key` live: `key` is one it
    /// declares `reload`, or under one. Any other key needs a restart.
    #[must_use]
    pub fn is_reload(&self, key: &KeyPath) -> bool {
        self.inner
            .reload_keys
            .iter()
            .any(|reload| key.segments().starts_with(reload.segments()))
    }

    /// Whether `other` is the very same load (a clone, or a cache hit), not
    /// merely an equal one.
    #[must_use]
    pub fn is_same_load(&self, other: &BrickConfig) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Warnings found while loading (deprecated variables, unknown keys).
    #[must_use]
    pub fn warnings(&self) -> &[Warning] {
        &self.inner.warnings
    }

    /// Whether the value at `key` is secret: a secret key, anything under
    /// one (`store.url.sub`), or, in a brick that holds secrets, a key it
    /// does not know, which may be a misspelt secret (`api_kee`) and is
    /// ignored anyway.
    #[must_use]
    pub fn is_secret(&self, key: &KeyPath) -> bool {
        let declared = self.inner.secret_keys;
        if declared.is_empty() || key.is_empty() {
            return false;
        }
        crate::secret::at_or_under(declared, key)
            || (self
                .inner
                .known
                .as_ref()
                .is_some_and(|known| value_at(known.table(), key).is_none())
                && !crate::secret::at_or_under(self.inner.optional_keys, key))
    }

    /// The merged table with every non-empty secret (as
    /// [`BrickConfig::is_secret`] decides) replaced by [`REDACTED`](crate::secret::REDACTED).
    #[must_use]
    pub fn redacted_table(&self) -> Table {
        let mut table = self.inner.table.clone();
        if !self.inner.secret_keys.is_empty() {
            self.redact_in(&mut table, &mut Vec::new());
        }
        table
    }

    /// `value`, found at `key`, as it may be shown: redacted when the key is
    /// secret, and, when it is a table, with every secret inside it
    /// redacted (`get BRICK.table` must not print what `show` hides).
    #[must_use]
    pub fn redacted_value(&self, key: &KeyPath, value: &Value) -> Value {
        if self.is_secret(key) {
            return redact(value);
        }
        match value {
            Value::Table(table) => {
                let mut table = table.clone();
                let mut prefix: Vec<String> = key.segments().to_vec();
                self.redact_in(&mut table, &mut prefix);
                Value::Table(table)
            }
            other => other.clone(),
        }
    }

    fn redact_in(&self, table: &mut Table, prefix: &mut Vec<String>) {
        for (key, value) in table.iter_mut() {
            prefix.push(key.clone());
            if self.is_secret(&KeyPath::from_segments(prefix.iter().cloned())) {
                *value = redact(value);
            } else if let Value::Table(inner) = value {
                self.redact_in(inner, prefix);
            }
            prefix.pop();
        }
    }

    fn describe_de_error(&self, path: &KeyPath, message: &str) -> String {
        if self.is_secret(path) {
            "the value is not acceptable (not shown: the key is secret)".to_owned()
        } else {
            // The message may quote the value: 500 KB of it make no message.
            crate::shown::cut_quoted(message.trim_end())
        }
    }
}

impl fmt::Display for BrickConfig {
    /// The configuration as TOML, secrets redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = toml::to_string(&self.redacted_table()).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl fmt::Debug for BrickConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrickConfig")
            .field("name", &self.inner.name)
            .field("profile", &self.inner.profile)
            .field("table", &self.redacted_table())
            .field("warnings", &self.inner.warnings.len())
            .finish_non_exhaustive()
    }
}
