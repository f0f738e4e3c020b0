//! Per-sandbox host state and the `host` interface the guest imports, one
//! file per group of functions (as wasmtime's `crates/wasi/src/p2/host/`).
//!
//! Every function that receives guest data takes it as a
//! [`WasmList<u8>`](wasmtime::component::WasmList): its length is checked
//! against the cap first, and only then is any of it read (in place, from
//! guest memory). Every limit kind of a cell is derived from the facts
//! recorded here, never from what the guest says.

mod calls;
mod context;
mod control;
mod random;
mod write;

use std::sync::Arc;
use std::time::Instant;

use rlm_core::{CallHandler, JsonText, Limits, SandboxQuota};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::HOST_INTERFACE;
use crate::config::HARD_STOP_GRACE;
use crate::limiter::MemoryLimiter;
use crate::output::{FdSink, Output, SharedOutput};

pub(crate) use context::{PendingText, TextShape};

/// Everything a [`wasmtime::Store`] of a sandbox owns.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryLimiter,
    pub(crate) call: CallState,
    output: SharedOutput,
    handler: Arc<dyn CallHandler>,
    limits: Limits,
    /// The context `load-context` is loading, until the guest asks for it
    /// with `fill-context`.
    pub(crate) pending_text: Option<PendingText>,
    /// Whether `seed-random` was called; only its first call writes.
    random_seeded: bool,
}

impl HostState {
    /// The state of a new sandbox; `prepaid` bytes of its memory are
    /// already reserved in `quota`.
    pub(crate) fn new(
        limits: Limits,
        handler: Arc<dyn CallHandler>,
        quota: Option<SandboxQuota>,
        prepaid: usize,
    ) -> Self {
        // Start closed: no preopens, no env, no args, stdin closed, no
        // sockets and no name lookups. Clocks and randomness stay. `sys.stdout`
        // reaches the host through `write-output`; raw writes to fd 1 and 2
        // land in the same capped buffers.
        let output = SharedOutput::new(limits.max_output_bytes);
        let wasi = WasiCtx::builder()
            .stdout(FdSink { output: output.clone(), stderr: false })
            .stderr(FdSink { output: output.clone(), stderr: true })
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryLimiter::new(limits.memory_bytes, quota, prepaid),
            call: CallState::new(Instant::now() + limits.timeout, false),
            output,
            handler,
            limits,
            pending_text: None,
            random_seeded: false,
        }
    }

    /// Starts a call into the guest: resets the facts and counters and sets
    /// the deadline. `cell` says whether it is a cell (only a cell may give
    /// a final answer).
    pub(crate) fn begin(&mut self, deadline: Instant, cell: bool) {
        self.call = CallState::new(deadline, cell);
        self.output.take();
        self.memory.reset_facts();
        // A load whose call was dropped midway must not leave its text for
        // a later `fill-context`.
        self.pending_text = None;
    }

    /// Takes what the last guest call left: facts, reports, output.
    pub(crate) fn finish(&mut self) -> (CallState, Output) {
        self.pending_text = None;
        let fresh = CallState::new(Instant::now() + self.limits.timeout, false);
        (std::mem::replace(&mut self.call, fresh), self.output.take())
    }

    /// Stops the guest, as a `timeout`, once its call is past the hard
    /// deadline. With fuel metering the deadline is otherwise checked only
    /// at fuel yields (`FUEL_YIELD_INTERVAL`), and host work is not fuel
    /// (though the arguments' copy into the host is, per byte): a guest that
    /// loops over the imports that take its data is stopped here too.
    pub(crate) fn check_hard_deadline(&self) -> wasmtime::Result<()> {
        if Instant::now() >= self.call.hard_deadline {
            return Err(wasmtime::Trap::Interrupt.into());
        }
        Ok(())
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// What the host saw during one call into the guest.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// A sleep or a host call was cut at the deadline.
    pub(crate) deadline_hit: bool,
    /// Host calls were refused for the per-cell cap.
    pub(crate) calls_refused: bool,
    /// A value or batch was refused for its size or shape.
    pub(crate) size_refused: Option<String>,
}

/// What the guest reported during one call, each capped.
#[derive(Debug, Default)]
pub(crate) struct Reports {
    pub(crate) traceback: Option<String>,
    pub(crate) display: Option<String>,
    pub(crate) changed_vars: Option<(Vec<(String, String)>, u64)>,
    pub(crate) value: Option<JsonText>,
    pub(crate) vars: Option<Vec<(String, String)>>,
    pub(crate) functions: Option<Vec<rlm_core::FunctionInfo>>,
    pub(crate) message: Option<String>,
    /// Reports refused for their size, for the notices.
    pub(crate) refused: Vec<String>,
}

/// State of the guest call (a cell, or loading, reading, installing) in
/// progress.
#[derive(Debug)]
pub(crate) struct CallState {
    /// Sleeps and host calls end here, raising inside Python.
    pub(crate) deadline: Instant,
    /// The deadline callback (at epoch ticks or fuel yields) and the host
    /// imports that take guest data stop wasm from here on.
    pub(crate) hard_deadline: Instant,
    /// Whether this is a cell, which may give a final answer.
    pub(crate) in_cell: bool,
    pub(crate) host_calls: u32,
    pub(crate) facts: Facts,
    pub(crate) reports: Reports,
    pub(crate) final_value: Option<JsonText>,
}

impl CallState {
    fn new(deadline: Instant, in_cell: bool) -> Self {
        CallState {
            deadline,
            hard_deadline: deadline + HARD_STOP_GRACE,
            in_cell,
            host_calls: 0,
            facts: Facts::default(),
            reports: Reports::default(),
            final_value: None,
        }
    }

    /// Records that a sleep or host call was cut at the deadline. Python then
    /// raises `CellTimeout` and the cell may still end on its own; on a
    /// loaded executor the cut call may resume late, so the hard stop is
    /// moved, once, to a grace after now.
    pub(crate) fn cut_at_deadline(&mut self) {
        if !self.facts.deadline_hit {
            self.facts.deadline_hit = true;
            self.hard_deadline = self.hard_deadline.max(Instant::now() + HARD_STOP_GRACE);
        }
    }
}

/// Defines the `host` interface on `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut instance = linker.instance(HOST_INTERFACE)?;
    calls::add_to_linker(&mut instance)?;
    context::add_to_linker(&mut instance)?;
    control::add_to_linker(&mut instance)?;
    random::add_to_linker(&mut instance)?;
    Ok(())
}
