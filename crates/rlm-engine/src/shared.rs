//! What every run and sub-call of one completion shares: the models, the
//! budgets, the sandboxes, the limits on concurrency, cancellation; and
//! what a run is asked to do and gives back.
//!
//! Sub-calls start child runs, and runs answer their sandbox's sub-calls:
//! rather than have `run` and `subcalls` import each other, a run's entry
//! point reaches `subcalls` through [`Shared::child_runner`], set once when
//! the completion starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures::future::BoxFuture;
use rlm_core::{
    Context, HelperSource, JsonText, Message, ModelReply, ModelRequest, ReplError, ReplFactory, RequestMeta,
    SamplingOptions, SandboxQuota, TokenUsage,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::budget::Budget;
use crate::config::RlmConfig;
use crate::error::ErrorKind;
use crate::events::{Emitter, EventKind};
use crate::registry::ModelRegistry;
use crate::tools::Tools;
use crate::trajectory::{LogWriter, Trajectory};
use crate::usage::Price;

/// Starts a run; `run::run`, handed to [`Shared`] so that sub-calls can
/// start child runs without depending on the loop's module.
pub(crate) type ChildRunner = fn(Arc<Shared>, RunSpec) -> BoxFuture<'static, RunOutput>;

/// State shared by every run and sub-call of one completion.
pub(crate) struct Shared {
    pub(crate) factory: Arc<dyn ReplFactory>,
    pub(crate) registry: ModelRegistry,
    pub(crate) config: Arc<RlmConfig>,
    pub(crate) tools: Tools,
    pub(crate) budget: Arc<Budget>,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) quota: SandboxQuota,
    pub(crate) cancel: CancellationToken,
    pub(crate) meta: Arc<RequestMeta>,
    pub(crate) sub_calls: Arc<AtomicU64>,
    next_id: Arc<AtomicU64>,
    /// Starts child runs (see [`ChildRunner`]).
    pub(crate) child_runner: ChildRunner,
}

/// Why a run stopped without an answer.
#[derive(Debug)]
pub(crate) struct Stop {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    pub(crate) source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Stop {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Stop { kind, message: message.into(), source: None }
    }

    pub(crate) fn cancelled() -> Self {
        Stop::new(ErrorKind::Cancelled, "the run was cancelled")
    }

    pub(crate) fn sandbox(action: &str, e: ReplError) -> Self {
        Stop {
            kind: ErrorKind::Sandbox,
            message: format!("the sandbox failed while {action}"),
            source: Some(Box::new(e)),
        }
    }
}

/// Everything a completion shares, given to [`Shared::new`].
pub(crate) struct SharedParts {
    pub(crate) factory: Arc<dyn ReplFactory>,
    pub(crate) registry: ModelRegistry,
    pub(crate) config: Arc<RlmConfig>,
    pub(crate) tools: Tools,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) quota: SandboxQuota,
    pub(crate) cancel: CancellationToken,
    pub(crate) meta: Arc<RequestMeta>,
    pub(crate) child_runner: ChildRunner,
}

impl Shared {
    pub(crate) fn new(parts: SharedParts) -> Self {
        let c = &parts.config;
        Shared {
            budget: Arc::new(Budget::new(c.max_tokens, c.max_cost, c.max_wall_time)),
            factory: parts.factory,
            registry: parts.registry,
            config: parts.config,
            tools: parts.tools,
            permits: parts.permits,
            quota: parts.quota,
            cancel: parts.cancel,
            meta: parts.meta,
            sub_calls: Arc::new(AtomicU64::new(0)),
            next_id: Arc::new(AtomicU64::new(0)),
            child_runner: parts.child_runner,
        }
    }

    /// The same completion (budgets, concurrency, sandboxes, ids, counts)
    /// under another cancellation token: one candidate of several.
    pub(crate) fn fork(&self, cancel: CancellationToken) -> Shared {
        Shared {
            factory: self.factory.clone(),
            registry: self.registry.clone(),
            config: self.config.clone(),
            tools: self.tools.clone(),
            budget: self.budget.clone(),
            permits: self.permits.clone(),
            quota: self.quota.clone(),
            cancel,
            meta: self.meta.clone(),
            sub_calls: self.sub_calls.clone(),
            next_id: self.next_id.clone(),
            child_runner: self.child_runner,
        }
    }

    /// A fresh id, unique within the completion.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// One model call of `model` (a registry name) under the concurrency
    /// limit, the budgets and the wall clock; its usage is recorded at `depth`.
    pub(crate) async fn call_model(
        &self,
        model: &str,
        messages: Vec<Message>,
        sampling: &SamplingOptions,
        depth: u32,
        emitter: &Emitter,
    ) -> Result<ModelReply, Stop> {
        // A cancelled run sends nothing more, and so is billed for nothing
        // more (a call cut off below counts as sent).
        if self.cancel.is_cancelled() {
            return Err(Stop::cancelled());
        }
        let entry = self.registry.get(model).map_err(|e| Stop::new(ErrorKind::Model, e.to_string()))?;
        let sampling = entry.sampling.overlay(sampling);
        let reservation = self.budget.reserve(&messages, sampling.max_completion_tokens, entry.price.as_ref())?;
        let permit = tokio::select! {
            permit = self.permits.acquire() => permit.expect("the semaphore is never closed"),
            _ = self.cancel.cancelled() => return Err(Stop::cancelled()),
        };
        let request = ModelRequest::new(messages).sampling(sampling).meta(self.meta.clone());
        let call = entry.model.complete(request);
        let deadline = self.budget.deadline();
        // A call cut off after it was sent (cancelled, timed out, or its
        // future dropped) is still billed by the provider: it is counted
        // with its estimated input tokens.
        let mut sent =
            Sent { budget: &self.budget, model, depth, input: reservation.input, price: entry.price, open: true };
        let reply = tokio::select! {
            reply = call => reply,
            _ = self.cancel.cancelled() => return Err(Stop::cancelled()),
            _ = sleep_until(deadline) => {
                return Err(Stop::new(ErrorKind::Timeout, "the run passed its wall-clock budget during a model call"))
            }
        };
        sent.open = false;
        drop(permit);
        let reply = reply.map_err(|e| Stop {
            kind: ErrorKind::Model,
            message: format!("the call to model `{model}` failed"),
            source: Some(Box::new(e)),
        })?;
        let cost = reply.cost.or_else(|| entry.price.map(|p| p.cost(reply.usage)));
        self.budget.record(model, depth, reply.usage, cost);
        drop(reservation);
        emitter.emit(|| EventKind::Usage { usage: Box::new(self.budget.usage()) });
        Ok(reply)
    }
}

/// A model call on the wire: dropped before its reply arrives, it records
/// the call with its estimated input tokens.
struct Sent<'a> {
    budget: &'a Budget,
    model: &'a str,
    depth: u32,
    input: u64,
    price: Option<Price>,
    /// Still waiting for the reply.
    open: bool,
}

impl Drop for Sent<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let tokens = TokenUsage::new(self.input, 0);
        self.budget.record(self.model, self.depth, tokens, self.price.map(|p| p.cost(tokens)));
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// What a run is asked to do.
pub(crate) struct RunSpec {
    pub(crate) depth: u32,
    pub(crate) contexts: Vec<Context>,
    pub(crate) query: String,
    /// The model driving it (a registry name).
    pub(crate) model: String,
    pub(crate) max_iterations: u32,
    /// The system prompt template.
    pub(crate) system_prompt: String,
    pub(crate) helpers: Vec<HelperSource>,
    pub(crate) emitter: Emitter,
    pub(crate) parent: Option<Arc<str>>,
    pub(crate) log: Option<LogWriter>,
    /// For a session's later queries: what the model is told first (the
    /// sandbox was restarted, earlier turns were summarised, ...).
    pub(crate) notes: Vec<String>,
    /// For a session: compact the conversation when it is longer than this
    /// many characters.
    pub(crate) compact_at: Option<usize>,
    /// Sampling of the root's calls, instead of the configured one (a
    /// candidate's temperature).
    pub(crate) sampling: Option<SamplingOptions>,
}

/// A run's outcome: its answer or why it stopped, and what it did.
pub(crate) struct RunOutput {
    pub(crate) result: Result<JsonText, Stop>,
    pub(crate) iterations: u32,
    pub(crate) trajectory: Trajectory,
    pub(crate) last_reply: Option<String>,
}

impl Shared {
    /// The sub-model's window in characters.
    pub(crate) fn sub_context_chars(&self) -> usize {
        self.config.sub_context_chars.unwrap_or_else(|| {
            self.registry
                .get(self.config.sub_model())
                .map_or(crate::registry::DEFAULT_CONTEXT_CHARS, |e| e.context_chars)
        })
    }
}
