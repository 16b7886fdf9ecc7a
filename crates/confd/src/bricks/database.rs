use serde::{Deserialize, Serialize};

use super::{Brick, EnvAlias, Secret};
use crate::Profile;

/// The `database` brick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseConfig {
    /// The database URL, credentials included (secret).
    pub url: Secret,
    /// Connections in the pool; the default grows with the profile.
    pub pool_size: u32,
    /// A read replica's URL (secret).
    pub read_replica_url: Secret,
}

impl Brick for DatabaseConfig {
    const NAME: &'static str = "database";
    const ENV_ALIASES: &'static [EnvAlias] = &[
        EnvAlias::new(&["NEXUS_DATABASE_URL", "POSTGRES_URL"], "url"),
        EnvAlias::new(&["NEXUS_READ_REPLICA_URL"], "read_replica_url"),
    ];
    const SECRET_KEYS: &'static [&'static str] = &["url", "read_replica_url"];

    fn defaults(profile: Profile) -> Self {
        DatabaseConfig {
            url: Secret::default(),
            pool_size: match profile {
                Profile::Minimal => 1,
                Profile::Embedded => 3,
                Profile::Lite => 8,
                Profile::Full => 20,
                Profile::Cloud => 30,
            },
            read_replica_url: Secret::default(),
        }
    }
}
