//! Running one completion for a tenant: admission, budgets, the run on a
//! task of its own (so a client that goes away cancels it, and what it spent
//! is still recorded), the ledger and the stored trajectory.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rlm_core::{Context, RequestMeta};
use rlm_engine::Session;
use rlm_engine::{Completion, ErrorKind, EventSink};
use rlm_store::UsageRow;
use serde_json::{Value, json};
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::config::{RunLimits, random_hex};
use crate::error::ApiError;
use crate::metrics::{ModelLabels, TokenLabels};
use crate::profiles::{ProfileRuntime, run_options};
use crate::state::{AppState, SessionEntry, TenantState};

/// How long a run waits for a slot under the service-wide limit.
const ADMISSION_WAIT: Duration = Duration::from_secs(30);

/// What to run.
pub(crate) struct Job {
    pub(crate) tenant: Arc<TenantState>,
    pub(crate) profile: Arc<ProfileRuntime>,
    pub(crate) contexts: Vec<Context>,
    pub(crate) query: String,
    /// What the request asked for (clamped here).
    pub(crate) limits: RunLimits,
    pub(crate) request_id: String,
    pub(crate) events: Option<EventSink>,
    /// Run in this session instead of a fresh sandbox.
    pub(crate) session: Option<Arc<SessionEntry>>,
}

/// A finished run, as the routes report it.
#[derive(Debug)]
pub(crate) struct RunResult {
    pub(crate) completion: Completion,
    /// Why it stopped without an answer.
    pub(crate) error: Option<(ErrorKind, String)>,
    pub(crate) trajectory_id: String,
}

impl RunResult {
    /// The native response body.
    pub(crate) fn to_json(&self) -> Value {
        let c = &self.completion;
        json!({
            "answer": c.answer,
            "iterations": c.iterations,
            "usage": c.usage,
            "sub_calls": c.sub_calls,
            "elapsed_ms": c.elapsed.as_secs_f64() * 1000.0,
            "trajectory_id": self.trajectory_id,
            "error": self.error.as_ref().map(|(kind, message)| json!({"kind": kind, "message": message})),
        })
    }
}

/// Permits a run holds while it runs.
struct Admission {
    _tenant: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

/// Takes a slot for the tenant (or says its limit is reached), then one
/// under the service-wide limit (waiting, bounded), and checks its daily
/// budgets.
async fn admit(state: &Arc<AppState>, tenant: &Arc<TenantState>) -> Result<Admission, ApiError> {
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ApiError::unavailable("the service is shutting down"));
    }
    let tenant_permit = tenant.runs.clone().try_acquire_owned().map_err(|_| {
        ApiError::quota(
            "runs_in_flight",
            format!("this key already has {} runs in flight", tenant.config.max_runs_in_flight.unwrap_or(16)),
            Some(Duration::from_secs(1)),
        )
    })?;
    let global = tokio::time::timeout(ADMISSION_WAIT, state.runs.clone().acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| ApiError::unavailable("the service is at its limit of runs in flight"))?;
    let day = today();
    let totals = state.store.day_totals(tenant.name(), &day).await.map_err(|e| ApiError::internal(&e))?;
    if let Some(max) = tenant.config.tokens_per_day
        && totals.tokens >= max
    {
        return Err(ApiError::quota(
            "tokens_per_day",
            format!("this key used its {max} tokens for today"),
            until_tomorrow(),
        ));
    }
    if let Some(max) = tenant.config.dollars_per_day
        && totals.cost >= max
    {
        return Err(ApiError::quota(
            "dollars_per_day",
            format!("this key spent its ${max} for today"),
            until_tomorrow(),
        ));
    }
    Ok(Admission { _tenant: tenant_permit, _global: global })
}

/// Checks the size of the contexts against the tenant's ceiling.
pub(crate) fn check_context_size(tenant: &TenantState, contexts: &[Context]) -> Result<(), ApiError> {
    let bytes: usize = contexts.iter().map(Context::len).sum();
    if let Some(max) = tenant.config.max_context_bytes
        && bytes > max
    {
        return Err(ApiError::too_large(format!("the context is {bytes} bytes; this key may send at most {max}")));
    }
    Ok(())
}

/// Runs a job to its end. Dropping the returned future (the client went
/// away) cancels the run; it still records what it spent.
pub(crate) async fn execute(state: &Arc<AppState>, job: Job) -> Result<RunResult, ApiError> {
    check_context_size(&job.tenant, &job.contexts)?;
    let session = match &job.session {
        Some(entry) => Some(
            entry
                .session
                .clone()
                .try_lock_owned()
                .map_err(|_| ApiError::conflict(format!("session `{}` is answering another query", entry.id)))?,
        ),
        None => None,
    };
    let admission = admit(state, &job.tenant).await?;
    let cancel = state.cancel_all.child_token();
    let _guard: DropGuard = cancel.clone().drop_guard();
    let task = state.tasks.spawn(run_task(state.clone(), job, session, cancel, admission));
    match task.await {
        Ok(result) => result,
        Err(join) => Err(ApiError::internal(&join)),
    }
}

async fn run_task(
    state: Arc<AppState>,
    job: Job,
    session: Option<OwnedMutexGuard<Session>>,
    cancel: CancellationToken,
    admission: Admission,
) -> Result<RunResult, ApiError> {
    let _admission = admission;
    let mut limits = job.limits.clamped(&job.tenant.config.ceilings).clamped(&job.profile.limits);
    let most = state.config.run_timeout.as_secs().max(1);
    limits.timeout_s = Some(limits.timeout_s.map_or(most, |s| s.min(most)));
    let options = run_options(&job.profile.rlm, &limits);
    let meta = RequestMeta::with_request_id(job.request_id.clone()).tenant(job.tenant.name());
    state.metrics.runs_in_flight.inc();
    let started = std::time::Instant::now();
    let result = match (&job.session, session) {
        (Some(entry), Some(mut session)) => {
            let mut request = session.request(job.query.clone()).options(options).meta(meta).cancel(cancel);
            request = request.quota(job.tenant.quota.clone());
            if let Some(events) = job.events.clone() {
                request = request.events(events);
            }
            let result = request.send().await;
            *entry.last_used.lock().unwrap() = std::time::Instant::now();
            entry.queries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            result
        }
        _ => {
            let mut contexts = job.contexts.into_iter();
            let first = contexts.next().unwrap_or_default();
            let mut request = job.profile.rlm.request(first, job.query.clone());
            for context in contexts {
                request = request.context(context);
            }
            request = request.options(options).meta(meta).cancel(cancel).quota(job.tenant.quota.clone());
            if let Some(events) = job.events.clone() {
                request = request.events(events);
            }
            request.send().await
        }
    };
    state.metrics.runs_in_flight.dec();
    state.metrics.run_seconds.observe(started.elapsed().as_secs_f64());
    let (completion, error) = match result {
        Ok(done) => (done, None),
        Err(e) => {
            let message = crate::error::Chain(&e).to_string();
            (*e.completion, Some((e.kind, message)))
        }
    };
    if let Some((ErrorKind::Config, message)) = &error {
        return Err(ApiError::bad_request(message.clone()));
    }
    record(&state, &job.tenant, &completion).await;
    let trajectory_id = format!("traj-{}", random_hex(12));
    if let Err(e) =
        state.store.put_trajectory(&trajectory_id, job.tenant.name(), completion.trajectory.to_jsonl()).await
    {
        tracing::error!(error = %crate::error::Chain(&e), "cannot store a trajectory");
    }
    if let Some(entry) = &job.session {
        let record = session_record(&state, entry);
        if let Err(e) = state.store.put_session(record).await {
            tracing::error!(error = %crate::error::Chain(&e), "cannot update a session");
        }
    }
    Ok(RunResult { completion, error, trajectory_id })
}

/// Adds a run's usage to the ledger and the metrics.
async fn record(state: &AppState, tenant: &TenantState, completion: &Completion) {
    let day = today();
    let rows: Vec<UsageRow> = completion
        .usage
        .by_model_and_depth
        .iter()
        .map(|((model, depth), t)| {
            UsageRow::new(
                tenant.name(),
                day.clone(),
                model.clone(),
                *depth,
                t.calls,
                t.input_tokens,
                t.output_tokens,
                t.cost.unwrap_or(0.0),
            )
        })
        .collect();
    for row in &rows {
        let labels = ModelLabels { tenant: row.tenant.clone(), model: row.model.clone() };
        state.metrics.model_calls.get_or_create(&labels).inc_by(row.calls);
        for (kind, n) in [("input", row.input_tokens), ("output", row.output_tokens)] {
            let labels = TokenLabels { tenant: row.tenant.clone(), model: row.model.clone(), kind };
            state.metrics.tokens.get_or_create(&labels).inc_by(n);
        }
    }
    if !rows.is_empty()
        && let Err(e) = state.store.record_usage(rows).await
    {
        tracing::error!(error = %crate::error::Chain(&e), "cannot record usage in the ledger");
    }
}

/// The store's record of a live session.
pub(crate) fn session_record(state: &AppState, entry: &SessionEntry) -> rlm_store::SessionRecord {
    let mut record = rlm_store::SessionRecord::new(
        entry.id.clone(),
        entry.tenant.name(),
        entry.profile.name.clone(),
        state.config.replica.clone(),
        entry.created_at.clone(),
    );
    record.last_used_at = now_rfc3339();
    record.queries = entry.queries.load(std::sync::atomic::Ordering::Relaxed);
    record
}

/// Today, UTC, as `YYYY-MM-DD`.
pub(crate) fn today() -> String {
    now_rfc3339()[..10].to_owned()
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn until_tomorrow() -> Option<Duration> {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
    Some(Duration::from_secs(86_400 - now % 86_400))
}
