//! Taking a snapshot on the host: each brick loaded as the host's own
//! processes would load it.

use std::collections::BTreeMap;

use super::{BrickSnapshot, FORMAT, Header, Snapshot};
use crate::{EffectiveHash, Error, Loader};

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
/// The first brick that does not load: a snapshot is all or nothing.
pub fn take(
    loader: &Loader,
    bricks: &[String],
    options: SnapshotOptions,
) -> Result<Snapshot, Error> {
    let state = loader.resolved_state_dir()?;
    let profile = loader.resolved_profile()?;
    let taken = loader
        .env_var("SOURCE_DATE_EPOCH")?
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut taken_bricks = BTreeMap::new();
    for name in bricks {
        let config = loader.load(name)?;
        let mut values = config.table().clone();
        let mut withheld = Vec::new();
        if options.no_secrets {
            for (key, _) in crate::leaves(config.table()) {
                if config.is_secret(&key) {
                    crate::layer::remove_at(&mut values, &key);
                    withheld.push(key.to_string());
                }
            }
        }
        let origins = crate::leaves(&values)
            .into_iter()
            .filter_map(|(key, _)| {
                let origin = config.origin_of(&key)?.to_string();
                Some((key.to_string(), origin))
            })
            .collect();
        taken_bricks.insert(
            name.clone(),
            BrickSnapshot {
                hash: config.effective_hash().to_string(),
                values_hash: EffectiveHash::of(&values).to_string(),
                withheld,
                values,
                origins,
            },
        );
    }
    Ok(Snapshot {
        snapshot: Header {
            format: FORMAT,
            confd: env!("CARGO_PKG_VERSION").to_owned(),
            state_dir: state.root().to_owned(),
            profile: profile.to_string(),
            taken,
        },
        bricks: taken_bricks,
    })
}
