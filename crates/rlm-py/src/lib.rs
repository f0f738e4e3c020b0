//! The native half of the `rlm_sandbox` Python package (`python/`).
//!
//! This crate is the thin, typed bridge between Python and the engine; the
//! Python-facing API (`RLM`, `run`, `Sandbox`, the exceptions, the logger)
//! is written in Python on top of it. Everything crosses as JSON text, so
//! the bridge has few conversions and the Python side owns every default
//! and every name users see.
//!
//! - `Engine` holds the models, settings and tools of an
//!   RLM and starts completions; `Session` is a
//!   persistent REPL and conversation (`persistent=True`).
//! - `Run` is a started completion (or a sandbox cell): the
//!   engine runs on a tokio runtime in the background, and the caller's
//!   thread waits for its messages (events, host-tool calls, the result)
//!   with the GIL released, checking for signals, so Ctrl-C cancels it.
//!   Host tools run in Python: a tool call is a message the Python side
//!   answers with `Run.tool_result`.
//! - `Sandbox` runs cells in one sandbox without a model.
//! - `MockServer` is the mock OpenAI/Anthropic server of
//!   `rlm-test-support`, for tests.
//!
//! ```text
//!   Python (rlm_sandbox)                 this crate                  engine
//!   RLM.completion ── Engine.start ──►   Run ── tokio::spawn ──►  Request::send
//!        ▲   loop: Run.next_batch ◄───── Channel ◄── events, tool calls, result
//!        └── tool results: Run.tool_result ──► oneshot ──► Tool::call
//! ```
#![deny(missing_docs)]

use pyo3::prelude::*;

mod channel;
mod engine;
mod error;
mod mock;
mod runtime;
mod sandbox;

/// The extension module `rlm_sandbox._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Engine>()?;
    m.add_class::<engine::Session>()?;
    m.add_class::<channel::Run>()?;
    m.add_class::<sandbox::Sandbox>()?;
    m.add_class::<mock::MockServer>()?;
    m.add_function(wrap_pyfunction!(runtime::warm_up, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::defaults, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
