//! Running one completion for a tenant: admission (sizes, the session's
//! lock, the daily budgets, then a slot under the tenant's limit and one
//! under the service's), the run on a task of its own (so a client that
//! goes away cancels it, and what it spent is still recorded), the ledger
//! and the stored trajectory.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rlm_core::{Context, ReplError, RequestMeta};
use rlm_engine::{Completion, ErrorKind, EventSink, Session};
use rlm_store::UsageRow;
use serde_json::{Value, json};
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use crate::config::{RunLimits, random_hex};
use crate::error::{ApiError, Chain};
use crate::metrics::{ModelLabels, TokenLabels};
use crate::profiles::{ProfileRuntime, run_options};
use crate::state::{AppState, DayReservation, SessionEntry, TenantState};

/// How long a run waits for a slot under the service-wide limit.
const ADMISSION_WAIT: Duration = Duration::from_secs(30);
/// Largest trajectory stored: a longer one is cut (its metadata and the
/// iterations that fit) with a last line that says so.
const MAX_STORED_TRAJECTORY_BYTES: usize = 32 << 20;
/// Attempts at a ledger write before it is given up (and `/readyz` fails).
const LEDGER_ATTEMPTS: u32 = 3;

/// What to run.
pub(crate) struct Job {
    pub(crate) tenant: Arc<TenantState>,
    pub(crate) profile: Arc<ProfileRuntime>,
    pub(crate) contexts: Vec<Context>,
    pub(crate) query: String,
    /// What the request asked for (clamped at admission).
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
    /// Why it stopped without an answer, as the client may see it.
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

    /// Whether a retry under the same idempotency key should get this
    /// result again: not when the server cancelled the run or the model
    /// provider failed (a retry may well succeed).
    pub(crate) fn is_final(&self) -> bool {
        !matches!(self.error, Some((ErrorKind::Cancelled | ErrorKind::Model | ErrorKind::Sandbox, _)))
    }

    /// Whether the model provider failed (the completion has no answer).
    pub(crate) fn upstream_failed(&self) -> bool {
        matches!(self.error, Some((ErrorKind::Model, _)))
    }
}

/// A job admitted to run: it holds its slots, its session's lock and its
/// share of the tenant's daily budgets until it ends.
pub(crate) struct Admitted {
    job: Job,
    limits: RunLimits,
    session: Option<OwnedMutexGuard<Session>>,
    _tenant: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
    _budget: DayReservation,
}

/// Checks a job and takes what it needs to run, or says why it cannot run
/// now: a 4xx the client can act on, before anything is spent.
pub(crate) async fn admit(state: &Arc<AppState>, job: Job) -> Result<Admitted, ApiError> {
    if state.draining.load(Ordering::Relaxed) {
        return Err(ApiError::unavailable("the service is shutting down"));
    }
    check_size(&job.tenant, &job.contexts, &job.query)?;
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
    // The request's limits, never above the tenant's ceilings nor the
    // profile's own settings (engine defaults where the profile sets none),
    // and never a longer run than the service allows.
    let ceiling = job.profile.effective.clamped(&job.tenant.config.ceilings);
    let mut limits = job.limits.clamped(&ceiling);
    let most = state.config.run_timeout.as_secs().max(1);
    limits.timeout_s = Some(limits.timeout_s.map_or(most, |s| s.min(most)));
    limits.cell_timeout_s = limits.cell_timeout_s.map(|s| s.min(most));
    // A limit out of range is the client's error, before a stream starts.
    job.profile
        .rlm
        .check_options(&crate::profiles::run_options(&job.profile.rlm, &limits))
        .map_err(|e| ApiError::bad_request(format!("invalid `limits`: {e}")))?;
    // Budgets first: an over-budget tenant must not queue for slots.
    let budget = reserve_day(state, &job.tenant, &mut limits).await?;
    let tenant = job.tenant.runs.clone().try_acquire_owned().map_err(|_| {
        ApiError::quota(
            "runs_in_flight",
            format!("this key already has {} runs in flight", job.tenant.max_runs()),
            Some(Duration::from_secs(1)),
        )
    })?;
    let global = tokio::time::timeout(ADMISSION_WAIT, state.runs.clone().acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| ApiError::unavailable("the service is at its limit of runs in flight"))?;
    // Shutdown may have started while this request waited.
    if state.draining.load(Ordering::Relaxed) {
        return Err(ApiError::unavailable("the service is shutting down"));
    }
    Ok(Admitted { job, limits, session, _tenant: tenant, _global: global, _budget: budget })
}

/// Checks the size of the contexts and query against the tenant's ceiling.
pub(crate) fn check_size(tenant: &TenantState, contexts: &[Context], query: &str) -> Result<(), ApiError> {
    let bytes: usize = contexts.iter().map(Context::len).sum::<usize>() + query.len();
    if let Some(max) = tenant.config.max_context_bytes
        && bytes > max
    {
        return Err(ApiError::too_large(format!(
            "the context and query are {bytes} bytes; this key may send at most {max}"
        )));
    }
    Ok(())
}

/// Checks the tenant's daily budgets and reserves this run's share: the run
/// may spend at most what is left today less what runs in flight hold, so
/// concurrent runs cannot pass the budget together.
async fn reserve_day(
    state: &AppState,
    tenant: &Arc<TenantState>,
    limits: &mut RunLimits,
) -> Result<DayReservation, ApiError> {
    let (max_tokens, max_dollars) = (tenant.config.tokens_per_day, tenant.config.dollars_per_day);
    if max_tokens.is_none() && max_dollars.is_none() {
        return Ok(DayReservation::none(tenant));
    }
    let day = today();
    let mut totals = state.store.day_totals(tenant.name(), &day).await.map_err(|e| ApiError::internal(&e))?;
    let (tokens, dollars) = usage_on(&tenant.unrecorded.lock().unwrap(), &day);
    totals.tokens += tokens;
    totals.cost += dollars;
    let mut reserved = tenant.reserved.lock().unwrap();
    let mut tokens = 0;
    if let Some(max) = max_tokens {
        let left = max.saturating_sub(totals.tokens).saturating_sub(reserved.0);
        if left == 0 {
            let why = if totals.tokens >= max { "used its" } else { "has runs in flight holding the rest of its" };
            return Err(ApiError::quota(
                "tokens_per_day",
                format!("this key {why} {max} tokens for today"),
                retry(totals.tokens >= max),
            ));
        }
        tokens = limits.max_tokens.map_or(left, |t| t.min(left));
        limits.max_tokens = Some(tokens);
    }
    let mut dollars = 0.0;
    if let Some(max) = max_dollars {
        let left = max - totals.cost - reserved.1;
        if left <= 0.0 {
            let why = if totals.cost >= max { "spent its" } else { "has runs in flight holding the rest of its" };
            return Err(ApiError::quota(
                "dollars_per_day",
                format!("this key {why} ${max} for today"),
                retry(totals.cost >= max),
            ));
        }
        dollars = limits.max_cost.map_or(left, |c| c.min(left));
        limits.max_cost = Some(dollars);
    }
    reserved.0 += tokens;
    reserved.1 += dollars;
    Ok(DayReservation::new(tenant, tokens, dollars))
}

/// `Retry-After` for a spent daily budget (tomorrow) or one held by runs in
/// flight (soon).
fn retry(spent: bool) -> Option<Duration> {
    if spent { until_tomorrow() } else { Some(Duration::from_secs(1)) }
}

impl Admitted {
    /// Runs the job to its end. Dropping the returned future (the client
    /// went away) cancels the run; it still records what it spent.
    pub(crate) async fn run(self, state: &Arc<AppState>) -> Result<RunResult, ApiError> {
        let cancel = match &self.job.session {
            Some(entry) => entry.cancel.child_token(),
            None => state.cancel_all.child_token(),
        };
        let _guard = cancel.clone().drop_guard();
        let task = state.tasks.spawn(run_task(state.clone(), self, cancel));
        match task.await {
            Ok(result) => result,
            Err(join) => Err(ApiError::internal(&join)),
        }
    }
}

/// Counts a run in flight while it lives (a panic included).
struct InFlight<'a>(&'a AppState);

impl<'a> InFlight<'a> {
    fn new(state: &'a AppState) -> Self {
        state.metrics.runs_in_flight.inc();
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.metrics.runs_in_flight.dec();
    }
}

async fn run_task(state: Arc<AppState>, admitted: Admitted, cancel: CancellationToken) -> Result<RunResult, ApiError> {
    // The slots and the budget reservation are held until the run is over.
    let Admitted { job, limits, mut session, _tenant, _global, _budget } = admitted;
    let options = run_options(&job.profile.rlm, &limits);
    let meta = RequestMeta::with_request_id(job.request_id.clone()).tenant(job.tenant.name());
    let in_flight = InFlight::new(&state);
    let started = std::time::Instant::now();
    let result = match (&job.session, session.as_mut()) {
        (Some(entry), Some(session)) => {
            let mut request = session.request(job.query.clone()).options(options).meta(meta).cancel(cancel);
            request = request.quota(job.tenant.quota.clone());
            if let Some(events) = job.events.clone() {
                request = request.events(events);
            }
            let result = request.send().await;
            *entry.last_used.lock().unwrap() = std::time::Instant::now();
            entry.queries.fetch_add(1, Ordering::Relaxed);
            result
        }
        _ => {
            let mut contexts = job.contexts.clone().into_iter();
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
    drop(session);
    drop(in_flight);
    state.metrics.run_seconds.observe(started.elapsed().as_secs_f64());
    let mut capacity = false;
    let (completion, error) = match result {
        Ok(done) => (done, None),
        Err(e) => {
            capacity = is_capacity(&e);
            let error = client_error(&e);
            (*e.completion, Some(error))
        }
    };
    if let Some((ErrorKind::Config, message)) = &error {
        return Err(ApiError::bad_request(message.clone()));
    }
    record(&state, &job.tenant, &completion).await;
    let trajectory_id = format!("traj-{}", random_hex(12));
    let jsonl = bounded_jsonl(&completion);
    if let Err(e) = state.store.put_trajectory(&trajectory_id, job.tenant.name(), jsonl).await {
        tracing::error!(error = %Chain(&e), "cannot store a trajectory");
    }
    if let Some(entry) = &job.session {
        // A session deleted or evicted meanwhile keeps the state it was given.
        let still_live = state.sessions.lock().unwrap().contains_key(&entry.id);
        if still_live && let Err(e) = state.store.put_session(session_record(&state, entry)).await {
            tracing::error!(error = %Chain(&e), "cannot update a session");
        }
    }
    if capacity && completion.answer.is_none() {
        return Err(ApiError::quota(
            "sandboxes",
            "no sandbox was free in time (this key's sandboxes, or the service's, are all in use): end a session or \
             retry later",
            Some(Duration::from_secs(5)),
        ));
    }
    Ok(RunResult { completion, error, trajectory_id })
}

/// The error as the client sees it: budget stops as they are; a failure of
/// the model provider or the sandbox host with a generic message and an
/// error id (its cause, which may name internal URLs or echo credentials,
/// goes to the log only).
fn client_error(e: &rlm_engine::Error) -> (ErrorKind, String) {
    match e.kind {
        ErrorKind::Model | ErrorKind::Sandbox => {
            let id = random_hex(8);
            tracing::warn!(error_id = %id, kind = %e.kind, error = %Chain(e), "a run failed");
            let what = if e.kind == ErrorKind::Model { "the model provider failed" } else { "the sandbox failed" };
            (e.kind, format!("{what}; quote error id {id} to the service's operator"))
        }
        _ => (e.kind, Chain(e).to_string()),
    }
}

/// The trajectory as JSONL, cut to [`MAX_STORED_TRAJECTORY_BYTES`].
fn bounded_jsonl(completion: &Completion) -> String {
    let jsonl = completion.trajectory.to_jsonl();
    if jsonl.len() <= MAX_STORED_TRAJECTORY_BYTES {
        return jsonl;
    }
    let mut out = String::new();
    for line in jsonl.lines() {
        if out.len() + line.len() + 1 > MAX_STORED_TRAJECTORY_BYTES - 200 {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    let note = json!({"type": "truncated", "bytes": jsonl.len(), "kept_bytes": out.len()});
    out.push_str(&note.to_string());
    out.push('\n');
    out
}

/// Adds a run's usage to the ledger (retrying; `/readyz` fails while writes
/// fail) and the metrics.
async fn record(state: &AppState, tenant: &Arc<TenantState>, completion: &Completion) {
    let day = today();
    let mut rows: Vec<UsageRow> = completion
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
    // What earlier writes could not record goes with this one, and stays
    // counted against today's budgets (as reserved) while it is written.
    let (_held, earlier) = take_unrecorded(tenant, &day);
    rows.extend(earlier);
    if rows.is_empty() {
        return;
    }
    for attempt in 1..=LEDGER_ATTEMPTS {
        match state.store.record_usage(rows.clone()).await {
            Ok(()) => {
                *state.store_write_failed.lock().expect("never poisoned") = None;
                return;
            }
            Err(e) if attempt == LEDGER_ATTEMPTS => {
                *state.store_write_failed.lock().expect("never poisoned") = Some(std::time::Instant::now());
                tracing::error!(
                    error = %Chain(&e), tenant = tenant.name(), rows = ?rows,
                    "cannot record usage in the ledger; kept in memory for the next write"
                );
                keep_unrecorded(tenant, rows);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %Chain(&e), attempt, "a ledger write failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
    }
}

/// Keeps rows the ledger refused, merged by day, model and depth, so that
/// a long outage holds a few rows, not one per run.
fn keep_unrecorded(tenant: &TenantState, rows: Vec<UsageRow>) {
    let mut kept = tenant.unrecorded.lock().expect("never poisoned");
    for row in rows {
        match kept.iter_mut().find(|k| k.day == row.day && k.model == row.model && k.depth == row.depth) {
            Some(k) => {
                k.calls += row.calls;
                k.input_tokens += row.input_tokens;
                k.output_tokens += row.output_tokens;
                k.cost += row.cost;
            }
            None => kept.push(row),
        }
    }
}

/// The tokens and dollars of `rows` on `day`.
fn usage_on(rows: &[UsageRow], day: &str) -> (u64, f64) {
    rows.iter().filter(|r| r.day == day).fold((0, 0.0), |(t, c), r| (t + r.input_tokens + r.output_tokens, c + r.cost))
}

/// Takes the tenant's unrecorded rows and reserves their usage on `day` in
/// the same step, so that an admission never sees it in neither place; the
/// reservation is held until the write is over (and the rows are in the
/// ledger, or back among the unrecorded ones).
fn take_unrecorded(tenant: &Arc<TenantState>, day: &str) -> (DayReservation, Vec<UsageRow>) {
    let mut reserved = tenant.reserved.lock().expect("never poisoned");
    let rows = std::mem::take(&mut *tenant.unrecorded.lock().expect("never poisoned"));
    let (tokens, dollars) = usage_on(&rows, day);
    reserved.0 += tokens;
    reserved.1 += dollars;
    (DayReservation::new(tenant, tokens, dollars), rows)
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
    record.queries = entry.queries.load(Ordering::Relaxed);
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

/// Whether an engine error's causes include running out of sandboxes.
pub(crate) fn is_capacity(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if matches!(err.downcast_ref::<ReplError>(), Some(ReplError::Capacity { .. })) {
            return true;
        }
        source = err.source();
    }
    false
}
