//! Helpers shared by the integration tests: one runtime per test process and
//! handlers that record how the sandbox calls the host.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use rlm_sandbox::{Limits, NoBackend, Runtime, RuntimeConfig, Sandbox, SubcallError, SubcallHandler};
use serde_json::Value;

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
pub async fn sandbox_with(limits: Limits, handler: Arc<dyn SubcallHandler>) -> Sandbox {
    runtime().sandbox(limits, handler).await.expect("a sandbox starts")
}

/// A handler that answers `llm_query` with `echo:<prompt>` after `delay`
/// and `rlm_query` with `{"child": <context>}`, and counts what it sees.
/// A prompt containing `FAIL` fails.
#[derive(Debug, Default)]
pub struct RecordingHandler {
    /// How long each call waits before answering.
    pub delay: Duration,
    /// Calls running right now.
    pub in_flight: AtomicUsize,
    /// The most calls that ever ran at once.
    pub max_in_flight: AtomicUsize,
    /// Every single call, in the order it started.
    pub calls: Mutex<Vec<String>>,
    /// Sizes of the batched calls the host received.
    pub batches: Mutex<Vec<usize>>,
}

impl RecordingHandler {
    /// A handler whose calls take `delay`.
    pub fn with_delay(delay: Duration) -> Arc<Self> {
        Arc::new(RecordingHandler { delay, ..Default::default() })
    }

    fn answer<T: Send + 'static>(
        self: &Arc<Self>,
        label: String,
        reply: Result<T, SubcallError>,
    ) -> BoxFuture<'static, Result<T, SubcallError>> {
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

impl SubcallHandler for Shared {
    fn llm_query(&self, prompt: String, _model: Option<String>) -> BoxFuture<'static, Result<String, SubcallError>> {
        let reply = if prompt.contains("FAIL") {
            Err(SubcallError::new(format!("model refused {prompt:?}")))
        } else {
            Ok(format!("echo:{prompt}"))
        };
        self.0.answer(prompt, reply)
    }

    fn rlm_query(&self, context: Value, _model: Option<String>) -> BoxFuture<'static, Result<Value, SubcallError>> {
        let reply = Ok(serde_json::json!({ "child": context }));
        self.0.answer(context.to_string(), reply)
    }

    fn llm_query_batched(
        &self,
        prompts: Vec<String>,
        model: Option<String>,
    ) -> BoxFuture<'static, Vec<Result<String, SubcallError>>> {
        self.0.batches.lock().unwrap().push(prompts.len());
        let calls: Vec<_> = prompts.into_iter().map(|p| self.llm_query(p, model.clone())).collect();
        Box::pin(futures::future::join_all(calls))
    }
}
