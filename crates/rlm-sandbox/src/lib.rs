//! Runs untrusted, model-written Python in a fresh CPython-on-WASI instance
//! inside wasmtime.
//!
//! A [`Runtime`] holds one engine and the compiled guest (built from `wasm/`
//! by this crate's build script and cached on disk once compiled). Each
//! [`Runtime::sandbox`] call makes a fresh instance: a Python REPL with no
//! filesystem, no environment, no network and no processes, whose only way
//! out is the `host` import (see `wasm/wit/sandbox.wit`): host calls answered
//! by a [`CallHandler`], output, the final answer, reports and sleeping.
//!
//! Every cell runs under [`Limits`]: fuel, linear memory, wall-clock time,
//! output size, host calls and value size. Hitting one ends the cell with
//! its own [`CellErrorKind`], decided from what the
//! host saw; the host stays healthy, and the next cell runs (in a fresh
//! instance with the contexts reloaded if the stop was a hard one, which
//! [`CellOutcome::state_lost`] says). `Runtime` implements
//! [`ReplFactory`](rlm_core::ReplFactory) and `Sandbox`
//! [`Repl`](rlm_core::Repl), which is how the engine uses them.
//!
//! ```no_run
//! use std::sync::Arc;
//! use rlm_sandbox::{Context, Limits, NoBackend, Runtime, RuntimeConfig};
//!
//! # async fn demo() -> Result<(), rlm_sandbox::Error> {
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let mut sandbox = runtime.sandbox(Limits::default(), Arc::new(NoBackend)).await?;
//! sandbox.load_context(0, Context::from("a b c")).await?;
//! let out = sandbox.run_cell("words = context.split()\nprint(len(words))").await?;
//! assert_eq!(out.stdout, "3\n");
//! let out = sandbox.run_cell("FINAL(words)").await?;
//! assert_eq!(out.final_value.unwrap().as_str(), r#"["a", "b", "c"]"#);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;
mod config;
mod error;
mod host;
mod limiter;
mod outcome;
mod output;
mod runtime;
mod sandbox;

pub use config::{
    ABANDON_GRACE, DEFAULT_MAX_SANDBOXES, DEFAULT_SLOT_KEEP_RESIDENT, DEFAULT_SLOT_WAIT, DEFAULT_WASM_STACK_BYTES,
    EPOCH_TICK, FUEL_YIELD_INTERVAL, HARD_STOP_GRACE, RuntimeConfig, StartEvent, StartObserver,
};
pub use error::{Error, Result};
pub use rlm_core::{
    CallHandler, CellError, CellErrorKind, CellOutcome, Context, DEFAULT_FUEL, DEFAULT_MAX_HOST_CALLS,
    DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_VALUE_BYTES, DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT, HostCall, JsonText,
    Limits, MAX_MEMORY_BYTES, NoBackend, SandboxQuota, SpawnOptions, VarInfo,
};
pub use runtime::{GUEST_WASM, Runtime};
pub use sandbox::Sandbox;
