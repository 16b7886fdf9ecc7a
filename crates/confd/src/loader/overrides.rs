//! `--set BRICK.key=value`: parsed once, where it is given, and turned into
//! the brick's command-line layer.

use toml::Table;

use crate::layer::value_at;
use crate::shown::quoted_input;
use crate::value::parse_typed;
use crate::{BrickName, Error, KeyPath, Origin, Precedence, layer::Layer};

/// A parsed `--set BRICK.key=value`. `Debug` does not show the value, which
/// may be a secret.
#[derive(Clone, PartialEq, Eq, Hash)]
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
    type Err = OverrideError;

    /// Parses `BRICK.key=value`. The error quotes the key, never the value.
    fn from_str(spec: &str) -> Result<Self, OverrideError> {
        let Some((target, value)) = spec.split_once('=') else {
            return Err(OverrideError::new(
                spec,
                false,
                "expected `BRICK.key=value`, and there is no `=`".to_owned(),
            ));
        };
        Override::new(target, value)
    }
}

impl Override {
    /// The override of `target` (`brick.key.path`) with `value`.
    pub(crate) fn new(target: &str, value: &str) -> Result<Self, OverrideError> {
        let (brick, key) =
            parse_target(target).map_err(|reason| OverrideError::new(target, true, reason))?;
        Ok(Override {
            brick,
            key,
            value: value.to_owned(),
        })
    }
}

/// A `--set` that is not `BRICK.key=value`. A [`Loader`](crate::Loader)
/// keeps it until a load reports it. It quotes no more of the key part than
/// a secret allows, and never the value.
#[derive(Clone, Debug, thiserror::Error)]
#[error("invalid override `--set {}`: {reason}", quoted_input(spec))]
pub struct OverrideError {
    /// The text given to `--set` as far as it may be shown: its key
    /// (see [`quotable_key`](crate::secret::quotable_key)), never its value.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

impl OverrideError {
    fn new(target: &str, has_value: bool, reason: String) -> Self {
        OverrideError {
            spec: crate::secret::shown_override(target, has_value),
            reason,
        }
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

/// The layer of this brick's `--set` overrides, each parsed by the type of
/// its key. The value is not shown in the origin of a secret, of a key under
/// one, or of a key unknown to a brick that holds secrets (a misspelt
/// `api_kee` is somebody's API key all the same).
pub(super) fn cli_layer(
    brick: &BrickName,
    overrides: &[(KeyPath, String)],
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
            crate::secret::REDACTED.to_owned()
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
                message: super::checks::with_found(message, raw, secret),
            }),
        }
    }
    layer
}
