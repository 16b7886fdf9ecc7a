use serde::{Deserialize, Serialize};

/// The PostgreSQL database that holds the system's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, confd::Brick)]
#[brick(name = "database", shipped_history = crate::history::DATABASE)]
pub struct DatabaseConfig {
    /// Database URL, credentials included, e.g.
    /// "postgresql://user:password@localhost:5432/nexus".
    #[brick(default = "", env = ["NEXUS_DATABASE_URL", "POSTGRES_URL"])]
    pub url: confd::Secret,
    /// Connections in the pool.
    #[brick(default = 20, profile(minimal = 1, embedded = 3, lite = 8, cloud = 30))]
    pub pool_size: u32,
    /// Read replica URL.
    #[brick(default = "", env = "NEXUS_READ_REPLICA_URL")]
    pub read_replica_url: confd::Secret,
}
