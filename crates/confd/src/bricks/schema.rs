//! What the loader and the tools need of a brick without knowing its type.

use toml::Table;

use super::{EnvAlias, KeyDecl, Violation};
use crate::{BrickConfig, Error, KeyPath, Profile};

/// A brick's schema, type-erased: a linked brick's ([`schema_of`](super::schema_of))
/// or one read from an installed schema file.
pub trait Schema: Send + Sync {
    /// The brick's name.
    fn name(&self) -> &'static str;
    /// What the brick is for.
    fn doc(&self) -> &'static str {
        ""
    }
    /// Its defaults for `profile`, as a table.
    fn defaults(&self, profile: Profile) -> Table;
    /// Its keys as declared, in declaration order (tables before their keys).
    fn keys(&self) -> &[KeyDecl] {
        &[]
    }
    /// Its deprecated environment variables.
    fn env_aliases(&self) -> &'static [EnvAlias];
    /// Its secret keys.
    fn secret_keys(&self) -> &'static [&'static str];
    /// Its keys without a default (an `Option` left unset): keys of the
    /// brick all the same, never unknown ones.
    fn optional_keys(&self) -> &'static [&'static str] {
        &[]
    }
    /// The hashes of the default files shipped for it before this one.
    fn shipped_history(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether the value at `key` is secret, as [`BrickConfig::is_secret`]
    /// decides: a secret key, anything under one, or, in a brick that holds
    /// secrets, a key it does not know (perhaps a misspelt secret).
    fn is_secret(&self, key: &KeyPath) -> bool {
        let declared = self.secret_keys();
        !declared.is_empty()
            && (crate::secret::at_or_under(declared, key)
                || (crate::layer::value_at(&self.defaults(Profile::default()), key).is_none()
                    && !crate::secret::at_or_under(self.optional_keys(), key)))
    }
    /// Deserializes the merged configuration and checks the brick's rules.
    fn check(&self, config: &BrickConfig) -> Result<(), Error>;
    /// A name unique to this schema's definition (its type's name), so loads
    /// can be cached; `None` (the default) disables caching for the schema.
    fn cache_id(&self) -> Option<&'static str> {
        None
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
