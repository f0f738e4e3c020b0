//! Runs untrusted, model-written Python in a fresh CPython-on-WASI instance
//! inside wasmtime.
//!
//! A [`Runtime`] holds one engine and the compiled guest (built from `wasm/`
//! by this crate's build script and cached on disk once compiled). Each
//! [`Runtime::sandbox`] call makes a fresh instance: a Python REPL with no
//! filesystem, no environment, no network and no processes, whose only ways
//! out are the host imports for model calls (answered by a
//! [`SubcallHandler`]), output, `FINAL` and sleeping.
//!
//! Every cell runs under [`Limits`]: fuel, linear memory, wall-clock time,
//! output size and host calls. Hitting one ends the cell with its own
//! [`ErrorKind`]; the host stays healthy, and the next cell runs (in a fresh
//! instance with the contexts reloaded if the stop was a hard one, which
//! [`CellOutcome::state_lost`] says).
//!
//! ```no_run
//! use std::sync::Arc;
//! use rlm_sandbox::{Context, Limits, NoBackend, Runtime, RuntimeConfig};
//!
//! # async fn demo() -> Result<(), rlm_sandbox::Error> {
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let mut sandbox = runtime.sandbox(Limits::default(), Arc::new(NoBackend)).await?;
//! sandbox.load_context(0, Context::Text("a b c".into())).await?;
//! let out = sandbox.run_cell("words = context.split()\nprint(len(words))").await?;
//! assert_eq!(out.stdout, "3\n");
//! let out = sandbox.run_cell("FINAL(words)").await?;
//! assert_eq!(out.final_value, Some(serde_json::json!(["a", "b", "c"])));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;
mod config;
pub mod env;
mod error;
mod handler;
mod outcome;
mod runtime;
mod sandbox;
mod state;

pub use config::{
    DEFAULT_FUEL, DEFAULT_MAX_HOST_CALLS, DEFAULT_MAX_SANDBOXES, DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT,
    DEFAULT_WASM_STACK_BYTES, EPOCH_TICK, ABANDON_GRACE, HARD_STOP_GRACE, Limits, MAX_MEMORY_BYTES, RuntimeConfig,
};
pub use error::{Error, Result};
pub use handler::{NoBackend, SubcallError, SubcallHandler};
pub use outcome::{CellError, CellOutcome, ErrorKind};
pub use runtime::{GUEST_WASM, Runtime};
pub use sandbox::{Context, Sandbox, VarInfo};
