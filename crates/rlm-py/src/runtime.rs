//! The process-wide runtimes: one tokio runtime for every run, and one
//! sandbox runtime (wasmtime engine and compiled guest) per fuel setting.
//!
//! Both own threads (tokio's workers; without fuel metering, the sandbox's
//! epoch ticker), which a `fork()` does not copy. Each is kept with the id
//! of the process that made it, and a child process (`multiprocessing` with the fork start method)
//! makes its own on first use; the parent's copies are leaked in the child,
//! since dropping them would wait for threads that do not exist there.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use pyo3::prelude::*;
use serde_json::json;

use crate::error::Error;

/// A value made once per process.
struct PerProcess<T> {
    slot: Mutex<Option<(u32, Arc<T>)>>,
}

impl<T> PerProcess<T> {
    const fn new() -> Self {
        PerProcess { slot: Mutex::new(None) }
    }

    fn get_or_try_init(&self, init: impl FnOnce() -> Result<T, Error>) -> Result<Arc<T>, Error> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        match slot.take() {
            Some((owner, value)) if owner == pid => {
                *slot = Some((owner, value.clone()));
                return Ok(value);
            }
            // Made before a fork: its threads are gone in this process.
            Some((_, stale)) => std::mem::forget(stale),
            None => {}
        }
        let value = Arc::new(init()?);
        *slot = Some((pid, value.clone()));
        Ok(value)
    }
}

static TOKIO: PerProcess<tokio::runtime::Runtime> = PerProcess::new();
static METERED: PerProcess<rlm_sandbox::Runtime> = PerProcess::new();
static UNMETERED: PerProcess<rlm_sandbox::Runtime> = PerProcess::new();

/// The tokio runtime every run and sandbox call is driven on.
pub(crate) fn tokio() -> Result<Arc<tokio::runtime::Runtime>, Error> {
    TOKIO.get_or_try_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("rlm-sandbox")
            .enable_all()
            .build()
            .map_err(Error::Tokio)
    })
}

/// The sandbox runtime with fuel metering on or off. The first call in a
/// process loads the compiled guest from the on-disk cache, or compiles it
/// (a few seconds, once per machine).
pub(crate) fn sandboxes(fuel_metering: bool) -> Result<Arc<rlm_sandbox::Runtime>, Error> {
    let cell = if fuel_metering { &METERED } else { &UNMETERED };
    cell.get_or_try_init(|| {
        // wasmtime's epoch ticker and pool use tokio timers only when a run
        // starts; creating the runtime needs no tokio context, but entering
        // one keeps that true whatever `Runtime::new` does in the future.
        let rt = tokio()?;
        let _guard = rt.enter();
        rlm_sandbox::Runtime::new(rlm_sandbox::RuntimeConfig::new().fuel_metering(fuel_metering))
            .map_err(Error::Sandbox)
    })
}

/// Loads (or compiles, the first time on a machine) the sandbox guest now
/// rather than on the first run; returns the seconds it took.
#[pyfunction]
#[pyo3(signature = (fuel_metering = true))]
pub(crate) fn warm_up(py: Python<'_>, fuel_metering: bool) -> PyResult<f64> {
    let started = Instant::now();
    py.detach(|| sandboxes(fuel_metering))?;
    Ok(started.elapsed().as_secs_f64())
}

/// The engine's and the sandbox's defaults, as JSON, so the Python side
/// documents and checks the same numbers.
#[pyfunction]
pub(crate) fn defaults() -> String {
    json!({
        "fuel": rlm_sandbox::DEFAULT_FUEL,
        "memory_mb": rlm_sandbox::DEFAULT_MEMORY_BYTES >> 20,
        "timeout": rlm_sandbox::DEFAULT_TIMEOUT.as_secs_f64(),
        "cell_timeout": rlm_engine::DEFAULT_CELL_TIMEOUT.as_secs_f64(),
        "max_output_bytes": rlm_sandbox::DEFAULT_MAX_OUTPUT_BYTES,
        "max_host_calls": rlm_sandbox::DEFAULT_MAX_HOST_CALLS,
        "max_value_bytes": rlm_sandbox::DEFAULT_MAX_VALUE_BYTES,
        "max_iterations": rlm_engine::DEFAULT_MAX_ITERATIONS,
        "child_max_iterations": rlm_engine::DEFAULT_CHILD_MAX_ITERATIONS,
        "max_depth": rlm_engine::DEFAULT_MAX_DEPTH,
        "max_concurrency": rlm_engine::DEFAULT_MAX_CONCURRENCY,
        "max_error_streak": rlm_engine::DEFAULT_MAX_ERROR_STREAK,
        "max_output_chars": rlm_engine::DEFAULT_MAX_OUTPUT_CHARS,
        "context_chars": rlm_engine::DEFAULT_CONTEXT_CHARS,
        "request_timeout": rlm_llm::DEFAULT_REQUEST_TIMEOUT.as_secs_f64(),
        "max_retries": rlm_llm::DEFAULT_MAX_RETRIES,
        "max_live_sandboxes": rlm_core::DEFAULT_MAX_LIVE_SANDBOXES,
    })
    .to_string()
}
