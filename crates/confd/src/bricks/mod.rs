//! Typed bricks: a Rust type per brick that knows its defaults per profile,
//! its deprecated environment variables, its secret keys and its rules.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use toml::Table;

use crate::{BrickConfig, Error, KeyPath, Profile};

mod cache;
mod database;
mod llm;
mod mounts;
mod permissions;
mod search;
mod uploads;

pub use cache::{CacheBackend, CacheConfig};
pub use database::DatabaseConfig;
pub use llm::{LlmConfig, LlmProvider};
pub use mounts::MountsConfig;
pub use permissions::PermissionsConfig;
pub use search::SearchConfig;
pub use uploads::UploadsConfig;

/// A deprecated environment variable that still sets a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnvAlias {
    /// The variables, in order of preference: the first one set wins
    /// (`NEXUS_DRAGONFLY_URL`, then `DRAGONFLY_URL`).
    pub vars: &'static [&'static str],
    /// The key it sets, as a dotted path inside the brick.
    pub key: &'static str,
    /// Whether a true value means `false` (`NEXUS_DISABLE_PREDICATE_PUSHDOWN`
    /// sets `enable_predicate_pushdown`).
    pub inverted: bool,
}

impl EnvAlias {
    /// An alias read from `vars` (first set wins) into `key`.
    #[must_use]
    pub const fn new(vars: &'static [&'static str], key: &'static str) -> Self {
        EnvAlias {
            vars,
            key,
            inverted: false,
        }
    }

    /// The same alias with its boolean meaning inverted.
    #[must_use]
    pub const fn inverted(self) -> Self {
        EnvAlias {
            inverted: true,
            ..self
        }
    }
}

/// A rule across keys that a configuration breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule, with the values involved (never a secret).
    pub message: String,
    /// The keys involved, so the error can say where each value came from.
    pub keys: Vec<&'static str>,
}

/// A brick with a schema: its configuration type.
///
/// The type's `Serialize` form for a profile's defaults is the brick's
/// schema: it lists every key the brick knows and its TOML type.
pub trait Brick: Serialize + DeserializeOwned + 'static {
    /// The brick's name, which is also its file name in `conf.d`.
    const NAME: &'static str;
    /// Deprecated environment variables the brick still honours.
    const ENV_ALIASES: &'static [EnvAlias] = &[];
    /// Keys whose values are never printed in full.
    const SECRET_KEYS: &'static [&'static str] = &[];

    /// The built-in defaults for a profile.
    fn defaults(profile: Profile) -> Self;

    /// Rules across keys, checked after the layers are merged.
    fn validate(&self) -> Result<(), Violation> {
        Ok(())
    }
}

/// What the loader needs of a brick, without knowing its type.
pub trait Schema: Send + Sync {
    /// The brick's name.
    fn name(&self) -> &'static str;
    /// Its defaults for `profile`, as a table.
    fn defaults(&self, profile: Profile) -> Table;
    /// Its deprecated environment variables.
    fn env_aliases(&self) -> &'static [EnvAlias];
    /// Its secret keys.
    fn secret_keys(&self) -> &'static [&'static str];
    /// Whether the value at `key` is secret, as [`BrickConfig::is_secret`]
    /// decides: a secret key, anything under one, or, in a brick that holds
    /// secrets, a key it does not know (perhaps a misspelt secret).
    fn is_secret(&self, key: &KeyPath) -> bool {
        let declared = self.secret_keys();
        !declared.is_empty()
            && (crate::secret::at_or_under(declared, key)
                || crate::layer::value_at(&self.defaults(Profile::default()), key).is_none())
    }
    /// Deserializes the merged configuration and checks the brick's rules.
    fn check(&self, config: &BrickConfig) -> Result<(), Error>;
    /// A name unique to this schema's definition (its type's name), so loads
    /// can be cached; `None` (the default) disables caching for the schema.
    fn cache_id(&self) -> Option<&'static str> {
        None
    }
}

struct TypedSchema<T>(PhantomData<fn() -> T>);

impl<T: Brick> Schema for TypedSchema<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn defaults(&self, profile: Profile) -> Table {
        // Serializing a struct of plain fields into a table cannot fail; a
        // brick whose type cannot serialize is a programming error caught by
        // the shipped-defaults tests.
        Table::try_from(T::defaults(profile))
            .unwrap_or_else(|e| panic!("brick `{}` defaults do not serialize: {e}", T::NAME))
    }

    fn env_aliases(&self) -> &'static [EnvAlias] {
        T::ENV_ALIASES
    }

    fn secret_keys(&self) -> &'static [&'static str] {
        T::SECRET_KEYS
    }

    fn cache_id(&self) -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }

    fn check(&self, config: &BrickConfig) -> Result<(), Error> {
        let typed: T = config.deserialize()?;
        typed
            .validate()
            .map_err(|violation| violation_error(T::NAME, config, violation))
    }
}

/// The error for a broken rule, naming where each involved value came from.
pub(crate) fn violation_error(brick: &str, config: &BrickConfig, violation: Violation) -> Error {
    Error::Validation {
        brick: brick.to_owned(),
        // A rule's message may quote a value: cut short, as serde's are.
        message: crate::shown::cut_quoted(&violation.message),
        involved: violation
            .keys
            .iter()
            .map(|key| {
                let origin = key.parse().ok().and_then(|k| config.origin_of(&k)).cloned();
                (format!("{brick}.{key}"), origin)
            })
            .collect(),
    }
}

/// The type-erased schema of a typed brick.
#[must_use]
pub fn schema_of<T: Brick>() -> &'static dyn Schema {
    &TypedSchema::<T>(PhantomData)
}

/// The schemas of the seven shipped bricks, by name.
#[must_use]
pub fn registered() -> &'static [&'static dyn Schema] {
    static REGISTERED: std::sync::OnceLock<[&'static dyn Schema; 7]> = std::sync::OnceLock::new();
    REGISTERED.get_or_init(|| {
        [
            schema_of::<CacheConfig>(),
            schema_of::<DatabaseConfig>(),
            schema_of::<LlmConfig>(),
            schema_of::<MountsConfig>(),
            schema_of::<PermissionsConfig>(),
            schema_of::<SearchConfig>(),
            schema_of::<UploadsConfig>(),
        ]
    })
}

/// The schema of a shipped brick, if `name` is one.
#[must_use]
pub fn lookup(name: &str) -> Option<&'static dyn Schema> {
    registered().iter().copied().find(|s| s.name() == name)
}

/// A secret string: serialized as itself, but never shown by `Debug` or
/// `Display`. Call [`Secret::expose`] where the value is really needed.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no value is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(\"\")")
        } else {
            f.write_str("Secret(<redacted>)")
        }
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "" } else { "<redacted>" })
    }
}
