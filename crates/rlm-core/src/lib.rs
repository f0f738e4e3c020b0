//! The shared vocabulary of rlm-sandbox.
//!
//! Every other crate speaks in these types, and the engine depends on the
//! traits here rather than on the crates that implement them, so that the
//! dependencies point one way and the RLM loop can be tested with a scripted
//! [`Model`] and a fake [`Repl`] without wasm or a network:
//!
//! ```text
//!   rlm-cli, rlm-server, rlm-py ──► rlm-engine ──► rlm-core
//!          │                                         ▲   ▲
//!          ├──────────────────────► rlm-sandbox ─────┘   │   (implements Repl, ReplFactory)
//!          └──────────────────────► rlm-llm ─────────────┘   (implements Model)
//! ```
//!
//! - [`Context`] and [`JsonText`]: what goes into a REPL and what comes out,
//!   kept as checked text (key order and big integers survive; no tree is
//!   built for untrusted guest values).
//! - [`Model`], [`ModelRequest`], [`ModelReply`], [`TokenUsage`]: chat models.
//! - [`Repl`], [`ReplFactory`], [`Limits`], [`CellOutcome`]: the sandboxed
//!   REPL and what a cell produced.
//! - [`CallHandler`], [`HostCall`]: what model code asks the host for
//!   (sub-model calls, sub-RLMs, tools).
//! - [`SandboxQuota`]: run-wide caps on live sandboxes and their memory.
//! - [`env`](mod@env): every environment variable the project reads.
#![deny(missing_docs)]

mod calls;
mod context;
pub mod env;
mod json;
mod model;
mod quota;
mod repl;
mod tools;

pub use calls::{CallHandler, HostCall, NoBackend};
pub use context::Context;
pub use json::{JsonError, JsonText, MAX_JSON_DEPTH};
pub use model::{
    FinishReason, Message, Model, ModelError, ModelReply, ModelRequest, RequestMeta, Role, SamplingOptions, TokenUsage,
};
pub use quota::{DEFAULT_MAX_LIVE_SANDBOXES, DEFAULT_QUOTA_WAIT, LivePermit, SandboxQuota};
pub use repl::{
    CellError, CellErrorKind, CellOutcome, DEFAULT_FUEL, DEFAULT_MAX_HOST_CALLS, DEFAULT_MAX_OUTPUT_BYTES,
    DEFAULT_MAX_VALUE_BYTES, DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT, FunctionInfo, HelperSource, Limits,
    MAX_CELL_TIMEOUT, MAX_CHANGED_VARS, MAX_MEMORY_BYTES, MIN_MEMORY_BYTES, Repl, ReplError, ReplFactory, SpawnOptions,
    VarInfo,
};
pub use tools::ToolSpec;
