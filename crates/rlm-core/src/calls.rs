//! What model code asks the host for, and the trait that answers it.

use std::fmt;

use futures::future::BoxFuture;

use crate::context::Context;
use crate::json::JsonText;

/// One call from model code to the host.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum HostCall {
    /// `llm_query(prompt, model=None)`: a plain sub-model call.
    Llm {
        /// The prompt.
        prompt: String,
        /// A model from the embedder's registry, instead of the default.
        model: Option<String>,
    },
    /// `rlm_query(context, ...)`: a sub-RLM in a fresh sandbox.
    Rlm {
        /// The child's `context`.
        context: Context,
        /// A model from the embedder's registry, instead of the default.
        model: Option<String>,
        /// The child's iteration limit (within the run's).
        max_iterations: Option<u32>,
        /// The child's system prompt, instead of the default child prompt.
        system_prompt: Option<String>,
        /// Source of functions handed to the child, defined in its sandbox
        /// before its first cell.
        helpers: Vec<String>,
    },
    /// A host tool.
    Tool {
        /// The tool's name.
        name: String,
        /// Its arguments, a JSON object.
        args: JsonText,
    },
    /// `budget()`: what is left of the run's budgets.
    Budget,
}

impl HostCall {
    /// The Python function the call came from, for messages.
    pub fn function(&self) -> &str {
        match self {
            HostCall::Llm { .. } => "llm_query",
            HostCall::Rlm { .. } => "rlm_query",
            HostCall::Tool { name, .. } => name,
            HostCall::Budget => "budget",
        }
    }
}

/// Answers the host calls of one sandbox. The embedding (the engine, or an
/// application using the sandbox alone) implements it. Every batch runs
/// concurrently and answers in order; an item fails alone, with a message
/// model code sees. The sandbox applies its own per-cell call cap, deadline
/// and size caps around every batch.
pub trait CallHandler: Send + Sync + 'static {
    /// Answers `calls`, in order.
    fn call(&self, calls: Vec<HostCall>) -> BoxFuture<'static, Vec<Result<JsonText, String>>>;
}

/// A handler for sandboxes with no model behind them (as in
/// `rlm-sandbox exec`): every call fails with a message that says so.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBackend;

impl CallHandler for NoBackend {
    fn call(&self, calls: Vec<HostCall>) -> BoxFuture<'static, Vec<Result<JsonText, String>>> {
        let answers = calls
            .iter()
            .map(|call| {
                Err(format!(
                    "{}() is unavailable: no model backend is configured for this sandbox \
                     (`rlm-sandbox exec` runs code only; use `rlm-sandbox run` for model calls)",
                    call.function()
                ))
            })
            .collect();
        Box::pin(std::future::ready(answers))
    }
}

impl fmt::Debug for dyn CallHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallHandler")
    }
}
