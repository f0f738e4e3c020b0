//! Test helpers: a mock model server that speaks both the OpenAI Chat
//! Completions and the Anthropic Messages protocols on `127.0.0.1`.
//!
//! The server runs on its own thread and runtime, binds a free port, and
//! stops when the [`MockLlm`] is dropped. Replies come from a script (first
//! in, first out) and then from a responder function; every request is
//! recorded, and the server counts requests in flight.
//!
//! ```no_run
//! use rlm_test_support::{MockLlm, MockReply};
//! let mock = MockLlm::builder().script([MockReply::text("```repl\nFINAL(42)\n```")]).start();
//! let base_url = mock.openai_base_url();
//! ```
#![deny(missing_docs)]

pub mod mcp;
#[cfg(feature = "postgres")]
pub mod postgres;

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What the mock answers to one request.
#[derive(Clone, Debug)]
pub enum MockReply {
    /// A successful reply with this text and token usage.
    Text {
        /// The reply text.
        text: String,
        /// Input tokens reported.
        input_tokens: u64,
        /// Output tokens reported.
        output_tokens: u64,
    },
    /// A 200 with this JSON body as it is (for replies shaped like a real
    /// server's: `content: null`, a list of parts, reasoning fields, ...).
    Body(Value),
    /// An error status with a provider-style error body.
    Status {
        /// The HTTP status.
        status: u16,
        /// The error message in the body.
        message: String,
        /// A `Retry-After` header value.
        retry_after: Option<String>,
    },
    /// Waits this long before answering with an empty text (for timeouts).
    Hang(Duration),
    /// A 200 whose body is not JSON.
    Malformed,
    /// Sends headers, then drops the connection mid-body.
    Drop,
}

impl MockReply {
    /// A successful reply; usage is 10 input and 5 output tokens.
    pub fn text(text: impl Into<String>) -> Self {
        MockReply::Text { text: text.into(), input_tokens: 10, output_tokens: 5 }
    }

    /// An error status.
    pub fn status(status: u16, message: impl Into<String>) -> Self {
        MockReply::Status { status, message: message.into(), retry_after: None }
    }

    /// An OpenAI-style reply cut off by the token limit
    /// (`finish_reason: "length"`).
    pub fn cut_off(text: impl Into<String>) -> Self {
        MockReply::Body(json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "model": "mock",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text.into()}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }))
    }

    /// An OpenAI-style reply whose `message` is this object (for example
    /// `{"content": null, "tool_calls": [...]}` or reasoning fields).
    pub fn message(message: Value) -> Self {
        MockReply::Body(json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "model": "mock",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }))
    }

    /// A 429 asking to retry after `seconds`.
    pub fn rate_limited(seconds: &str) -> Self {
        MockReply::Status { status: 429, message: "rate limited".into(), retry_after: Some(seconds.into()) }
    }
}

/// A request the mock received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The path (`/v1/chat/completions` or `/v1/messages`).
    pub path: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Value,
}

impl RecordedRequest {
    /// The system prompt (OpenAI: the system message; Anthropic: `system`).
    pub fn system(&self) -> String {
        if let Some(system) = self.body.get("system").and_then(Value::as_str) {
            return system.to_owned();
        }
        self.messages().into_iter().filter(|(role, _)| role == "system").map(|(_, c)| c).collect::<Vec<_>>().join("\n")
    }

    /// The `(role, content)` of each message.
    pub fn messages(&self) -> Vec<(String, String)> {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter()
                    .map(|m| {
                        let field = |k| m.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                        (field("role"), field("content"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The content of the last user message.
    pub fn last_user(&self) -> String {
        self.messages().into_iter().rev().find(|(role, _)| role == "user").map(|(_, c)| c).unwrap_or_default()
    }

    /// The requested model.
    pub fn model(&self) -> String {
        self.body.get("model").and_then(Value::as_str).unwrap_or_default().to_owned()
    }
}

type Responder = Arc<dyn Fn(&RecordedRequest) -> MockReply + Send + Sync>;

struct Shared {
    script: Mutex<VecDeque<MockReply>>,
    responder: Option<Responder>,
    latency: Duration,
    requests: Mutex<Vec<RecordedRequest>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Configures a [`MockLlm`].
#[derive(Default)]
pub struct MockLlmBuilder {
    script: Vec<MockReply>,
    responder: Option<Responder>,
    latency: Duration,
}

impl std::fmt::Debug for MockLlmBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockLlmBuilder").field("script", &self.script).field("latency", &self.latency).finish()
    }
}

impl MockLlmBuilder {
    /// Replies served in order, before the responder is asked.
    pub fn script(mut self, replies: impl IntoIterator<Item = MockReply>) -> Self {
        self.script.extend(replies);
        self
    }

    /// Answers every request once the script is used up.
    pub fn responder(mut self, f: impl Fn(&RecordedRequest) -> MockReply + Send + Sync + 'static) -> Self {
        self.responder = Some(Arc::new(f));
        self
    }

    /// Delay before every reply. By default, none.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Starts the server on a free port of 127.0.0.1.
    pub fn start(self) -> MockLlm {
        let shared = Arc::new(Shared {
            script: Mutex::new(self.script.into()),
            responder: self.responder,
            latency: self.latency,
            requests: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .route("/v1/messages", post(handle))
            .with_state(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                // Not a graceful shutdown: a test that drops the mock must not
                // wait for requests it left hanging.
                tokio::select! {
                    result = axum::serve(listener, app).into_future() => result.unwrap(),
                    _ = stopped => {}
                }
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        MockLlm { addr, shared, stop: Some(stop), thread: Some(thread) }
    }
}

/// A running mock model server; stops when dropped.
pub struct MockLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for MockLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockLlm").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl MockLlm {
    /// Starts configuring a mock.
    pub fn builder() -> MockLlmBuilder {
        MockLlmBuilder::default()
    }

    /// The base URL for an OpenAI-compatible client (`.../v1`).
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The base URL for an Anthropic client.
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The most requests that were ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(shared.clone());
    let request = RecordedRequest {
        path: uri.path().to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    shared.requests.lock().unwrap().push(request.clone());
    let scripted = shared.script.lock().unwrap().pop_front();
    let reply = match (scripted, &shared.responder) {
        (Some(reply), _) => reply,
        (None, Some(responder)) => responder(&request),
        (None, None) => MockReply::status(500, "the mock has no reply left for this request"),
    };
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let anthropic = request.path.ends_with("/messages");
    match reply {
        MockReply::Text { text, input_tokens, output_tokens } => {
            success(anthropic, &request.model(), &text, input_tokens, output_tokens)
        }
        MockReply::Body(body) => axum::Json(body).into_response(),
        MockReply::Status { status, message, retry_after } => {
            let body = if anthropic {
                json!({"type": "error", "error": {"type": "api_error", "message": message}})
            } else {
                json!({"error": {"message": message, "type": "api_error"}})
            };
            let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
            if let Some(after) = retry_after {
                response.headers_mut().insert("retry-after", after.parse().unwrap());
            }
            response
        }
        MockReply::Hang(delay) => {
            tokio::time::sleep(delay).await;
            success(anthropic, &request.model(), "", 0, 0)
        }
        MockReply::Malformed => {
            (StatusCode::OK, [("content-type", "application/json")], "{\"choices\": [").into_response()
        }
        MockReply::Drop => {
            let stream = futures::stream::iter([
                Ok(Bytes::from_static(b"{\"choices\"")),
                Err(std::io::Error::other("connection dropped by the mock")),
            ]);
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("content-length", "1000")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

fn success(anthropic: bool, model: &str, text: &str, input_tokens: u64, output_tokens: u64) -> Response {
    let body = if anthropic {
        json!({
            "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        })
    } else {
        json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens, "total_tokens": input_tokens + output_tokens},
        })
    };
    axum::Json(body).into_response()
}
