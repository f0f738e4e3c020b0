//! One completion: its options, cancellation and events, and how it runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rlm_core::{Context, RequestMeta, SandboxQuota};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::builder::Rlm;
use crate::candidates;
use crate::completion::{CandidateReport, Completion};
use crate::config::RunOptions;
use crate::direct::{self, Direct};
use crate::error::{Error, ErrorKind};
use crate::events::{Emitter, EventSink};
use crate::run;
use crate::shared::{RunOutput, RunSpec, Shared, SharedParts, Stop};
use crate::trajectory::LogWriter;

impl Rlm {
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
        Request::new(self.clone(), context.into(), query.into())
    }
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
    quota: Option<SandboxQuota>,
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
    pub(crate) fn new(rlm: Rlm, context: Context, query: String) -> Self {
        Request {
            rlm,
            contexts: vec![context],
            query,
            options: RunOptions::default(),
            meta: RequestMeta::default(),
            cancel: None,
            events: None,
            quota: None,
        }
    }

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

    /// Counts this run's sandboxes against `quota` (for example a tenant's),
    /// instead of the `Rlm`'s.
    pub fn quota(mut self, quota: SandboxQuota) -> Self {
        self.quota = Some(quota);
        self
    }

    /// Runs the completion.
    // A named future type would tie callers to this crate's internals; the
    // `Send + 'static` bound is what a service needs to `tokio::spawn` it.
    #[allow(clippy::manual_async_fn)]
    pub fn send(self) -> impl Future<Output = Result<Completion, Error>> + Send + 'static {
        async move { self.run().await }
    }

    async fn run(self) -> Result<Completion, Error> {
        let parts = RequestParts {
            options: self.options,
            meta: self.meta,
            cancel: self.cancel,
            events: self.events,
            quota: self.quota,
        };
        let Prepared { shared, mut spec, started, run_id, log_path } =
            prepare(&self.rlm, parts, self.contexts, self.query)?;
        let mut attempt = None;
        if direct::applies(&shared, &spec) {
            match direct::answer(&shared, &mut spec).await {
                Direct::Done(out) => return finish_as(&shared, started, run_id, log_path, out, "direct", None),
                Direct::FallBack(iteration) => attempt = Some(iteration),
            }
        }
        let (mut out, report) = if shared.config.candidates.count > 1 {
            let (out, report) = candidates::run(shared.clone(), spec).await;
            (out, Some(report))
        } else {
            (run::run(shared.clone(), spec).await, None)
        };
        if let Some(attempt) = &attempt {
            direct::keep_attempt(&mut out.trajectory, attempt);
        }
        finish_as(&shared, started, run_id, log_path, out, "rlm", report)
    }
}

/// What a request carries besides its contexts and query.
pub(crate) struct RequestParts {
    pub(crate) options: RunOptions,
    pub(crate) meta: RequestMeta,
    pub(crate) cancel: Option<CancellationToken>,
    pub(crate) events: Option<EventSink>,
    pub(crate) quota: Option<SandboxQuota>,
}

/// A completion ready to run: its shared state and the root run's spec.
pub(crate) struct Prepared {
    pub(crate) shared: Arc<Shared>,
    pub(crate) spec: RunSpec,
    pub(crate) started: Instant,
    pub(crate) run_id: Arc<str>,
    pub(crate) log_path: Option<PathBuf>,
}

fn stopped(stop: Stop, completion: Completion) -> Error {
    Error { kind: stop.kind, message: stop.message, source: stop.source, completion: Box::new(completion) }
}

/// Checks a request's settings, opens its log and builds what every run of
/// it shares.
pub(crate) fn prepare(
    rlm: &Rlm,
    parts: RequestParts,
    contexts: Vec<Context>,
    query: String,
) -> Result<Prepared, Error> {
    let started = Instant::now();
    let run_id: Arc<str> = Arc::from(new_run_id());
    let base = Completion { run_id: run_id.to_string(), route: "rlm", ..Completion::default() };
    let config = match rlm.resolve(&parts.options) {
        Ok(config) => config,
        Err(e) => {
            let message = "the request's settings are invalid".into();
            return Err(stopped(Stop { kind: ErrorKind::Config, message, source: Some(Box::new(e)) }, base));
        }
    };
    let log = match &config.log_dir {
        Some(dir) => match LogWriter::create(dir, &run_id) {
            Ok(log) => Some(log),
            Err(e) => {
                let message = format!("cannot write the trajectory log in `{}`", dir.display());
                return Err(stopped(Stop { kind: ErrorKind::Log, message, source: Some(Box::new(e)) }, base));
            }
        },
        None => None,
    };
    let log_path = log.as_ref().map(|l| l.path().to_owned());
    let inner = &rlm.inner;
    let config = Arc::new(config);
    let shared = Arc::new(Shared::new(SharedParts {
        factory: inner.factory.clone(),
        registry: inner.registry.clone(),
        permits: inner.permits.clone().unwrap_or_else(|| Arc::new(Semaphore::new(config.max_concurrency))),
        quota: parts.quota.or_else(|| inner.quota.clone()).unwrap_or_else(|| {
            let machine = SandboxQuota::for_machine();
            SandboxQuota::new(
                config.max_live_sandboxes,
                config.max_sandbox_memory_bytes.unwrap_or(machine.max_memory()),
            )
        }),
        config: config.clone(),
        tools: inner.tools.clone(),
        cancel: parts.cancel.unwrap_or_default(),
        meta: Arc::new(parts.meta),
        child_runner: run::run_boxed,
    }));
    let spec = RunSpec {
        depth: 0,
        contexts,
        query,
        model: config.root_model.clone(),
        max_iterations: config.max_iterations,
        system_prompt: config.prompts.root.clone(),
        helpers: config.helpers.clone(),
        emitter: Emitter::new(parts.events, run_id.clone(), 0),
        parent: None,
        log,
        notes: Vec::new(),
        compact_at: None,
        sampling: None,
    };
    Ok(Prepared { shared, spec, started, run_id, log_path })
}

/// The completion of a finished root run: `Ok` with an answer, `Err` with
/// why it stopped (and what it did).
pub(crate) fn finish(
    shared: &Shared,
    started: Instant,
    run_id: Arc<str>,
    log_path: Option<PathBuf>,
    out: RunOutput,
) -> Result<Completion, Error> {
    finish_as(shared, started, run_id, log_path, out, "rlm", None)
}

/// As [`finish`], for a completion answered by `route`, with its candidate
/// report.
fn finish_as(
    shared: &Shared,
    started: Instant,
    run_id: Arc<str>,
    log_path: Option<PathBuf>,
    out: RunOutput,
    route: &'static str,
    candidates: Option<CandidateReport>,
) -> Result<Completion, Error> {
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
        route,
        candidates,
    };
    match out.result {
        Ok(_) => Ok(completion),
        Err(stop) => Err(stopped(stop, completion)),
    }
}

fn new_run_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}
