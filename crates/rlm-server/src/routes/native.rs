//! `POST /v1/rlm/completions`: the native API. A context of any JSON shape,
//! a query, a profile, limits, optionally a session; the answer as JSON,
//! with usage, sub-calls and the trajectory's id. `stream: true` sends the
//! run's events as Server-Sent Events as they happen, then the result.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rlm_core::{Context, JsonText};
use rlm_engine::{Event, EventSink};
use serde::Deserialize;
use serde_json::json;

use super::openai::async_stream;
use super::{ApiJson, idempotent, request_id};
use crate::config::RunLimits;
use crate::error::ApiError;
use crate::run::{Job, execute};
use crate::state::{AppState, Authed, TenantState};

/// Events a streamed run may queue for a slow client before later ones are
/// dropped (and counted in an `events_dropped` event).
const EVENT_QUEUE: usize = 1024;

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
    let context = request.context.clone().map(Context::from).unwrap_or_default();
    let stream_it = request.stream;
    let job = {
        let (tenant, request_id) = (tenant.clone(), request_id(&headers));
        let (query, limits) = (request.query.clone(), request.limits.clone());
        move |events| Job { tenant, profile, contexts: vec![context], query, limits, request_id, events, session }
    };
    if stream_it {
        return Ok(stream(state.clone(), job).into_response());
    }
    idempotent(&state, &tenant, &headers, "rlm", &body_hash, async {
        let result = execute(&state, job(None)).await?;
        Ok((StatusCode::OK, result.to_json()))
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
/// `failed` with an error body when the run could not start.
pub(crate) fn stream(
    state: Arc<AppState>,
    job: impl FnOnce(Option<EventSink>) -> Job + Send + 'static,
) -> impl IntoResponse {
    let keep_alive = state.config.keep_alive;
    let events = async_stream(EVENT_QUEUE, move |tx| async move {
        let dropped = Arc::new(AtomicU64::new(0));
        let sink: EventSink = {
            let tx = tx.clone();
            let dropped = dropped.clone();
            Arc::new(move |event: &Event| {
                if tx.try_send(sse_of(event)).is_err() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let result = execute(&state, job(Some(sink))).await;
        let dropped = dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            let data = json!({"event": "events_dropped", "count": dropped});
            let _ = tx.send(SseEvent::default().event("events_dropped").data(data.to_string())).await;
        }
        let last = match result {
            Ok(result) => SseEvent::default().event("result").data(result.to_json().to_string()),
            Err(e) => SseEvent::default().event("failed").data(e.body().to_string()),
        };
        let _ = tx.send(last).await;
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive))
}

fn sse_of(event: &Event) -> SseEvent {
    let data = serde_json::to_value(event).unwrap_or_default();
    let name = data.get("event").and_then(|e| e.as_str()).unwrap_or("event").to_owned();
    SseEvent::default().event(name).data(data.to_string())
}
