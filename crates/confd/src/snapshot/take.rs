//! Taking a snapshot on the host: each brick loaded as the host's own
//! processes would load it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::Value;

use super::{BrickSnapshot, FORMAT, Header, Snapshot, SnapshotError};
use crate::{EffectiveHash, Error, Loader, Precedence};

/// What a snapshot holds besides the values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// Leave every secret out, listing the keys withheld, so the guest gets
    /// them another way.
    pub no_secrets: bool,
}

/// A snapshot of `bricks`, each loaded with `loader` (the host's state dir,
/// profile, environment and `--set`s).
///
/// # Errors
/// The first brick that does not load (a snapshot is all or nothing), a
/// name that is no brick and configures nothing (a typo), `no_secrets` for
/// a brick this program does not link, a loader that reads a snapshot
/// itself, a `SOURCE_DATE_EPOCH` that is not a number of seconds.
pub fn take(
    loader: &Loader,
    bricks: &[String],
    options: SnapshotOptions,
) -> Result<Snapshot, Error> {
    if let Some(path) = loader.resolved_snapshot()? {
        return Err(SnapshotError::InGuest { path }.into());
    }
    let state = loader.resolved_state_dir()?;
    let profile = loader.resolved_profile()?;
    let taken = match loader.env_var("SOURCE_DATE_EPOCH")? {
        None => None,
        Some(value) => Some(
            value
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .ok_or(SnapshotError::InvalidSourceDate { value })?,
        ),
    };
    let mut taken_bricks = BTreeMap::new();
    for name in bricks {
        let config = loader.load(name)?;
        let registered = crate::bricks::lookup(name).is_some();
        if !registered && config.table().is_empty() {
            let names: Vec<String> = crate::bricks::registered()
                .iter()
                .map(|s| s.name().to_owned())
                .collect();
            let hint = crate::loader::suggest(name, &names)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(SnapshotError::NotABrick {
                brick: name.clone(),
                hint,
            }
            .into());
        }
        if options.no_secrets && !registered {
            return Err(SnapshotError::CannotWithhold {
                brick: name.clone(),
            }
            .into());
        }
        let mut values = config.table().clone();
        let mut withheld = Vec::new();
        if options.no_secrets {
            for (key, value) in crate::value::leaves(config.table()) {
                // An empty secret holds nothing to withhold.
                let empty = matches!(value, Value::String(s) if s.is_empty());
                if config.is_secret(&key) && !empty {
                    crate::layer::remove_at(&mut values, &key);
                    withheld.push(key.to_string());
                }
            }
        }
        let mut origins = BTreeMap::new();
        let mut profile_defaults = Vec::new();
        for (key, _) in crate::value::leaves(&values) {
            let Some(origin) = config.origin_of(&key) else {
                continue;
            };
            if origin.precedence() == Precedence::ProfileDefault {
                profile_defaults.push(key.to_string());
            }
            origins.insert(key.to_string(), origin.to_string());
        }
        taken_bricks.insert(
            name.clone(),
            BrickSnapshot {
                // Over the withheld secrets too: not given when there are
                // any (see `BrickSnapshot::hash`).
                hash: withheld
                    .is_empty()
                    .then(|| config.effective_hash().to_string()),
                values_hash: EffectiveHash::of(&values).to_string(),
                withheld,
                profile_defaults,
                values,
                origins,
            },
        );
    }
    Ok(Snapshot {
        snapshot: Header {
            format: FORMAT,
            confd: env!("CARGO_PKG_VERSION").to_owned(),
            // Spelt without a trailing `/` or `.`: the bytes must not depend
            // on how the state dir was written.
            state_dir: state.root().components().collect::<PathBuf>(),
            profile: profile.to_string(),
            taken,
        },
        bricks: taken_bricks,
    })
}
