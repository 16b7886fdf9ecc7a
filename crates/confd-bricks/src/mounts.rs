use serde::{Deserialize, Serialize};

/// The mounts of the system's virtual filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, confd::Brick)]
#[brick(name = "mounts", shipped_history = crate::history::MOUNTS)]
pub struct MountsConfig {
    /// Synchronise mounts automatically at start-up.
    #[brick(default = false, env = "NEXUS_AUTO_SYNC_MOUNTS")]
    pub auto_sync: bool,
}
