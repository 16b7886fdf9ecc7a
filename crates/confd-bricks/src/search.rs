use serde::{Deserialize, Serialize};

/// Code search (Zoekt) and semantic search (embeddings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, confd::Brick)]
#[brick(name = "search", shipped_history = crate::history::SEARCH)]
pub struct SearchConfig {
    /// Zoekt code-search server.
    #[brick(default = "http://localhost:6070", env = "ZOEKT_URL")]
    pub zoekt_url: String,
    /// Where Zoekt keeps its index; empty for its default.
    #[brick(default = "", env = "ZOEKT_INDEX_DIR")]
    pub index_dir: String,
    /// Embedding model; empty for the provider's default.
    #[brick(default = "", env = "NEXUS_EMBEDDING_MODEL")]
    pub embedding_model: String,
    /// Who computes embeddings.
    #[brick(default = "openai", env = "NEXUS_EMBEDDING_PROVIDER")]
    pub embedding_provider: String,
    /// Push metadata predicates down into the search engine.
    #[brick(
        default = true,
        env_inverted = "NEXUS_DISABLE_PREDICATE_PUSHDOWN",
        reload
    )]
    pub enable_predicate_pushdown: bool,
}
