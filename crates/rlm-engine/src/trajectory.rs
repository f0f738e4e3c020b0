//! What a run did, step by step, and its JSONL log in the format of the
//! official `rlms` logger (see `docs/log-format.md`), so its visualizer opens
//! our runs. Everything `rlms` has keeps its name and type; our additions
//! are extra keys beside them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rlm_core::{CellError, CellOutcome, JsonText, Message, TokenUsage};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One run (the root or a sub-RLM): its metadata and iterations. Serialised
/// as `rlms` nests a child run: `{run_metadata, iterations}`.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct Trajectory {
    /// The run's metadata line (without `type` and `timestamp`).
    pub run_metadata: Value,
    /// The iterations, in order.
    pub iterations: Vec<Iteration>,
    /// Extra: the answer, when the run produced one.
    pub answer: Option<JsonText>,
}

impl Trajectory {
    /// The run as one JSON value: `{run_metadata, iterations}`, as a
    /// sub-RLM's run is nested in its parent's log.
    pub fn to_value(&self) -> Value {
        json!({ "run_metadata": self.run_metadata, "iterations": self.iterations })
    }

    /// The run as a JSONL log: its metadata line, then one line per
    /// iteration (the format of `--log-dir`).
    pub fn to_jsonl(&self) -> String {
        let mut metadata = json!({ "type": "metadata" });
        if let (Value::Object(into), Value::Object(from)) = (&mut metadata, &self.run_metadata) {
            into.extend(from.clone());
        }
        let mut out = metadata.to_string();
        out.push('\n');
        for iteration in &self.iterations {
            out.push_str(&serde_json::to_string(iteration).expect("an iteration serialises"));
            out.push('\n');
        }
        out
    }
}

/// An answer as `rlms` logs it: a string as it is, any other value as JSON.
pub(crate) fn answer_string(answer: &JsonText) -> String {
    answer.as_text().into_owned()
}

/// One model call and the code it ran.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Iteration {
    /// Always `iteration`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// 1-based, within its run.
    pub iteration: u32,
    /// When it ended, as RFC 3339 text.
    pub timestamp: String,
    /// The messages sent to the model.
    pub prompt: Vec<Message>,
    /// The model's reply.
    pub response: String,
    /// The blocks run, with their results.
    pub code_blocks: Vec<CodeBlock>,
    /// The answer this iteration produced, as `rlms` logs it: a string as it
    /// is, any other value as its JSON.
    pub final_answer: Option<String>,
    /// Seconds the iteration took.
    pub iteration_time: f64,
    /// Extra: the depth of the run.
    pub depth: u32,
    /// Extra: the tokens of this model call.
    pub usage: TokenUsage,
    /// Extra: what went wrong in this iteration, if anything.
    pub error: Option<String>,
    /// Extra: the answer as JSON.
    pub answer: Option<JsonText>,
    /// Extra: reasoning the server returned beside the reply (never run).
    pub reasoning: Option<String>,
    /// Extra: why the model stopped writing.
    pub finish_reason: String,
    /// Extra: what the engine told the model about the reply.
    pub notes: Vec<String>,
    /// Extra: the confidence the reply stated (`Confidence: X`), when asked
    /// for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

impl Iteration {
    pub(crate) fn new(iteration: u32, prompt: Vec<Message>, depth: u32) -> Self {
        Iteration {
            kind: "iteration",
            iteration,
            timestamp: now(),
            prompt,
            response: String::new(),
            code_blocks: Vec::new(),
            final_answer: None,
            iteration_time: 0.0,
            depth,
            usage: TokenUsage::default(),
            error: None,
            answer: None,
            reasoning: None,
            finish_reason: "stop".into(),
            notes: Vec::new(),
            confidence: None,
        }
    }

    pub(crate) fn set_answer(&mut self, answer: Option<&JsonText>) {
        self.final_answer = answer.map(answer_string);
        self.answer = answer.cloned();
    }
}

/// A code block and what running it did.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct CodeBlock {
    /// The code.
    pub code: String,
    /// Its result.
    pub result: BlockResult,
}

/// The result of one block, shaped like `rlms`' `REPLResult`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct BlockResult {
    /// What it printed.
    pub stdout: String,
    /// What it wrote to stderr, tracebacks included.
    pub stderr: String,
    /// The variables it changed, with their types (`{"x": "<int>"}`).
    pub locals: Map<String, Value>,
    /// Seconds it ran.
    pub execution_time: f64,
    /// The sub-calls it made, in call order.
    pub rlm_calls: Vec<SubCall>,
    /// The answer it gave, as a string.
    pub final_answer: Option<String>,
    /// Extra: how it stopped early, if it did.
    pub error: Option<CellError>,
    /// Extra: whether the sandbox had to be restarted.
    pub state_lost: bool,
    /// Extra: fuel used.
    pub fuel_used: Option<u64>,
    /// Extra: the value of the block's last expression.
    pub display: Option<String>,
    /// Extra: what the host had to say (cut output, refused values, ...).
    pub notices: Vec<String>,
}

impl BlockResult {
    pub(crate) fn new(outcome: &CellOutcome, rlm_calls: Vec<SubCall>) -> Self {
        let locals = outcome
            .changed_vars
            .iter()
            .map(|v| (v.name.clone(), Value::String(format!("<{}>", v.type_name))))
            .collect();
        BlockResult {
            stdout: outcome.stdout.clone(),
            stderr: outcome.stderr.clone(),
            locals,
            execution_time: outcome.elapsed.as_secs_f64(),
            rlm_calls,
            final_answer: outcome.final_value.as_ref().map(answer_string),
            error: outcome.error.clone(),
            state_lost: outcome.state_lost,
            fuel_used: outcome.fuel_used,
            display: outcome.display.clone(),
            notices: outcome.notices.clone(),
        }
    }
}

/// One sub-call, shaped like `rlms`' `RLMChatCompletion`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct SubCall {
    /// The model (or tool) that answered.
    pub root_model: String,
    /// The prompt, the sub-RLM's context, or the tool's arguments.
    pub prompt: JsonText,
    /// The reply as a string: text as it is, another value as JSON, a
    /// failure as `"Error: ..."`.
    pub response: String,
    /// Tokens, in `rlms`' shape.
    pub usage_summary: Value,
    /// Seconds the call took.
    pub execution_time: f64,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A sub-RLM's own run, as `rlms` nests it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Box<Trajectory>>,
    /// Extra: `llm`, `rlm` or `tool`.
    pub kind: &'static str,
    /// Extra: the depth the call ran at.
    pub depth: u32,
    /// Extra: the reply as JSON.
    pub answer: Option<JsonText>,
    /// Extra: seconds since the root run started, when the call started.
    pub start_time: f64,
}

impl SubCall {
    pub(crate) fn usage_summary(model: &str, calls: u64, tokens: TokenUsage, cost: Option<f64>) -> Value {
        let mut summary = json!({
            "total_calls": calls,
            "total_input_tokens": tokens.input_tokens,
            "total_output_tokens": tokens.output_tokens,
        });
        if let Some(cost) = cost {
            summary["total_cost"] = json!(cost);
        }
        let mut out = json!({ "model_usage_summaries": { model: summary } });
        if let Some(cost) = cost {
            out["total_cost"] = json!(cost);
        }
        out
    }
}

/// Appends a run's log, one JSON object per line, as the run goes.
#[derive(Debug)]
pub(crate) struct LogWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl LogWriter {
    /// Creates `rlm_<time>_<id>.jsonl` in `dir`, checking that it can be
    /// written before any model call.
    pub(crate) fn create(dir: &Path, run_id: &str) -> std::io::Result<LogWriter> {
        std::fs::create_dir_all(dir)?;
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string().replace(':', "-");
        let short = run_id.get(..8).unwrap_or(run_id);
        let path = dir.join(format!("rlm_{}_{short}.jsonl", stamp.trim_end_matches('Z')));
        Ok(LogWriter { out: BufWriter::new(File::create(&path)?), path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn metadata(&mut self, metadata: &Value) -> std::io::Result<()> {
        let mut entry = json!({ "type": "metadata", "timestamp": now() });
        if let (Value::Object(into), Value::Object(from)) = (&mut entry, metadata) {
            into.extend(from.clone());
        }
        self.line(&entry)
    }

    pub(crate) fn iteration(&mut self, iteration: &Iteration) -> std::io::Result<()> {
        self.line(iteration)
    }

    fn line(&mut self, entry: &impl Serialize) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, entry).map_err(std::io::Error::other)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

pub(crate) fn now() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}
