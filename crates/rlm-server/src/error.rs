//! Errors: the service's start-up failures, and every failed request as one
//! OpenAI-style response.

use std::path::PathBuf;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("`{path}` is not a valid service configuration")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why.
        #[source]
        source: toml::de::Error,
    },
    /// A setting is out of range or inconsistent.
    #[error("invalid service configuration: {0}")]
    Invalid(String),
}

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A profile's models could not be set up.
    #[error("profile `{profile}` cannot be set up")]
    Profile {
        /// The profile.
        profile: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] rlm_store::Error),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A failed request: its status, an OpenAI-style body, and where useful a
/// `Retry-After`. Server errors are logged with their cause; the client
/// gets a generic message and a request id to quote.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, kind, code, message: message.into(), retry_after: None }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", "invalid_request", message)
    }

    /// 401: no key, or an unknown one.
    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "a valid API key is required: `Authorization: Bearer KEY`",
        )
    }

    /// 404: no such thing for this tenant (never 403, so ids cannot be probed).
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", message)
    }

    /// 405: the route exists, not with this method.
    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            "this route does not take this method",
        )
    }

    /// 408: the request did not arrive in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "invalid_request_error", "timeout", message)
    }

    /// 502: the model provider failed.
    pub fn upstream(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_GATEWAY, "server_error", "upstream_error", message)
    }

    /// 409: a request with the same idempotency key is still running.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "invalid_request_error", "conflict", message)
            .retry_after(Duration::from_secs(1))
    }

    /// 422: well-formed, but cannot be done as asked.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", "unprocessable", message)
    }

    /// 413: too large.
    pub fn too_large(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error", "too_large", message)
    }

    /// 429: a quota is spent.
    pub fn quota(code: &'static str, message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", code, message);
        e.retry_after = retry_after;
        e
    }

    /// 503: the service is shutting down or overloaded.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", "unavailable", message)
            .retry_after(Duration::from_secs(1))
    }

    /// 500: something failed on our side; `cause` goes to the log only.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        let id = crate::config::random_hex(8);
        tracing::error!(error_id = %id, error = %Chain(cause), "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal",
            format!("the service failed; quote error id {id} to its operator"),
        )
    }

    fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body, as sent.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "message": self.message, "type": self.kind, "code": self.code } })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(after) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// An error with its causes, each once.
pub(crate) struct Chain<'a>(pub(crate) &'a dyn std::error::Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}
