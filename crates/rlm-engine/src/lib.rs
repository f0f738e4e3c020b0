//! The Recursive Language Model loop.
//!
//! [`Rlm::completion`] puts the context into a fresh sandbox as `context`,
//! then drives the root model: each reply's ```` ```repl ```` blocks run in
//! the sandbox and their output goes back to the model, until code calls
//! `FINAL`/`FINAL_VAR`, the reply has a `FINAL(...)` line, or a budget runs
//! out. Code in the sandbox calls `llm_query` (a sub-model call) and
//! `rlm_query` (a sub-RLM in a fresh sandbox, one level deeper); batched
//! forms run concurrently under one concurrency limit for the whole run.
//!
//! ```text
//!   rlm-cli ──► rlm-engine ──► rlm-sandbox (wasmtime + CPython guest)
//!                    └───────► rlm-llm     (OpenAI / Anthropic clients)
//! ```
//!
//! ```no_run
//! use std::sync::Arc;
//! use rlm_engine::Rlm;
//! use rlm_llm::{Client, ClientConfig, Provider};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let model = Arc::new(Client::new(ClientConfig::new(Provider::OpenAi, "gpt-4o-mini"))?);
//! let rlm = Rlm::builder().root(model.clone()).sub(model).max_depth(1).build()?;
//! let done = rlm.completion("a very long document ...", "What is the document about?").await?;
//! println!("{} after {} iterations", done.answer, done.iterations);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod config;
mod context;
mod error;
mod handler;
mod parse;
mod progress;
mod prompts;
mod run;
mod trajectory;
mod usage;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rlm_llm::Model;
use rlm_sandbox::{Runtime, RuntimeConfig};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

pub use config::{
    DEFAULT_CELL_TIMEOUT, DEFAULT_CHILD_MAX_ITERATIONS, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_ERROR_STREAK, DEFAULT_MAX_ITERATIONS, DEFAULT_MAX_OUTPUT_CHARS, RlmConfig,
};
pub use context::ContextInput;
pub use error::{BuildError, Error, ErrorKind, Partial};
pub use progress::{Progress, ProgressSnapshot};
pub use prompts::Prompts;
pub use trajectory::{BlockResult, CodeBlock, Iteration, SubCall, Trajectory};
pub use usage::{Price, Usage, UsageTotals};

/// A configured Recursive Language Model. Cheap to clone, `Send + Sync`, no
/// global state: one `Rlm` can serve many completions at once.
#[derive(Clone, Debug)]
pub struct Rlm {
    runtime: Runtime,
    root: Arc<dyn Model>,
    sub: Arc<dyn Model>,
    config: Arc<RlmConfig>,
}

/// The answer of a completion and how it was reached.
#[derive(Clone, Debug)]
pub struct Completion {
    /// The final answer, as the JSON value passed to `FINAL`.
    pub answer: Value,
    /// Root iterations used.
    pub iterations: u32,
    /// Tokens, calls and cost, per model and per depth.
    pub usage: Usage,
    /// `llm_query`/`rlm_query` calls made at every depth.
    pub sub_calls: u64,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// Every iteration, with sub-RLM runs nested under their calls.
    pub trajectory: Trajectory,
}

impl Rlm {
    /// Starts a builder with the defaults of [`RlmConfig`].
    pub fn builder() -> RlmBuilder {
        RlmBuilder::default()
    }

    /// The settings.
    pub fn config(&self) -> &RlmConfig {
        &self.config
    }

    /// Answers `query` about `context`. The future is `Send + 'static`, so
    /// it can be spawned; dropping it cancels the run, its model calls and
    /// its sub-RLMs.
    pub fn completion(
        &self,
        context: impl Into<ContextInput>,
        query: impl Into<String>,
    ) -> impl Future<Output = Result<Completion, Error>> + Send + 'static {
        self.completion_with_progress(context, query, Arc::new(Progress::default()))
    }

    /// As [`Rlm::completion`], updating `progress` as the run goes.
    pub fn completion_with_progress(
        &self,
        context: impl Into<ContextInput>,
        query: impl Into<String>,
        progress: Arc<Progress>,
    ) -> impl Future<Output = Result<Completion, Error>> + Send + 'static {
        let (rlm, context, query) = (self.clone(), context.into(), query.into());
        async move { rlm.complete(context, query, progress).await }
    }

    async fn complete(self, context: ContextInput, query: String, progress: Arc<Progress>) -> Result<Completion, Error> {
        let started = Instant::now();
        let shared = Arc::new(run::Shared {
            runtime: self.runtime.clone(),
            sub_model: self.sub.clone(),
            config: self.config.clone(),
            started,
            deadline: self.config.max_wall_time.map(|t| started + t),
            permits: Semaphore::new(self.config.max_concurrency),
            usage: Mutex::new(Usage::default()),
            progress: progress.clone(),
        });
        let log = self.config.log_dir.as_deref().and_then(|dir| {
            trajectory::LogWriter::create(dir, self.metadata())
                .inspect_err(|e| tracing::warn!(dir = %dir.display(), error = %e, "cannot create the trajectory log"))
                .ok()
        });
        let spec = run::RunSpec {
            depth: 0,
            context,
            query,
            model: self.root.clone(),
            model_override: None,
            max_iterations: self.config.max_iterations,
            system_prompt: self.config.prompts.root.clone(),
            log,
        };
        let result = run::run(shared.clone(), spec).await;
        let usage = shared.usage.lock().unwrap().clone();
        let sub_calls = progress.snapshot().sub_calls;
        match result {
            Ok(out) => Ok(Completion {
                answer: out.answer,
                iterations: out.iterations,
                usage,
                sub_calls,
                elapsed: started.elapsed(),
                trajectory: out.trajectory,
            }),
            Err(failure) => {
                let mut partial = failure.partial;
                partial.usage = usage;
                partial.sub_calls = sub_calls;
                partial.elapsed = started.elapsed();
                Err(Error {
                    kind: failure.stop.kind,
                    message: failure.stop.message,
                    source: failure.stop.source,
                    partial: Box::new(partial),
                })
            }
        }
    }

    /// The first line of a JSONL log, in the `rlms` metadata shape.
    fn metadata(&self) -> Value {
        let limits = &self.config.limits;
        json!({
            "root_model": self.root.name(),
            "max_depth": self.config.max_depth,
            "max_iterations": self.config.max_iterations,
            "backend": self.root.backend(),
            "backend_kwargs": { "model_name": self.root.name() },
            "environment_type": "wasm-sandbox",
            "environment_kwargs": {
                "fuel": limits.fuel,
                "memory_mb": limits.memory_bytes >> 20,
                "cell_timeout_s": limits.timeout.as_secs_f64(),
                "max_output_bytes": limits.max_output_bytes,
            },
            "other_backends": [self.sub.backend()],
            "sub_model": self.sub.name(),
            "child_max_iterations": self.config.child_max_iterations,
            "max_concurrency": self.config.max_concurrency,
        })
    }
}

/// Builds an [`Rlm`]. Every setting starts at its [`RlmConfig`] default.
#[derive(Debug, Default)]
pub struct RlmBuilder {
    runtime: Option<Runtime>,
    root: Option<Arc<dyn Model>>,
    sub: Option<Arc<dyn Model>>,
    config: RlmConfig,
}

impl RlmBuilder {
    /// The root model. Required.
    pub fn root(mut self, model: Arc<dyn Model>) -> Self {
        self.root = Some(model);
        self
    }

    /// The model for `llm_query` and sub-RLMs. By default, the root model.
    // Named to pair with `root`; it is not arithmetic.
    #[allow(clippy::should_implement_trait)]
    pub fn sub(mut self, model: Arc<dyn Model>) -> Self {
        self.sub = Some(model);
        self
    }

    /// The sandbox runtime to share. By default, one with
    /// [`RuntimeConfig::default`].
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Replaces every setting at once.
    pub fn config(mut self, config: RlmConfig) -> Self {
        self.config = config;
        self
    }

    /// See [`RlmConfig::max_iterations`].
    pub fn max_iterations(mut self, n: u32) -> Self {
        self.config.max_iterations = n;
        self
    }

    /// See [`RlmConfig::child_max_iterations`].
    pub fn child_max_iterations(mut self, n: u32) -> Self {
        self.config.child_max_iterations = n;
        self
    }

    /// See [`RlmConfig::max_depth`].
    pub fn max_depth(mut self, depth: u32) -> Self {
        self.config.max_depth = depth;
        self
    }

    /// See [`RlmConfig::max_concurrency`].
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.config.max_concurrency = n;
        self
    }

    /// See [`RlmConfig::max_tokens`].
    pub fn max_tokens(mut self, tokens: u64) -> Self {
        self.config.max_tokens = Some(tokens);
        self
    }

    /// See [`RlmConfig::max_cost`].
    pub fn max_cost(mut self, dollars: f64) -> Self {
        self.config.max_cost = Some(dollars);
        self
    }

    /// See [`RlmConfig::max_wall_time`].
    pub fn max_wall_time(mut self, time: Duration) -> Self {
        self.config.max_wall_time = Some(time);
        self
    }

    /// See [`RlmConfig::max_error_streak`].
    pub fn max_error_streak(mut self, n: u32) -> Self {
        self.config.max_error_streak = n;
        self
    }

    /// See [`RlmConfig::log_dir`].
    pub fn log_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.log_dir = Some(dir.into());
        self
    }

    /// See [`RlmConfig::prompts`].
    pub fn prompts(mut self, prompts: Prompts) -> Self {
        self.config.prompts = prompts;
        self
    }

    /// Sets the price of a model, for cost accounting.
    pub fn price(mut self, model: impl Into<String>, price: Price) -> Self {
        self.config.prices.insert(model.into(), price);
        self
    }

    /// Checks the settings and starts (or reuses) the sandbox runtime.
    pub fn build(self) -> Result<Rlm, BuildError> {
        let root = self.root.ok_or_else(|| BuildError::Invalid("a root model is required".into()))?;
        let c = &self.config;
        if c.max_iterations == 0 || c.child_max_iterations == 0 {
            return Err(BuildError::Invalid("iteration limits must be at least 1".into()));
        }
        if c.max_concurrency == 0 {
            return Err(BuildError::Invalid("max concurrency must be at least 1".into()));
        }
        if c.max_error_streak == 0 {
            return Err(BuildError::Invalid("the error-streak limit must be at least 1".into()));
        }
        if c.max_output_chars < 100 {
            return Err(BuildError::Invalid("show the model at least 100 characters of output".into()));
        }
        let runtime = match self.runtime {
            Some(runtime) => runtime,
            None => Runtime::new(RuntimeConfig::default())?,
        };
        Ok(Rlm { runtime, sub: self.sub.unwrap_or_else(|| root.clone()), root, config: Arc::new(self.config) })
    }
}
