use serde::{Deserialize, Serialize};

/// Chunked uploads.
///
/// Rule: min_chunk_size ≤ default_chunk_size ≤ max_chunk_size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, confd::Brick)]
#[brick(name = "uploads", validate = UploadsConfig::check, shipped_history = crate::history::UPLOADS)]
pub struct UploadsConfig {
    /// Smallest chunk a client may send, in bytes (5 MiB).
    #[brick(default = 5_242_880, env = "NEXUS_UPLOAD_MIN_CHUNK_SIZE")]
    pub min_chunk_size: u64,
    /// Largest chunk a client may send, in bytes (64 MiB).
    #[brick(default = 67_108_864, env = "NEXUS_UPLOAD_MAX_CHUNK_SIZE")]
    pub max_chunk_size: u64,
    /// Chunk size offered to clients, in bytes (10 MiB).
    #[brick(default = 10_485_760, env = "NEXUS_UPLOAD_DEFAULT_CHUNK_SIZE")]
    pub default_chunk_size: u64,
    /// Uploads in flight at once.
    #[brick(default = 4, env = "NEXUS_UPLOAD_MAX_CONCURRENT", reload)]
    pub max_concurrent: u32,
    /// Hours an unfinished upload session is kept.
    #[brick(default = 24, env = "NEXUS_UPLOAD_SESSION_TTL_HOURS")]
    pub session_ttl_hours: u64,
    /// Seconds between sweeps of expired sessions.
    #[brick(default = 3600, env = "NEXUS_UPLOAD_CLEANUP_INTERVAL")]
    pub cleanup_interval_seconds: u64,
}

impl UploadsConfig {
    /// min ≤ default ≤ max.
    ///
    /// # Errors
    /// The three sizes, when out of order.
    pub fn check(&self) -> Result<(), confd::Violation> {
        let (min, default, max) = (
            self.min_chunk_size,
            self.default_chunk_size,
            self.max_chunk_size,
        );
        if min <= default && default <= max {
            Ok(())
        } else {
            Err(confd::Violation {
                message: format!(
                    "chunk sizes must satisfy min_chunk_size ≤ default_chunk_size ≤ max_chunk_size, \
                     found {min} ≤ {default} ≤ {max}"
                ),
                keys: vec!["min_chunk_size", "default_chunk_size", "max_chunk_size"],
            })
        }
    }
}
