//! The Recursive Language Model loop.
//!
//! [`Rlm::completion`] puts the context into a fresh sandbox as `context`,
//! then drives the root model: each reply's ```` ```repl ```` blocks run in
//! the sandbox and their output goes back to the model, until code calls
//! `FINAL`/`FINAL_VAR` (or sets `answer["ready"] = True`), the reply has a
//! `FINAL(...)` line, or a budget runs out. Code in the sandbox calls
//! `llm_query` (a sub-model call), `rlm_query` (a sub-RLM in a fresh sandbox,
//! one level deeper) and host tools; batched and async forms run
//! concurrently under one concurrency limit for the whole run.
//!
//! The engine depends only on the traits of `rlm-core`: a
//! [`ReplFactory`](rlm_core::ReplFactory) (the wasm sandbox of `rlm-sandbox`,
//! or a fake in tests) and [`Model`](rlm_core::Model)s (the HTTP clients of
//! `rlm-llm`, or scripts), named in a [`ModelRegistry`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use rlm_engine::{ModelEntry, ModelRegistry, Rlm};
//! # fn clients() -> (Arc<dyn rlm_core::Model>, Arc<dyn rlm_core::ReplFactory>) { unimplemented!() }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let (model, sandboxes) = clients(); // rlm_llm::Client, rlm_sandbox::Runtime
//! let models = ModelRegistry::new().with("gpt-4o-mini", ModelEntry::new(model));
//! let rlm = Rlm::builder().models(models).root_model("gpt-4o-mini").sandboxes(sandboxes).build()?;
//! let done = rlm.completion("a very long document ...", "What is the document about?").await?;
//! println!("{} after {} iterations", done.answer.unwrap(), done.iterations);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod budget;
mod builder;
mod candidates;
mod completion;
mod config;
mod direct;
mod error;
mod events;
mod observe;
mod parse;
mod registry;
mod request;
mod run;
mod schema;
mod session;
mod shared;
mod subcalls;
mod tools;
mod trajectory;
mod usage;

pub use builder::{Rlm, RlmBuilder};
pub use completion::{CandidateInfo, CandidateReport, Completion};
pub use config::{
    CandidateSearch, DEFAULT_CELL_TIMEOUT, DEFAULT_CHILD_MAX_ITERATIONS, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_ERROR_STREAK, DEFAULT_MAX_ITERATIONS, DEFAULT_MAX_OUTPUT_CHARS, MAX_CANDIDATES, RlmConfig, RunOptions,
};
pub use error::{BuildError, Error, ErrorKind};
pub use events::{Event, EventKind, EventSink, PREVIEW_CHARS};
pub use observe::Prompts;
pub use registry::{DEFAULT_CONTEXT_CHARS, ModelEntry, ModelRegistry};
pub use request::Request;
pub use schema::AnswerSchema;
pub use session::{DEFAULT_COMPACT_SHARE, HistoryEntry, Session, SessionOptions, SessionRequest};
pub use tokio_util::sync::CancellationToken as Cancel;
pub use tools::{FnTool, Tool, ToolCall, ToolScope, name_problem as tool_name_problem};
pub use trajectory::{BlockResult, CodeBlock, Iteration, SubCall, Trajectory};
pub use usage::{Price, Usage, UsageTotals};
