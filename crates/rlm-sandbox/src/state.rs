//! Per-sandbox host state and the implementations of the guest's imports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{control, subcalls};
use crate::config::{HARD_STOP_GRACE, Limits};
use crate::handler::{SubcallError, SubcallHandler};

/// Everything a [`wasmtime::Store`] of a sandbox owns.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryLimiter,
    pub(crate) cell: CellState,
    handler: Arc<dyn SubcallHandler>,
    limits: Limits,
}

impl HostState {
    pub(crate) fn new(limits: Limits, handler: Arc<dyn SubcallHandler>) -> Self {
        // Start closed: no preopens, no env, no args, stdin closed, stdio a
        // sink (the guest sends its output through `write-output`), no
        // sockets and no name lookups. Clocks and randomness stay.
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryLimiter { cap: limits.memory_bytes, denied: false },
            cell: CellState::new(&limits, Instant::now() + limits.timeout),
            handler,
            limits,
        }
    }

    /// Resets the per-cell counters and sets the deadline for the next call
    /// into the guest.
    pub(crate) fn begin(&mut self, deadline: Instant) {
        self.cell = CellState::new(&self.limits, deadline);
        self.memory.denied = false;
    }

    /// Takes what the last guest call left: output, final answer, counters.
    pub(crate) fn take_cell(&mut self) -> CellState {
        let fresh = CellState::new(&self.limits, Instant::now() + self.limits.timeout);
        std::mem::replace(&mut self.cell, fresh)
    }

    fn reserve_calls(&mut self, n: usize) -> Result<(), subcalls::CallError> {
        let max = self.limits.max_host_calls as usize;
        let used = self.cell.host_calls as usize;
        if used + n > max {
            self.cell.host_call_limit_hit = true;
            return Err(subcalls::CallError::LimitReached(format!(
                "this cell may make at most {max} llm_query/rlm_query calls; {used} were made and {n} more were asked for"
            )));
        }
        self.cell.host_calls += n as u32;
        Ok(())
    }

}

/// Awaits `fut` until `deadline`, so a slow model call ends the cell softly
/// (inside Python) instead of by a hard stop.
async fn until_deadline<T>(deadline: Instant, fut: impl Future<Output = T>) -> Result<T, subcalls::CallError> {
    tokio::time::timeout_at(deadline.into(), fut).await.map_err(|_| {
        subcalls::CallError::Deadline("the cell's wall-clock limit passed while waiting for a sub-call".into())
    })
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// State of the cell (or other guest call) in progress.
pub(crate) struct CellState {
    /// Sleeps and sub-calls end here, raising inside Python.
    pub(crate) deadline: Instant,
    /// The epoch callback interrupts wasm from here on.
    pub(crate) hard_deadline: Instant,
    pub(crate) host_calls: u32,
    pub(crate) host_call_limit_hit: bool,
    pub(crate) stdout: CappedText,
    pub(crate) stderr: CappedText,
    pub(crate) final_value: Option<Value>,
}

impl CellState {
    fn new(limits: &Limits, deadline: Instant) -> Self {
        CellState {
            deadline,
            hard_deadline: deadline + HARD_STOP_GRACE,
            host_calls: 0,
            host_call_limit_hit: false,
            stdout: CappedText::new("stdout", limits.max_output_bytes),
            stderr: CappedText::new("stderr", limits.max_output_bytes),
            final_value: None,
        }
    }
}

/// Text kept up to a byte cap; what does not fit is counted, not kept.
pub(crate) struct CappedText {
    name: &'static str,
    cap: usize,
    text: String,
    dropped: usize,
}

impl CappedText {
    fn new(name: &'static str, cap: usize) -> Self {
        CappedText { name, cap, text: String::new(), dropped: 0 }
    }

    /// Appends as much of `s` as fits; `false` once the cap is reached.
    pub(crate) fn push(&mut self, s: &str) -> bool {
        let room = self.cap - self.text.len();
        if s.len() <= room && self.dropped == 0 {
            self.text.push_str(s);
            return true;
        }
        let mut cut = room.min(s.len());
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        self.dropped += s.len() - cut;
        false
    }

    pub(crate) fn truncated(&self) -> bool {
        self.dropped > 0
    }

    /// The kept text, with a visible marker when some was dropped.
    pub(crate) fn finish(self) -> String {
        let mut text = self.text;
        if self.dropped > 0 {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!(
                "[... {} truncated: {} more bytes not shown; the cap is {} bytes per cell ...]\n",
                self.name, self.dropped, self.cap
            ));
        }
        text
    }
}

/// Caps linear memory and remembers whether it refused a growth, so an
/// out-of-memory trap or `MemoryError` is reported as `memory_limit`.
pub(crate) struct MemoryLimiter {
    cap: usize,
    pub(crate) denied: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allow = desired <= self.cap && maximum.is_none_or(|max| desired <= max);
        if !allow {
            self.denied = true;
        }
        Ok(allow)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000 && maximum.is_none_or(|max| desired <= max))
    }
}

fn failed(e: SubcallError) -> subcalls::CallError {
    subcalls::CallError::Failed(e.message().to_owned())
}

/// Model code may hand `rlm_query` anything; the guest sends it as JSON.
fn parse_json(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

impl subcalls::Host for HostState {
    async fn llm_query(&mut self, prompt: String, model: Option<String>) -> Result<String, subcalls::CallError> {
        self.reserve_calls(1)?;
        let call = self.handler.llm_query(prompt, model);
        until_deadline(self.cell.deadline, call).await?.map_err(failed)
    }

    async fn llm_query_batched(
        &mut self,
        prompts: Vec<String>,
        model: Option<String>,
    ) -> Result<Vec<Result<String, String>>, subcalls::CallError> {
        self.reserve_calls(prompts.len())?;
        let calls = self.handler.llm_query_batched(prompts, model);
        let results = until_deadline(self.cell.deadline, calls).await?;
        Ok(results.into_iter().map(|r| r.map_err(|e| e.message().to_owned())).collect())
    }

    async fn rlm_query(&mut self, context_json: String, model: Option<String>) -> Result<String, subcalls::CallError> {
        self.reserve_calls(1)?;
        let call = self.handler.rlm_query(parse_json(context_json), model);
        let answer = until_deadline(self.cell.deadline, call).await?.map_err(failed)?;
        Ok(answer.to_string())
    }

    async fn rlm_query_batched(
        &mut self,
        contexts_json: Vec<String>,
        model: Option<String>,
    ) -> Result<Vec<Result<String, String>>, subcalls::CallError> {
        self.reserve_calls(contexts_json.len())?;
        let contexts = contexts_json.into_iter().map(parse_json).collect();
        let calls = self.handler.rlm_query_batched(contexts, model);
        let results = until_deadline(self.cell.deadline, calls).await?;
        Ok(results
            .into_iter()
            .map(|r| r.map(|v| v.to_string()).map_err(|e| e.message().to_owned()))
            .collect())
    }
}

impl control::Host for HostState {
    async fn write_output(&mut self, which: control::OutputStream, text: String) -> bool {
        match which {
            control::OutputStream::Stdout => self.cell.stdout.push(&text),
            control::OutputStream::Stderr => self.cell.stderr.push(&text),
        }
    }

    async fn final_(&mut self, value_json: String) {
        self.cell.final_value = Some(parse_json(value_json));
    }

    async fn sleep(&mut self, duration_ns: u64) -> bool {
        let wanted = Instant::now() + Duration::from_nanos(duration_ns);
        let until = wanted.min(self.cell.deadline);
        tokio::time::sleep_until(until.into()).await;
        until == wanted
    }
}
