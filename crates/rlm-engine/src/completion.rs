//! The result of a completion: one type for a finished and a stopped run.

use std::path::PathBuf;
use std::time::Duration;

use rlm_core::JsonText;
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::Error;
use crate::trajectory::Trajectory;
use crate::usage::Usage;

/// What a completion did: its answer (when it has one) and how it got there.
/// A stopped run's [`Error`] carries one too, with `answer: None`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Completion {
    /// The final answer, as the JSON value passed to `FINAL` (or the text of
    /// a text `FINAL(...)`). `None` when the run stopped without one.
    pub answer: Option<JsonText>,
    /// The root model's last reply: for a stopped run, the best there is.
    pub last_reply: Option<String>,
    /// Root iterations used.
    pub iterations: u32,
    /// Tokens, calls and cost, per model and per depth.
    pub usage: Usage,
    /// `llm_query`/`rlm_query`/tool calls made at every depth.
    pub sub_calls: u64,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// Every iteration, with sub-RLM runs nested under their calls.
    pub trajectory: Trajectory,
    /// The root run's id.
    pub run_id: String,
    /// Where the trajectory log was written, if it was.
    pub log_path: Option<PathBuf>,
    /// `rlm`, or `direct` when the context was short enough for one plain
    /// model call ([`RlmConfig::direct_threshold`](crate::RlmConfig::direct_threshold)).
    pub route: &'static str,
    /// With several candidates: each one and how the answer was picked.
    pub candidates: Option<CandidateReport>,
}

/// How the answer of a candidate search was picked.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CandidateReport {
    /// The winner's index in `candidates`.
    pub winner: usize,
    /// Candidates (indexes) whose answers agree, largest cluster first.
    pub clusters: Vec<Vec<usize>>,
    /// The clusters pooled for the pick (the plurality, or every cluster
    /// tied for it).
    pub pooled: Vec<usize>,
    /// `vc_x_len` when confidences were elicited and reported, else
    /// `shortest`.
    pub rule: &'static str,
    /// Whether the candidates still running were cancelled because a strict
    /// majority already agreed.
    pub stopped_early: bool,
    /// Every candidate.
    pub candidates: Vec<CandidateInfo>,
}

/// One candidate of a search.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CandidateInfo {
    /// Its run id.
    pub run_id: String,
    /// Its answer, if it finished with one.
    pub answer: Option<JsonText>,
    /// Why it has none (failed, or `cancelled` after an early stop).
    pub error: Option<String>,
    /// Root iterations it used.
    pub iterations: u32,
    /// Output tokens of its root calls: the trace length, Len(p).
    pub output_tokens: u64,
    /// Each root step's stated confidence (`None` where it gave none).
    pub confidences: Vec<Option<f64>>,
    /// VC(p): the sum of the logs of the step confidences, a missing one
    /// counted as the candidate's mean.
    pub vc: Option<f64>,
    /// VC(p) x Len(p): the closest to zero wins.
    pub score: Option<f64>,
}

impl Completion {
    /// The one JSON shape of a result, for a finished run (`error: None`) or
    /// a stopped one: `{answer, iterations, sub_calls, usage, elapsed_ms,
    /// run_id, log, error, last_reply, route, candidates}`. A stopped run's partial reply is
    /// under `last_reply`, never under `answer`.
    pub fn to_json(&self, error: Option<&Error>) -> Value {
        let error = error.map(|e| {
            let mut message = e.message.clone();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            json!({ "kind": e.kind, "message": message })
        });
        let last_reply = if error.is_some() { json!(self.last_reply) } else { Value::Null };
        json!({
            "answer": self.answer,
            "iterations": self.iterations,
            "sub_calls": self.sub_calls,
            "usage": self.usage,
            "elapsed_ms": self.elapsed.as_secs_f64() * 1000.0,
            "run_id": self.run_id,
            "log": self.log_path,
            "error": error,
            "last_reply": last_reply,
            "route": self.route,
            "candidates": self.candidates,
        })
    }
}
