//! Per-sandbox host state and the implementations of the guest's imports.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
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
    output: SharedOutput,
    handler: Arc<dyn SubcallHandler>,
    limits: Limits,
}

impl HostState {
    pub(crate) fn new(limits: Limits, handler: Arc<dyn SubcallHandler>) -> Self {
        // Start closed: no preopens, no env, no args, stdin closed, no
        // sockets and no name lookups. Clocks and randomness stay. `sys.stdout`
        // reaches the host through `write-output`; raw writes to fd 1 and 2
        // land in the same capped buffers.
        let output = SharedOutput::new(&limits);
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
            memory: MemoryLimiter { cap: limits.memory_bytes, denied: false },
            cell: CellState::new(Instant::now() + limits.timeout),
            output,
            handler,
            limits,
        }
    }

    /// Resets the per-cell counters and sets the deadline for the next call
    /// into the guest.
    pub(crate) fn begin(&mut self, deadline: Instant) {
        self.cell = CellState::new(deadline);
        self.output.take(&self.limits);
        self.memory.denied = false;
    }

    /// Takes what the last guest call left: final answer, counters, output.
    pub(crate) fn take_cell(&mut self) -> (CellState, Output) {
        let fresh = CellState::new(Instant::now() + self.limits.timeout);
        (std::mem::replace(&mut self.cell, fresh), self.output.take(&self.limits))
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
    pub(crate) final_value: Option<Value>,
}

impl CellState {
    fn new(deadline: Instant) -> Self {
        CellState { deadline, hard_deadline: deadline + HARD_STOP_GRACE, host_calls: 0, host_call_limit_hit: false, final_value: None }
    }
}

/// What a cell wrote, each stream capped.
pub(crate) struct Output {
    pub(crate) stdout: CappedText,
    pub(crate) stderr: CappedText,
}

impl Output {
    fn new(limits: &Limits) -> Self {
        Output {
            stdout: CappedText::new("stdout", limits.max_output_bytes),
            stderr: CappedText::new("stderr", limits.max_output_bytes),
        }
    }

    fn stream(&mut self, stderr: bool) -> &mut CappedText {
        if stderr { &mut self.stderr } else { &mut self.stdout }
    }
}

/// The current cell's output, shared by the `write-output` import and the
/// WASI stdout/stderr streams.
#[derive(Clone)]
struct SharedOutput(Arc<Mutex<Output>>);

impl SharedOutput {
    fn new(limits: &Limits) -> Self {
        SharedOutput(Arc::new(Mutex::new(Output::new(limits))))
    }

    fn push(&self, stderr: bool, text: &str) -> bool {
        self.0.lock().unwrap().stream(stderr).push(text)
    }

    fn take(&self, limits: &Limits) -> Output {
        std::mem::replace(&mut *self.0.lock().unwrap(), Output::new(limits))
    }
}

/// A WASI stdout or stderr: raw writes to fd 1 or 2 (`os.write`,
/// `sys.__stdout__`, CPython's fatal-error messages) join the cell's output.
/// Past the cap a write fails, so the guest sees an `OSError`.
#[derive(Clone)]
struct FdSink {
    output: SharedOutput,
    stderr: bool,
}

impl IsTerminal for FdSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for FdSink {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for FdSink {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.output.push(self.stderr, &String::from_utf8_lossy(buf)) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(std::io::Error::other("the cell's output cap is reached")))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
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
        self.output.push(which == control::OutputStream::Stderr, &text)
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
