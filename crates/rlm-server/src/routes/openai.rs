//! `POST /v1/chat/completions`: the OpenAI Chat Completions API, with an
//! RLM behind it. The messages are the RLM's context, as `rlms` treats a
//! message list; the last user message is the query; the answer is the
//! assistant message. The `rlm` extension field passes a large context and
//! per-request limits.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rlm_core::{Context, JsonText};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiJson, Outcome, idempotent, no_key_on_streams, request_id};
use crate::config::RunLimits;
use crate::error::ApiError;
use crate::run::{Admitted, Job, RunResult, admit};
use crate::state::{AppState, Authed};

/// Most messages in one request, and most parts in one message: lists are
/// refused past these while they are read, so a body of empty objects
/// cannot make the server allocate many times its size.
const MAX_MESSAGES: usize = 10_000;
const MAX_PARTS: usize = 1_000;

#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    model: String,
    messages: Bounded<ChatMessage, MAX_MESSAGES>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    rlm: Option<Extension>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

/// A message's content: a string, or a list of parts whose text parts are
/// joined (other parts, such as images, are left out).
#[derive(Debug, Default)]
struct Content(String);

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content(v))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Content, E> {
                Ok(Content::default())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut text = String::new();
                let mut n = 0;
                while let Some(part) = seq.next_element::<Part>()? {
                    n += 1;
                    if n > MAX_PARTS {
                        return Err(serde::de::Error::custom(format!("a message may have at most {MAX_PARTS} parts")));
                    }
                    if let Some(t) = part.text {
                        text.push_str(&t);
                    }
                }
                Ok(Content(text))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// One content part; only its text is kept.
#[derive(Debug, Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<String>,
}

/// A list refused past `N` elements while it is read.
#[derive(Debug)]
pub(crate) struct Bounded<T, const N: usize>(pub(crate) Vec<T>);

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Bounded<T, N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T, const N: usize>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> serde::de::Visitor<'de> for Visitor<T, N> {
            type Value = Bounded<T, N>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a list of at most {N} items")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Bounded<T, N>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if items.len() == N {
                        return Err(serde::de::Error::custom(format!("a list of more than {N} items")));
                    }
                    items.push(item);
                }
                Ok(Bounded(items))
            }
        }
        deserializer.deserialize_seq(Visitor::<T, N>(std::marker::PhantomData))
    }
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

fn text_of(content: &Option<Content>) -> String {
    content.as_ref().map(|c| c.0.clone()).unwrap_or_default()
}

/// The context and query of a message list.
fn context_and_query(request: &ChatRequest) -> Result<(Context, String), ApiError> {
    let last_user = request
        .messages
        .0
        .iter()
        .rposition(|m| m.role == "user")
        .ok_or_else(|| ApiError::bad_request("`messages` needs a user message: the last one is the query"))?;
    let query = text_of(&request.messages.0[last_user].content);
    if let Some(context) = request.rlm.as_ref().and_then(|e| e.context.clone()) {
        return Ok((Context::from(context), query));
    }
    let others: Vec<Value> = request
        .messages
        .0
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
    let job = Job {
        tenant: tenant.clone(),
        profile,
        contexts: vec![context],
        query,
        limits,
        request_id: request_id(&headers),
        events: None,
        session: None,
    };
    if request.stream {
        no_key_on_streams(&headers)?;
        let include_usage = request.stream_options.as_ref().is_some_and(|o| o.include_usage);
        let admitted = admit(&state, job).await?;
        return Ok(stream(state, admitted, model, include_usage).into_response());
    }
    let run_state = state.clone();
    idempotent(&state, &tenant, &headers, "chat", &body_hash, async move {
        let result = admit(&run_state, job).await?.run(&run_state).await?;
        if result.upstream_failed() {
            let message = result.error.as_ref().map_or_else(String::new, |(_, m)| m.clone());
            return Err(ApiError::upstream(message));
        }
        Ok(Outcome { status: StatusCode::OK, body: completion_body(&result, &model), keep: result.is_final() })
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
fn stream(state: Arc<AppState>, admitted: Admitted, model: String, include_usage: bool) -> impl IntoResponse {
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
        let result = admitted.run(&state).await;
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

/// Aborts a task when dropped: the stream that owns it went away.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
