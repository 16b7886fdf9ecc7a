use serde::{Deserialize, Serialize};

/// Which cache the `cache` brick uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    /// Dragonfly when `url` is set, else in-process.
    Auto,
    /// A Dragonfly (Redis-compatible) server at `url`.
    Dragonfly,
    /// The PostgreSQL database.
    Postgres,
    /// No cache.
    Null,
}

/// The caches of permissions, paths, listings and key-value lookups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, confd::Brick)]
#[brick(name = "cache", shipped_history = crate::history::CACHE)]
pub struct CacheConfig {
    /// Cache back-end: "auto" (Dragonfly when `url` is set, else in-process),
    /// "dragonfly", "postgres" or "null" (no cache).
    #[brick(default = "auto", env = "NEXUS_CACHE_BACKEND")]
    pub backend: CacheBackend,
    /// Dragonfly (Redis-compatible) server, e.g. "redis://localhost:6379".
    #[brick(default = "", env = ["NEXUS_DRAGONFLY_URL", "DRAGONFLY_URL"])]
    pub url: String,
    /// Seconds a granted permission stays cached.
    #[brick(default = 300, env = "NEXUS_CACHE_PERMISSION_TTL", reload)]
    pub permission_ttl: u64,
    /// Seconds a denied permission stays cached.
    #[brick(default = 60, env = "NEXUS_CACHE_DENIAL_TTL", reload)]
    pub denial_ttl: u64,
    /// Entries in the path cache.
    #[brick(default = 512, env = "NEXUS_CACHE_PATH_SIZE")]
    pub path_size: u64,
    /// Entries in the directory-listing cache.
    #[brick(default = 1024, env = "NEXUS_CACHE_LIST_SIZE")]
    pub list_size: u64,
    /// Entries in the key-value cache.
    #[brick(default = 256, env = "NEXUS_CACHE_KV_SIZE")]
    pub kv_size: u64,
    /// Entries in the existence cache.
    #[brick(default = 1024, env = "NEXUS_CACHE_EXISTS_SIZE")]
    pub exists_size: u64,
}
