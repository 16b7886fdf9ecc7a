//! Stacking a load's layers: a pure function of the load's [`Inputs`] and
//! the texts of its files (no environment, no disk).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use toml::Table;

use super::Inputs;
use super::checks::check_against_defaults;
use super::env_layer::env_layer;
use super::overrides::cli_layer;
use crate::bricks::Schema;
use crate::config::{Resolved, Warning};
use crate::layer::{Merged, Snippets, TextSource};
use crate::{BrickConfig, Error, KeyPath, Origin, Profile, layer::Layer, origin::FileKind};

/// A brick's files as read: each with its text, in merge order, and the
/// problems met reading them.
#[derive(Default)]
pub(super) struct Files {
    pub(super) texts: Vec<(PathBuf, String, FileKind)>,
    pub(super) errors: Vec<Error>,
    /// A snapshot read in place of the files: its layers, stacked where the
    /// files would be, and the secrets it withheld.
    pub(super) snapshot: Option<(PathBuf, Layer, Vec<String>)>,
}

/// The configuration `inputs` and `files` make: every layer parsed once and
/// merged by the one rule, what it loses kept for `explain`, then checked against the
/// schema's defaults. The schema's own checks (types, rules) run later, once
/// these structural problems are out of the way.
pub(super) fn assemble(
    inputs: &Inputs,
    schema: Option<&dyn Schema>,
    files: Files,
) -> Result<BrickConfig, Error> {
    let Files {
        texts,
        mut errors,
        snapshot,
    } = files;
    let brick = &inputs.brick;
    let secret_keys = schema.map_or(&[][..], |s| s.secret_keys());
    let snippets = if secret_keys.is_empty() {
        Snippets::Shown
    } else {
        Snippets::Redacted
    };
    let defaults_layer = schema.map(|s| defaults_layer(s, inputs.profile));
    let empty = Table::new();
    let defaults = defaults_layer
        .as_ref()
        .map_or(&empty, |layer| layer.table());

    // Each layer is stacked as soon as it is parsed: the merged tree takes
    // its values, and it keeps what they displace (see `layer::merge`).
    let mut warnings = Vec::new();
    let mut merged = Merged::default();
    if let Some(layer) = &defaults_layer {
        merged.push_shared(Arc::clone(layer));
    }
    // The fleet's layers, between the defaults and the host's own files
    // (DESIGN.md §10), parsed by the same code as the files.
    for fleet in &inputs.fleet.texts {
        let source = TextSource::Etcd(Arc::new(fleet.key.clone()));
        if let Err(e) = merged.push_text(&fleet.text, source, snippets) {
            errors.push(e);
        }
    }
    warnings.extend(inputs.fleet.warnings.iter().cloned().map(Warning::Fleet));
    for (path, text, kind) in texts {
        let source = TextSource::File {
            path: Arc::from(path),
            kind,
        };
        if let Err(e) = merged.push_text(&text, source, snippets) {
            errors.push(e);
        }
    }
    if let Some((path, layer, withheld)) = snapshot {
        merged.push(layer);
        for key in withheld {
            warnings.push(Warning::Withheld {
                key: format!("{brick}.{key}"),
                snapshot: path.clone(),
            });
        }
    }
    if let Some(schema) = schema {
        let env = env_layer(
            brick,
            schema,
            &inputs.env,
            defaults,
            &mut warnings,
            &mut errors,
        )?;
        merged.push(env);
    }
    merged.push(cli_layer(
        brick,
        &inputs.overrides,
        defaults,
        secret_keys,
        &mut errors,
    ));
    let (table, origins, layers) = merged.into_parts();

    if let Some(schema) = schema {
        let mut problems = Vec::new();
        let optional = schema.optional_keys();
        let declared = |path: &str| optional.contains(&path);
        check_against_defaults(
            brick,
            &table,
            &origins,
            defaults,
            &declared,
            &mut Vec::new(),
            &mut problems,
        );
        for problem in problems {
            match problem {
                Error::UnknownKey {
                    key,
                    origin,
                    suggestion,
                } if !inputs.strict => {
                    tracing::warn!("unknown key `{key}` at `{origin}`");
                    warnings.push(Warning::UnknownKey {
                        key,
                        origin,
                        suggestion,
                    });
                }
                other => errors.push(other),
            }
        }
    }
    if let Some(e) = Error::from_list(errors) {
        return Err(e);
    }
    Ok(BrickConfig::from(Resolved {
        name: brick.to_string(),
        profile: inputs.profile,
        table,
        origins,
        layers,
        secret_keys,
        optional_keys: schema.map_or(&[][..], |s| s.optional_keys()),
        reload_keys: schema.map_or_else(Vec::new, reload_keys),
        known: defaults_layer,
        warnings,
    }))
}

/// The keys `schema` declares `reload`. Every load asks, but few keys are
/// `reload`: a brick without any allocates nothing here.
fn reload_keys(schema: &dyn Schema) -> Vec<KeyPath> {
    schema
        .keys()
        .iter()
        .filter(|key| key.reload)
        // A declared path always parses; one that did not would only make
        // its key count for a restart, the safe side.
        .filter_map(|key| key.path.parse().ok())
        .collect()
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
