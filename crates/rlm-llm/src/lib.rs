//! Model clients for rlm-sandbox.
//!
//! [`Client`] implements [`rlm_core::Model`] over HTTP for OpenAI-compatible
//! Chat Completions endpoints (OpenAI, vLLM, llama.cpp, Ollama, OpenRouter)
//! and the Anthropic Messages API, with request timeouts and bounded retries
//! (exponential backoff with jitter, honouring `Retry-After`) on 429, 5xx,
//! timeouts and connection failures. Replies are read as real servers send
//! them: `content` as text, `null` or a list of parts, reasoning beside it,
//! the finish reason, and the cost when the provider reports one.
//!
//! ```no_run
//! use rlm_core::{Message, Model, ModelRequest};
//! use rlm_llm::{ApiKey, Client, ClientConfig, Provider};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = ClientConfig::new(Provider::OpenAi, "gpt-4o-mini");
//! config.api_key = Some(ApiKey::new(std::env::var("OPENAI_API_KEY").unwrap_or_default()));
//! let client = Client::new(config)?;
//! let reply = client.complete(ModelRequest::new(vec![Message::user("Hi")])).await?;
//! println!("{} ({} tokens)", reply.text, reply.usage.total());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod anthropic;
mod client;
mod error;
mod openai;
mod retry;

pub use client::{ApiKey, Client, ClientConfig, DEFAULT_MAX_OUTPUT_TOKENS, DEFAULT_REQUEST_TIMEOUT, Provider};
pub use error::Error;
pub use retry::{DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_RETRIES, RetryPolicy};
