//! Answers the sandbox's `llm_query` and `rlm_query`: sub-model calls and
//! recursive sub-RLMs, each recorded in the trajectory.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use rlm_llm::{Message, ModelRequest, TokenUsage};
use rlm_sandbox::{SubcallError, SubcallHandler};
use serde_json::Value;

use crate::context::ContextInput;
use crate::run::{RunSpec, Shared, run};
use crate::trajectory::SubCall;

/// The instruction a sub-RLM gets besides its `context`.
pub(crate) const CHILD_QUERY: &str = "Do the task given in `context` and return the result with FINAL.";

/// The handler of one run's sandbox at `depth`.
pub(crate) struct EngineHandler {
    shared: Arc<Shared>,
    depth: u32,
    records: Arc<Mutex<Vec<SubCall>>>,
}

impl EngineHandler {
    pub(crate) fn new(shared: Arc<Shared>, depth: u32, records: Arc<Mutex<Vec<SubCall>>>) -> Self {
        EngineHandler { shared, depth, records }
    }
}

impl SubcallHandler for EngineHandler {
    fn llm_query(&self, prompt: String, model: Option<String>) -> BoxFuture<'static, Result<String, SubcallError>> {
        Box::pin(llm_call(self.shared.clone(), self.depth + 1, self.records.clone(), prompt, model))
    }

    fn rlm_query(&self, context: Value, model: Option<String>) -> BoxFuture<'static, Result<Value, SubcallError>> {
        let (shared, depth, records) = (self.shared.clone(), self.depth + 1, self.records.clone());
        if depth > shared.config.max_depth {
            // At the depth limit a sub-RLM is a plain sub-model call.
            let prompt = ContextInput::from(context).as_prompt();
            return Box::pin(async move { llm_call(shared, depth, records, prompt, model).await.map(Value::String) });
        }
        Box::pin(async move {
            let started = Instant::now();
            shared.progress.sub_call();
            let model_name = model.clone().unwrap_or_else(|| shared.sub_model.name().to_owned());
            let spec = RunSpec {
                depth,
                context: ContextInput::from(context.clone()),
                query: CHILD_QUERY.to_owned(),
                model: shared.sub_model.clone(),
                model_override: model,
                max_iterations: shared.config.child_max_iterations,
                system_prompt: shared.config.prompts.child.clone(),
                log: None,
            };
            // A task of its own, so sibling sub-RLMs run on every core; the
            // guard aborts it if this call is dropped.
            let span = tracing::info_span!("sub_call", kind = "rlm", depth);
            let task = AbortOnDrop(tokio::spawn(tracing::Instrument::instrument(run(shared.clone(), spec), span)));
            let result = task.join().await;
            let (response, error, trajectory, outcome) = match result {
                Ok(Ok(out)) => (out.answer.clone(), None, Some(out.trajectory), Ok(out.answer)),
                Ok(Err(failure)) => {
                    let message = format!("sub-RLM stopped ({}): {}", failure.stop.kind, failure.stop.message);
                    (Value::Null, Some(message.clone()), Some(failure.partial.trajectory), Err(SubcallError::new(message)))
                }
                Err(join) => {
                    let message = format!("sub-RLM crashed: {join}");
                    (Value::Null, Some(message.clone()), None, Err(SubcallError::new(message)))
                }
            };
            let (calls, tokens) = trajectory.as_ref().map_or((0, TokenUsage::default()), totals);
            records.lock().unwrap().push(SubCall {
                root_model: model_name.clone(),
                prompt: context,
                response,
                usage_summary: SubCall::usage_summary(&model_name, calls, tokens),
                execution_time: started.elapsed().as_secs_f64(),
                error,
                kind: "rlm",
                depth,
                trajectory: trajectory.map(Box::new),
            });
            outcome
        })
    }
}

/// The calls and tokens of a sub-RLM's own iterations.
fn totals(trajectory: &crate::trajectory::Trajectory) -> (u64, TokenUsage) {
    trajectory.iterations.iter().fold((0, TokenUsage::default()), |(calls, acc), it| {
        (
            calls + 1,
            TokenUsage {
                input_tokens: acc.input_tokens + it.usage.input_tokens,
                output_tokens: acc.output_tokens + it.usage.output_tokens,
            },
        )
    })
}

#[tracing::instrument(name = "sub_call", level = "info", skip_all, fields(kind = "llm", depth))]
async fn llm_call(
    shared: Arc<Shared>,
    depth: u32,
    records: Arc<Mutex<Vec<SubCall>>>,
    prompt: String,
    model: Option<String>,
) -> Result<String, SubcallError> {
    let started = Instant::now();
    shared.progress.sub_call();
    let request = ModelRequest { messages: vec![Message::user(prompt.clone())], model: model.clone() };
    let result = shared.call_model(&shared.sub_model, request, depth).await;
    let model_name = model.unwrap_or_else(|| shared.sub_model.name().to_owned());
    let (response, usage, error) = match &result {
        Ok(reply) => (Value::String(reply.text.clone()), reply.usage, None),
        Err(stop) => (Value::Null, TokenUsage::default(), Some(format!("{}: {}", stop.kind, stop.message))),
    };
    records.lock().unwrap().push(SubCall {
        root_model: model_name.clone(),
        prompt: Value::String(prompt),
        response,
        usage_summary: SubCall::usage_summary(&model_name, u64::from(error.is_none()), usage),
        execution_time: started.elapsed().as_secs_f64(),
        error: error.clone(),
        kind: "llm",
        depth,
        trajectory: None,
    });
    match result {
        Ok(reply) => Ok(reply.text),
        Err(_) => Err(SubcallError::new(error.unwrap_or_default())),
    }
}

/// A spawned task that is aborted when the handle is dropped, so cancelling
/// a completion cancels its sub-RLMs too.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
