//! Chat models as the engine sees them: a conversation in, a reply out.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A chat model the engine can call. `rlm-llm` implements it over HTTP; tests
/// implement it with scripts.
pub trait Model: Send + Sync + fmt::Debug {
    /// The model's name, as requests name it.
    fn name(&self) -> &str;

    /// The kind of API behind the model (`openai`, `anthropic`, ...), for logs.
    fn backend(&self) -> &str {
        "custom"
    }

    /// Sends the conversation and returns the reply.
    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelReply, ModelError>>;
}

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The user (for an RLM: the engine, reporting code results).
    User,
    /// The model.
    Assistant,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message { role: Role::System, content: content.into() }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message { role: Role::User, content: content.into() }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message { role: Role::Assistant, content: content.into() }
    }
}

/// Sampling and request options, each passed where the provider takes it.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SamplingOptions {
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// A seed, for providers that take one.
    pub seed: Option<u64>,
    /// Cap on reply tokens (OpenAI `max_completion_tokens`, Anthropic `max_tokens`).
    pub max_completion_tokens: Option<u32>,
    /// Reasoning effort (`low`, `medium`, `high`) for models that take one.
    pub reasoning_effort: Option<String>,
    /// A `response_format` object passed through as it is (OpenAI-compatible servers).
    pub response_format: Option<Value>,
    /// Extra top-level fields merged into every request body (for example
    /// vLLM's `chat_template_kwargs`).
    pub extra_body: BTreeMap<String, Value>,
}

impl SamplingOptions {
    /// These options with `other`'s set fields taking precedence.
    pub fn overlay(&self, other: &SamplingOptions) -> SamplingOptions {
        let mut extra_body = self.extra_body.clone();
        extra_body.extend(other.extra_body.iter().map(|(k, v)| (k.clone(), v.clone())));
        SamplingOptions {
            temperature: other.temperature.or(self.temperature),
            top_p: other.top_p.or(self.top_p),
            seed: other.seed.or(self.seed),
            max_completion_tokens: other.max_completion_tokens.or(self.max_completion_tokens),
            reasoning_effort: other.reasoning_effort.clone().or_else(|| self.reasoning_effort.clone()),
            response_format: other.response_format.clone().or_else(|| self.response_format.clone()),
            extra_body,
        }
    }
}

/// Who a request is for: carried from the caller of a completion to every
/// model call, sub-call and tracing span of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RequestMeta {
    /// The tenant the run belongs to, in a multi-tenant service.
    pub tenant: Option<String>,
    /// The request id the caller gave (or the service made up).
    pub request_id: Option<String>,
    /// Anything else the embedder wants logged beside the run.
    pub extra: BTreeMap<String, String>,
}

impl RequestMeta {
    /// Metadata with this request id.
    pub fn with_request_id(request_id: impl Into<String>) -> Self {
        RequestMeta { request_id: Some(request_id.into()), ..RequestMeta::default() }
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
}

/// A request to a [`Model`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ModelRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// A model name to use instead of the client's default.
    pub model: Option<String>,
    /// Sampling options.
    pub sampling: SamplingOptions,
    /// Who the request is for.
    pub meta: Arc<RequestMeta>,
}

impl ModelRequest {
    /// A request with default options.
    pub fn new(messages: Vec<Message>) -> Self {
        ModelRequest { messages, model: None, sampling: SamplingOptions::default(), meta: Arc::default() }
    }

    /// Names the model to use.
    pub fn model(mut self, model: Option<String>) -> Self {
        self.model = model;
        self
    }

    /// Sets the sampling options.
    pub fn sampling(mut self, sampling: SamplingOptions) -> Self {
        self.sampling = sampling;
        self
    }

    /// Sets who the request is for.
    pub fn meta(mut self, meta: Arc<RequestMeta>) -> Self {
        self.meta = meta;
        self
    }
}

/// Tokens one call (or many) used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

impl TokenUsage {
    /// Usage of `input` prompt and `output` completion tokens.
    pub fn new(input: u64, output: u64) -> Self {
        TokenUsage { input_tokens: input, output_tokens: output }
    }

    /// Input plus output.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

impl std::ops::AddAssign for TokenUsage {
    fn add_assign(&mut self, other: TokenUsage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// Why the model stopped writing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FinishReason {
    /// It finished its reply.
    #[default]
    Stop,
    /// It hit the token limit: the reply is cut off.
    Length,
    /// It asked for tool calls instead of (or beside) text.
    ToolCalls,
    /// The provider filtered the reply.
    ContentFilter,
    /// Another reason, as the provider named it.
    Other(String),
}

impl FinishReason {
    /// Reads a provider's name for it (`stop`, `length`, `end_turn`,
    /// `max_tokens`, `tool_calls`, `tool_use`, ...).
    pub fn from_provider(name: &str) -> FinishReason {
        match name {
            "stop" | "end_turn" | "stop_sequence" | "eos" => FinishReason::Stop,
            "length" | "max_tokens" | "model_length" => FinishReason::Length,
            "tool_calls" | "tool_use" | "function_call" => FinishReason::ToolCalls,
            "content_filter" | "refusal" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_owned()),
        }
    }

    /// The name written in logs.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(name) => name,
        }
    }
}

/// A model's answer.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ModelReply {
    /// The reply text (empty when the model sent none).
    pub text: String,
    /// Reasoning the server returned beside the reply (`reasoning_content`,
    /// `reasoning`, thinking blocks). Kept for the trajectory, never run.
    pub reasoning: Option<String>,
    /// Why the model stopped.
    pub finish_reason: FinishReason,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// What the call cost in tokens.
    pub usage: TokenUsage,
    /// What the call cost in dollars, when the provider reports it.
    pub cost: Option<f64>,
}

impl ModelReply {
    /// A reply with this text, model and usage, finished normally.
    pub fn new(text: impl Into<String>, model: impl Into<String>, usage: TokenUsage) -> Self {
        ModelReply { text: text.into(), model: model.into(), usage, ..ModelReply::default() }
    }
}

/// A failed model call. The client's own error is kept as the source.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ModelError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl ModelError {
    /// Wraps a client's error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ModelError(Box::new(error))
    }

    /// A failure described by a message.
    pub fn msg(message: impl Into<String>) -> Self {
        ModelError(message.into().into())
    }

    /// The client's error, to downcast.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}
