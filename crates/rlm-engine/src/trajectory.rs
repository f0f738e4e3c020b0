//! What a run did, step by step, and its JSONL log in the format of the
//! official `rlms` logger (so its visualizer opens our runs). Fields `rlms`
//! does not have (depth, tokens, errors, nested sub-RLM runs) are extra keys.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rlm_llm::{Message, TokenUsage};
use rlm_sandbox::{CellError, CellOutcome};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One run (the root or a sub-RLM).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Trajectory {
    /// 0 for the root, 1 for its sub-RLMs, ...
    pub depth: u32,
    /// The model that drove this run.
    pub model: String,
    /// The query (for a sub-RLM, a fixed instruction: its task is in `context`).
    pub query: String,
    /// How the context was described to the model.
    pub context: String,
    /// The iterations, in order.
    pub iterations: Vec<Iteration>,
    /// The answer, when the run produced one.
    pub final_answer: Option<Value>,
}

/// One model call and the code it ran.
#[derive(Clone, Debug, Serialize)]
pub struct Iteration {
    /// The messages sent to the model.
    pub prompt: Vec<Message>,
    /// The model's reply.
    pub response: String,
    /// The `repl` blocks run, with their results.
    pub code_blocks: Vec<CodeBlock>,
    /// The answer this iteration produced, if any.
    pub final_answer: Option<Value>,
    /// Seconds the iteration took.
    pub iteration_time: f64,
    /// Extra: the depth of the run.
    pub depth: u32,
    /// Extra: the tokens of this model call.
    pub usage: TokenUsage,
    /// Extra: what went wrong in this iteration, if anything.
    pub error: Option<String>,
}

/// A `repl` block and what running it did.
#[derive(Clone, Debug, Serialize)]
pub struct CodeBlock {
    /// The code.
    pub code: String,
    /// Its result.
    pub result: BlockResult,
}

/// The result of one block, shaped like `rlms`' `REPLResult`.
#[derive(Clone, Debug, Serialize)]
pub struct BlockResult {
    /// What it printed.
    pub stdout: String,
    /// What it wrote to stderr, tracebacks included.
    pub stderr: String,
    /// The variables it changed, with their types.
    pub locals: Map<String, Value>,
    /// Seconds it ran.
    pub execution_time: f64,
    /// The sub-calls it made.
    pub rlm_calls: Vec<SubCall>,
    /// Extra: how it stopped early, if it did.
    pub error: Option<CellError>,
    /// Extra: whether the sandbox had to be restarted.
    pub state_lost: bool,
    /// Extra: fuel used.
    pub fuel_used: Option<u64>,
}

impl BlockResult {
    pub(crate) fn new(outcome: &CellOutcome, locals: Map<String, Value>, rlm_calls: Vec<SubCall>) -> Self {
        BlockResult {
            stdout: outcome.stdout.clone(),
            stderr: outcome.stderr.clone(),
            locals,
            execution_time: outcome.elapsed.as_secs_f64(),
            rlm_calls,
            error: outcome.error.clone(),
            state_lost: outcome.state_lost,
            fuel_used: outcome.fuel_used,
        }
    }
}

/// One `llm_query` or `rlm_query`, shaped like `rlms`' `RLMChatCompletion`.
#[derive(Clone, Debug, Serialize)]
pub struct SubCall {
    /// The model that answered.
    pub root_model: String,
    /// The prompt (or the sub-RLM's context).
    pub prompt: Value,
    /// The reply (or the sub-RLM's answer); `null` on failure.
    pub response: Value,
    /// Tokens, in `rlms`' shape.
    pub usage_summary: Value,
    /// Seconds the call took.
    pub execution_time: f64,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Extra: `llm` or `rlm`.
    pub kind: &'static str,
    /// Extra: the depth the call ran at.
    pub depth: u32,
    /// Extra: a sub-RLM's own run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<Box<Trajectory>>,
}

impl SubCall {
    pub(crate) fn usage_summary(model: &str, calls: u64, tokens: TokenUsage) -> Value {
        json!({ "model_usage_summaries": { model: {
            "total_calls": calls,
            "total_input_tokens": tokens.input_tokens,
            "total_output_tokens": tokens.output_tokens,
        }}})
    }
}

/// Appends a run's log, one JSON object per line, as the run goes.
#[derive(Debug)]
pub(crate) struct LogWriter {
    out: BufWriter<File>,
    path: PathBuf,
    iterations: u32,
}

impl LogWriter {
    /// Creates `rlm_<time>_<id>.jsonl` in `dir` and writes the metadata line.
    pub(crate) fn create(dir: &Path, metadata: Value) -> std::io::Result<LogWriter> {
        std::fs::create_dir_all(dir)?;
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string().replace(':', "-");
        let path = dir.join(format!("rlm_{}_{:08x}.jsonl", stamp.trim_end_matches('Z'), fastrand::u32(..)));
        let mut writer = LogWriter { out: BufWriter::new(File::create(&path)?), path, iterations: 0 };
        let mut entry = json!({ "type": "metadata", "timestamp": now() });
        merge(&mut entry, metadata);
        writer.line(&entry)?;
        Ok(writer)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn iteration(&mut self, iteration: &Iteration) -> std::io::Result<()> {
        self.iterations += 1;
        let mut entry = json!({ "type": "iteration", "iteration": self.iterations, "timestamp": now() });
        merge(&mut entry, serde_json::to_value(iteration).map_err(std::io::Error::other)?);
        self.line(&entry)
    }

    fn line(&mut self, entry: &Value) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, entry).map_err(std::io::Error::other)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

fn now() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}
