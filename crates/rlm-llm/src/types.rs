//! Messages, requests and replies, independent of any provider.

use serde::{Deserialize, Serialize};

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The user (for an RLM: the engine, reporting code results).
    User,
    /// The model.
    Assistant,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message { role: Role::System, content: content.into() }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message { role: Role::User, content: content.into() }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message { role: Role::Assistant, content: content.into() }
    }
}

/// A request to a [`Model`](crate::Model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// A model name to use instead of the client's default.
    pub model: Option<String>,
}

/// Tokens one call used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

impl TokenUsage {
    /// Input plus output.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// A model's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelReply {
    /// The reply text.
    pub text: String,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// What the call cost in tokens.
    pub usage: TokenUsage,
}
