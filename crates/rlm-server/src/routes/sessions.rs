//! Persistent sessions: one REPL kept across queries, as `rlms`'
//! `persistent=True`. They live in this replica's memory, count against
//! their tenant's live-session and sandbox ceilings, and are evicted after
//! an idle TTL; the store remembers what became of each, so a caller gets a
//! clear 404 for one that is gone.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rlm_core::{Context, JsonText};
use serde::Deserialize;
use serde_json::{Value, json};

use super::native::profile_name;
use super::{ApiJson, request_id};
use crate::config::{RunLimits, random_hex};
use crate::error::ApiError;
use crate::run::{Job, check_size, now_rfc3339, session_record};
use crate::state::{AppState, Authed, SessionEntry, TenantState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSession {
    context: Option<JsonText>,
    profile: Option<String>,
    /// Limits of every query in the session (a query may ask for less).
    #[serde(default)]
    limits: RunLimits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionQuery {
    query: String,
    #[serde(default)]
    limits: RunLimits,
    #[serde(default)]
    stream: bool,
}

/// `POST /v1/sessions`: makes a session (its sandbox starts with its first
/// query).
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    Authed(tenant): Authed,
    ApiJson(request, _): ApiJson<CreateSession>,
) -> Result<Response, ApiError> {
    if state.draining.load(Ordering::Relaxed) {
        return Err(ApiError::unavailable("the service is shutting down"));
    }
    let profile = state.profile(&tenant, &profile_name(&state, &tenant, request.profile.as_deref())?)?;
    let context = request.context.map(Context::from).unwrap_or_default();
    check_size(&tenant, std::slice::from_ref(&context), "")?;
    let live = tenant.sessions.fetch_add(1, Ordering::Relaxed) + 1;
    let max = tenant.max_sessions();
    if live > max {
        tenant.sessions.fetch_sub(1, Ordering::Relaxed);
        return Err(ApiError::quota(
            "live_sessions",
            format!("this key already has {max} live sessions: delete one, or let one expire"),
            Some(Duration::from_secs(60)),
        ));
    }
    let entry = Arc::new(SessionEntry {
        id: format!("sess-{}", random_hex(16)),
        tenant: tenant.clone(),
        session: Arc::new(tokio::sync::Mutex::new(profile.rlm.session(context))),
        profile,
        limits: request.limits,
        created_at: now_rfc3339(),
        last_used: std::sync::Mutex::new(Instant::now()),
        queries: std::sync::atomic::AtomicU64::new(0),
        cancel: state.cancel_all.child_token(),
    });
    if let Err(e) = state.store.put_session(session_record(&state, &entry)).await {
        return Err(ApiError::internal(&e));
    }
    let body = describe(&state, &entry, entry.session.try_lock().ok().as_deref());
    insert(&state, entry);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /v1/sessions/{id}`: the session, its history and usage.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = live(&state, &tenant, &id).await?;
    let session = entry.session.try_lock().ok();
    Ok(Json(describe(&state, &entry, session.as_deref())))
}

/// `DELETE /v1/sessions/{id}`: ends the session and frees its sandbox.
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = live(&state, &tenant, &id).await?;
    end(&state, &entry, "deleted").await;
    Ok(Json(json!({"id": entry.id, "object": "session.deleted", "deleted": true})))
}

/// `POST /v1/sessions/{id}/completions`: answers a query in the session.
pub(crate) async fn completions(
    State(state): State<Arc<AppState>>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(request, body_hash): ApiJson<SessionQuery>,
) -> Result<Response, ApiError> {
    let entry = live(&state, &tenant, &id).await?;
    let job = Job {
        tenant: tenant.clone(),
        profile: entry.profile.clone(),
        contexts: Vec::new(),
        query: request.query,
        limits: request.limits.clamped(&entry.limits),
        request_id: request_id(&headers),
        events: None,
        session: Some(entry),
    };
    let route = format!("session {id}");
    super::native::respond(state, tenant, headers, body_hash, job, request.stream, route).await
}

/// A tenant's live session on this replica, or a 404 that says what became
/// of it: evicted, deleted, lost with its replica, or on another replica.
/// Another tenant's session is "no session", exactly as a made-up id.
pub(crate) async fn live(state: &AppState, tenant: &TenantState, id: &str) -> Result<Arc<SessionEntry>, ApiError> {
    if let Some(entry) = state.session(tenant, id) {
        return Ok(entry);
    }
    let record = state.store.get_session(tenant.name(), id).await.map_err(|e| ApiError::internal(&e))?;
    let message = match record {
        None => format!("no session `{id}`"),
        Some(r) => match r.state.as_str() {
            "evicted" => format!(
                "session `{id}` was evicted after {} idle; its variables are gone: create a new session",
                humantime::format_duration(state.config.session_ttl)
            ),
            "deleted" => format!("session `{id}` was deleted"),
            "live" if r.replica != state.config.replica => format!(
                "session `{id}` lives on replica `{}`, not this one (`{}`): route its requests to the replica \
                 that made it (session affinity)",
                r.replica, state.config.replica
            ),
            _ => format!(
                "session `{id}` was lost when its replica (`{}`) stopped; its variables are gone: create a new \
                 session",
                r.replica
            ),
        },
    };
    Err(ApiError::not_found(message))
}

fn describe(state: &AppState, entry: &SessionEntry, session: Option<&rlm_engine::Session>) -> Value {
    let idle = entry.last_used.lock().unwrap().elapsed();
    let mut body = json!({
        "id": entry.id,
        "object": "session",
        "profile": entry.profile.name,
        "created_at": entry.created_at,
        "queries": entry.queries.load(Ordering::Relaxed),
        "idle_s": idle.as_secs(),
        "expires_in_s": state.config.session_ttl.saturating_sub(idle).as_secs(),
        "busy": session.is_none(),
    });
    if let Some(session) = session {
        let history: Vec<Value> =
            session.history().iter().map(|h| json!({"query": h.query, "answer": h.answer})).collect();
        body["history"] = Value::Array(history);
        body["usage"] = serde_json::to_value(session.usage()).unwrap_or_default();
    }
    body
}

fn insert(state: &AppState, entry: Arc<SessionEntry>) {
    let mut sessions = state.sessions.lock().unwrap();
    sessions.insert(entry.id.clone(), entry);
    state.metrics.live_sessions.set(sessions.len() as i64);
}

/// Takes a session out of the replica (cancelling a query running in it)
/// and records why.
pub(crate) async fn end(state: &AppState, entry: &SessionEntry, why: &str) {
    entry.cancel.cancel();
    {
        let mut sessions = state.sessions.lock().unwrap();
        sessions.remove(&entry.id);
        state.metrics.live_sessions.set(sessions.len() as i64);
    }
    let mut record = session_record(state, entry);
    record.state = why.to_owned();
    if let Err(e) = state.store.put_session(record).await {
        tracing::error!(error = %crate::error::Chain(&e), session = %entry.id, "cannot record a session's end");
    }
}

/// Evicts sessions idle past the TTL (not one answering a query), every
/// `period`, until `stop`.
pub(crate) async fn reap(state: Arc<AppState>, period: Duration, stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let expired: Vec<Arc<SessionEntry>> = {
            let sessions = state.sessions.lock().unwrap();
            sessions
                .values()
                .filter(|e| e.last_used.lock().unwrap().elapsed() >= state.config.session_ttl)
                .filter(|e| e.session.try_lock().is_ok())
                .cloned()
                .collect()
        };
        for entry in expired {
            tracing::info!(session = %entry.id, tenant = entry.tenant.name(), "session evicted after its idle TTL");
            end(&state, &entry, "evicted").await;
        }
    }
}

/// Ends every live session (at shutdown): they are recorded as lost.
pub(crate) async fn end_all(state: &AppState) {
    let all: Vec<Arc<SessionEntry>> = state.sessions.lock().unwrap().values().cloned().collect();
    for entry in all {
        end(state, &entry, "lost").await;
    }
}
