//! Models, stored trajectories, health, readiness, metrics, and the
//! answers for unknown routes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::{AppState, Authed};

/// `GET /v1/models`: the profiles this key may use, as the OpenAI API lists
/// models.
pub(crate) async fn models(State(state): State<Arc<AppState>>, Authed(tenant): Authed) -> Json<Value> {
    let data: Vec<Value> = state
        .profiles
        .values()
        .filter(|p| tenant.may_use(&p.name))
        .map(|p| {
            let config = p.rlm.config();
            json!({
                "id": p.name,
                "object": "model",
                "created": 0,
                "owned_by": "rlm-sandbox",
                "root_model": config.root_model,
                "sub_model": config.sub_model.as_deref().unwrap_or(&config.root_model),
            })
        })
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// `GET /v1/trajectories/{id}`: a stored trajectory, as JSONL.
pub(crate) async fn trajectory(
    State(state): State<Arc<AppState>>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let jsonl = state.store.get_trajectory(tenant.name(), &id).await.map_err(|e| ApiError::internal(&e))?;
    let jsonl = jsonl.ok_or_else(|| ApiError::not_found(format!("no trajectory `{id}`")))?;
    Ok(([(header::CONTENT_TYPE, "application/jsonl; charset=utf-8")], jsonl).into_response())
}

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// How long after a ledger write failed for good `/readyz` answers 503. Not
/// for ever: a replica out of rotation gets no runs, so no write would ever
/// clear it; after this it takes traffic again and a new failure holds it
/// out again.
const STORE_FAILURE_HOLD: std::time::Duration = std::time::Duration::from_secs(30);

/// `GET /readyz`: it takes requests (not shutting down), its store answers
/// and no ledger write failed for good in the last 30 seconds.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.draining.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let failed = *state.store_write_failed.lock().expect("never poisoned");
    if failed.is_some_and(|at| at.elapsed() < STORE_FAILURE_HOLD) {
        return (StatusCode::SERVICE_UNAVAILABLE, "the store refuses writes\n").into_response();
    }
    match state.store.ping().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => {
            tracing::warn!(error = %crate::error::Chain(&e), "the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer\n").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text.
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    for tenant in &state.tenants {
        let labels = crate::metrics::TenantLabels { tenant: tenant.name().to_owned() };
        state.metrics.live_sandboxes.get_or_create(&labels).set(tenant.quota.live() as i64);
    }
    state.metrics.sandbox_memory.set(state.sandboxes.memory_used() as i64);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response()
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see the README for the API")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
