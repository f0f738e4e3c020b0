//! Answers a sandbox's host calls: sub-model calls, recursive sub-RLMs in
//! fresh sandboxes, host tools and `budget()`, each recorded in the
//! trajectory in the order the code made them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::{BoxFuture, join_all};
use rlm_core::{CallHandler, Context, HelperSource, HostCall, JsonText, Message, SamplingOptions, TokenUsage};
use serde_json::json;

use crate::events::{Emitter, EventKind, preview};
use crate::observe::notice;
use crate::shared::{RunSpec, Shared};
use crate::tools::ToolCall;
use crate::trajectory::{SubCall, answer_string};

/// The instruction a sub-RLM gets besides its `context`.
pub(crate) const CHILD_QUERY: &str = "Do the task given in `context` and return the result with FINAL.";

/// The host-call handler of one run's sandbox.
pub(crate) struct RunCalls {
    shared: Arc<Shared>,
    /// The depth of the run whose code makes the calls.
    depth: u32,
    /// One slot per call, in call order; filled as calls finish.
    records: Arc<Mutex<Vec<Option<SubCall>>>>,
    emitter: Emitter,
    iterations_used: Arc<AtomicU32>,
    max_iterations: u32,
}

impl RunCalls {
    pub(crate) fn new(
        shared: Arc<Shared>,
        depth: u32,
        records: Arc<Mutex<Vec<Option<SubCall>>>>,
        emitter: Emitter,
        iterations_used: Arc<AtomicU32>,
        max_iterations: u32,
    ) -> Self {
        RunCalls { shared, depth, records, emitter, iterations_used, max_iterations }
    }
}

impl CallHandler for RunCalls {
    fn call(&self, calls: Vec<HostCall>) -> BoxFuture<'static, Vec<Result<JsonText, String>>> {
        let base = {
            let mut records = self.records.lock().unwrap();
            let base = records.len();
            records.extend(calls.iter().map(|_| None));
            base
        };
        let futures: Vec<_> = calls.into_iter().enumerate().map(|(i, call)| self.one(base + i, call)).collect();
        Box::pin(join_all(futures))
    }
}

/// What a finished sub-call leaves in its record.
struct Finished {
    name: String,
    prompt: JsonText,
    result: Result<JsonText, String>,
    calls: u64,
    tokens: TokenUsage,
    cost: Option<f64>,
    child: Option<crate::trajectory::Trajectory>,
}

impl RunCalls {
    fn one(&self, slot: usize, call: HostCall) -> BoxFuture<'static, Result<JsonText, String>> {
        let shared = self.shared.clone();
        let depth = self.depth + 1;
        let records = self.records.clone();
        let emitter = self.emitter.clone();
        match call {
            HostCall::Budget => {
                let mut remaining = serde_json::to_value(shared.budget.remaining()).unwrap_or_default();
                let used = self.iterations_used.load(Ordering::Relaxed);
                remaining["iterations_left"] = json!(self.max_iterations.saturating_sub(used));
                remaining["depth"] = json!(self.depth);
                remaining["max_depth"] = json!(shared.config.max_depth);
                Box::pin(std::future::ready(Ok(JsonText::from_value(&remaining))))
            }
            HostCall::Llm { prompt, model } => Box::pin(async move {
                let started = Instant::now();
                let id = shared.next_id();
                let name = model.clone().unwrap_or_else(|| shared.config.sub_model().to_owned());
                emitter.emit(|| EventKind::SubCallStarted {
                    call: id,
                    kind: "llm",
                    name: name.clone(),
                    child_run: None,
                    preview: preview(&prompt),
                });
                let prompt_json = JsonText::string(&prompt);
                let finished = llm(&shared, &name, prompt, prompt_json, depth, &emitter).await;
                record(&shared, &records, slot, "llm", depth, started, id, &emitter, finished)
            }),
            HostCall::Rlm { context, model, max_iterations, system_prompt, helpers } => Box::pin(async move {
                let started = Instant::now();
                let id = shared.next_id();
                let name = model.clone().unwrap_or_else(|| shared.config.sub_model().to_owned());
                if depth > shared.config.max_depth {
                    // At the depth limit a sub-RLM is a plain sub-model call.
                    emitter.emit(|| EventKind::SubCallStarted {
                        call: id,
                        kind: "llm",
                        name: name.clone(),
                        child_run: None,
                        preview: preview(context.as_prompt()),
                    });
                    let prompt = context.as_prompt().to_owned();
                    let finished = llm(&shared, &name, prompt, context.to_json(), depth, &emitter).await;
                    return record(&shared, &records, slot, "llm", depth, started, id, &emitter, finished);
                }
                let child_id: Arc<str> = Arc::from(format!("{}.{id}", emitter.run_id()));
                emitter.emit(|| EventKind::SubCallStarted {
                    call: id,
                    kind: "rlm",
                    name: name.clone(),
                    child_run: Some(child_id.to_string()),
                    preview: preview(context.as_prompt()),
                });
                let child = ChildCall { name, context, max_iterations, system_prompt, helpers, child_id };
                let finished = sub_rlm(&shared, child, depth, &emitter).await;
                record(&shared, &records, slot, "rlm", depth, started, id, &emitter, finished)
            }),
            HostCall::Tool { name, args } => {
                let tool = shared.tools.find(&name, self.depth);
                let meta = shared.meta.clone();
                let caller_depth = self.depth;
                Box::pin(async move {
                    let started = Instant::now();
                    let id = shared.next_id();
                    emitter.emit(|| EventKind::SubCallStarted {
                        call: id,
                        kind: "tool",
                        name: name.clone(),
                        child_run: None,
                        preview: preview(args.as_str()),
                    });
                    let result = match tool {
                        Some(tool) => {
                            let call = tool.call(args.clone(), ToolCall { depth: caller_depth, meta });
                            tokio::select! {
                                result = call => result,
                                _ = shared.cancel.cancelled() => Err("the run was cancelled".to_owned()),
                            }
                        }
                        None => Err(format!("there is no tool named {name} in this run")),
                    };
                    let finished = Finished {
                        name,
                        prompt: args,
                        result,
                        calls: 0,
                        tokens: TokenUsage::default(),
                        cost: None,
                        child: None,
                    };
                    record(&shared, &records, slot, "tool", caller_depth, started, id, &emitter, finished)
                })
            }
            _ => Box::pin(std::future::ready(Err("this host call is not supported".to_owned()))),
        }
    }
}

/// A plain sub-model call: checks the model and the prompt's size first.
async fn llm(
    shared: &Arc<Shared>,
    name: &str,
    prompt: String,
    prompt_json: JsonText,
    depth: u32,
    emitter: &Emitter,
) -> Finished {
    let mut finished = Finished {
        name: name.to_owned(),
        prompt: prompt_json,
        result: Err(String::new()),
        calls: 0,
        tokens: TokenUsage::default(),
        cost: None,
        child: None,
    };
    if let Err(e) = shared.registry.get(name) {
        finished.result = Err(e.to_string());
        return finished;
    }
    let limit = shared.sub_context_chars();
    let chars = prompt.chars().count();
    if chars > limit {
        finished.result =
            Err(notice("prompt_too_long", &[("chars", &chars.to_string()), ("limit", &limit.to_string())]));
        return finished;
    }
    match shared.call_model(name, vec![Message::user(prompt)], &SamplingOptions::default(), depth, emitter).await {
        Ok(reply) => {
            finished.calls = 1;
            finished.tokens = reply.usage;
            finished.cost =
                shared.registry.get(name).ok().and_then(|e| reply.cost.or(e.price.map(|p| p.cost(reply.usage))));
            finished.result = Ok(JsonText::string(&reply.text));
        }
        Err(stop) => {
            let cause = stop.source.as_ref().map(|s| format!(": {s}")).unwrap_or_default();
            finished.result = Err(format!("{}: {}{cause}", stop.kind, stop.message));
        }
    }
    finished
}

struct ChildCall {
    name: String,
    context: Context,
    max_iterations: Option<u32>,
    system_prompt: Option<String>,
    helpers: Vec<String>,
    child_id: Arc<str>,
}

/// A recursive sub-RLM in a fresh sandbox, on a task of its own so sibling
/// sub-RLMs run on every core.
async fn sub_rlm(shared: &Arc<Shared>, child: ChildCall, depth: u32, emitter: &Emitter) -> Finished {
    let mut finished = Finished {
        name: child.name.clone(),
        prompt: child.context.to_json(),
        result: Err(String::new()),
        calls: 0,
        tokens: TokenUsage::default(),
        cost: None,
        child: None,
    };
    if let Err(e) = shared.registry.get(&child.name) {
        finished.result = Err(e.to_string());
        return finished;
    }
    let limit = shared.config.child_max_iterations;
    let max_iterations = child.max_iterations.unwrap_or(limit);
    if max_iterations > limit {
        finished.result =
            Err(format!("max_iterations={max_iterations} is above the run's limit for sub-RLMs ({limit})"));
        return finished;
    }
    let mut helpers = shared.config.helpers.clone();
    helpers.extend(
        child.helpers.into_iter().enumerate().map(|(i, code)| HelperSource::new(format!("from_parent_{i}"), code)),
    );
    let spec = RunSpec {
        depth,
        contexts: vec![child.context],
        query: CHILD_QUERY.to_owned(),
        model: child.name,
        max_iterations,
        system_prompt: child.system_prompt.unwrap_or_else(|| shared.config.prompts.child.clone()),
        helpers,
        emitter: emitter.child(child.child_id, depth),
        parent: Some(emitter.run_id().clone()),
        log: None,
        notes: Vec::new(),
        compact_at: None,
        sampling: None,
    };
    let span = tracing::info_span!("sub_call", kind = "rlm", depth);
    let child = (shared.child_runner)(shared.clone(), spec);
    let task = AbortOnDrop(tokio::spawn(tracing::Instrument::instrument(child, span)));
    match task.join().await {
        Ok(out) => {
            let (calls, tokens) = totals(&out.trajectory);
            finished.calls = calls;
            finished.tokens = tokens;
            finished.child = Some(out.trajectory);
            finished.result = out.result.map_err(|stop| format!("sub-RLM stopped ({}): {}", stop.kind, stop.message));
        }
        Err(join) => finished.result = Err(format!("sub-RLM crashed: {join}")),
    }
    finished
}

/// Fills a call's slot in the trajectory and says it finished.
#[allow(clippy::too_many_arguments)]
fn record(
    shared: &Shared,
    records: &Mutex<Vec<Option<SubCall>>>,
    slot: usize,
    kind: &'static str,
    depth: u32,
    started: Instant,
    id: u64,
    emitter: &Emitter,
    finished: Finished,
) -> Result<JsonText, String> {
    shared.sub_calls.fetch_add(1, Ordering::Relaxed);
    let error = finished.result.as_ref().err().cloned();
    let seconds = started.elapsed().as_secs_f64();
    emitter.emit(|| EventKind::SubCallFinished {
        call: id,
        kind,
        name: finished.name.clone(),
        error: error.clone(),
        seconds,
    });
    let response = match &finished.result {
        Ok(answer) => answer_string(answer),
        Err(message) => format!("Error: {message}"),
    };
    let call = SubCall {
        usage_summary: SubCall::usage_summary(&finished.name, finished.calls, finished.tokens, finished.cost),
        root_model: finished.name,
        prompt: finished.prompt,
        response,
        execution_time: seconds,
        error,
        metadata: finished.child.map(Box::new),
        kind,
        depth,
        answer: finished.result.as_ref().ok().cloned(),
        start_time: started.duration_since(shared.budget.started()).as_secs_f64(),
    };
    if let Some(entry) = records.lock().unwrap().get_mut(slot) {
        *entry = Some(call);
    }
    finished.result
}

/// The calls and tokens of a sub-RLM's own iterations.
fn totals(trajectory: &crate::trajectory::Trajectory) -> (u64, TokenUsage) {
    trajectory.iterations.iter().fold((0, TokenUsage::default()), |(calls, mut acc), it| {
        acc += it.usage;
        (calls + 1, acc)
    })
}

/// A spawned task that is aborted when the handle is dropped, so cancelling
/// a completion cancels its sub-RLMs too.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
