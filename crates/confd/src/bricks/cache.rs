use serde::{Deserialize, Serialize};

use super::{Brick, EnvAlias};
use crate::Profile;

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

/// The `cache` brick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheConfig {
    /// The cache back-end.
    pub backend: CacheBackend,
    /// The Dragonfly server, `redis://host:port`.
    pub url: String,
    /// Seconds a granted permission stays cached.
    pub permission_ttl: u64,
    /// Seconds a denied permission stays cached.
    pub denial_ttl: u64,
    /// Entries in the path cache.
    pub path_size: u64,
    /// Entries in the directory-listing cache.
    pub list_size: u64,
    /// Entries in the key-value cache.
    pub kv_size: u64,
    /// Entries in the existence cache.
    pub exists_size: u64,
}

impl Brick for CacheConfig {
    const NAME: &'static str = "cache";
    const ENV_ALIASES: &'static [EnvAlias] = &[
        EnvAlias::new(&["NEXUS_CACHE_BACKEND"], "backend"),
        EnvAlias::new(&["NEXUS_DRAGONFLY_URL", "DRAGONFLY_URL"], "url"),
        EnvAlias::new(&["NEXUS_CACHE_PERMISSION_TTL"], "permission_ttl"),
        EnvAlias::new(&["NEXUS_CACHE_DENIAL_TTL"], "denial_ttl"),
        EnvAlias::new(&["NEXUS_CACHE_PATH_SIZE"], "path_size"),
        EnvAlias::new(&["NEXUS_CACHE_LIST_SIZE"], "list_size"),
        EnvAlias::new(&["NEXUS_CACHE_KV_SIZE"], "kv_size"),
        EnvAlias::new(&["NEXUS_CACHE_EXISTS_SIZE"], "exists_size"),
    ];

    fn defaults(_: Profile) -> Self {
        CacheConfig {
            backend: CacheBackend::Auto,
            url: String::new(),
            permission_ttl: 300,
            denial_ttl: 60,
            path_size: 512,
            list_size: 1024,
            kv_size: 256,
            exists_size: 1024,
        }
    }
}
