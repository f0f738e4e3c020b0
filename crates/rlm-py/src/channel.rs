//! A run in the background and the caller waiting for it.
//!
//! The engine's tasks push messages (events, host-tool calls, the result)
//! into a [`Channel`]; the Python thread that started the run takes them
//! with [`Run::next_batch`], which waits with the GIL released and checks
//! for signals. No engine thread ever takes the GIL: tool calls wait on a
//! oneshot that [`Run::tool_result`] answers, so a slow Python callback or
//! tool never blocks a tokio worker.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rlm_core::JsonText;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// What a host tool answers: its value as JSON, or the message of the
/// exception model code sees.
pub(crate) type ToolAnswer = Result<JsonText, String>;

/// Messages of one run, in order, and the tool calls waiting for Python.
#[derive(Default)]
pub(crate) struct Channel {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(&'static str, String)>,
    pending: HashMap<u64, oneshot::Sender<ToolAnswer>>,
    next_call: u64,
    /// The result, once the run ended (kept apart from the queue so that it
    /// survives a batch lost to an exception in the caller).
    done: Option<String>,
}

impl Channel {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a message of `kind` (`event`, `tool`).
    pub(crate) fn push(&self, kind: &'static str, payload: String) {
        self.lock().queue.push_back((kind, payload));
        self.ready.notify_all();
    }

    /// Ends the run with `result` (JSON); tool calls still waiting fail.
    pub(crate) fn finish(&self, result: String) {
        let mut state = self.lock();
        state.pending.clear();
        state.done = Some(result);
        drop(state);
        self.ready.notify_all();
    }

    /// Asks the Python side to run tool `name` with `args` for a run at
    /// `depth`; resolves with its answer.
    pub(crate) fn call_tool(&self, name: &str, args: &JsonText, depth: u32) -> BoxFuture<'static, ToolAnswer> {
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.lock();
            if state.done.is_some() {
                return Box::pin(std::future::ready(Err("the run has ended".to_owned())));
            }
            let id = state.next_call;
            state.next_call += 1;
            state.pending.insert(id, tx);
            let name = serde_json::Value::String(name.to_owned());
            let payload = format!(r#"{{"id":{id},"name":{name},"depth":{depth},"args":{}}}"#, args.as_str());
            state.queue.push_back(("tool", payload));
        }
        self.ready.notify_all();
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| Err("the tool was not answered: the caller stopped the run".to_owned()))
        })
    }

    /// Waits up to `timeout` for a message or the end; takes every message.
    fn take(&self, timeout: Duration) -> (Vec<(&'static str, String)>, bool) {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.queue.is_empty() && state.done.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self.ready.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        let finished = state.done.is_some();
        (state.queue.drain(..).collect(), finished)
    }
}

/// A run started in the background: a completion, a session query or a
/// sandbox cell. Dropping it cancels the run.
#[pyclass(module = "rlm_sandbox._native", frozen)]
pub(crate) struct Run {
    channel: Arc<Channel>,
    cancel: CancellationToken,
}

impl Run {
    /// A handle on `channel`, cancelling with `cancel`.
    pub(crate) fn new(channel: Arc<Channel>, cancel: CancellationToken) -> Self {
        Run { channel, cancel }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[pymethods]
impl Run {
    /// Waits up to `timeout` seconds (GIL released) for messages and returns
    /// them all, as `(kind, json)` pairs: `event`, `tool`. Returns an empty
    /// list on timeout or once the run has ended (see `finished`). A pending
    /// signal (Ctrl-C) is raised here, before any message is taken.
    #[pyo3(signature = (timeout))]
    fn next_batch(&self, py: Python<'_>, timeout: f64) -> PyResult<Vec<(&'static str, String)>> {
        py.check_signals()?;
        let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
        let channel = self.channel.clone();
        // Wait in short slices so that signals are noticed while waiting.
        let slice = Duration::from_millis(50);
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let left = deadline.map_or(slice, |d| d.saturating_duration_since(Instant::now()));
            let wait = left.min(slice);
            let (batch, finished) = py.detach(|| channel.take(wait));
            if !batch.is_empty() || finished || left <= slice {
                return Ok(batch);
            }
            // Nothing was taken in this slice: an interrupt loses no message.
            py.check_signals()?;
        }
    }

    /// Whether the run has ended.
    #[getter]
    fn finished(&self) -> bool {
        self.channel.lock().done.is_some()
    }

    /// The run's result as JSON, once it has ended; `None` before.
    fn result(&self) -> Option<String> {
        self.channel.lock().done.clone()
    }

    /// Cancels the run (and its sub-calls); it then ends with kind
    /// `cancelled` and what it had done.
    fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Answers tool call `id`: `ok` with the value as JSON, or the message
    /// model code sees as an exception.
    #[pyo3(signature = (id, ok, payload))]
    fn tool_result(&self, id: u64, ok: bool, payload: String) -> PyResult<()> {
        let answer = if ok {
            JsonText::parse(&payload, usize::MAX)
                .map_err(|e| PyValueError::new_err(format!("a tool result is not valid JSON: {e}")))?
        } else {
            return self.answer(id, Err(payload));
        };
        self.answer(id, Ok(answer))
    }
}

impl Run {
    fn answer(&self, id: u64, answer: ToolAnswer) -> PyResult<()> {
        // A call the run no longer waits for (it was cancelled) is dropped.
        if let Some(tx) = self.channel.lock().pending.remove(&id) {
            let _ = tx.send(answer);
        }
        Ok(())
    }
}

/// Where the tools of a long-lived object (an engine's run, a session, a
/// sandbox) send their calls: the channel of the run in progress.
#[derive(Default)]
pub(crate) struct ToolRouter {
    current: Mutex<Option<Arc<Channel>>>,
}

impl ToolRouter {
    /// Routes calls to `channel` from now on.
    pub(crate) fn set(&self, channel: Arc<Channel>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(channel);
    }

    /// Sends a call to the current run's caller.
    pub(crate) fn call(&self, name: &str, args: &JsonText, depth: u32) -> BoxFuture<'static, ToolAnswer> {
        let channel = self.current.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match channel {
            Some(channel) => channel.call_tool(name, args, depth),
            None => Box::pin(std::future::ready(Err(format!("tool `{name}` was called outside a run")))),
        }
    }
}
