//! The calls model code makes to the host, and the trait that answers them.

use std::fmt;

use futures::future::{BoxFuture, join_all};
use serde_json::Value;

/// Why a sub-call failed. The message reaches model code as the text of an
/// exception (single calls) or as an `"Error: ..."` item (batched calls).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubcallError(String);

impl SubcallError {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        SubcallError(message.into())
    }

    /// The message model code sees.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubcallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SubcallError {}

/// Answers `llm_query`, `rlm_query` and their batched forms for a sandbox.
///
/// The embedding application implements this; the engine plugs in real
/// models and recursion. Futures are `'static` so implementations clone what
/// they need (an `Arc` to a client, a semaphore) into them. The sandbox
/// applies its own per-cell call cap and deadline around every call.
pub trait SubcallHandler: Send + Sync + 'static {
    /// A plain model call.
    fn llm_query(&self, prompt: String, model: Option<String>) -> BoxFuture<'static, Result<String, SubcallError>>;

    /// A recursive sub-RLM whose `context` is `context`; yields the child's
    /// final answer.
    fn rlm_query(&self, context: Value, model: Option<String>) -> BoxFuture<'static, Result<Value, SubcallError>>;

    /// Many plain calls, concurrently, results in order. By default, every
    /// call at once through [`SubcallHandler::llm_query`].
    fn llm_query_batched(
        &self,
        prompts: Vec<String>,
        model: Option<String>,
    ) -> BoxFuture<'static, Vec<Result<String, SubcallError>>> {
        let calls: Vec<_> = prompts.into_iter().map(|p| self.llm_query(p, model.clone())).collect();
        Box::pin(join_all(calls))
    }

    /// Many sub-RLMs, concurrently, results in order. By default, every call
    /// at once through [`SubcallHandler::rlm_query`].
    fn rlm_query_batched(
        &self,
        contexts: Vec<Value>,
        model: Option<String>,
    ) -> BoxFuture<'static, Vec<Result<Value, SubcallError>>> {
        let calls: Vec<_> = contexts.into_iter().map(|c| self.rlm_query(c, model.clone())).collect();
        Box::pin(join_all(calls))
    }
}

/// A handler for sandboxes with no model behind them (as in
/// `rlm-sandbox exec`): every call fails with a message that says so.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBackend;

impl NoBackend {
    fn error(function: &str) -> SubcallError {
        SubcallError::new(format!(
            "{function}() is unavailable: no model backend is configured for this sandbox \
             (`rlm-sandbox exec` runs code only; use `rlm-sandbox run` for model calls)"
        ))
    }
}

impl SubcallHandler for NoBackend {
    fn llm_query(&self, _: String, _: Option<String>) -> BoxFuture<'static, Result<String, SubcallError>> {
        Box::pin(async { Err(NoBackend::error("llm_query")) })
    }

    fn rlm_query(&self, _: Value, _: Option<String>) -> BoxFuture<'static, Result<Value, SubcallError>> {
        Box::pin(async { Err(NoBackend::error("rlm_query")) })
    }
}
