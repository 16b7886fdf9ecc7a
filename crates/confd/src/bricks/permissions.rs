use serde::{Deserialize, Serialize};

use super::{Brick, EnvAlias};
use crate::Profile;

/// The `permissions` brick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::struct_excessive_bools)]
pub struct PermissionsConfig {
    /// Check permissions on every operation.
    pub enforce: bool,
    /// Let administrators bypass checks.
    pub allow_admin_bypass: bool,
    /// Keep zones from seeing each other.
    pub enforce_zone_isolation: bool,
}

impl Brick for PermissionsConfig {
    const NAME: &'static str = "permissions";
    const ENV_ALIASES: &'static [EnvAlias] = &[
        EnvAlias::new(&["NEXUS_ENFORCE_PERMISSIONS"], "enforce"),
        EnvAlias::new(&["NEXUS_ALLOW_ADMIN_BYPASS"], "allow_admin_bypass"),
        EnvAlias::new(&["NEXUS_ENFORCE_ZONE_ISOLATION"], "enforce_zone_isolation"),
    ];

    fn defaults(_: Profile) -> Self {
        PermissionsConfig {
            enforce: true,
            allow_admin_bypass: true,
            enforce_zone_isolation: true,
        }
    }
}
