//! The loop of one run (the root or a sub-RLM): ask the model, run its code,
//! show it the results, until it gives a final answer or a budget runs out.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use rlm_core::{
    CallHandler, Context, FinishReason, HostCall, JsonText, Message, ModelReply, Repl, SamplingOptions, SpawnOptions,
};
use serde_json::{Value, json};

use crate::error::ErrorKind;
use crate::events::EventKind;
use crate::observe::{self, PromptParts, notice, observation};
use crate::parse::{TextFinal, confidence, parse_reply};
use crate::shared::{RunOutput, RunSpec, Shared, Stop};
use crate::subcalls::RunCalls;
use crate::trajectory::{BlockResult, CodeBlock, Iteration, LogWriter, SubCall, Trajectory};

/// The mutable state of a run.
pub(crate) struct RunState {
    trajectory: Trajectory,
    last_reply: Option<String>,
    pub(crate) iterations_used: Arc<AtomicU32>,
    log: Option<LogWriter>,
}

impl RunState {
    fn push(&mut self, iteration: Iteration) {
        if let Some(log) = &mut self.log
            && let Err(e) = log.iteration(&iteration)
        {
            tracing::warn!(path = %log.path().display(), error = %e, "cannot write the trajectory log");
        }
        self.trajectory.iterations.push(iteration);
    }
}

/// The metadata of a run, in the `rlms` shape with our extra keys.
pub(crate) fn run_metadata(shared: &Shared, spec: &RunSpec) -> Value {
    let config = &shared.config;
    let limits = &config.limits;
    let entry = shared.registry.get(&spec.model).ok();
    let backend = entry.map_or("custom", |e| e.model.backend());
    let sub = config.sub_model();
    let sub_backend = shared.registry.get(sub).map_or("custom", |e| e.model.backend());
    json!({
        "root_model": spec.model,
        "max_depth": config.max_depth + 1,
        "max_iterations": spec.max_iterations,
        "backend": backend,
        "backend_kwargs": { "model_name": entry.map_or(spec.model.as_str(), |e| e.model.name()) },
        "environment_type": "wasm-sandbox",
        "environment_kwargs": {
            "fuel": limits.fuel,
            "memory_mb": limits.memory_bytes >> 20,
            "cell_timeout_s": limits.timeout.as_secs_f64(),
            "max_output_bytes": limits.max_output_bytes,
            "max_host_calls": limits.max_host_calls,
            "max_value_bytes": limits.max_value_bytes,
        },
        "other_backends": [sub_backend],
        "run_id": spec.emitter.run_id().as_ref(),
        "depth": spec.depth,
        "query": spec.query,
        "context_description": describe(&spec.contexts),
        "sub_model": sub,
        "sub_rlm_levels": config.max_depth,
        "child_max_iterations": config.child_max_iterations,
        "max_concurrency": config.max_concurrency,
        "tenant": shared.meta.tenant,
        "request_id": shared.meta.request_id,
    })
}

fn describe(contexts: &[Context]) -> String {
    if let [only] = contexts {
        return only.describe("context");
    }
    contexts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let text = c.describe(&format!("context_{i}"));
            if i == 0 { format!("{} (also named `context`).", text.trim_end_matches('.')) } else { text }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`run`] as a [`ChildRunner`](crate::shared::ChildRunner).
pub(crate) fn run_boxed(shared: Arc<Shared>, spec: RunSpec) -> BoxFuture<'static, RunOutput> {
    Box::pin(run(shared, spec))
}

/// Drives one run to its end: a fresh sandbox, its contexts, tools and
/// helpers, then the loop.
pub(crate) async fn run(shared: Arc<Shared>, spec: RunSpec) -> RunOutput {
    run_in(shared, spec, None).await
}

/// As [`run`], in a session's conversation: `slot` holds the sandbox and
/// conversation of earlier queries (none before the first), and gets them
/// back afterwards.
pub(crate) async fn run_in(
    shared: Arc<Shared>,
    mut spec: RunSpec,
    slot: Option<&mut Option<Conversation>>,
) -> RunOutput {
    let metadata = run_metadata(&shared, &spec);
    let mut state = RunState {
        trajectory: Trajectory { run_metadata: metadata.clone(), iterations: Vec::new(), answer: None },
        last_reply: None,
        iterations_used: Arc::new(AtomicU32::new(0)),
        log: spec.log.take(),
    };
    if let Some(log) = &mut state.log
        && let Err(e) = log.metadata(&metadata)
    {
        tracing::warn!(path = %log.path().display(), error = %e, "cannot write the trajectory log");
    }
    spec.emitter.emit(|| EventKind::RunStarted {
        model: spec.model.clone(),
        max_iterations: spec.max_iterations,
        parent: spec.parent.as_ref().map(|p| p.to_string()),
    });
    let span = tracing::info_span!(
        "rlm_run",
        depth = spec.depth,
        run_id = %spec.emitter.run_id(),
        tenant = shared.meta.tenant.as_deref(),
        request_id = shared.meta.request_id.as_deref(),
    );
    let emitter = spec.emitter.clone();
    let result = tracing::Instrument::instrument(start(&shared, &mut state, spec, slot), span).await;
    match &result {
        Ok(answer) => {
            state.trajectory.answer = Some(answer.clone());
            emitter.emit(|| EventKind::FinalAnswer { answer: answer.clone() });
        }
        Err(stop) => emitter.emit(|| EventKind::Error { kind: stop.kind.to_string(), message: stop.message.clone() }),
    }
    RunOutput {
        result,
        iterations: state.iterations_used.load(Ordering::Relaxed),
        trajectory: state.trajectory,
        last_reply: state.last_reply,
    }
}

/// A sandbox and the conversation about it, kept across the queries of a
/// session.
pub(crate) struct Conversation {
    pub(crate) repl: Box<dyn Repl>,
    handler: Arc<SwitchHandler>,
    pub(crate) messages: Vec<Message>,
    /// Contexts loaded into the sandbox so far.
    contexts: usize,
}

/// The sandbox's host-call handler, pointed at the query running now: a
/// session's sandbox outlives the query that made it.
struct SwitchHandler(Mutex<Arc<dyn CallHandler>>);

impl CallHandler for SwitchHandler {
    fn call(&self, calls: Vec<HostCall>) -> BoxFuture<'static, Vec<Result<JsonText, String>>> {
        let current = self.0.lock().unwrap().clone();
        current.call(calls)
    }
}

async fn start(
    shared: &Arc<Shared>,
    state: &mut RunState,
    spec: RunSpec,
    slot: Option<&mut Option<Conversation>>,
) -> Result<JsonText, Stop> {
    if shared.cancel.is_cancelled() {
        return Err(Stop::cancelled());
    }
    shared.budget.check_time()?;
    let records = Arc::new(Mutex::new(Vec::new()));
    let calls: Arc<dyn CallHandler> = Arc::new(RunCalls::new(
        shared.clone(),
        spec.depth,
        records.clone(),
        spec.emitter.clone(),
        state.iterations_used.clone(),
        spec.max_iterations,
    ));
    let (mut conv, slot) = match slot {
        Some(slot) => match slot.take() {
            Some(conv) => {
                *conv.handler.0.lock().unwrap() = calls;
                (conv, Some(slot))
            }
            None => (open(shared, &spec, calls).await?, Some(slot)),
        },
        None => (open(shared, &spec, calls).await?, None),
    };
    let result = turn(shared, state, &spec, &mut conv, &records).await;
    if let Some(slot) = slot {
        *slot = Some(conv);
    }
    result
}

/// A fresh sandbox with the tools and helpers installed, and the system
/// prompt that lists them.
async fn open(shared: &Arc<Shared>, spec: &RunSpec, calls: Arc<dyn CallHandler>) -> Result<Conversation, Stop> {
    let handler = Arc::new(SwitchHandler(Mutex::new(calls)));
    let options = SpawnOptions::new(shared.config.limits.clone(), handler.clone()).quota(Some(shared.quota.clone()));
    let spawn = shared.factory.spawn(options);
    let mut repl = tokio::select! {
        repl = spawn => repl.map_err(|e| Stop::sandbox("starting", e))?,
        _ = shared.cancel.cancelled() => return Err(Stop::cancelled()),
    };
    let tools: Vec<_> = shared.tools.at(spec.depth).iter().map(|t| t.spec().clone()).collect();
    let functions = if tools.is_empty() && spec.helpers.is_empty() {
        Vec::new()
    } else {
        match repl.install(&tools, &spec.helpers).await.map_err(|e| Stop::sandbox("installing tools and helpers", e))? {
            Ok(functions) => functions.into_iter().filter(|f| !tools.iter().any(|t| t.name == f.name)).collect(),
            Err(message) => return Err(Stop::new(ErrorKind::Config, format!("a helper failed to load: {message}"))),
        }
    };
    let models: Vec<String> = shared.registry.names().map(str::to_owned).collect();
    let sub_context_chars = shared.sub_context_chars();
    let parts = PromptParts { sub_context_chars, models: &models, tools: &tools, functions: &functions };
    let mut system = observe::system_prompt(&spec.system_prompt, &parts);
    if spec.depth == 0 {
        if let Some(schema) = &shared.config.answer_schema {
            system.push_str("\n\n");
            system.push_str(&notice("answer_schema", &[("schema", schema.schema().as_str())]));
        }
        if shared.config.candidates.confidence {
            system.push_str("\n\n");
            system.push_str(&notice("confidence", &[]));
        }
    }
    Ok(Conversation { repl, handler, messages: vec![Message::system(system)], contexts: 0 })
}

/// One query in a conversation: load its new contexts, tell the model, run
/// the loop.
async fn turn(
    shared: &Arc<Shared>,
    state: &mut RunState,
    spec: &RunSpec,
    conv: &mut Conversation,
    records: &Arc<Mutex<Vec<Option<SubCall>>>>,
) -> Result<JsonText, Stop> {
    let new_contexts = &spec.contexts[conv.contexts.min(spec.contexts.len())..];
    for (offset, context) in new_contexts.iter().enumerate() {
        let index = (conv.contexts + offset) as u32;
        conv.repl.load_context(index, context.clone()).await.map_err(|e| Stop::sandbox("loading the context", e))?;
    }
    let first_turn = conv.messages.len() == 1;
    if !first_turn
        && let Some(limit) = spec.compact_at
        && conv.messages.iter().map(|m| m.content.len()).sum::<usize>() > limit
    {
        compact(shared, state, spec, &mut conv.messages).await?;
    }
    let message = if first_turn {
        notice("first", &[("contexts", &describe(&spec.contexts)), ("query", &spec.query)])
    } else {
        let mut described = String::new();
        for (offset, context) in new_contexts.iter().enumerate() {
            described.push_str(&context.describe(&format!("context_{}", conv.contexts + offset)));
            described.push('\n');
        }
        let notes = spec.notes.join("\n");
        notice("next_query", &[("notes", &notes), ("contexts", described.trim_end()), ("query", &spec.query)])
            .trim_start()
            .to_owned()
    };
    conv.contexts = spec.contexts.len();
    conv.messages.push(Message::user(message));
    let mut lp = Loop { messages: std::mem::take(&mut conv.messages), records: records.clone() };
    let result = drive(shared, state, conv.repl.as_mut(), spec, &mut lp).await;
    conv.messages = lp.messages;
    result
}

/// Replaces the older turns of a long conversation with a summary the root
/// model writes, keeping the system prompt and the last turns. The REPL's
/// variables are untouched.
async fn compact(
    shared: &Arc<Shared>,
    state: &mut RunState,
    spec: &RunSpec,
    messages: &mut Vec<Message>,
) -> Result<(), Stop> {
    const KEEP: usize = 4;
    if messages.len() <= KEEP + 2 {
        return Ok(());
    }
    let older = &messages[1..messages.len() - KEEP];
    let transcript: String = older.iter().map(|m| format!("{:?}: {}\n\n", m.role, m.content)).collect();
    let request = vec![Message::user(notice("compact_request", &[("transcript", &transcript)]))];
    let reply = ask(shared, state, spec, &request, &SamplingOptions::default(), 0).await?;
    let summary = Message::user(notice("compact_summary", &[("summary", reply.text.trim())]));
    let recent = messages.split_off(messages.len() - KEEP);
    messages.truncate(1);
    messages.push(summary);
    messages.extend(recent);
    Ok(())
}

/// The conversation and records of a run's loop.
struct Loop {
    messages: Vec<Message>,
    records: Arc<Mutex<Vec<Option<SubCall>>>>,
}

/// What running a reply's code produced.
struct Ran {
    blocks: Vec<CodeBlock>,
    feedback: Vec<String>,
    failed: bool,
    answer: Option<JsonText>,
}

async fn drive(
    shared: &Arc<Shared>,
    state: &mut RunState,
    repl: &mut dyn Repl,
    spec: &RunSpec,
    lp: &mut Loop,
) -> Result<JsonText, Stop> {
    let config = &shared.config;
    let mut streak = 0;
    let mut silent_code: HashSet<String> = HashSet::new();
    let sampling = root_sampling(shared, spec);
    for iteration in 1..=spec.max_iterations {
        spec.emitter.emit(|| EventKind::IterationStarted { iteration, max_iterations: spec.max_iterations });
        let started = Instant::now();
        let reply = ask(shared, state, spec, &lp.messages, &sampling, iteration).await?;
        state.iterations_used.store(iteration, Ordering::Relaxed);
        let cut_off = reply.finish_reason == FinishReason::Length;
        let parsed = parse_reply(&reply.text, cut_off);
        let mut notes = parsed.notes.clone();
        if reply.text.trim().is_empty() {
            let tool_calls = if reply.finish_reason == FinishReason::ToolCalls {
                " (it asked for tool calls, which this loop does not take)"
            } else {
                ""
            };
            notes.push(notice("empty_reply", &[("tool_calls", tool_calls)]));
        }
        for note in &notes {
            spec.emitter.emit(|| EventKind::Note { iteration, text: note.clone() });
        }
        let mut ran = run_blocks(shared, repl, spec, lp, &parsed.blocks, iteration, &mut silent_code).await?;
        if ran.answer.is_none() {
            take_text_final(repl, &parsed.final_answer, &mut ran).await?;
        }
        let rejected = check_schema(shared, spec, &mut ran);
        if parsed.blocks.is_empty() && parsed.final_answer.is_none() {
            ran.failed = true;
            if !reply.text.trim().is_empty() {
                ran.feedback.push(notice("no_code", &[]));
            }
        }
        let mut record = Iteration::new(iteration, lp.messages.clone(), spec.depth);
        lp.messages.push(Message::assistant(reply.text.clone()));
        record.confidence = stated_confidence(shared, spec, &reply.text);
        record.response = reply.text;
        record.code_blocks = ran.blocks;
        record.set_answer(ran.answer.as_ref());
        record.iteration_time = started.elapsed().as_secs_f64();
        record.usage = reply.usage;
        record.reasoning = reply.reasoning;
        record.finish_reason = reply.finish_reason.as_str().to_owned();
        record.notes = notes.clone();
        if let Some(rejected) = &rejected {
            record.error = Some(format!("answer_schema: {rejected}"));
        }
        state.last_reply = Some(record.response.clone());
        state.push(record);
        if let Some(answer) = ran.answer {
            return Ok(answer);
        }
        streak = if ran.failed { streak + 1 } else { 0 };
        let mut feedback = notes;
        feedback.extend(ran.feedback);
        if streak >= config.max_error_streak {
            lp.messages.push(Message::user(feedback.join("\n\n")));
            let why =
                format!("{streak} iterations in a row ended in errors (the limit is {})", config.max_error_streak);
            return last_request(shared, state, repl, spec, lp, ErrorKind::ErrorStreak, why, &mut silent_code).await;
        }
        let remaining = (spec.max_iterations - iteration).to_string();
        lp.messages.push(Message::user(notice(
            "continue",
            &[("feedback", &feedback.join("\n\n")), ("remaining", &remaining), ("query", &spec.query)],
        )));
    }
    let why = format!("no final answer after {} iterations and a last request for one", spec.max_iterations);
    last_request(shared, state, repl, spec, lp, ErrorKind::MaxIterations, why, &mut silent_code).await
}

/// Out of iterations (or errors): one last call asks for the answer. A
/// `repl` block in that reply runs (its `FINAL` counts); fence text is never
/// taken as the answer.
#[allow(clippy::too_many_arguments)]
async fn last_request(
    shared: &Arc<Shared>,
    state: &mut RunState,
    repl: &mut dyn Repl,
    spec: &RunSpec,
    lp: &mut Loop,
    kind: ErrorKind,
    why: String,
    silent_code: &mut HashSet<String>,
) -> Result<JsonText, Stop> {
    match lp.messages.last_mut() {
        Some(last) if last.role == rlm_core::Role::User => {
            last.content.push_str("\n\n");
            last.content.push_str(&shared.config.prompts.final_answer);
        }
        _ => lp.messages.push(Message::user(shared.config.prompts.final_answer.clone())),
    }
    let started = Instant::now();
    let sampling = root_sampling(shared, spec);
    let reply = ask(shared, state, spec, &lp.messages, &sampling, 0).await?;
    let parsed = parse_reply(&reply.text, reply.finish_reason == FinishReason::Length);
    let mut ran = run_blocks(shared, repl, spec, lp, &parsed.blocks, 0, silent_code).await?;
    if ran.answer.is_none() {
        take_text_final(repl, &parsed.final_answer, &mut ran).await?;
    }
    let why = match check_schema(shared, spec, &mut ran) {
        Some(rejected) => format!("{why}; the last answer did not match the answer schema: {rejected}"),
        None => why,
    };
    let mut record = Iteration::new(state.trajectory.iterations.len() as u32 + 1, lp.messages.clone(), spec.depth);
    record.confidence = stated_confidence(shared, spec, &reply.text);
    record.response = reply.text;
    record.code_blocks = ran.blocks;
    record.set_answer(ran.answer.as_ref());
    record.iteration_time = started.elapsed().as_secs_f64();
    record.usage = reply.usage;
    record.reasoning = reply.reasoning;
    record.finish_reason = reply.finish_reason.as_str().to_owned();
    record.notes = parsed.notes;
    if ran.answer.is_none() {
        record.error = Some(format!("{kind}: {why}"));
    }
    state.last_reply = Some(record.response.clone());
    state.push(record);
    ran.answer.ok_or_else(|| Stop::new(kind, why))
}

/// The sampling of a run's calls: the root's (or its candidate's), or the
/// default for a sub-RLM.
fn root_sampling(shared: &Shared, spec: &RunSpec) -> SamplingOptions {
    match (&spec.sampling, spec.depth) {
        (Some(sampling), 0) => sampling.clone(),
        (None, 0) => shared.config.sampling.clone(),
        _ => SamplingOptions::default(),
    }
}

/// The confidence a root reply states, when the run asks for one.
fn stated_confidence(shared: &Shared, spec: &RunSpec, reply: &str) -> Option<f64> {
    (spec.depth == 0 && shared.config.candidates.confidence).then(|| confidence(reply)).flatten()
}

/// Refuses a root answer that does not match the answer schema: the model
/// is told why and the run goes on. Returns the errors, as one line.
fn check_schema(shared: &Shared, spec: &RunSpec, ran: &mut Ran) -> Option<String> {
    let schema = shared.config.answer_schema.as_ref().filter(|_| spec.depth == 0)?;
    let answer = ran.answer.as_ref()?;
    let errors = schema.check(answer).err()?;
    // A text `FINAL(42)` arrives as the string "42": take the JSON it holds
    // when that matches.
    if answer.is_string()
        && let Ok(parsed) = JsonText::parse(answer.as_text().trim(), shared.config.limits.max_value_bytes)
        && schema.check(&parsed).is_ok()
    {
        ran.answer = Some(parsed);
        return None;
    }
    ran.answer = None;
    ran.failed = true;
    ran.feedback.push(notice("schema_invalid", &[("errors", &errors.join("\n"))]));
    Some(errors.join("; "))
}

/// One model call of a run. A failure is logged as an iteration of its own
/// before the run stops with it.
async fn ask(
    shared: &Shared,
    state: &mut RunState,
    spec: &RunSpec,
    messages: &[Message],
    sampling: &SamplingOptions,
    iteration: u32,
) -> Result<ModelReply, Stop> {
    let started = Instant::now();
    let result = shared.call_model(&spec.model, messages.to_vec(), sampling, spec.depth, &spec.emitter).await;
    match result {
        Ok(reply) => {
            spec.emitter.emit(|| EventKind::ModelReply {
                iteration,
                text: reply.text.clone(),
                reasoning: reply.reasoning.clone(),
                usage: reply.usage,
                finish_reason: reply.finish_reason.as_str().to_owned(),
            });
            Ok(reply)
        }
        Err(stop) => {
            let mut record =
                Iteration::new(state.trajectory.iterations.len() as u32 + 1, messages.to_vec(), spec.depth);
            record.iteration_time = started.elapsed().as_secs_f64();
            let cause = stop.source.as_ref().map(|s| format!(": {s}")).unwrap_or_default();
            record.error = Some(format!("{}: {}{cause}", stop.kind, stop.message));
            state.push(record);
            Err(stop)
        }
    }
}

/// Runs a reply's blocks in order, stopping at the first that gives an answer.
async fn run_blocks(
    shared: &Arc<Shared>,
    repl: &mut dyn Repl,
    spec: &RunSpec,
    lp: &mut Loop,
    blocks: &[String],
    iteration: u32,
    silent_code: &mut HashSet<String>,
) -> Result<Ran, Stop> {
    let mut ran = Ran { blocks: Vec::new(), feedback: Vec::new(), failed: false, answer: None };
    for (index, code) in blocks.iter().enumerate() {
        let block = index + 1;
        spec.emitter.emit(|| EventKind::CodeStarted { iteration, block, code: code.clone() });
        let deadline = shared.budget.deadline();
        let cell = repl.run_cell(code, deadline);
        // Cancelling a run also cuts off the sub-calls of its cell, which
        // can then end in the same instant: the run stops rather than going
        // on to another model call.
        let outcome = tokio::select! {
            biased;
            _ = shared.cancel.cancelled() => return Err(Stop::cancelled()),
            outcome = cell => outcome.map_err(|e| Stop::sandbox("running a cell", e))?,
        };
        let calls: Vec<SubCall> = std::mem::take(&mut *lp.records.lock().unwrap()).into_iter().flatten().collect();
        spec.emitter.emit(|| EventKind::CodeFinished {
            iteration,
            block,
            stdout: outcome.stdout.clone(),
            stderr: outcome.stderr.clone(),
            error: outcome.error.as_ref().map(|e| e.kind),
            state_lost: outcome.state_lost,
            seconds: outcome.elapsed.as_secs_f64(),
        });
        let repeated = observe::is_silent(&outcome) && !silent_code.insert(code.trim().to_owned());
        ran.feedback.push(observation(block, &outcome, shared.config.max_output_chars, repeated));
        ran.failed |= outcome.error.is_some();
        let answer = outcome.final_value.clone();
        ran.blocks.push(CodeBlock { code: code.clone(), result: BlockResult::new(&outcome, calls) });
        if answer.is_some() {
            ran.answer = answer;
            break;
        }
        shared.budget.check_time()?;
    }
    Ok(ran)
}

/// Takes a text `FINAL(...)` / `FINAL_VAR(...)` as the answer, or tells the
/// model why it could not be.
async fn take_text_final(repl: &mut dyn Repl, text: &Option<TextFinal>, ran: &mut Ran) -> Result<(), Stop> {
    match text {
        Some(TextFinal::Text(answer)) => ran.answer = Some(JsonText::string(answer)),
        Some(TextFinal::Var(name)) => match repl.get_var(name).await {
            Ok(Ok(value)) => ran.answer = Some(value),
            Ok(Err(reason)) => {
                ran.failed = true;
                ran.feedback.push(notice("unknown_var", &[("name", name), ("reason", &reason)]));
            }
            // A value whose `repr` traps or hangs: the sandbox was replaced.
            Err(e) => {
                ran.failed = true;
                let cause = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
                ran.feedback.push(notice("unknown_var", &[("name", name), ("reason", &format!("{e}{cause}"))]));
                ran.feedback.push(notice("state_lost", &[]));
            }
        },
        None => {}
    }
    Ok(())
}
