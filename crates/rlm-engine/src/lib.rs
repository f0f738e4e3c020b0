//! The Recursive Language Model loop.
//!
//! [`Rlm::completion`] puts the context into a fresh sandbox as `context`,
//! then drives the root model: each reply's ```` ```repl ```` blocks run in
//! the sandbox and their output goes back to the model, until code calls
//! `FINAL`/`FINAL_VAR` (or sets `answer["ready"] = True`), the reply has a
//! `FINAL(...)` line, or a budget runs out. Code in the sandbox calls
//! `llm_query` (a sub-model call), `rlm_query` (a sub-RLM in a fresh sandbox,
//! one level deeper) and host tools; batched and async forms run
//! concurrently under one concurrency limit for the whole run.
//!
//! The engine depends only on the traits of `rlm-core`: a
//! [`ReplFactory`](rlm_core::ReplFactory) (the wasm sandbox of `rlm-sandbox`,
//! or a fake in tests) and [`Model`](rlm_core::Model)s (the HTTP clients of
//! `rlm-llm`, or scripts), named in a [`ModelRegistry`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use rlm_engine::{ModelEntry, ModelRegistry, Rlm};
//! # fn clients() -> (Arc<dyn rlm_core::Model>, Arc<dyn rlm_core::ReplFactory>) { unimplemented!() }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let (model, sandboxes) = clients(); // rlm_llm::Client, rlm_sandbox::Runtime
//! let models = ModelRegistry::new().with("gpt-4o-mini", ModelEntry::new(model));
//! let rlm = Rlm::builder().models(models).root_model("gpt-4o-mini").sandboxes(sandboxes).build()?;
//! let done = rlm.completion("a very long document ...", "What is the document about?").await?;
//! println!("{} after {} iterations", done.answer.unwrap(), done.iterations);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod budget;
mod completion;
mod config;
mod error;
mod events;
mod observe;
mod parse;
mod registry;
mod run;
mod subcalls;
mod tools;
mod trajectory;
mod usage;

use std::sync::Arc;
use std::time::Instant;

use rlm_core::{Context, HelperSource, ReplFactory, RequestMeta, SandboxQuota};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use completion::Completion;
pub use config::{
    DEFAULT_CELL_TIMEOUT, DEFAULT_CHILD_MAX_ITERATIONS, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_ERROR_STREAK, DEFAULT_MAX_ITERATIONS, DEFAULT_MAX_OUTPUT_CHARS, RlmConfig, RunOptions,
};
pub use error::{BuildError, Error, ErrorKind};
pub use events::{Event, EventKind, EventSink};
pub use observe::Prompts;
pub use registry::{DEFAULT_CONTEXT_CHARS, ModelEntry, ModelRegistry};
pub use tokio_util::sync::CancellationToken as Cancel;
pub use tools::{FnTool, Tool, ToolCall, ToolScope};
pub use trajectory::{BlockResult, CodeBlock, Iteration, SubCall, Trajectory};
pub use usage::{Price, Usage, UsageTotals};

use crate::events::Emitter;
use crate::run::{RunSpec, Shared, SharedParts, Stop};
use crate::tools::Tools;
use crate::trajectory::LogWriter;

/// A configured Recursive Language Model. Cheap to clone, `Send + Sync`, no
/// global state: one `Rlm` serves many completions at once.
#[derive(Clone, Debug)]
pub struct Rlm {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: ModelRegistry,
    factory: Arc<dyn ReplFactory>,
    config: RlmConfig,
    tools: Tools,
    quota: Option<SandboxQuota>,
    permits: Option<Arc<Semaphore>>,
}

impl Rlm {
    /// Starts a builder with the defaults of [`RlmConfig`].
    pub fn builder() -> RlmBuilder {
        RlmBuilder::default()
    }

    /// The settings.
    pub fn config(&self) -> &RlmConfig {
        &self.inner.config
    }

    /// The models.
    pub fn models(&self) -> &ModelRegistry {
        &self.inner.registry
    }

    /// Answers `query` about `context` with the `Rlm`'s settings. The future
    /// is `Send + 'static`, so it can be spawned; dropping it cancels the
    /// run, its model calls and its sub-RLMs.
    pub fn completion(
        &self,
        context: impl Into<Context>,
        query: impl Into<String>,
    ) -> impl Future<Output = Result<Completion, Error>> + Send + 'static {
        self.request(context, query).send()
    }

    /// A completion to configure before sending it: per-request options,
    /// more contexts, cancellation, events, request metadata.
    pub fn request(&self, context: impl Into<Context>, query: impl Into<String>) -> Request {
        Request {
            rlm: self.clone(),
            contexts: vec![context.into()],
            query: query.into(),
            options: RunOptions::default(),
            meta: RequestMeta::default(),
            cancel: None,
            events: None,
        }
    }

    /// Checks a request's options against the registry and the sandbox.
    fn resolve(&self, options: &RunOptions) -> Result<RlmConfig, BuildError> {
        let config = self.inner.config.with(options);
        config.validate()?;
        check_models(&self.inner.registry, &config)?;
        self.inner
            .factory
            .check_limits(&config.limits)
            .map_err(|e| BuildError::invalid("sandbox limits", e.to_string()))?;
        Ok(config)
    }
}

fn check_models(registry: &ModelRegistry, config: &RlmConfig) -> Result<(), BuildError> {
    for name in [config.root_model.as_str(), config.sub_model()] {
        let entry = registry.get(name)?;
        if config.max_cost.is_some() && entry.price.is_none() && !entry.reports_cost {
            return Err(BuildError::MissingPrice(name.to_owned()));
        }
    }
    Ok(())
}

/// One completion, configured before it is sent. See [`Rlm::request`].
#[must_use = "a request does nothing until it is sent"]
pub struct Request {
    rlm: Rlm,
    contexts: Vec<Context>,
    query: String,
    options: RunOptions,
    meta: RequestMeta,
    cancel: Option<CancellationToken>,
    events: Option<EventSink>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("contexts", &self.contexts)
            .field("query", &self.query)
            .field("options", &self.options)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// Adds another context, bound as `context_1`, `context_2`, ...
    pub fn context(mut self, context: impl Into<Context>) -> Self {
        self.contexts.push(context.into());
        self
    }

    /// Changes settings for this request only.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// Who the request is for: reaches the model clients, the tools and the
    /// tracing spans.
    pub fn meta(mut self, meta: RequestMeta) -> Self {
        self.meta = meta;
        self
    }

    /// Ends the run, with kind `cancelled` and its partial result, when
    /// `token` is cancelled.
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Sends every event of the run to `sink`.
    pub fn events(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// Runs the completion.
    pub fn send(self) -> impl Future<Output = Result<Completion, Error>> + Send + 'static {
        async move { self.run().await }
    }

    async fn run(self) -> Result<Completion, Error> {
        let started = Instant::now();
        let run_id: Arc<str> = Arc::from(new_run_id());
        let stopped = |stop: Stop, completion: Completion| Error {
            kind: stop.kind,
            message: stop.message,
            source: stop.source,
            completion: Box::new(completion),
        };
        let base = Completion { run_id: run_id.to_string(), ..Completion::default() };
        let config = match self.rlm.resolve(&self.options) {
            Ok(config) => config,
            Err(e) => {
                let stop = Stop {
                    kind: ErrorKind::Config,
                    message: "the request's settings are invalid".into(),
                    source: Some(Box::new(e)),
                };
                return Err(stopped(stop, base));
            }
        };
        let log = match &config.log_dir {
            Some(dir) => match LogWriter::create(dir, &run_id) {
                Ok(log) => Some(log),
                Err(e) => {
                    let stop = Stop {
                        kind: ErrorKind::Log,
                        message: format!("cannot write the trajectory log in `{}`", dir.display()),
                        source: Some(Box::new(e)),
                    };
                    return Err(stopped(stop, base));
                }
            },
            None => None,
        };
        let log_path = log.as_ref().map(|l| l.path().to_owned());
        let inner = &self.rlm.inner;
        let config = Arc::new(config);
        let shared = Arc::new(Shared::new(SharedParts {
            factory: inner.factory.clone(),
            registry: inner.registry.clone(),
            permits: inner.permits.clone().unwrap_or_else(|| Arc::new(Semaphore::new(config.max_concurrency))),
            quota: inner.quota.clone().unwrap_or_else(|| {
                let machine = SandboxQuota::for_machine();
                SandboxQuota::new(
                    config.max_live_sandboxes,
                    config.max_sandbox_memory_bytes.unwrap_or(machine.max_memory()),
                )
            }),
            config: config.clone(),
            tools: inner.tools.clone(),
            cancel: self.cancel.clone().unwrap_or_default(),
            meta: Arc::new(self.meta),
        }));
        let spec = RunSpec {
            depth: 0,
            contexts: self.contexts,
            query: self.query,
            model: config.root_model.clone(),
            max_iterations: config.max_iterations,
            system_prompt: config.prompts.root.clone(),
            helpers: config.helpers.clone(),
            emitter: Emitter::new(self.events, run_id.clone(), 0),
            parent: None,
            log,
        };
        let out = run::run(shared.clone(), spec).await;
        let completion = Completion {
            answer: out.result.as_ref().ok().cloned(),
            last_reply: out.last_reply,
            iterations: out.iterations,
            usage: shared.budget.usage(),
            sub_calls: shared.sub_calls.load(std::sync::atomic::Ordering::Relaxed),
            elapsed: started.elapsed(),
            trajectory: out.trajectory,
            run_id: run_id.to_string(),
            log_path,
        };
        match out.result {
            Ok(_) => Ok(completion),
            Err(stop) => Err(stopped(stop, completion)),
        }
    }
}

fn new_run_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// Builds an [`Rlm`]. Every setting starts at its [`RlmConfig`] default.
#[derive(Debug, Default)]
pub struct RlmBuilder {
    registry: ModelRegistry,
    factory: Option<Arc<dyn ReplFactory>>,
    config: RlmConfig,
    tools: Tools,
    tool_errors: Vec<BuildError>,
    quota: Option<SandboxQuota>,
    permits: Option<Arc<Semaphore>>,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty => $field:ident $(($wrap:ident))?;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$field = setters!(@wrap value $($wrap)?);
            self
        }
    )*};
    (@wrap $v:ident Some) => { Some($v) };
    (@wrap $v:ident) => { $v };
}

impl RlmBuilder {
    /// The models the run may use. Required: at least the root model.
    pub fn models(mut self, registry: ModelRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// Adds one model to the registry.
    pub fn model(mut self, name: impl Into<String>, entry: ModelEntry) -> Self {
        self.registry.insert(name, entry);
        self
    }

    /// The root model: registered under its own name, with no price.
    pub fn root(mut self, model: Arc<dyn rlm_core::Model>) -> Self {
        self.config.root_model = model.name().to_owned();
        self.registry.insert(model.name().to_owned(), ModelEntry::new(model));
        self
    }

    /// The sub-model: registered under its own name, with no price. By
    /// default, the root model.
    // Named to pair with `root`; it is not arithmetic.
    #[allow(clippy::should_implement_trait)]
    pub fn sub(mut self, model: Arc<dyn rlm_core::Model>) -> Self {
        self.config.sub_model = Some(model.name().to_owned());
        self.registry.insert(model.name().to_owned(), ModelEntry::new(model));
        self
    }

    /// Sets the price of a registered model.
    pub fn price(mut self, model: &str, price: Price) -> Self {
        if let Ok(entry) = self.registry.get(model) {
            let entry = entry.clone().price(Some(price));
            self.registry.insert(model.to_owned(), entry);
        }
        self
    }

    /// The sandboxes: `rlm_sandbox::Runtime` in production, a fake in
    /// tests. Required.
    pub fn sandboxes(mut self, factory: Arc<dyn ReplFactory>) -> Self {
        self.factory = Some(factory);
        self
    }

    /// Replaces every setting at once.
    pub fn config(mut self, config: RlmConfig) -> Self {
        self.config = config;
        self
    }

    /// Counts every completion's sandboxes against `quota` (live sandboxes
    /// and their memory), shared with whoever else holds a clone. By
    /// default, each completion gets its own [`SandboxQuota::for_machine`].
    pub fn quota(mut self, quota: SandboxQuota) -> Self {
        self.quota = Some(quota);
        self
    }

    /// Shares one limit on model calls in flight across every completion.
    /// By default, each completion has its own of
    /// [`RlmConfig::max_concurrency`].
    pub fn shared_concurrency(mut self, permits: Arc<Semaphore>) -> Self {
        self.permits = Some(permits);
        self
    }

    /// Registers a host tool for the root, sub-RLMs or both.
    pub fn tool(mut self, tool: Arc<dyn Tool>, scope: ToolScope) -> Self {
        if let Err(e) = self.tools.add(tool, scope) {
            self.tool_errors.push(e);
        }
        self
    }

    /// Adds Python helper code, loaded into every sandbox of a run.
    pub fn helpers(mut self, name: impl Into<String>, code: impl Into<String>) -> Self {
        self.config.helpers.push(HelperSource { name: name.into(), code: code.into() });
        self
    }

    /// See [`RlmConfig::root_model`].
    pub fn root_model(mut self, name: impl Into<String>) -> Self {
        self.config.root_model = name.into();
        self
    }

    /// See [`RlmConfig::sub_model`].
    pub fn sub_model(mut self, name: impl Into<String>) -> Self {
        self.config.sub_model = Some(name.into());
        self
    }

    setters! {
        /// See [`RlmConfig::max_iterations`].
        max_iterations: u32 => max_iterations;
        /// See [`RlmConfig::child_max_iterations`].
        child_max_iterations: u32 => child_max_iterations;
        /// See [`RlmConfig::max_depth`].
        max_depth: u32 => max_depth;
        /// See [`RlmConfig::max_concurrency`].
        max_concurrency: usize => max_concurrency;
        /// See [`RlmConfig::max_tokens`].
        max_tokens: u64 => max_tokens(Some);
        /// See [`RlmConfig::max_cost`].
        max_cost: f64 => max_cost(Some);
        /// See [`RlmConfig::max_wall_time`].
        max_wall_time: std::time::Duration => max_wall_time(Some);
        /// See [`RlmConfig::max_error_streak`].
        max_error_streak: u32 => max_error_streak;
        /// See [`RlmConfig::max_output_chars`].
        max_output_chars: usize => max_output_chars;
        /// See [`RlmConfig::sub_context_chars`].
        sub_context_chars: usize => sub_context_chars(Some);
        /// See [`RlmConfig::limits`].
        limits: rlm_core::Limits => limits;
        /// See [`RlmConfig::prompts`].
        prompts: Prompts => prompts;
        /// See [`RlmConfig::sampling`].
        sampling: rlm_core::SamplingOptions => sampling;
    }

    /// See [`RlmConfig::log_dir`].
    pub fn log_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.log_dir = Some(dir.into());
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Rlm, BuildError> {
        if let Some(e) = self.tool_errors.into_iter().next() {
            return Err(e);
        }
        let factory = self.factory.ok_or(BuildError::Missing("a sandbox factory (`sandboxes`)"))?;
        let mut config = self.config;
        if config.root_model.is_empty()
            && let Some(only) = single(&self.registry)
        {
            config.root_model = only;
        }
        config.validate()?;
        check_models(&self.registry, &config)?;
        factory.check_limits(&config.limits).map_err(|e| BuildError::invalid("sandbox limits", e.to_string()))?;
        Ok(Rlm {
            inner: Arc::new(Inner {
                registry: self.registry,
                factory,
                config,
                tools: self.tools,
                quota: self.quota,
                permits: self.permits,
            }),
        })
    }
}

fn single(registry: &ModelRegistry) -> Option<String> {
    let mut names = registry.names();
    let first = names.next()?;
    names.next().is_none().then(|| first.to_owned())
}
