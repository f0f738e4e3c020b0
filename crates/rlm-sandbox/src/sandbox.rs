//! One sandbox: a fresh guest instance, its contexts, and the REPL in it.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::bindings::{self, repl};
use crate::config::{ABANDON_GRACE, HARD_STOP_GRACE, Limits};
use crate::error::{Error, Result};
use crate::handler::SubcallHandler;
use crate::outcome::{CellError, CellOutcome, ErrorKind};
use crate::runtime::Runtime;
use crate::state::HostState;

/// A value to bind as `context` (or `context_N`).
#[derive(Clone, Debug, PartialEq)]
pub enum Context {
    /// Becomes a Python `str`.
    Text(String),
    /// Becomes the matching Python value (dict, list, str, number, ...).
    Json(Value),
}

impl Context {
    /// The wire form; `Arc<String>` rather than `Arc<str>`, which would copy
    /// a large context once more.
    fn encode(self) -> (repl::ContextFormat, Arc<String>) {
        match self {
            Context::Text(s) => (repl::ContextFormat::Text, Arc::new(s)),
            Context::Json(v) => (repl::ContextFormat::Json, Arc::new(v.to_string())),
        }
    }
}

/// A user variable: its name and Python type.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VarInfo {
    /// The variable's name.
    pub name: String,
    /// The name of its Python type.
    pub type_name: String,
}

/// A Python REPL in its own WebAssembly instance. Variables persist across
/// [`Sandbox::run_cell`] calls; no other sandbox sees them.
pub struct Sandbox {
    runtime: Runtime,
    limits: Limits,
    handler: Arc<dyn SubcallHandler>,
    store: Store<HostState>,
    guest: bindings::Sandbox,
    /// Kept so that a fresh instance can get them back after a hard stop.
    contexts: Vec<(repl::ContextFormat, Arc<String>)>,
    /// The instance must be replaced before its next use.
    poisoned: bool,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .field("contexts", &self.contexts.len())
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    pub(crate) async fn new(runtime: Runtime, limits: Limits, handler: Arc<dyn SubcallHandler>) -> Result<Sandbox> {
        let (store, guest) = instantiate(&runtime, &limits, &handler).await?;
        Ok(Sandbox { runtime, limits, handler, store, guest, contexts: Vec::new(), poisoned: false })
    }

    /// The limits this sandbox runs cells under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Binds `context_{index}` (and `context` for index 0). Contexts must be
    /// loaded in order: 0, 1, 2, ... Reloading an index replaces it.
    pub async fn load_context(&mut self, index: u32, context: Context) -> Result<()> {
        if index as usize > self.contexts.len() {
            return Err(Error::InvalidConfig(format!(
                "context {index} loaded before context {}",
                self.contexts.len()
            )));
        }
        self.revive().await?;
        let (format, data) = context.encode();
        self.push_context(index, format, &data).await?;
        if (index as usize) < self.contexts.len() {
            self.contexts[index as usize] = (format, data);
        } else {
            self.contexts.push((format, data));
        }
        Ok(())
    }

    async fn push_context(&mut self, index: u32, format: repl::ContextFormat, data: &str) -> Result<()> {
        let limit = self.prepare_call()?;
        let call = self.guest.rlm_sandbox_repl().call_load_context(&mut self.store, index, format, data);
        let result = tokio::time::timeout(limit, call).await;
        self.settle("loading a context", result)?.map_err(|message| Error::Context { index, message })
    }

    /// Sets the deadline and fuel for a call into the guest; returns how long
    /// the host waits for it before abandoning the instance.
    fn prepare_call(&mut self) -> Result<std::time::Duration> {
        self.store.data_mut().begin(Instant::now() + self.limits.timeout);
        self.refuel()?;
        Ok(self.limits.timeout + HARD_STOP_GRACE + ABANDON_GRACE)
    }

    /// The result of a guest call made outside any cell. A trap or a hang
    /// poisons the instance, so the next use starts a fresh one.
    fn settle<T>(
        &mut self,
        action: &'static str,
        result: std::result::Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T> {
        let source = match result {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(trap)) => trap.into(),
            Err(_) => anyhow::anyhow!("the guest did not return within {:?}", self.limits.timeout),
        };
        self.poisoned = true;
        Err(Error::Guest { action, source })
    }

    /// Runs one cell. Python errors and limits are reported in the outcome;
    /// `Err` only when the host itself fails (for example it cannot replace
    /// an instance after a hard stop).
    #[tracing::instrument(name = "cell", level = "debug", skip_all, fields(code_bytes = code.len()))]
    pub async fn run_cell(&mut self, code: &str) -> Result<CellOutcome> {
        let mut state_lost = self.revive().await?;
        let started = Instant::now();
        let limit = self.prepare_call()?;
        let fuel_start = self.limits.fuel;
        let call = self.guest.rlm_sandbox_repl().call_run_cell(&mut self.store, code);
        let result = tokio::time::timeout(limit, call).await;
        let elapsed = started.elapsed();
        let fuel_used = fuel_start.map(|start| start.saturating_sub(self.store.get_fuel().unwrap_or(0)));

        let memory_denied = self.store.data().memory.denied;
        let (cell, output) = self.store.data_mut().take_cell();
        let (output_cut, calls_cut) = (output.stdout.truncated() || output.stderr.truncated(), cell.host_call_limit_hit);
        let mut changed_vars = Vec::new();
        let error = match result {
            Ok(Ok(res)) => {
                changed_vars = res.changed_vars;
                match res.error {
                    Some(e) if e.kind == repl::ErrorKind::Internal => {
                        self.poisoned = true;
                        Some(CellError { kind: ErrorKind::Trap, message: e.message })
                    }
                    // A raw fd write past the cap surfaces as an `OSError`.
                    Some(e) if output_cut && e.kind == repl::ErrorKind::Exception => {
                        Some(CellError { kind: ErrorKind::OutputLimit, message: e.message })
                    }
                    Some(e) => Some(CellError { kind: guest_kind(e.kind, memory_denied), message: e.message }),
                    None if output_cut => Some(limit_error(ErrorKind::OutputLimit, &self.limits)),
                    None if calls_cut => Some(limit_error(ErrorKind::HostCallLimit, &self.limits)),
                    None => None,
                }
            }
            Ok(Err(trap)) => {
                self.poisoned = true;
                Some(trap_error(&trap.into(), memory_denied, &self.limits))
            }
            Err(_) => {
                self.poisoned = true;
                Some(limit_error(ErrorKind::Timeout, &self.limits))
            }
        };
        if self.poisoned {
            state_lost |= self.revive().await?;
        }
        let mut stderr = output.stderr.finish();
        if let Some(e) = &error {
            stderr.push_str(&e.message);
            if !stderr.ends_with('\n') {
                stderr.push('\n');
            }
            if state_lost {
                stderr.push_str(
                    "[the sandbox was restarted: every variable, function and import is gone; the contexts were reloaded]\n",
                );
            }
        }
        tracing::debug!(
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            error = error.as_ref().map(|e| e.kind.as_str()),
            state_lost,
            "cell finished"
        );
        Ok(CellOutcome {
            stdout: output.stdout.finish(),
            stderr,
            error,
            final_value: cell.final_value,
            changed_vars,
            fuel_used,
            elapsed,
            state_lost,
        })
    }

    /// A user variable's value as JSON (values JSON cannot hold become their
    /// `repr` string); `None` when there is no such variable.
    pub async fn get_var(&mut self, name: &str) -> Result<Option<Value>> {
        self.revive().await?;
        let limit = self.prepare_call()?;
        let call = self.guest.rlm_sandbox_repl().call_get_var(&mut self.store, name);
        let result = tokio::time::timeout(limit, call).await;
        Ok(self.settle("reading a variable", result)?.ok().map(|json| {
            serde_json::from_str(&json).unwrap_or(Value::String(json))
        }))
    }

    /// The user variables, in name order.
    pub async fn list_vars(&mut self) -> Result<Vec<VarInfo>> {
        self.revive().await?;
        let limit = self.prepare_call()?;
        let call = self.guest.rlm_sandbox_repl().call_list_vars(&mut self.store);
        let result = tokio::time::timeout(limit, call).await;
        let vars = self.settle("listing variables", result)?;
        Ok(vars.into_iter().map(|v| VarInfo { name: v.name, type_name: v.type_name }).collect())
    }

    /// Refills fuel for the next guest call.
    fn refuel(&mut self) -> Result<()> {
        if let Some(fuel) = self.limits.fuel {
            self.store.set_fuel(fuel).map_err(|e| Error::Engine(e.into()))?;
        }
        Ok(())
    }

    /// Replaces a poisoned instance with a fresh one and reloads the
    /// contexts. Returns whether it had to.
    async fn revive(&mut self) -> Result<bool> {
        if !self.poisoned {
            return Ok(false);
        }
        let (store, guest) = instantiate(&self.runtime, &self.limits, &self.handler).await?;
        self.store = store;
        self.guest = guest;
        self.poisoned = false;
        for (index, (format, data)) in self.contexts.clone().into_iter().enumerate() {
            self.push_context(index as u32, format, &data).await?;
        }
        Ok(true)
    }
}

async fn instantiate(
    runtime: &Runtime,
    limits: &Limits,
    handler: &Arc<dyn SubcallHandler>,
) -> Result<(Store<HostState>, bindings::Sandbox)> {
    let mut store = Store::new(runtime.engine(), HostState::new(limits.clone(), handler.clone()));
    store.limiter(|s| &mut s.memory);
    store.epoch_deadline_callback(|ctx| {
        if Instant::now() >= ctx.data().cell.hard_deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            // Let other sandboxes on this executor thread run.
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store.set_epoch_deadline(1);
    if runtime.config().fuel_metering {
        store.set_fuel(limits.fuel.unwrap_or(u64::MAX)).map_err(|e| Error::Engine(e.into()))?;
    }
    let guest = runtime.pre().instantiate_async(&mut store).await.map_err(|e| Error::Instantiate(e.into()))?;
    Ok((store, guest))
}

fn guest_kind(kind: repl::ErrorKind, memory_denied: bool) -> ErrorKind {
    match kind {
        // A `MemoryError` counts as the limit only when the cap refused to
        // grow memory; CPython also raises it for, say, a parser overflow.
        repl::ErrorKind::MemoryLimit | repl::ErrorKind::Exception if memory_denied => ErrorKind::MemoryLimit,
        repl::ErrorKind::MemoryLimit | repl::ErrorKind::Exception => ErrorKind::Exception,
        repl::ErrorKind::Timeout => ErrorKind::Timeout,
        repl::ErrorKind::Internal => ErrorKind::Trap,
        repl::ErrorKind::OutputLimit => ErrorKind::OutputLimit,
        repl::ErrorKind::HostCallLimit => ErrorKind::HostCallLimit,
    }
}

fn limit_error(kind: ErrorKind, limits: &Limits) -> CellError {
    let message = match kind {
        ErrorKind::Timeout => format!("the cell passed its wall-clock limit of {:?}", limits.timeout),
        ErrorKind::OutputLimit => format!(
            "the cell's output passed the cap of {} bytes per stream; the rest was dropped",
            limits.max_output_bytes
        ),
        ErrorKind::HostCallLimit => format!(
            "the cell asked for more than {} llm_query/rlm_query calls; the rest were refused",
            limits.max_host_calls
        ),
        ErrorKind::FuelExhausted => {
            format!("the cell used up its fuel of {} instructions", limits.fuel.unwrap_or_default())
        }
        ErrorKind::MemoryLimit => format!("the cell passed the memory cap of {} MiB", limits.memory_bytes >> 20),
        ErrorKind::Exception | ErrorKind::Trap => String::from("the cell failed"),
    };
    CellError { kind, message }
}

fn trap_error(err: &anyhow::Error, memory_denied: bool, limits: &Limits) -> CellError {
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => limit_error(ErrorKind::FuelExhausted, limits),
        Some(Trap::Interrupt) => limit_error(ErrorKind::Timeout, limits),
        _ if memory_denied => limit_error(ErrorKind::MemoryLimit, limits),
        Some(Trap::StackOverflow) => CellError {
            kind: ErrorKind::Trap,
            message: "the guest overflowed its wasm stack (deep recursion in C code)".into(),
        },
        _ => CellError { kind: ErrorKind::Trap, message: format!("the guest trapped: {err:#}") },
    }
}
