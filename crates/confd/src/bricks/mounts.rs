use serde::{Deserialize, Serialize};

use super::{Brick, EnvAlias};
use crate::Profile;

/// The `mounts` brick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountsConfig {
    /// Synchronise mounts automatically at start-up.
    pub auto_sync: bool,
}

impl Brick for MountsConfig {
    const NAME: &'static str = "mounts";
    const ENV_ALIASES: &'static [EnvAlias] =
        &[EnvAlias::new(&["NEXUS_AUTO_SYNC_MOUNTS"], "auto_sync")];

    fn defaults(_: Profile) -> Self {
        MountsConfig { auto_sync: false }
    }
}
