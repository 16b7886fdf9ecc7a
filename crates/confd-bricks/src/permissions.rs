use serde::{Deserialize, Serialize};

/// Permission checks on every operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, confd::Brick)]
#[brick(name = "permissions", shipped_history = crate::history::PERMISSIONS)]
#[allow(clippy::struct_excessive_bools)]
pub struct PermissionsConfig {
    /// Check permissions on every operation.
    #[brick(default = true, env = "NEXUS_ENFORCE_PERMISSIONS")]
    pub enforce: bool,
    /// Let administrators bypass permission checks.
    #[brick(default = true, env = "NEXUS_ALLOW_ADMIN_BYPASS")]
    pub allow_admin_bypass: bool,
    /// Keep zones from seeing each other.
    #[brick(default = true, env = "NEXUS_ENFORCE_ZONE_ISOLATION")]
    pub enforce_zone_isolation: bool,
}
