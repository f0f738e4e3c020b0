//! Why a model call failed.

use std::time::Duration;

/// A failed model call. API keys never appear in these messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The provider answered with an error status.
    #[error("{provider} answered HTTP {status}{}: {message}", hint(*status))]
    Status {
        /// Which provider.
        provider: &'static str,
        /// The HTTP status.
        status: u16,
        /// The provider's own error message, shortened.
        message: String,
        /// The delay the provider asked for (`Retry-After`), if any.
        retry_after: Option<Duration>,
    },
    /// No response within the request timeout.
    #[error("{provider} did not answer within {timeout:?}")]
    Timeout {
        /// Which provider.
        provider: &'static str,
        /// The request timeout.
        timeout: Duration,
    },
    /// The connection failed or dropped.
    #[error("cannot talk to {provider} at `{url}`")]
    Connection {
        /// Which provider.
        provider: &'static str,
        /// The endpoint.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The response could not be understood.
    #[error("{provider} sent a response this client cannot read: {message}")]
    Malformed {
        /// Which provider.
        provider: &'static str,
        /// What was wrong with it.
        message: String,
    },
    /// A retryable failure kept happening.
    #[error("{provider} still failing after {attempts} attempts")]
    RetriesExhausted {
        /// Which provider.
        provider: &'static str,
        /// How many requests were sent.
        attempts: u32,
        /// The last failure.
        #[source]
        last: Box<Error>,
    },
    /// The client was configured without something it needs.
    #[error("invalid model client setting `{setting}`: {reason}")]
    Config {
        /// Which setting.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

fn hint(status: u16) -> &'static str {
    match status {
        401 | 403 => " (is the API key right?)",
        404 => " (is the model name or base URL right?)",
        429 => " (rate limited)",
        _ => "",
    }
}

impl Error {
    /// Whether sending the same request again may succeed: 408, 409, 429,
    /// 5xx, timeouts and connection failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Status { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
            Error::Timeout { .. } | Error::Connection { .. } => true,
            Error::Malformed { .. } | Error::RetriesExhausted { .. } | Error::Config { .. } => false,
        }
    }

    /// Whether the failure was a timeout, after any retries.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout { .. } => true,
            Error::RetriesExhausted { last, .. } => last.is_timeout(),
            _ => false,
        }
    }

    /// The HTTP status of the (last) failure, if the provider answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            Error::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn delay_hint(&self) -> Option<Duration> {
        self.retry_after()
    }
}
