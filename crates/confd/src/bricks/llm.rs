use serde::{Deserialize, Serialize};

use super::{Brick, Secret};
use crate::Profile;

/// The language-model provider of the `llm` brick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmProvider {
    /// Anthropic's API.
    Anthropic,
    /// OpenAI's API.
    Openai,
    /// OpenRouter.
    Openrouter,
}

/// The `llm` brick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmConfig {
    /// Which provider to call.
    pub provider: LlmProvider,
    /// The model name; empty for the provider's default.
    pub model: String,
    /// The provider's API key (secret).
    pub api_key: Secret,
}

impl Brick for LlmConfig {
    const NAME: &'static str = "llm";
    const SECRET_KEYS: &'static [&'static str] = &["api_key"];

    fn defaults(_: Profile) -> Self {
        LlmConfig {
            provider: LlmProvider::Anthropic,
            model: String::new(),
            api_key: Secret::default(),
        }
    }
}
