//! The HTTP API: the router, and what every route shares (JSON bodies with
//! clear errors, request ids, idempotency keys, metrics).

mod misc;
mod native;
mod openai;
mod sessions;

pub(crate) use sessions::{end_all as end_sessions, reap as reap_sessions};

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rlm_store::StoredResponse;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::metrics::{RequestLabels, RouteLabels};
use crate::state::{AppState, TenantState, bearer};

/// The header a caller may set to name its request in our logs (and that
/// every response carries).
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The header that makes a retried request return the first one's result.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on a response that is a stored one, returned again.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest accepted idempotency key or request id.
const MAX_KEY_LEN: usize = 255;

/// Every route.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/rlm/completions", post(native::completions))
        .route("/v1/sessions", post(sessions::create))
        .route("/v1/sessions/{id}", get(sessions::show).delete(sessions::delete))
        .route("/v1/sessions/{id}/completions", post(sessions::completions))
        .route("/v1/models", get(misc::models))
        .route("/v1/trajectories/{id}", get(misc::trajectory))
        .route("/healthz", get(misc::healthz))
        .route("/readyz", get(misc::readyz))
        .route("/metrics", get(misc::metrics))
        .fallback(misc::not_found)
        .method_not_allowed_fallback(misc::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Gives the request an id (the caller's `x-request-id` when it is sane),
/// returns it on the response, and counts the request and its latency.
async fn observe(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let tenant = bearer(request.headers())
        .and_then(|key| state.tenant_for(key))
        .map_or_else(|| "-".to_owned(), |t| t.name().to_owned());
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_KEY_LEN && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| format!("req-{}", crate::config::random_hex(12)), str::to_owned);
    let value = HeaderValue::from_str(&id).expect("checked to be visible ASCII");
    request.headers_mut().insert(REQUEST_ID, value.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, value);
    let status = response.status().as_u16();
    state.metrics.requests.get_or_create(&RequestLabels { route: route.clone(), status, tenant }).inc();
    state.metrics.request_seconds.get_or_create(&RouteLabels { route }).observe(started.elapsed().as_secs_f64());
    response
}

/// The request's id, as [`observe`] set it.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers.get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// A JSON body, with a 400 that says what is wrong (where, and why) for a
/// malformed one and a 413 for one over the size limit. The content type is
/// not checked: `curl -d` works as it is. `.1` is the body's SHA-256, to
/// tell a retried request from a different one under the same idempotency
/// key.
pub(crate) struct ApiJson<T>(pub(crate) T, pub(crate) String);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > state.config.body_limit_bytes as u64) {
            return Err(ApiError::too_large("the request body is over this service's size limit"));
        }
        // One deadline for the whole body, however slowly it trickles in.
        let read = tokio::time::timeout(state.config.body_timeout, Bytes::from_request(request, state)).await;
        let read = read.map_err(|_| ApiError::timeout("the request body did not arrive in time"))?;
        let bytes = read.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(ref inner) if inner.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::too_large("the request body is over this service's size limit")
            }
            other => ApiError::bad_request(format!("cannot read the request body: {}", other.body_text())),
        })?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request("the request needs a JSON body"));
        }
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid: {e}")))?;
        Ok(ApiJson(value, hex(&Sha256::digest(&bytes))))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `work` once per `Idempotency-Key`: a request that repeats a key
/// (with the same route and body) gets the stored response, marked
/// `Idempotent-Replayed: true`, and starts no run; one still running is a
/// 409; the same key with a different request is a 422. With a key, the
/// run does not stop when the client goes away (the retry will want its
/// result); its response is kept unless the server cancelled it or the
/// model provider failed (a retry then runs again). Without the header, it
/// just runs, and a client that goes away cancels it.
pub(crate) async fn idempotent<F>(
    state: &Arc<AppState>,
    tenant: &Arc<TenantState>,
    headers: &HeaderMap,
    route: &str,
    body_hash: &str,
    work: F,
) -> Result<Response, ApiError>
where
    F: Future<Output = Result<Outcome, ApiError>> + Send + 'static,
{
    let Some(key) = idempotency_key(headers)? else {
        let outcome = work.await?;
        return Ok((outcome.status, axum::Json(outcome.body)).into_response());
    };
    let fingerprint = format!("{route} {body_hash}");
    let store_error = |e: rlm_store::Error| ApiError::internal(&e);
    if let Some(stored) = state.store.get_idempotent(tenant.name(), &key).await.map_err(store_error)? {
        return replay(stored, &fingerprint);
    }
    let running = (tenant.name().to_owned(), key.clone());
    if !state.idempotent.lock().unwrap().insert(running.clone()) {
        return Err(ApiError::conflict("a request with this `Idempotency-Key` is still running"));
    }
    let guard = Running { state: state.clone(), key: running };
    // Another replica may have finished it between the two looks.
    if let Some(stored) = state.store.get_idempotent(tenant.name(), &key).await.map_err(store_error)? {
        return replay(stored, &fingerprint);
    }
    let task = {
        let (state, tenant) = (state.clone(), tenant.clone());
        state.clone().tasks.spawn(async move {
            let _guard = guard;
            let outcome = work.await?;
            if outcome.keep {
                let kept = json!({"fingerprint": fingerprint, "body": outcome.body});
                let stored = StoredResponse::new(outcome.status.as_u16(), kept.to_string());
                if let Err(e) = state.store.put_idempotent(tenant.name(), &key, stored).await {
                    tracing::error!(error = %crate::error::Chain(&e), "cannot keep an idempotent response");
                }
            }
            Ok(outcome)
        })
    };
    let outcome = task.await.map_err(|e| ApiError::internal(&e))??;
    Ok((outcome.status, axum::Json(outcome.body)).into_response())
}

/// What a completion route answers, and whether a retry under the same
/// idempotency key should get it again.
pub(crate) struct Outcome {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) keep: bool,
}

/// The request's `Idempotency-Key`, checked.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(key) = headers.get(IDEMPOTENCY_KEY) else { return Ok(None) };
    key.to_str().ok().filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN).map(|k| Some(k.to_owned())).ok_or_else(|| {
        ApiError::bad_request(format!("`Idempotency-Key` must be 1 to {MAX_KEY_LEN} visible characters"))
    })
}

/// Refuses an idempotency key on a streamed request: a stream cannot be
/// replayed.
pub(crate) fn no_key_on_streams(headers: &HeaderMap) -> Result<(), ApiError> {
    match idempotency_key(headers)? {
        Some(_) => Err(ApiError::bad_request(
            "`Idempotency-Key` is not supported with `stream: true`: a stream cannot be replayed; send the request \
             without `stream` to make it idempotent",
        )),
        None => Ok(()),
    }
}

fn replay(stored: StoredResponse, fingerprint: &str) -> Result<Response, ApiError> {
    let kept: Value = serde_json::from_str(&stored.body).map_err(|e| ApiError::internal(&e))?;
    if kept["fingerprint"] != fingerprint {
        return Err(ApiError::unprocessable(
            "this `Idempotency-Key` was used for a different request; use a new key for a new request",
        ));
    }
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, axum::Json(kept["body"].clone())).into_response();
    response.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(response)
}

/// Takes a key out of the running set when its request ends, however it ends.
struct Running {
    state: Arc<AppState>,
    key: (String, String),
}

impl Drop for Running {
    fn drop(&mut self) {
        self.state.idempotent.lock().unwrap().remove(&self.key);
    }
}
