//! `POST /v1/chat/completions`: the OpenAI Chat Completions API, with an
//! RLM behind it. The messages are the RLM's context, as `rlms` treats a
//! message list; the last user message is the query; the answer is the
//! assistant message. The `rlm` extension field passes a large context and
//! per-request limits.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rlm_core::{Context, JsonText};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiJson, idempotent, request_id};
use crate::config::RunLimits;
use crate::error::ApiError;
use crate::run::{Job, RunResult, execute};
use crate::state::{AppState, Authed};

#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    model: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    rlm: Option<Extension>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// The `rlm` extension: a context besides the messages, and limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Extension {
    context: Option<JsonText>,
    #[serde(flatten)]
    limits: RunLimits,
}

fn text_of(content: &Option<Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
        _ => String::new(),
    }
}

/// The context and query of a message list.
fn context_and_query(request: &ChatRequest) -> Result<(Context, String), ApiError> {
    let last_user = request
        .messages
        .iter()
        .rposition(|m| m.role == "user")
        .ok_or_else(|| ApiError::bad_request("`messages` needs a user message: the last one is the query"))?;
    let query = text_of(&request.messages[last_user].content);
    if let Some(context) = request.rlm.as_ref().and_then(|e| e.context.clone()) {
        return Ok((Context::from(context), query));
    }
    let others: Vec<Value> = request
        .messages
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != last_user)
        .map(|(_, m)| json!({"role": m.role, "content": text_of(&m.content)}))
        .collect();
    let context = if others.is_empty() { Context::default() } else { Context::from(Value::Array(others)) };
    Ok((context, query))
}

pub(crate) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Authed(tenant): Authed,
    headers: HeaderMap,
    ApiJson(request, body_hash): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let profile = state.profile(&tenant, &request.model)?;
    let (context, query) = context_and_query(&request)?;
    let limits = request.rlm.as_ref().map(|e| e.limits.clone()).unwrap_or_default();
    let model = request.model.clone();
    let job = |events| Job {
        tenant: tenant.clone(),
        profile: profile.clone(),
        contexts: vec![context.clone()],
        query: query.clone(),
        limits: limits.clone(),
        request_id: request_id(&headers),
        events,
        session: None,
    };
    if request.stream {
        let include_usage = request.stream_options.as_ref().is_some_and(|o| o.include_usage);
        return Ok(stream(state, job(None), model, include_usage).into_response());
    }
    idempotent(&state, &tenant, &headers, "chat", &body_hash, async {
        let result = execute(&state, job(None)).await?;
        Ok((axum::http::StatusCode::OK, completion_body(&result, &model)))
    })
    .await
}

fn created() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn usage(result: &RunResult) -> Value {
    let t = &result.completion.usage.total;
    json!({"prompt_tokens": t.input_tokens, "completion_tokens": t.output_tokens, "total_tokens": t.tokens()})
}

/// The answer as the assistant's text; a run that stopped without one ends
/// with `finish_reason: "length"` and says why under `rlm.error`.
fn answer_and_finish(result: &RunResult) -> (String, &'static str) {
    match &result.completion.answer {
        Some(answer) => (answer.as_text().into_owned(), "stop"),
        None => (String::new(), "length"),
    }
}

fn extension(result: &RunResult) -> Value {
    json!({
        "trajectory_id": result.trajectory_id,
        "iterations": result.completion.iterations,
        "sub_calls": result.completion.sub_calls,
        "error": result.error.as_ref().map(|(kind, message)| json!({"kind": kind, "message": message})),
    })
}

fn completion_body(result: &RunResult, model: &str) -> Value {
    let (content, finish) = answer_and_finish(result);
    json!({
        "id": format!("chatcmpl-{}", result.trajectory_id),
        "object": "chat.completion",
        "created": created(),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": usage(result),
        "rlm": extension(result),
    })
}

/// Streams OpenAI-style chunks: the role first, keep-alive comments while
/// the run works, then the answer, the finish reason, the usage (when asked
/// for) and `[DONE]`. A client that disconnects cancels the run.
fn stream(state: Arc<AppState>, job: Job, model: String, include_usage: bool) -> impl IntoResponse {
    let keep_alive = state.config.keep_alive;
    let id = format!("chatcmpl-{}", crate::config::random_hex(12));
    let created = created();
    let chunk = move |delta: Value, finish: Option<&str>| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let events = async_stream(8, move |tx| async move {
        let _ = tx
            .send(SseEvent::default().data(chunk(json!({"role": "assistant", "content": ""}), None).to_string()))
            .await;
        let result = execute(&state, job).await;
        match result {
            Ok(result) => {
                let (content, finish) = answer_and_finish(&result);
                let mut done = chunk(json!({}), Some(finish));
                done["rlm"] = extension(&result);
                let _ = tx.send(SseEvent::default().data(chunk(json!({"content": content}), None).to_string())).await;
                let _ = tx.send(SseEvent::default().data(done.to_string())).await;
                if include_usage {
                    let mut last = chunk(json!({}), None);
                    last["choices"] = json!([]);
                    last["usage"] = usage(&result);
                    let _ = tx.send(SseEvent::default().data(last.to_string())).await;
                }
            }
            Err(e) => {
                let _ = tx.send(SseEvent::default().data(e.body().to_string())).await;
            }
        }
        let _ = tx.send(SseEvent::default().data("[DONE]")).await;
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive))
}

/// A stream fed by a task: `produce` sends events (up to `capacity` queued);
/// when the client goes away, the stream is dropped, and so the task (and
/// the run it awaits).
pub(crate) fn async_stream<F, Fut>(
    capacity: usize,
    produce: F,
) -> impl futures::Stream<Item = Result<SseEvent, std::convert::Infallible>> + Send + 'static
where
    F: FnOnce(tokio::sync::mpsc::Sender<SseEvent>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    let task = tokio::spawn(produce(tx));
    let guard = AbortOnDrop(task);
    futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv().await.map(|event| (Ok(event), (rx, guard)))
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
