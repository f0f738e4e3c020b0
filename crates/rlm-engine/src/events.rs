//! Run events: what a run does, as it does it.
//!
//! Subscribe per completion with an [`EventSink`]. Every event carries the
//! run it belongs to (the root or a sub-RLM), its depth and when it
//! happened. The CLI's progress display and `--events FILE` are built on
//! these, and the service streams them. When nobody subscribes, nothing is
//! built.

use std::sync::Arc;
use std::time::SystemTime;

use rlm_core::{CellErrorKind, JsonText, TokenUsage};
use serde::Serialize;

use crate::usage::Usage;

/// Characters of a sub-call's prompt that its `sub_call_started` event
/// carries.
pub const PREVIEW_CHARS: usize = 80;

/// The first [`PREVIEW_CHARS`] characters of `text`.
pub(crate) fn preview(text: &str) -> String {
    text.chars().take(PREVIEW_CHARS).collect()
}

/// Receives every event of a completion, from every task of it: keep it
/// quick (send to a channel, write a line).
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// One thing that happened in a run.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// The run it happened in: the root's id, or a sub-RLM's.
    pub run_id: String,
    /// 0 for the root, 1 for its sub-RLMs, ...
    pub depth: u32,
    /// When, as RFC 3339 text.
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

fn rfc3339<S: serde::Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_micros(*at))
}

/// What happened.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A run (the root or a sub-RLM) started.
    RunStarted {
        /// The model driving it.
        model: String,
        /// Its iteration limit.
        max_iterations: u32,
        /// The id of the run whose code started it (`None` for the root).
        parent: Option<String>,
    },
    /// An iteration started: the model is being asked.
    IterationStarted {
        /// 1-based.
        iteration: u32,
        /// The run's limit.
        max_iterations: u32,
    },
    /// The model replied.
    ModelReply {
        /// The iteration (0 for the last request for an answer).
        iteration: u32,
        /// The reply text.
        text: String,
        /// Reasoning the server returned beside it.
        reasoning: Option<String>,
        /// Tokens of this call.
        usage: TokenUsage,
        /// Why the model stopped.
        finish_reason: String,
    },
    /// A code block started running.
    CodeStarted {
        /// The iteration.
        iteration: u32,
        /// 1-based index of the block in the reply.
        block: usize,
        /// The code.
        code: String,
    },
    /// A code block finished.
    CodeFinished {
        /// The iteration.
        iteration: u32,
        /// 1-based index of the block.
        block: usize,
        /// What it printed (capped).
        stdout: String,
        /// Its stderr and traceback (capped).
        stderr: String,
        /// How it stopped early, if it did.
        error: Option<CellErrorKind>,
        /// Whether the sandbox was restarted.
        state_lost: bool,
        /// Seconds it ran.
        seconds: f64,
    },
    /// Model code started a sub-call.
    SubCallStarted {
        /// An id to match the `sub_call_finished` event (unique per completion).
        call: u64,
        /// `llm`, `rlm` or `tool`.
        kind: &'static str,
        /// The model (or tool) name.
        name: String,
        /// The run a sub-RLM runs as.
        child_run: Option<String>,
        /// The start of the prompt (a sub-RLM's context, a tool's arguments
        /// as JSON): at most [`PREVIEW_CHARS`] characters.
        preview: String,
    },
    /// A sub-call finished.
    SubCallFinished {
        /// The id from `sub_call_started`.
        call: u64,
        /// `llm`, `rlm` or `tool`.
        kind: &'static str,
        /// The model (or tool) name.
        name: String,
        /// Why it failed, if it did.
        error: Option<String>,
        /// Seconds it took.
        seconds: f64,
    },
    /// Usage of the whole completion so far, after a model call.
    Usage {
        /// Every model and depth.
        usage: Box<Usage>,
    },
    /// The run produced its answer.
    FinalAnswer {
        /// The answer.
        answer: JsonText,
    },
    /// The run stopped without an answer.
    Error {
        /// The error kind's name.
        kind: String,
        /// What happened.
        message: String,
    },
    /// An engine note about a reply (code not run and why, a cut-off reply).
    Note {
        /// The iteration.
        iteration: u32,
        /// The note as the model is told it.
        text: String,
    },
}

/// Sends events of one run, when someone listens.
#[derive(Clone)]
pub(crate) struct Emitter {
    sink: Option<EventSink>,
    run_id: Arc<str>,
    depth: u32,
}

impl Emitter {
    pub(crate) fn new(sink: Option<EventSink>, run_id: Arc<str>, depth: u32) -> Self {
        Emitter { sink, run_id, depth }
    }

    pub(crate) fn emit(&self, kind: impl FnOnce() -> EventKind) {
        if let Some(sink) = &self.sink {
            sink(&Event { run_id: self.run_id.to_string(), depth: self.depth, at: SystemTime::now(), kind: kind() });
        }
    }

    pub(crate) fn run_id(&self) -> &Arc<str> {
        &self.run_id
    }

    /// An emitter for a sub-RLM run.
    pub(crate) fn child(&self, run_id: Arc<str>, depth: u32) -> Emitter {
        Emitter { sink: self.sink.clone(), run_id, depth }
    }
}
