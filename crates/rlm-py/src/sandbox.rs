//! One sandbox driven directly from Python, without a model: run cells,
//! read variables, load contexts. Host tools work as in a run; `llm_query`
//! and `rlm_query` fail with a message that says why.

use std::sync::Arc;

use futures::future::{BoxFuture, join_all};
use pyo3::prelude::*;
use rlm_core::{CallHandler, CellOutcome, Context, HelperSource, HostCall, JsonText, Limits, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::channel::{Channel, Run, ToolRouter};
use crate::engine::{LimitsSpec, context};
use crate::error::Error;
use crate::runtime;

/// A sandbox's settings, as JSON from the Python side.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxSpec {
    #[serde(default)]
    limits: LimitsSpec,
    /// Host tools: name, description, JSON Schema of the arguments.
    #[serde(default)]
    tools: Vec<(String, String, Value)>,
    /// Helper code: name, code.
    #[serde(default)]
    helpers: Vec<(String, String)>,
}

/// Answers a bare sandbox's host calls: tools through Python, the rest
/// refused.
struct Calls {
    router: Arc<ToolRouter>,
}

impl CallHandler for Calls {
    fn call(&self, calls: Vec<HostCall>) -> BoxFuture<'static, Vec<Result<JsonText, String>>> {
        let answers: Vec<BoxFuture<'static, Result<JsonText, String>>> = calls
            .into_iter()
            .map(|call| match call {
                HostCall::Tool { name, args } => self.router.call(&name, &args, 0),
                other => {
                    let message = format!(
                        "{}() is unavailable in a bare `Sandbox`: it has no model (use `rlm_sandbox.RLM` for model calls)",
                        other.function()
                    );
                    Box::pin(std::future::ready(Err(message))) as BoxFuture<'static, _>
                }
            })
            .collect();
        Box::pin(join_all(answers))
    }
}

/// The sandbox and what a fresh one needs to be the same.
struct State {
    sandbox: Option<rlm_sandbox::Sandbox>,
    contexts: Vec<Context>,
}

/// One sandbox, created on first use. See the module docs.
#[pyclass(module = "rlm_sandbox._native", frozen)]
pub(crate) struct Sandbox {
    state: Arc<tokio::sync::Mutex<State>>,
    runtime: Arc<rlm_sandbox::Runtime>,
    limits: Limits,
    tools: Vec<ToolSpec>,
    helpers: Vec<HelperSource>,
    router: Arc<ToolRouter>,
}

impl Sandbox {
    /// A fresh sandbox with the contexts loaded and tools and helpers
    /// installed; a helper that fails is an error.
    async fn open(&self, contexts: &[Context]) -> Result<rlm_sandbox::Sandbox, String> {
        let calls = Arc::new(Calls { router: self.router.clone() });
        let mut sandbox = self.runtime.sandbox(self.limits.clone(), calls).await.map_err(|e| chain(&e))?;
        for (index, context) in contexts.iter().enumerate() {
            sandbox.load_context(index as u32, context.clone()).await.map_err(|e| chain(&e))?;
        }
        if !self.tools.is_empty() || !self.helpers.is_empty() {
            sandbox.install(&self.tools, &self.helpers).await.map_err(|e| chain(&e))??;
        }
        Ok(sandbox)
    }

    fn block_on<T: Send>(&self, py: Python<'_>, work: impl Future<Output = Result<T, String>> + Send) -> PyResult<T> {
        let rt = runtime::tokio()?;
        py.detach(|| rt.block_on(work)).map_err(pyo3::exceptions::PyRuntimeError::new_err)
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A cell's outcome as JSON, with the changed variables' types.
fn outcome_json(outcome: &CellOutcome) -> String {
    let mut value = serde_json::to_value(outcome).unwrap_or(Value::Null);
    value["changed_vars"] =
        outcome.changed_vars.iter().map(|v| json!({"name": v.name, "type": v.type_name})).collect::<Vec<_>>().into();
    value.to_string()
}

#[pymethods]
impl Sandbox {
    /// A sandbox with these settings (JSON); nothing starts until first use.
    #[new]
    fn new(py: Python<'_>, spec: &str) -> PyResult<Self> {
        let spec: SandboxSpec = serde_json::from_str(spec).map_err(|e| Error::json("sandbox settings", e))?;
        let limits = spec.limits.limits(Limits::default())?;
        let runtime = py.detach(|| runtime::sandboxes(spec.limits.metered()))?;
        let tools = spec
            .tools
            .into_iter()
            .map(|(name, description, schema)| ToolSpec::new(name, description, JsonText::from_value(&schema)))
            .collect();
        let helpers = spec.helpers.into_iter().map(|(name, code)| HelperSource::new(name, code)).collect();
        Ok(Sandbox {
            state: Arc::new(tokio::sync::Mutex::new(State { sandbox: None, contexts: Vec::new() })),
            runtime,
            limits,
            tools,
            helpers,
            router: Arc::default(),
        })
    }

    /// Starts running `code` as one cell. Its result is the outcome as JSON,
    /// or `{"error": ...}` when the host failed or the cell was cancelled
    /// (the sandbox is then replaced by a fresh one on next use).
    fn start(slf: &Bound<'_, Self>, code: String) -> PyResult<Run> {
        let this: Py<Self> = slf.clone().unbind();
        let me = slf.get();
        let channel = Arc::new(Channel::default());
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let state = me.state.clone();
        let rt = runtime::tokio()?;
        let finish = channel.clone();
        rt.spawn(async move {
            let me = this.get();
            let mut state = state.lock().await;
            // Cells run one at a time: this one's tool calls go to its caller.
            me.router.set(finish.clone());
            if state.sandbox.is_none() {
                let opened = tokio::select! {
                    opened = me.open(&state.contexts) => opened,
                    _ = token.cancelled() => Err("cancelled".to_owned()),
                };
                match opened {
                    Ok(sandbox) => state.sandbox = Some(sandbox),
                    Err(message) => {
                        let kind = if token.is_cancelled() { "cancelled" } else { "sandbox" };
                        return finish.finish(json!({"error": {"kind": kind, "message": message}}).to_string());
                    }
                }
            }
            let sandbox = state.sandbox.as_mut().expect("opened above");
            let result = tokio::select! {
                outcome = sandbox.run_cell(&code) => Some(outcome),
                _ = token.cancelled() => None,
            };
            let json = match result {
                Some(Ok(outcome)) => outcome_json(&outcome),
                Some(Err(e)) => {
                    state.sandbox = None;
                    json!({"error": {"kind": "sandbox", "message": chain(&e)}}).to_string()
                }
                None => {
                    // The cell was stopped mid-way: start afresh next time.
                    state.sandbox = None;
                    json!({"error": {"kind": "cancelled", "message": "the cell was cancelled; the sandbox's state is lost"}})
                        .to_string()
                }
            };
            finish.finish(json);
        });
        Ok(Run::new(channel, cancel))
    }

    /// Binds `context` (index 0) or `context_N`; `(kind, text)`. Indexes go
    /// in order; loading an index again replaces it.
    fn load_context(&self, py: Python<'_>, index: u32, value: (String, String)) -> PyResult<()> {
        let value = context(&value.0, value.1)?;
        let state = self.state.clone();
        self.block_on(py, async move {
            let mut state = state.lock().await;
            let at = index as usize;
            if at > state.contexts.len() {
                return Err(format!("context {index} loaded before context {}", state.contexts.len()));
            }
            if let Some(sandbox) = state.sandbox.as_mut() {
                sandbox.load_context(index, value.clone()).await.map_err(|e| chain(&e))?;
            }
            if at < state.contexts.len() {
                state.contexts[at] = value;
            } else {
                state.contexts.push(value);
            }
            Ok(())
        })
    }

    /// A variable's value as JSON; `(False, message)` when there is no such
    /// variable or its value cannot cross.
    fn get(&self, py: Python<'_>, name: String) -> PyResult<(bool, String)> {
        let state = self.state.clone();
        self.block_on(py, async move {
            let mut state = state.lock().await;
            let Some(sandbox) = state.sandbox.as_mut() else {
                return Ok((false, format!("no variable named {name}")));
            };
            Ok(match sandbox.get_var(&name).await.map_err(|e| chain(&e))? {
                Ok(value) => (true, value.as_str().to_owned()),
                Err(message) => (false, message),
            })
        })
    }

    /// The user variables as `(name, type)` pairs, in name order.
    fn vars(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        let state = self.state.clone();
        self.block_on(py, async move {
            let mut state = state.lock().await;
            let Some(sandbox) = state.sandbox.as_mut() else { return Ok(Vec::new()) };
            let vars = sandbox.list_vars().await.map_err(|e| chain(&e))?;
            Ok(vars.into_iter().map(|v| (v.name, v.type_name)).collect())
        })
    }

    /// Frees the sandbox; the next cell starts a fresh one (with the
    /// contexts loaded again).
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        let state = self.state.clone();
        self.block_on(py, async move {
            state.lock().await.sandbox = None;
            Ok(())
        })
    }
}
