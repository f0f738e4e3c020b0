//! The loop of one run (the root or a sub-RLM): ask the model, run its code,
//! show it the results, until it gives a final answer or a budget runs out.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rlm_llm::{Message, Model, ModelReply, ModelRequest};
use rlm_sandbox::{CellOutcome, Sandbox};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use crate::config::RlmConfig;
use crate::context::ContextInput;
use crate::error::{ErrorKind, Partial};
use crate::handler::EngineHandler;
use crate::parse::{TextFinal, parse_reply};
use crate::progress::Progress;
use crate::trajectory::{BlockResult, CodeBlock, Iteration, LogWriter, Trajectory};
use crate::usage::Usage;

/// State shared by every run and sub-call of one completion.
pub(crate) struct Shared {
    pub(crate) runtime: rlm_sandbox::Runtime,
    pub(crate) sub_model: Arc<dyn Model>,
    pub(crate) config: Arc<RlmConfig>,
    pub(crate) started: Instant,
    pub(crate) deadline: Option<Instant>,
    pub(crate) permits: Semaphore,
    pub(crate) usage: Mutex<Usage>,
    pub(crate) progress: Arc<Progress>,
}

/// Why a run stopped without an answer.
pub(crate) struct Stop {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    pub(crate) source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Stop {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Stop { kind, message: message.into(), source: None }
    }
}

impl Shared {
    /// Whether a budget is spent; checked before every model call.
    pub(crate) fn check_budget(&self) -> Result<(), Stop> {
        if let Some(deadline) = self.deadline
            && Instant::now() >= deadline
        {
            let limit = deadline - self.started;
            return Err(Stop::new(ErrorKind::Timeout, format!("the run passed its wall-clock budget of {limit:?}")));
        }
        let usage = self.usage.lock().unwrap();
        if let Some(max) = self.config.max_tokens
            && usage.total.tokens() >= max
        {
            return Err(Stop::new(
                ErrorKind::MaxTokens,
                format!("the run used {} tokens; the budget is {max}", usage.total.tokens()),
            ));
        }
        if let Some(max) = self.config.max_cost
            && usage.known_cost() >= max
        {
            return Err(Stop::new(
                ErrorKind::MaxCost,
                format!("the run cost ${:.4}; the budget is ${max:.4}", usage.known_cost()),
            ));
        }
        Ok(())
    }

    /// One model call under the concurrency limit and the wall-clock budget;
    /// its usage is recorded at `depth`.
    pub(crate) async fn call_model(
        &self,
        model: &Arc<dyn Model>,
        request: ModelRequest,
        depth: u32,
    ) -> Result<ModelReply, Stop> {
        self.check_budget()?;
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        let _in_flight = self.progress.call_started();
        let call = model.complete(request);
        let reply = match self.deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline.into(), call).await {
                Ok(reply) => reply,
                Err(_) => return Err(Stop::new(ErrorKind::Timeout, "the run passed its wall-clock budget during a model call")),
            },
            None => call.await,
        };
        let reply = reply.map_err(|e| Stop { kind: ErrorKind::Model, message: e.to_string(), source: Some(Box::new(e)) })?;
        let price = self.config.prices.get(&reply.model).or_else(|| self.config.prices.get(model.name()));
        self.usage.lock().unwrap().record(&reply.model, depth, reply.usage, price);
        self.progress.tokens(reply.usage);
        Ok(reply)
    }
}

/// What a run is asked to do.
pub(crate) struct RunSpec {
    pub(crate) depth: u32,
    pub(crate) context: ContextInput,
    pub(crate) query: String,
    pub(crate) model: Arc<dyn Model>,
    pub(crate) model_override: Option<String>,
    pub(crate) max_iterations: u32,
    pub(crate) system_prompt: String,
    pub(crate) log: Option<LogWriter>,
}

/// A finished run.
pub(crate) struct RunOutput {
    pub(crate) answer: Value,
    pub(crate) iterations: u32,
    pub(crate) trajectory: Trajectory,
}

/// A run that stopped without an answer, with what it had done.
pub(crate) struct RunFailure {
    pub(crate) stop: Stop,
    pub(crate) partial: Partial,
}

/// Drives one run to its end.
pub(crate) async fn run(shared: Arc<Shared>, mut spec: RunSpec) -> Result<RunOutput, RunFailure> {
    let mut state = RunState {
        trajectory: Trajectory {
            depth: spec.depth,
            model: spec.model_override.clone().unwrap_or_else(|| spec.model.name().to_owned()),
            query: spec.query.clone(),
            context: spec.context.describe(),
            iterations: Vec::new(),
            final_answer: None,
        },
        last_reply: None,
        iterations: 0,
        log: spec.log.take(),
    };
    let span = tracing::info_span!("rlm_run", depth = spec.depth);
    let result = tracing::Instrument::instrument(drive(&shared, &mut state, spec), span).await;
    match result {
        Ok(answer) => {
            state.trajectory.final_answer = Some(answer.clone());
            Ok(RunOutput { answer, iterations: state.iterations, trajectory: state.trajectory })
        }
        Err(stop) => Err(RunFailure {
            stop,
            partial: Partial {
                answer: state.last_reply.map(Value::String),
                iterations: state.iterations,
                usage: Usage::default(),
                sub_calls: 0,
                elapsed: shared.started.elapsed(),
                trajectory: state.trajectory,
            },
        }),
    }
}

struct RunState {
    trajectory: Trajectory,
    last_reply: Option<String>,
    iterations: u32,
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

async fn drive(shared: &Arc<Shared>, state: &mut RunState, spec: RunSpec) -> Result<Value, Stop> {
    let RunSpec { depth, context, query, model, model_override, max_iterations, system_prompt, log: _ } = spec;
    let config = &shared.config;
    let records = Arc::new(Mutex::new(Vec::new()));
    let handler = EngineHandler::new(shared.clone(), depth, records.clone());
    let mut limits = config.limits.clone();
    if let Some(deadline) = shared.deadline {
        limits.timeout = limits.timeout.min(deadline.saturating_duration_since(Instant::now())).max(std::time::Duration::from_millis(1));
    }
    let sandbox_stop = |e: rlm_sandbox::Error| Stop { kind: ErrorKind::Sandbox, message: e.to_string(), source: Some(Box::new(e)) };
    let mut sandbox = shared.runtime.sandbox(limits, Arc::new(handler)).await.map_err(sandbox_stop)?;
    let first = format!("{}\n\nThe query: {query}", context.describe());
    sandbox.load_context(0, context.into_sandbox()).await.map_err(sandbox_stop)?;

    let mut messages = vec![Message::system(system_prompt), Message::user(first)];
    let mut streak = 0;
    for iteration in 1..=max_iterations {
        if depth == 0 {
            shared.progress.iteration(iteration);
        }
        let started = Instant::now();
        let reply = ask(shared, state, &model, &model_override, &messages, depth).await?;
        state.iterations = iteration;
        state.last_reply = Some(reply.text.clone());
        let parsed = parse_reply(&reply.text);
        let mut blocks = Vec::new();
        let mut feedback = Vec::new();
        let mut failed = false;
        let mut answer = None;
        for (index, code) in parsed.blocks.iter().enumerate() {
            let outcome = sandbox.run_cell(code).await.map_err(sandbox_stop)?;
            let calls = std::mem::take(&mut *records.lock().unwrap());
            let locals = changed_locals(&mut sandbox, &outcome).await;
            feedback.push(observation(index + 1, &outcome, config.max_output_chars));
            failed |= outcome.error.is_some();
            let final_value = outcome.final_value.clone();
            blocks.push(CodeBlock { code: code.clone(), result: BlockResult::new(&outcome, locals, calls) });
            if final_value.is_some() {
                answer = final_value;
                break;
            }
        }
        if answer.is_none() {
            match &parsed.final_answer {
                Some(TextFinal::Value(value)) => answer = Some(value.clone()),
                Some(TextFinal::Var(name)) => match sandbox.get_var(name).await {
                    Ok(Some(value)) => answer = Some(value),
                    Ok(None) => {
                        failed = true;
                        feedback.push(unknown_var(&mut sandbox, name).await);
                    }
                    // A value whose `repr` traps or hangs: the model hears of it.
                    Err(e) => {
                        failed = true;
                        let cause = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
                        feedback.push(format!("FINAL_VAR({name}) failed: {e}{cause}. The sandbox was restarted."));
                    }
                },
                None if parsed.blocks.is_empty() => {
                    failed = true;
                    feedback.push(
                        "Your reply had no ```repl block and no FINAL(...) line, so nothing ran. Write code in a \
                         ```repl block, or give the answer with FINAL(...) on a line of its own."
                            .to_owned(),
                    );
                }
                None => {}
            }
        }
        messages.push(Message::assistant(reply.text.clone()));
        state.push(Iteration {
            prompt: messages[..messages.len() - 1].to_vec(),
            response: reply.text,
            code_blocks: blocks,
            final_answer: answer.clone(),
            iteration_time: started.elapsed().as_secs_f64(),
            depth,
            usage: reply.usage,
            error: None,
        });
        if let Some(answer) = answer {
            return Ok(answer);
        }
        streak = if failed { streak + 1 } else { 0 };
        if streak >= config.max_error_streak {
            return Err(Stop::new(
                ErrorKind::ErrorStreak,
                format!("{streak} iterations in a row ended in errors (the limit is {})", config.max_error_streak),
            ));
        }
        let remaining = max_iterations - iteration;
        messages.push(Message::user(format!(
            "{}\n\n{remaining} iteration(s) left. Continue on the query: {query}",
            feedback.join("\n\n")
        )));
    }

    // Out of iterations: one last call asks for the answer.
    messages.push(Message::user(config.prompts.final_answer.clone()));
    let started = Instant::now();
    let reply = ask(shared, state, &model, &model_override, &messages, depth).await?;
    state.last_reply = Some(reply.text.clone());
    let answer = match parse_reply(&reply.text).final_answer {
        Some(TextFinal::Value(value)) => Some(value),
        Some(TextFinal::Var(name)) => sandbox.get_var(&name).await.ok().flatten(),
        None => None,
    };
    state.push(Iteration {
        prompt: messages,
        response: reply.text,
        code_blocks: Vec::new(),
        final_answer: answer.clone(),
        iteration_time: started.elapsed().as_secs_f64(),
        depth,
        usage: reply.usage,
        error: answer.is_none().then(|| "no final answer after the last iteration".to_owned()),
    });
    answer.ok_or_else(|| {
        Stop::new(
            ErrorKind::MaxIterations,
            format!("no final answer after {max_iterations} iterations and a last request for one"),
        )
    })
}

/// One model call of a run. A failure is logged as an iteration of its own
/// before the run stops with it.
async fn ask(
    shared: &Shared,
    state: &mut RunState,
    model: &Arc<dyn Model>,
    model_override: &Option<String>,
    messages: &[Message],
    depth: u32,
) -> Result<ModelReply, Stop> {
    let started = Instant::now();
    let request = ModelRequest { messages: messages.to_vec(), model: model_override.clone() };
    shared.call_model(model, request, depth).await.inspect_err(|stop| {
        state.push(Iteration {
            prompt: messages.to_vec(),
            response: String::new(),
            code_blocks: Vec::new(),
            final_answer: None,
            iteration_time: started.elapsed().as_secs_f64(),
            depth,
            usage: Default::default(),
            error: Some(format!("{}: {}", stop.kind, stop.message)),
        })
    })
}

async fn changed_locals(sandbox: &mut Sandbox, outcome: &CellOutcome) -> Map<String, Value> {
    if outcome.changed_vars.is_empty() {
        return Map::new();
    }
    let types = sandbox.list_vars().await.unwrap_or_default();
    types
        .into_iter()
        .filter(|v| outcome.changed_vars.contains(&v.name))
        .map(|v| (v.name, Value::String(format!("<{}>", v.type_name))))
        .collect()
}

async fn unknown_var(sandbox: &mut Sandbox, name: &str) -> String {
    let vars = sandbox.list_vars().await.unwrap_or_default();
    let names: Vec<_> = vars.into_iter().map(|v| v.name).collect();
    format!(
        "FINAL_VAR({name}): there is no variable named `{name}`. Available variables: {}.",
        if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
    )
}

/// What the model sees of one block's run.
fn observation(index: usize, outcome: &CellOutcome, max_chars: usize) -> String {
    let mut text = format!("Block {index}");
    match &outcome.error {
        None => text.push_str(" ran."),
        Some(e) => text.push_str(&format!(" stopped early ({}).", e.kind.as_str())),
    }
    if !outcome.stdout.is_empty() {
        text.push_str("\nstdout:\n");
        text.push_str(&truncate_middle(&outcome.stdout, max_chars));
    }
    if !outcome.stderr.is_empty() {
        text.push_str("\nstderr:\n");
        text.push_str(&truncate_middle(&outcome.stderr, max_chars));
    }
    if outcome.stdout.is_empty() && outcome.stderr.is_empty() {
        text.push_str("\n(no output)");
    }
    if !outcome.changed_vars.is_empty() {
        text.push_str(&format!("\nVariables changed: {}", outcome.changed_vars.join(", ")));
    }
    text
}

/// Keeps the head and tail of `text` within `max` characters, with a marker
/// that says how many were cut.
pub(crate) fn truncate_middle(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max / 2).collect();
    let tail: String = text.chars().skip(count - (max - max / 2)).collect();
    format!("{head}\n[... {} characters cut ...]\n{tail}", count - max)
}

#[cfg(test)]
mod tests {
    use super::truncate_middle;

    #[test]
    fn truncation_keeps_head_and_tail_and_counts_the_cut() {
        assert_eq!(truncate_middle("short", 10), "short");
        let text: String = ('a'..='z').collect();
        assert_eq!(truncate_middle(&text, 10), "abcde\n[... 16 characters cut ...]\nvwxyz");
    }
}
