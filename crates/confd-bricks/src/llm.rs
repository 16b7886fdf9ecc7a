use serde::{Deserialize, Serialize};

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

/// The language model the system calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, confd::Brick)]
#[brick(name = "llm", shipped_history = crate::history::LLM)]
pub struct LlmConfig {
    /// Provider: "anthropic", "openai" or "openrouter".
    #[brick(default = "anthropic")]
    pub provider: LlmProvider,
    /// Model name; empty for the provider's default.
    #[brick(default = "", reload)]
    pub model: String,
    /// The provider's API key.
    #[brick(default = "")]
    pub api_key: confd::Secret,
}
