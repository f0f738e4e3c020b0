//! [`Rlm`] and its builder.

use std::sync::Arc;

use rlm_core::{HelperSource, ReplFactory, SandboxQuota};
use tokio::sync::Semaphore;

use crate::config::{RlmConfig, RunOptions};
use crate::error::BuildError;
use crate::observe::Prompts;
use crate::registry::{ModelEntry, ModelRegistry};
use crate::tools::{Tool, ToolScope, Tools};
use crate::usage::Price;

/// A configured Recursive Language Model. Cheap to clone, `Send + Sync`, no
/// global state: one `Rlm` serves many completions at once.
#[derive(Clone, Debug)]
pub struct Rlm {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) registry: ModelRegistry,
    pub(crate) factory: Arc<dyn ReplFactory>,
    pub(crate) config: RlmConfig,
    pub(crate) tools: Tools,
    pub(crate) quota: Option<SandboxQuota>,
    pub(crate) permits: Option<Arc<Semaphore>>,
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

    /// Whether a request with `options` can run: the same checks a request
    /// makes before it starts (limits in range, models registered and
    /// priced), so that a caller can refuse a bad request before it commits
    /// to a response (a service, before it starts a stream).
    pub fn check_options(&self, options: &RunOptions) -> Result<(), BuildError> {
        self.resolve(options).map(drop)
    }

    /// Checks a request's options against the registry and the sandbox.
    pub(crate) fn resolve(&self, options: &RunOptions) -> Result<RlmConfig, BuildError> {
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
        self.config.helpers.push(HelperSource::new(name.into(), code.into()));
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
        /// See [`RlmConfig::candidates`]: the whole search.
        candidate_search: crate::config::CandidateSearch => candidates;
        /// See [`RlmConfig::direct_threshold`].
        direct_threshold: usize => direct_threshold(Some);
        /// See [`RlmConfig::answer_schema`].
        answer_schema: crate::schema::AnswerSchema => answer_schema(Some);
    }

    /// Runs `k` candidates and picks one answer (see
    /// [`CandidateSearch`](crate::CandidateSearch)); the other search settings
    /// keep their values.
    pub fn candidates(mut self, k: u32) -> Self {
        self.config.candidates.count = k;
        self
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
