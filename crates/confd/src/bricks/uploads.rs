use serde::{Deserialize, Serialize};

use super::{Brick, EnvAlias, Violation};
use crate::Profile;

/// The `uploads` brick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadsConfig {
    /// The smallest chunk a client may send, in bytes.
    pub min_chunk_size: u64,
    /// The largest chunk a client may send, in bytes.
    pub max_chunk_size: u64,
    /// The chunk size offered to clients, in bytes.
    pub default_chunk_size: u64,
    /// Uploads in flight at once.
    pub max_concurrent: u32,
    /// Hours an unfinished upload session is kept.
    pub session_ttl_hours: u64,
    /// Seconds between sweeps of expired sessions.
    pub cleanup_interval_seconds: u64,
}

impl Brick for UploadsConfig {
    const NAME: &'static str = "uploads";
    const ENV_ALIASES: &'static [EnvAlias] = &[
        EnvAlias::new(&["NEXUS_UPLOAD_MIN_CHUNK_SIZE"], "min_chunk_size"),
        EnvAlias::new(&["NEXUS_UPLOAD_MAX_CHUNK_SIZE"], "max_chunk_size"),
        EnvAlias::new(&["NEXUS_UPLOAD_DEFAULT_CHUNK_SIZE"], "default_chunk_size"),
        EnvAlias::new(&["NEXUS_UPLOAD_MAX_CONCURRENT"], "max_concurrent"),
        EnvAlias::new(&["NEXUS_UPLOAD_SESSION_TTL_HOURS"], "session_ttl_hours"),
        EnvAlias::new(
            &["NEXUS_UPLOAD_CLEANUP_INTERVAL"],
            "cleanup_interval_seconds",
        ),
    ];

    fn defaults(_: Profile) -> Self {
        UploadsConfig {
            min_chunk_size: 5_242_880,
            max_chunk_size: 67_108_864,
            default_chunk_size: 10_485_760,
            max_concurrent: 4,
            session_ttl_hours: 24,
            cleanup_interval_seconds: 3600,
        }
    }

    fn validate(&self) -> Result<(), Violation> {
        let (min, default, max) = (
            self.min_chunk_size,
            self.default_chunk_size,
            self.max_chunk_size,
        );
        if min <= default && default <= max {
            Ok(())
        } else {
            Err(Violation {
                message: format!(
                    "chunk sizes must satisfy min_chunk_size ≤ default_chunk_size ≤ max_chunk_size, \
                     found {min} ≤ {default} ≤ {max}"
                ),
                keys: vec!["min_chunk_size", "default_chunk_size", "max_chunk_size"],
            })
        }
    }
}
