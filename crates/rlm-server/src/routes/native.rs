//! `POST /v1/rlm/completions`: the native API. A context of any JSON shape,
//! a query, a profile, limits, optionally a session; the answer as JSON,
//! with usage, sub-calls and the trajectory's id. `stream: true` sends the
//! run's events as Server-Sent Events as they happen, then the result.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rlm_core::{Context, JsonText};
use rlm_engine::Event;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiJson, Outcome, idempotent, no_key_on_streams, request_id};
use crate::config::RunLimits;
use crate::error::ApiError;
use crate::run::{Job, admit};
use crate::state::{AppState, Authed, TenantState};

/// Events a streamed run may queue for a slow client, and their bytes,
/// before later ones are dropped (and counted in an `events_dropped` event).
const EVENT_QUEUE: usize = 1024;
const EVENT_QUEUE_BYTES: usize = 8 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NativeRequest {
    /// A string, list or object.
    context: Option<JsonText>,
    query: String,
    profile: Option<String>,
    #[serde(default)]
    limits: RunLimits,
    /// Answer in this session's REPL (its context is the session's).
    session: Option<String>,
    #[serde(default)]
    stream: bool,
}

pub(crate) async fn completions(
    State(state): State<Arc<AppState>>,
    Authed(tenant): Authed,
    headers: HeaderMap,
    ApiJson(request, body_hash): ApiJson<NativeRequest>,
) -> Result<Response, ApiError> {
    let (profile, session) = match &request.session {
        Some(id) => {
            if request.context.is_some() {
                return Err(ApiError::bad_request(
                    "a session keeps the context it was made with: send `context` when creating it, not with a query",
                ));
            }
            let entry = super::sessions::live(&state, &tenant, id).await?;
            if let Some(name) = request.profile.as_ref().filter(|p| **p != entry.profile.name) {
                return Err(ApiError::bad_request(format!(
                    "session {id} uses profile `{}`, not `{name}`",
                    entry.profile.name
                )));
            }
            (entry.profile.clone(), Some(entry))
        }
        None => (state.profile(&tenant, &profile_name(&state, &tenant, request.profile.as_deref())?)?, None),
    };
    let context = request.context.map(Context::from).unwrap_or_default();
    let job = Job {
        tenant: tenant.clone(),
        profile,
        contexts: vec![context],
        query: request.query,
        limits: request.limits,
        request_id: request_id(&headers),
        events: None,
        session,
    };
    respond(state, tenant, headers, body_hash, job, request.stream, "rlm".to_owned()).await
}

/// Runs a native job: streamed, or once per idempotency key.
pub(crate) async fn respond(
    state: Arc<AppState>,
    tenant: Arc<crate::state::TenantState>,
    headers: HeaderMap,
    body_hash: String,
    job: Job,
    stream_it: bool,
    route: String,
) -> Result<Response, ApiError> {
    if stream_it {
        no_key_on_streams(&headers)?;
        return Ok(stream(state, job).await?.into_response());
    }
    let run_state = state.clone();
    idempotent(&state, &tenant, &headers, &route, &body_hash, async move {
        let result = admit(&run_state, job).await?.run(&run_state).await?;
        Ok(Outcome { status: StatusCode::OK, body: result.to_json(), keep: result.is_final() })
    })
    .await
}

/// The profile a request names, or the configured default, or the
/// tenant's only one, or `default`.
pub(crate) fn profile_name(state: &AppState, tenant: &TenantState, asked: Option<&str>) -> Result<String, ApiError> {
    if let Some(name) = asked.or(state.config.default_profile.as_deref()) {
        return Ok(name.to_owned());
    }
    let usable: Vec<&String> = state.profiles.keys().filter(|p| tenant.may_use(p)).collect();
    match usable.as_slice() {
        [only] => Ok((*only).clone()),
        _ if usable.iter().any(|p| *p == "default") => Ok("default".to_owned()),
        _ => Err(ApiError::bad_request(format!(
            "name a `profile`: this key may use {}",
            usable.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Server-Sent Events: one per run event (named by its kind: `run_started`,
/// `iteration_started`, `model_reply`, `code_started`, `code_finished`,
/// `sub_call_started`, `sub_call_finished`, `usage`, `final_answer`,
/// `error`, `note`), then `result` with the native response body, or
/// `failed` with an error body. The job is admitted first, so a quota or a
/// bad request is an HTTP error, not an event. Events a slow client has not
/// read are bounded by count and bytes; past either, later ones are dropped
/// (and counted in an `events_dropped` event).
pub(crate) async fn stream(state: Arc<AppState>, mut job: Job) -> Result<impl IntoResponse, ApiError> {
    let keep_alive = state.config.keep_alive;
    let queued = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let (tx, rx) = tokio::sync::mpsc::channel::<(SseEvent, usize)>(EVENT_QUEUE);
    job.events = Some({
        let (tx, queued, dropped) = (tx.clone(), queued.clone(), dropped.clone());
        Arc::new(move |event: &Event| {
            let (sse, size) = sse_of(event);
            let fits = queued.fetch_add(size, Ordering::AcqRel) + size <= EVENT_QUEUE_BYTES;
            if !fits || tx.try_send((sse, size)).is_err() {
                queued.fetch_sub(size, Ordering::AcqRel);
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    let admitted = admit(&state, job).await?;
    let task = tokio::spawn(async move {
        let result = admitted.run(&state).await;
        let dropped = dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            let data = json!({"event": "events_dropped", "count": dropped});
            let _ = tx.send((SseEvent::default().event("events_dropped").data(data.to_string()), 0)).await;
        }
        let last = match result {
            Ok(result) => SseEvent::default().event("result").data(result.to_json().to_string()),
            Err(e) => SseEvent::default().event("failed").data(e.body().to_string()),
        };
        let _ = tx.send((last, 0)).await;
    });
    let guard = super::openai::AbortOnDrop(task);
    let events = futures::stream::unfold((rx, guard, queued), |(mut rx, guard, queued)| async move {
        let (event, size) = rx.recv().await?;
        queued.fetch_sub(size, Ordering::AcqRel);
        Some((Ok::<_, std::convert::Infallible>(event), (rx, guard, queued)))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive)))
}

/// An event as SSE, with its size in bytes.
fn sse_of(event: &Event) -> (SseEvent, usize) {
    let data = serde_json::to_string(event).unwrap_or_default();
    let name = match serde_json::to_value(&event.kind) {
        Ok(Value::Object(map)) => map.get("event").and_then(Value::as_str).unwrap_or("event").to_owned(),
        _ => "event".to_owned(),
    };
    let size = data.len();
    (SseEvent::default().event(name).data(data), size)
}
