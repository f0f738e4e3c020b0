//! Settings of an [`Rlm`](crate::Rlm), and the options one request may
//! change.

use std::path::PathBuf;
use std::time::Duration;

use rlm_core::{HelperSource, Limits, SamplingOptions};

use crate::error::BuildError;
use crate::observe::Prompts;
use crate::schema::AnswerSchema;

/// Default root iterations.
pub const DEFAULT_MAX_ITERATIONS: u32 = 20;
/// Default iterations of each sub-RLM.
pub const DEFAULT_CHILD_MAX_ITERATIONS: u32 = 10;
/// Default sub-RLM levels below the root.
pub const DEFAULT_MAX_DEPTH: u32 = 1;
/// Default model calls in flight at once, for the whole run.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;
/// Default erroring iterations in a row that end a run.
pub const DEFAULT_MAX_ERROR_STREAK: u32 = 5;
/// Default characters of each of stdout and stderr shown to the model per
/// block (head and tail kept).
pub const DEFAULT_MAX_OUTPUT_CHARS: usize = 10_000;
/// Default wall-clock limit of one cell in an RLM run: generous, because a
/// cell may wait for a fan-out of sub-RLMs.
pub const DEFAULT_CELL_TIMEOUT: Duration = Duration::from_secs(600);

/// Most candidates one completion may run.
pub const MAX_CANDIDATES: u32 = 64;

/// Self-reflective program search (after the SRLM paper): the root runs
/// several times, independently, and one answer is picked.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CandidateSearch {
    /// Candidates (independent root runs). 1 (the default) is a plain run.
    pub count: u32,
    /// Candidates running at once. By default, all of them.
    pub parallel: Option<usize>,
    /// Sampling temperature of the candidates' root calls. By default, the
    /// root's own.
    pub temperature: Option<f64>,
    /// Ask the root model for a confidence at every step (`Confidence: X`
    /// on the last line), used to pick among agreeing candidates and kept
    /// in the trajectory. Also works with one candidate.
    pub confidence: bool,
    /// Cancel the candidates still running once a strict majority of all
    /// of them agree. On by default.
    pub early_stop: bool,
}

impl Default for CandidateSearch {
    fn default() -> Self {
        CandidateSearch { count: 1, parallel: None, temperature: None, confidence: false, early_stop: true }
    }
}

impl CandidateSearch {
    /// `count` candidates, the rest default.
    pub fn new(count: u32) -> Self {
        CandidateSearch { count, ..CandidateSearch::default() }
    }
}

/// Every setting of a run, with its default.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RlmConfig {
    /// The root model's name in the registry. Required.
    pub root_model: String,
    /// The model of `llm_query` and sub-RLMs. By default, the root model.
    pub sub_model: Option<String>,
    /// Root iterations before one last call asks for the answer. By default,
    /// [`DEFAULT_MAX_ITERATIONS`].
    pub max_iterations: u32,
    /// Iterations of each sub-RLM. By default, [`DEFAULT_CHILD_MAX_ITERATIONS`].
    pub child_max_iterations: u32,
    /// Sub-RLM levels allowed below the root; at the limit `rlm_query`
    /// behaves as `llm_query`. By default, [`DEFAULT_MAX_DEPTH`].
    pub max_depth: u32,
    /// Model calls in flight at once across the whole run. By default,
    /// [`DEFAULT_MAX_CONCURRENCY`].
    pub max_concurrency: usize,
    /// Token budget (input plus output, every model). By default, none.
    pub max_tokens: Option<u64>,
    /// Cost budget in dollars. By default, none.
    pub max_cost: Option<f64>,
    /// Wall-clock budget of the run. By default, none.
    pub max_wall_time: Option<Duration>,
    /// Erroring iterations in a row that end the run. By default,
    /// [`DEFAULT_MAX_ERROR_STREAK`].
    pub max_error_streak: u32,
    /// Characters of each of stdout and stderr shown to the model per block.
    /// By default, [`DEFAULT_MAX_OUTPUT_CHARS`].
    pub max_output_chars: usize,
    /// Characters a sub-model call may carry; longer `llm_query` prompts are
    /// refused before they are sent. By default, the sub-model's registry
    /// entry's window.
    pub sub_context_chars: Option<usize>,
    /// Sandbox limits of every cell. By default, the sandbox defaults with a
    /// [`DEFAULT_CELL_TIMEOUT`] wall clock.
    pub limits: Limits,
    /// Where to write the JSONL trajectory log. By default, nowhere.
    pub log_dir: Option<PathBuf>,
    /// The system prompts. By default, those in `prompts/`.
    pub prompts: Prompts,
    /// Sampling options of the root model's calls (over its registry entry's).
    pub sampling: SamplingOptions,
    /// Python code loaded into every sandbox of the run, root and children,
    /// before the first cell. By default, none.
    pub helpers: Vec<HelperSource>,
    /// Sandboxes of one run alive at once (the root and its sub-RLMs); a new
    /// one waits for a free slot. Ignored when the `Rlm` shares a quota. By
    /// default, [`rlm_core::DEFAULT_MAX_LIVE_SANDBOXES`].
    pub max_live_sandboxes: usize,
    /// Linear memory all sandboxes of one run may hold together; growth past
    /// it is refused (`memory_limit`). Ignored when the `Rlm` shares a quota.
    /// By default, half of the machine's memory.
    pub max_sandbox_memory_bytes: Option<usize>,
    /// Candidate search. By default, one candidate.
    pub candidates: CandidateSearch,
    /// A context (all contexts together) shorter than this many characters
    /// is answered by one plain call to the root model with the context in
    /// the prompt, without a REPL. By default, never.
    pub direct_threshold: Option<usize>,
    /// The schema the root's final answer must match; an answer that does
    /// not is sent back to the model with the errors. By default, none.
    pub answer_schema: Option<AnswerSchema>,
}

impl Default for RlmConfig {
    fn default() -> Self {
        let mut limits = Limits::default();
        limits.timeout = DEFAULT_CELL_TIMEOUT;
        RlmConfig {
            root_model: String::new(),
            sub_model: None,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            child_max_iterations: DEFAULT_CHILD_MAX_ITERATIONS,
            max_depth: DEFAULT_MAX_DEPTH,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_tokens: None,
            max_cost: None,
            max_wall_time: None,
            max_error_streak: DEFAULT_MAX_ERROR_STREAK,
            max_output_chars: DEFAULT_MAX_OUTPUT_CHARS,
            sub_context_chars: None,
            limits,
            log_dir: None,
            prompts: Prompts::default(),
            sampling: SamplingOptions::default(),
            helpers: Vec::new(),
            max_live_sandboxes: rlm_core::DEFAULT_MAX_LIVE_SANDBOXES,
            max_sandbox_memory_bytes: None,
            candidates: CandidateSearch::default(),
            direct_threshold: None,
            answer_schema: None,
        }
    }
}

impl RlmConfig {
    /// The sub-model's name.
    pub fn sub_model(&self) -> &str {
        self.sub_model.as_deref().unwrap_or(&self.root_model)
    }

    /// Checks every setting that does not depend on the models.
    pub fn validate(&self) -> Result<(), BuildError> {
        if self.root_model.is_empty() {
            return Err(BuildError::Missing("a root model"));
        }
        if self.max_iterations == 0 || self.child_max_iterations == 0 {
            return Err(BuildError::invalid("iteration limit", "must be at least 1"));
        }
        if self.max_concurrency == 0 {
            return Err(BuildError::invalid("max concurrency", "must be at least 1"));
        }
        if self.max_error_streak == 0 {
            return Err(BuildError::invalid("error-streak limit", "must be at least 1"));
        }
        if self.max_output_chars < 100 {
            return Err(BuildError::invalid("output shown to the model", "show the model at least 100 characters"));
        }
        if self.sub_context_chars.is_some_and(|c| c < 100) {
            return Err(BuildError::invalid("sub-model window", "must be at least 100 characters"));
        }
        if self.max_cost.is_some_and(|c| !(c.is_finite() && c >= 0.0)) {
            return Err(BuildError::invalid("cost budget", "must be a non-negative number"));
        }
        if self.max_live_sandboxes == 0 {
            return Err(BuildError::invalid("live sandboxes", "must be at least 1"));
        }
        if self.max_sandbox_memory_bytes.is_some_and(|m| m < rlm_core::MIN_MEMORY_BYTES) {
            return Err(BuildError::invalid("memory of all sandboxes", "must be at least 64 MiB"));
        }
        let c = &self.candidates;
        if c.count == 0 || c.count > MAX_CANDIDATES {
            return Err(BuildError::invalid("candidates", format!("must be from 1 to {MAX_CANDIDATES}")));
        }
        if c.parallel == Some(0) {
            return Err(BuildError::invalid("candidates in parallel", "must be at least 1"));
        }
        if c.temperature.is_some_and(|t| !(t.is_finite() && t >= 0.0)) {
            return Err(BuildError::invalid("candidate temperature", "must be a non-negative number"));
        }
        if self.max_wall_time.is_some_and(|t| t.is_zero()) {
            return Err(BuildError::invalid("wall-clock budget", "must be above zero"));
        }
        self.limits.validate().map_err(|e| BuildError::invalid("sandbox limits", e.to_string()))
    }

    /// These settings with `options` applied.
    pub fn with(&self, options: &RunOptions) -> RlmConfig {
        let mut c = self.clone();
        let o = options;
        if let Some(v) = &o.root_model {
            c.root_model = v.clone();
        }
        if let Some(v) = &o.sub_model {
            c.sub_model = Some(v.clone());
        }
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = o.$field { c.$field = v; } )* };
        }
        set!(max_iterations, child_max_iterations, max_depth, max_concurrency, max_error_streak, max_output_chars);
        if o.max_tokens.is_some() {
            c.max_tokens = o.max_tokens;
        }
        if o.max_cost.is_some() {
            c.max_cost = o.max_cost;
        }
        if o.max_wall_time.is_some() {
            c.max_wall_time = o.max_wall_time;
        }
        if o.sub_context_chars.is_some() {
            c.sub_context_chars = o.sub_context_chars;
        }
        if let Some(v) = &o.limits {
            c.limits = v.clone();
        }
        if let Some(v) = &o.prompts {
            c.prompts = v.clone();
        }
        if let Some(v) = &o.sampling {
            c.sampling = c.sampling.overlay(v);
        }
        if let Some(v) = &o.log_dir {
            c.log_dir = v.clone();
        }
        c.helpers.extend(o.helpers.iter().cloned());
        if let Some(v) = &o.candidates {
            c.candidates = v.clone();
        }
        if let Some(v) = o.direct_threshold {
            c.direct_threshold = v;
        }
        if let Some(v) = &o.answer_schema {
            c.answer_schema = v.clone();
        }
        c
    }
}

/// What one request changes of an [`Rlm`](crate::Rlm)'s settings, without
/// rebuilding it. Unset fields keep the `Rlm`'s value.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RunOptions {
    /// The root model (a registry name).
    pub root_model: Option<String>,
    /// The sub-model (a registry name).
    pub sub_model: Option<String>,
    /// See [`RlmConfig::max_iterations`].
    pub max_iterations: Option<u32>,
    /// See [`RlmConfig::child_max_iterations`].
    pub child_max_iterations: Option<u32>,
    /// See [`RlmConfig::max_depth`].
    pub max_depth: Option<u32>,
    /// See [`RlmConfig::max_concurrency`].
    pub max_concurrency: Option<usize>,
    /// See [`RlmConfig::max_tokens`].
    pub max_tokens: Option<u64>,
    /// See [`RlmConfig::max_cost`].
    pub max_cost: Option<f64>,
    /// See [`RlmConfig::max_wall_time`].
    pub max_wall_time: Option<Duration>,
    /// See [`RlmConfig::max_error_streak`].
    pub max_error_streak: Option<u32>,
    /// See [`RlmConfig::max_output_chars`].
    pub max_output_chars: Option<usize>,
    /// See [`RlmConfig::sub_context_chars`].
    pub sub_context_chars: Option<usize>,
    /// See [`RlmConfig::limits`].
    pub limits: Option<Limits>,
    /// See [`RlmConfig::prompts`].
    pub prompts: Option<Prompts>,
    /// Sampling options laid over the `Rlm`'s.
    pub sampling: Option<SamplingOptions>,
    /// See [`RlmConfig::log_dir`] (`Some(None)` turns the log off).
    pub log_dir: Option<Option<PathBuf>>,
    /// Helpers added to the `Rlm`'s.
    pub helpers: Vec<HelperSource>,
    /// See [`RlmConfig::candidates`].
    pub candidates: Option<CandidateSearch>,
    /// See [`RlmConfig::direct_threshold`] (`Some(None)` turns it off).
    pub direct_threshold: Option<Option<usize>>,
    /// See [`RlmConfig::answer_schema`] (`Some(None)` turns it off).
    pub answer_schema: Option<Option<AnswerSchema>>,
}
