//! The HTTP client shared by both providers: one `reqwest::Client`, request
//! timeouts, retries.

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use rlm_core::{Model, ModelError, ModelReply, ModelRequest, SamplingOptions};
use serde_json::Value;

use crate::error::Error;
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::{anthropic, openai};

/// Default timeout of one HTTP request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Default cap on reply tokens where the API requires one (Anthropic) and
/// none was set.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 8192;

/// Which wire protocol a [`Client`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// OpenAI Chat Completions (`POST {base}/chat/completions`), also served
    /// by vLLM, llama.cpp, Ollama, OpenRouter and others.
    OpenAi,
    /// Anthropic Messages (`POST {base}/v1/messages`).
    Anthropic,
}

impl Provider {
    /// The provider's name, as used in messages and logs.
    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
        }
    }

    /// The official endpoint.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com/v1",
            Provider::Anthropic => "https://api.anthropic.com",
        }
    }

    /// The environment variable that usually holds the key.
    pub fn key_env(self) -> &'static str {
        match self {
            Provider::OpenAi => rlm_core::env::OPENAI_API_KEY,
            Provider::Anthropic => rlm_core::env::ANTHROPIC_API_KEY,
        }
    }
}

/// An API key. Its `Debug` output is redacted and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Settings of a [`Client`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The wire protocol.
    pub provider: Provider,
    /// Where to send requests. By default, the provider's official endpoint.
    pub base_url: String,
    /// The key, if the endpoint needs one. Required for the official
    /// endpoints.
    pub api_key: Option<ApiKey>,
    /// The default model name.
    pub model: String,
    /// Timeout of one HTTP request. By default, [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Retries. By default, [`RetryPolicy::default`].
    pub retry: RetryPolicy,
    /// Sampling options sent with every request (a request's own options
    /// take precedence). `max_completion_tokens` defaults to
    /// [`DEFAULT_MAX_OUTPUT_TOKENS`] for Anthropic, which requires one, and
    /// to none for OpenAI.
    pub sampling: SamplingOptions,
}

impl ClientConfig {
    /// Defaults for `provider` and `model`.
    pub fn new(provider: Provider, model: impl Into<String>) -> Self {
        ClientConfig {
            provider,
            base_url: provider.default_base_url().to_owned(),
            api_key: None,
            model: model.into(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
            sampling: SamplingOptions::default(),
        }
    }
}

/// A model behind an HTTP API. Cheap to clone: clones share one connection
/// pool.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    url: String,
}

impl Client {
    /// Checks the settings and builds the HTTP client.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        if config.model.trim().is_empty() {
            return Err(Error::Config { setting: "model", reason: "a model name is required".into() });
        }
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            let reason = format!("`{base}` must start with http:// or https://");
            return Err(Error::Config { setting: "base_url", reason });
        }
        if config.api_key.is_none() && base == config.provider.default_base_url() {
            let reason = format!(
                "{} needs an API key: set `{}` or pass one explicitly",
                config.provider.name(),
                config.provider.key_env()
            );
            return Err(Error::Config { setting: "api_key", reason });
        }
        let url = match config.provider {
            Provider::OpenAi => format!("{base}/chat/completions"),
            Provider::Anthropic => format!("{base}/v1/messages"),
        };
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| Error::Config { setting: "http client", reason: format!("cannot build it: {e}") })?;
        Ok(Client { http, config, url })
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sends a request, retrying as the policy says, with this crate's typed
    /// error (which tells timeouts and statuses apart). [`Model::complete`]
    /// does the same and wraps the error.
    pub async fn send(&self, request: ModelRequest) -> Result<ModelReply, Error> {
        let provider = self.config.provider.name();
        let model = request.model.clone().unwrap_or_else(|| self.config.model.clone());
        let sampling = self.config.sampling.overlay(&request.sampling);
        let body = match self.config.provider {
            Provider::OpenAi => openai::request_body(&model, &request.messages, &sampling),
            Provider::Anthropic => {
                anthropic::request_body(&model, &request.messages, &sampling, DEFAULT_MAX_OUTPUT_TOKENS)
            }
        };
        let request_id = request.meta.request_id.as_deref();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let span = tracing::debug_span!(
                "model_call",
                provider,
                model = %model,
                attempt,
                tenant = request.meta.tenant.as_deref(),
                request_id,
            );
            let result = tracing::Instrument::instrument(self.send_once(&body, request_id), span).await;
            let error = match result {
                Ok(json) => {
                    return match self.config.provider {
                        Provider::OpenAi => openai::parse_reply(&json, &model),
                        Provider::Anthropic => anthropic::parse_reply(&json, &model),
                    };
                }
                Err(e) => e,
            };
            if !error.is_retryable() {
                return Err(error);
            }
            if attempt > self.config.retry.max_retries {
                return Err(if attempt == 1 {
                    error
                } else {
                    Error::RetriesExhausted { provider, attempts: attempt, last: Box::new(error) }
                });
            }
            let delay = self.config.retry.delay(attempt, error.delay_hint());
            tracing::warn!(provider, attempt, ?delay, error = %error, "model call failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(&self, body: &Value, request_id: Option<&str>) -> Result<Value, Error> {
        let provider = self.config.provider.name();
        let mut request = self.http.post(&self.url).json(body);
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        if let Some(key) = &self.config.api_key {
            request = match self.config.provider {
                Provider::OpenAi => request.bearer_auth(key.expose()),
                Provider::Anthropic => request.header("x-api-key", key.expose()),
            };
        }
        if self.config.provider == Provider::Anthropic {
            request = request.header("anthropic-version", anthropic::API_VERSION);
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::Timeout { provider, timeout: self.config.request_timeout }
            } else {
                Error::Connection { provider, url: self.url.clone(), source: e.without_url() }
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(Error::Status {
                provider,
                status: status.as_u16(),
                message: error_message(&bytes),
                retry_after,
            });
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Malformed { provider, message: format!("invalid JSON ({e}): {}", preview(&bytes)) })
    }
}

impl Model for Client {
    fn name(&self) -> &str {
        &self.config.model
    }

    fn backend(&self) -> &str {
        self.config.provider.name()
    }

    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelReply, ModelError>> {
        Box::pin(async move { self.send(request).await.map_err(ModelError::new) })
    }
}

/// The provider's own message from an error body (both providers put it in
/// `error.message`), else the start of the body.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| preview(body))
}

fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut = text.len().min(300);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    if cut < text.len() { format!("{}...", &text[..cut]) } else { text.into_owned() }
}
