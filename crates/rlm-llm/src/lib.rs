//! Model clients for rlm-sandbox.
//!
//! [`Model`] is what the engine drives: a conversation in, a reply with token
//! usage out. [`Client`] implements it over HTTP for OpenAI-compatible Chat
//! Completions endpoints (OpenAI, vLLM, llama.cpp, Ollama, OpenRouter) and the
//! Anthropic Messages API, with request timeouts and bounded retries
//! (exponential backoff with jitter, honouring `Retry-After`) on 429, 5xx,
//! timeouts and connection failures.
//!
//! ```no_run
//! use rlm_llm::{ApiKey, Client, ClientConfig, Message, Model, ModelRequest, Provider};
//!
//! # async fn demo() -> Result<(), rlm_llm::Error> {
//! let mut config = ClientConfig::new(Provider::OpenAi, "gpt-4o-mini");
//! config.api_key = Some(ApiKey::new(std::env::var("OPENAI_API_KEY").unwrap_or_default()));
//! let client = Client::new(config)?;
//! let reply = client.complete(ModelRequest { messages: vec![Message::user("Hi")], model: None }).await?;
//! println!("{} ({} tokens)", reply.text, reply.usage.total());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod anthropic;
mod client;
mod error;
mod openai;
mod retry;
mod types;

use futures::future::BoxFuture;

pub use client::{ApiKey, Client, ClientConfig, DEFAULT_MAX_OUTPUT_TOKENS, DEFAULT_REQUEST_TIMEOUT, Provider};
pub use error::Error;
pub use retry::{DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_RETRIES, RetryPolicy};
pub use types::{Message, ModelReply, ModelRequest, Role, TokenUsage};

/// A chat model the engine can call.
pub trait Model: Send + Sync + std::fmt::Debug {
    /// The default model name.
    fn name(&self) -> &str;

    /// The kind of API behind the model (`openai`, `anthropic`, ...), for logs.
    fn backend(&self) -> &str {
        "custom"
    }

    /// Sends the conversation and returns the reply.
    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelReply, Error>>;
}
