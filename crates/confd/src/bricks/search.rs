use serde::{Deserialize, Serialize};

use super::{Brick, EnvAlias};
use crate::Profile;

/// The `search` brick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// The Zoekt code-search server.
    pub zoekt_url: String,
    /// Where Zoekt keeps its index; empty for its default.
    pub index_dir: String,
    /// The embedding model; empty for the provider's default.
    pub embedding_model: String,
    /// Who computes embeddings.
    pub embedding_provider: String,
    /// Push metadata predicates down into the search engine.
    pub enable_predicate_pushdown: bool,
}

impl Brick for SearchConfig {
    const NAME: &'static str = "search";
    const ENV_ALIASES: &'static [EnvAlias] = &[
        EnvAlias::new(&["ZOEKT_URL"], "zoekt_url"),
        EnvAlias::new(&["ZOEKT_INDEX_DIR"], "index_dir"),
        EnvAlias::new(&["NEXUS_EMBEDDING_MODEL"], "embedding_model"),
        EnvAlias::new(&["NEXUS_EMBEDDING_PROVIDER"], "embedding_provider"),
        EnvAlias::new(
            &["NEXUS_DISABLE_PREDICATE_PUSHDOWN"],
            "enable_predicate_pushdown",
        )
        .inverted(),
    ];

    fn defaults(_: Profile) -> Self {
        SearchConfig {
            zoekt_url: "http://localhost:6070".to_owned(),
            index_dir: String::new(),
            embedding_model: String::new(),
            embedding_provider: "openai".to_owned(),
            enable_predicate_pushdown: true,
        }
    }
}
