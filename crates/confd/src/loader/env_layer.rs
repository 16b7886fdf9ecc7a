//! The deprecated environment variables a brick still honours: read once
//! per load into a snapshot (which keys the cache), then turned into a layer.

use toml::{Table, Value};

use crate::bricks::Schema;
use crate::config::Warning;
use crate::env::{self, Env};
use crate::layer::value_at;
use crate::value::parse_typed;
use crate::{BrickName, Error, KeyPath, Origin, Precedence, layer::Layer};

/// For each of a schema's aliases in order, the variable that is set (the
/// first of its names that is, as `NEXUS_QUEUE_URL` before
/// `QUEUE_URL`) and its value. The load reads nothing else of them.
pub(crate) type EnvSnapshot = Vec<Option<(&'static str, String)>>;

/// Reads each alias's variables once.
pub(super) fn snapshot(env: &Env, schema: Option<&dyn Schema>) -> Result<EnvSnapshot, Error> {
    let aliases = schema.map_or(&[][..], |s| s.env_aliases());
    let mut found = Vec::with_capacity(aliases.len());
    for alias in aliases {
        let mut winner = None;
        for var in alias.vars {
            if let Some(value) = env.get(var)? {
                winner = Some((*var, value));
                break;
            }
        }
        found.push(winner);
    }
    Ok(found)
}

/// The layer of the brick's deprecated environment variables that are set,
/// each warned about (in the log once per process).
pub(super) fn env_layer(
    brick: &BrickName,
    schema: &dyn Schema,
    snapshot: &EnvSnapshot,
    defaults: &Table,
    warnings: &mut Vec<Warning>,
    errors: &mut Vec<Error>,
) -> Result<Layer, Error> {
    let mut layer = Layer::empty(Precedence::Env);
    for (alias, found) in schema.env_aliases().iter().zip(snapshot) {
        let Some((var, raw)) = found else {
            continue;
        };
        let key: KeyPath = alias.key.parse()?;
        let full_key = format!("{brick}.{key}");
        if env::first_warning_for(var) {
            tracing::warn!(
                "environment variable `{var}` is deprecated: set `{key}` in `conf.d/{brick}` instead"
            );
        }
        let secret = crate::secret::at_or_under(schema.secret_keys(), &key);
        warnings.push(Warning::Deprecated {
            var: (*var).to_owned(),
            key: full_key.clone(),
            secret,
        });
        let origin = Origin::Env((*var).to_owned());
        match parse_typed(raw, value_at(defaults, &key)) {
            Ok(Value::Boolean(b)) if alias.inverted => {
                layer.insert(&key, Value::Boolean(!b), origin);
            }
            Ok(value) => layer.insert(&key, value, origin),
            Err(message) => errors.push(Error::InvalidValue {
                message: super::checks::with_found(message, raw, secret),
                key: full_key,
                origin,
            }),
        }
    }
    Ok(layer)
}
