//! Helpers shared by the integration tests: one runtime per test process and
//! handlers that record how the sandbox calls the host.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use rlm_core::{CallHandler, HostCall, JsonText, Model, NoBackend};
use rlm_engine::{Rlm, RlmBuilder};
use rlm_llm::{ApiKey, Client, ClientConfig, Provider, RetryPolicy};
use rlm_sandbox::{Limits, Runtime, RuntimeConfig, Sandbox};
use rlm_test_support::MockLlm;

/// The runtime every test shares, so the guest is compiled or loaded once.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("the sandbox runtime starts"))
}

/// A sandbox with default limits and no model backend.
pub async fn sandbox() -> Sandbox {
    sandbox_with(Limits::default(), Arc::new(NoBackend)).await
}

/// A sandbox with the given limits and handler.
pub async fn sandbox_with(limits: Limits, handler: Arc<dyn CallHandler>) -> Sandbox {
    runtime().sandbox(limits, handler).await.expect("a sandbox starts")
}

/// A handler that answers `llm_query` with `echo:<prompt>` after `delay`,
/// `rlm_query` with `{"child": <context>}` and a tool `t` with its
/// arguments, and counts what it sees. A prompt containing `FAIL` fails; a
/// prompt `RAW:<text>` is answered with `<text>` as it is.
#[derive(Debug, Default)]
pub struct RecordingHandler {
    /// How long each call waits before answering.
    pub delay: Duration,
    /// Calls running right now.
    pub in_flight: AtomicUsize,
    /// The most calls that ever ran at once.
    pub max_in_flight: AtomicUsize,
    /// Every call, in the order it arrived.
    pub calls: Mutex<Vec<String>>,
    /// Sizes of the batches the host received.
    pub batches: Mutex<Vec<usize>>,
}

impl RecordingHandler {
    /// A handler whose calls take `delay`.
    pub fn with_delay(delay: Duration) -> Arc<Self> {
        Arc::new(RecordingHandler { delay, ..Default::default() })
    }

    fn answer(self: &Arc<Self>, call: HostCall) -> BoxFuture<'static, Result<JsonText, String>> {
        let (label, reply) = match call {
            HostCall::Llm { prompt, .. } => {
                let reply = if prompt.contains("FAIL") {
                    Err(format!("model refused {prompt:?}"))
                } else if let Some(raw) = prompt.strip_prefix("RAW:") {
                    Ok(JsonText::string(raw))
                } else {
                    Ok(JsonText::string(&format!("echo:{prompt}")))
                };
                (prompt, reply)
            }
            HostCall::Rlm { context, .. } => {
                let label = context.as_prompt().to_owned();
                let reply = JsonText::parse(&format!("{{\"child\": {}}}", context.to_json()), usize::MAX).unwrap();
                (label, Ok(reply))
            }
            HostCall::Tool { name, args } => (format!("tool:{name}"), Ok(args)),
            other => (format!("{other:?}"), Err("unsupported".into())),
        };
        let this = self.clone();
        this.calls.lock().unwrap().push(label);
        Box::pin(async move {
            let now = this.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            this.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(this.delay).await;
            this.in_flight.fetch_sub(1, Ordering::SeqCst);
            reply
        })
    }
}

/// Lets an `Arc<RecordingHandler>` be the sandbox's handler while the test
/// keeps a reference to read the counters.
#[derive(Debug)]
pub struct Shared(pub Arc<RecordingHandler>);

impl CallHandler for Shared {
    fn call(&self, calls: Vec<HostCall>) -> BoxFuture<'static, Vec<Result<JsonText, String>>> {
        self.0.batches.lock().unwrap().push(calls.len());
        let answers: Vec<_> = calls.into_iter().map(|c| self.0.answer(c)).collect();
        Box::pin(futures::future::join_all(answers))
    }
}

/// Retries fast enough for tests: 3 retries, 10 ms to 200 ms apart.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::new(3, Duration::from_millis(10), Duration::from_millis(200))
}

/// A client of `provider` pointed at `mock`, with a 5 s request timeout and
/// fast retries.
pub fn mock_client(mock: &MockLlm, provider: Provider, model: &str) -> Client {
    let mut config = ClientConfig::new(provider, model);
    config.base_url = match provider {
        Provider::Anthropic => mock.anthropic_base_url(),
        _ => mock.openai_base_url(),
    };
    config.api_key = Some(ApiKey::new("sk-test-secret"));
    config.request_timeout = Duration::from_secs(5);
    config.retry = fast_retries();
    Client::new(config).expect("a valid client config")
}

/// An RLM builder whose root and sub model are OpenAI clients of `mock`,
/// sharing the test runtime.
pub fn rlm_for(mock: &MockLlm) -> RlmBuilder {
    let root: Arc<dyn Model> = Arc::new(mock_client(mock, Provider::OpenAi, "mock-root"));
    let sub: Arc<dyn Model> = Arc::new(mock_client(mock, Provider::OpenAi, "mock-sub"));
    Rlm::builder().sandboxes(Arc::new(runtime().clone())).root(root).sub(sub)
}

/// The answer of a completion as a JSON value.
pub fn answer(done: &rlm_engine::Completion) -> serde_json::Value {
    done.answer.as_ref().expect("the run has an answer").to_value()
}

/// Wraps code in a ```repl fence, as a model reply.
pub fn repl(code: &str) -> String {
    format!("Next step.\n```repl\n{code}\n```")
}
