//! RLM completions from Python: the settings as JSON, model clients made
//! the way the CLI makes them, host tools answered by Python, and runs and
//! sessions started in the background.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use pyo3::prelude::*;
use rlm_core::{Context, HelperSource, JsonText, Limits, Message, Model, ModelRequest, SamplingOptions, ToolSpec};
use rlm_engine::{
    Completion, Event, EventSink, ModelEntry, ModelRegistry, Price, Prompts, Rlm, RlmConfig, SessionOptions, Tool,
    ToolCall, ToolScope,
};
use rlm_llm::{ApiKey, Client, ClientConfig, Provider, RetryPolicy};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::channel::{Channel, Run, ToolAnswer, ToolRouter};
use crate::error::Error;
use crate::runtime;

/// One model of the registry, as the Python side describes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelSpec {
    /// The name model code and usage summaries know it by.
    name: String,
    /// `openai` (any Chat Completions server) or `anthropic`.
    provider: String,
    /// The provider's model name.
    model: String,
    base_url: Option<String>,
    api_key: Option<String>,
    /// Seconds.
    request_timeout: Option<f64>,
    max_retries: Option<u32>,
    #[serde(default)]
    sampling: SamplingSpec,
    /// Dollars per million input and output tokens.
    price: Option<(f64, f64)>,
    /// Whether the provider reports each call's cost (OpenRouter does).
    reports_cost: Option<bool>,
    /// The model's window in characters.
    context_chars: Option<usize>,
}

/// Sampling options, as `rlms`' `sampling_args` names them (after the
/// Python side has sorted them).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SamplingSpec {
    temperature: Option<f64>,
    top_p: Option<f64>,
    seed: Option<u64>,
    max_completion_tokens: Option<u32>,
    reasoning_effort: Option<String>,
    response_format: Option<Value>,
    #[serde(default)]
    extra_body: Map<String, Value>,
}

impl SamplingSpec {
    fn options(&self) -> SamplingOptions {
        let mut s = SamplingOptions::default();
        s.temperature = self.temperature;
        s.top_p = self.top_p;
        s.seed = self.seed;
        s.max_completion_tokens = self.max_completion_tokens;
        s.reasoning_effort = self.reasoning_effort.clone();
        s.response_format = self.response_format.clone();
        s.extra_body = self.extra_body.clone().into_iter().collect();
        s
    }
}

/// Sandbox limits; each unset one keeps its default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsSpec {
    fuel: Option<u64>,
    /// Run without fuel metering (and so without a fuel limit).
    #[serde(default)]
    fuel_off: bool,
    memory_mb: Option<u64>,
    /// Seconds per cell.
    timeout: Option<f64>,
    max_output_bytes: Option<usize>,
    max_host_calls: Option<u32>,
    max_value_bytes: Option<usize>,
}

impl LimitsSpec {
    /// These limits over `base`.
    pub(crate) fn limits(&self, base: Limits) -> Result<Limits, Error> {
        let mut limits = base;
        if self.fuel_off {
            limits.fuel = None;
        } else if let Some(fuel) = self.fuel {
            limits.fuel = Some(fuel);
        }
        if let Some(mb) = self.memory_mb {
            limits.memory_bytes = usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        }
        if let Some(seconds) = self.timeout {
            limits.timeout = seconds_to_duration("cell timeout", seconds)?;
        }
        if let Some(bytes) = self.max_output_bytes {
            limits.max_output_bytes = bytes;
        }
        if let Some(calls) = self.max_host_calls {
            limits.max_host_calls = calls;
        }
        if let Some(bytes) = self.max_value_bytes {
            limits.max_value_bytes = bytes;
        }
        limits.validate().map_err(|e| Error::Config(e.to_string()))?;
        Ok(limits)
    }

    /// Whether these limits need a runtime with fuel metering.
    pub(crate) fn metered(&self) -> bool {
        !self.fuel_off
    }
}

/// Seconds as a duration, refusing what is not a positive finite number.
pub(crate) fn seconds_to_duration(what: &str, seconds: f64) -> Result<Duration, Error> {
    if seconds.is_finite() && seconds > 0.0 {
        Duration::try_from_secs_f64(seconds).map_err(|e| Error::Config(format!("invalid {what}: {e}")))
    } else {
        Err(Error::Config(format!("invalid {what}: {seconds} is not a positive number of seconds")))
    }
}

/// Python code loaded into every sandbox of a run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HelperSpec {
    name: String,
    code: String,
}

/// A host tool: its spec and which runs see it. Python answers its calls.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolDecl {
    name: String,
    description: String,
    /// A JSON Schema object of its arguments.
    parameters: Value,
    /// `root`, `sub` or `both`.
    scope: String,
}

/// Every setting of an [`Engine`], as JSON from the Python side. Unset
/// numbers keep the engine's defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineSpec {
    models: Vec<ModelSpec>,
    root_model: String,
    sub_model: Option<String>,
    max_iterations: Option<u32>,
    child_max_iterations: Option<u32>,
    max_depth: Option<u32>,
    max_concurrency: Option<usize>,
    max_tokens: Option<u64>,
    max_cost: Option<f64>,
    /// Seconds.
    max_wall_time: Option<f64>,
    max_error_streak: Option<u32>,
    max_output_chars: Option<usize>,
    sub_context_chars: Option<usize>,
    #[serde(default)]
    limits: LimitsSpec,
    root_prompt: Option<String>,
    child_prompt: Option<String>,
    log_dir: Option<PathBuf>,
    #[serde(default)]
    helpers: Vec<HelperSpec>,
    #[serde(default)]
    tools: Vec<ToolDecl>,
    max_live_sandboxes: Option<usize>,
    max_sandbox_memory_mb: Option<u64>,
    /// Share of the root model's window past which a session's older turns
    /// are summarised (`None`: never).
    compact_share: Option<f64>,
}

fn client(spec: &ModelSpec) -> Result<(Arc<dyn Model>, bool), Error> {
    let provider = match spec.provider.as_str() {
        "openai" => Provider::OpenAi,
        "anthropic" => Provider::Anthropic,
        other => return Err(Error::Config(format!("unknown provider `{other}` (expected `openai` or `anthropic`)"))),
    };
    let mut config = ClientConfig::new(provider, &spec.model);
    if let Some(url) = &spec.base_url {
        config.base_url = url.clone();
    }
    config.api_key = spec.api_key.clone().map(ApiKey::new);
    if let Some(seconds) = spec.request_timeout {
        config.request_timeout = seconds_to_duration("request timeout", seconds)?;
    }
    if let Some(retries) = spec.max_retries {
        config.retry = RetryPolicy::new(retries, rlm_llm::DEFAULT_INITIAL_BACKOFF, rlm_llm::DEFAULT_MAX_BACKOFF);
    }
    config.sampling = spec.sampling.options();
    // OpenRouter reports each call's cost itself (as the CLI assumes).
    let reports_cost = spec.reports_cost.unwrap_or_else(|| config.base_url.contains("openrouter.ai"));
    let model = Client::new(config).map_err(|source| Error::Client { model: spec.model.clone(), source })?;
    Ok((Arc::new(model), reports_cost))
}

/// The settings, models and tools of an RLM, checked and ready to start runs.
struct Plan {
    registry: ModelRegistry,
    config: RlmConfig,
    tools: Vec<(ToolSpec, ToolScope)>,
    sandboxes: Arc<rlm_sandbox::Runtime>,
    compact_share: Option<f64>,
}

impl Plan {
    fn new(spec: EngineSpec) -> Result<Plan, Error> {
        let mut registry = ModelRegistry::new();
        for model in &spec.models {
            let (client, reports_cost) = client(model)?;
            let mut entry = ModelEntry::new(client).reports_cost(reports_cost);
            if let Some((input, output)) = model.price {
                entry = entry.price(Some(Price::new(input, output)));
            }
            if let Some(chars) = model.context_chars {
                entry = entry.context_chars(chars);
            }
            registry.insert(model.name.clone(), entry);
        }
        let mut config = RlmConfig::default();
        config.root_model = spec.root_model;
        config.sub_model = spec.sub_model;
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = spec.$field { config.$field = v; } )* };
        }
        set!(max_iterations, child_max_iterations, max_depth, max_concurrency, max_error_streak, max_output_chars);
        set!(max_live_sandboxes);
        config.max_tokens = spec.max_tokens;
        config.max_cost = spec.max_cost;
        config.max_wall_time = spec.max_wall_time.map(|s| seconds_to_duration("timeout", s)).transpose()?;
        config.sub_context_chars = spec.sub_context_chars;
        config.max_sandbox_memory_bytes =
            spec.max_sandbox_memory_mb.map(|mb| usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX));
        config.limits = spec.limits.limits(config.limits.clone())?;
        let mut prompts = Prompts::default();
        if let Some(root) = spec.root_prompt {
            prompts.root = root;
        }
        if let Some(child) = spec.child_prompt {
            prompts.child = child;
        }
        config.prompts = prompts;
        config.log_dir = spec.log_dir;
        config.helpers = spec.helpers.into_iter().map(|h| HelperSource::new(h.name, h.code)).collect();
        let mut tools = Vec::new();
        for tool in spec.tools {
            let scope = match tool.scope.as_str() {
                "root" => ToolScope::Root,
                "sub" => ToolScope::Sub,
                "both" => ToolScope::Both,
                other => return Err(Error::Config(format!("unknown tool scope `{other}`"))),
            };
            let parameters = JsonText::from_value(&tool.parameters);
            tools.push((ToolSpec::new(tool.name, tool.description, parameters), scope));
        }
        if spec.compact_share.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
            return Err(Error::Config("the compaction threshold must be a positive fraction".into()));
        }
        let sandboxes = runtime::sandboxes(spec.limits.metered())?;
        let plan = Plan { registry, config, tools, sandboxes, compact_share: spec.compact_share };
        // Check everything now, so that a bad setting fails the constructor.
        plan.rlm(Arc::default())?;
        Ok(plan)
    }

    /// An `Rlm` whose tools call the run that `router` points at.
    fn rlm(&self, router: Arc<ToolRouter>) -> Result<Rlm, Error> {
        let mut builder =
            Rlm::builder().sandboxes(self.sandboxes.clone()).models(self.registry.clone()).config(self.config.clone());
        for (spec, scope) in &self.tools {
            builder = builder.tool(Arc::new(PyTool { spec: spec.clone(), router: router.clone() }), *scope);
        }
        Ok(builder.build()?)
    }
}

/// A host tool answered by Python through the current run's channel.
struct PyTool {
    spec: ToolSpec,
    router: Arc<ToolRouter>,
}

impl Tool for PyTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: JsonText, call: ToolCall) -> BoxFuture<'static, ToolAnswer> {
        self.router.call(&self.spec.name, &args, call.depth)
    }
}

/// Reads a context passed as `(kind, text)`: `text` or `json`.
pub(crate) fn context(kind: &str, text: String) -> Result<Context, Error> {
    match kind {
        "text" => Ok(Context::from(text)),
        "json" => {
            let json =
                JsonText::parse(&text, usize::MAX).map_err(|e| Error::Config(format!("invalid context: {e}")))?;
            Ok(Context::Json(json))
        }
        other => Err(Error::Config(format!("unknown context kind `{other}`"))),
    }
}

/// An event sink that queues each event as JSON.
fn sink(channel: &Arc<Channel>) -> EventSink {
    let channel = channel.clone();
    Arc::new(move |event: &Event| {
        if let Ok(json) = serde_json::to_string(event) {
            channel.push("event", json);
        }
    })
}

/// A finished or stopped completion as the JSON the Python side reads:
/// `Completion::to_json` plus the trajectory and the last reply.
fn result_json(result: &Result<Completion, rlm_engine::Error>) -> String {
    let (completion, error) = match result {
        Ok(done) => (done, None),
        Err(e) => (&*e.completion, Some(e)),
    };
    let mut value = completion.to_json(error);
    value["trajectory"] = serde_json::to_value(&completion.trajectory).unwrap_or(Value::Null);
    value["last_reply"] = json!(completion.last_reply);
    value.to_string()
}

/// Starts `work` on the runtime; the returned run gets its result.
fn spawn(
    channel: Arc<Channel>,
    cancel: CancellationToken,
    work: impl Future<Output = String> + Send + 'static,
) -> Result<Run, Error> {
    let rt = runtime::tokio()?;
    let finish = channel.clone();
    rt.spawn(async move { finish.finish(work.await) });
    Ok(Run::new(channel, cancel))
}

/// The models, settings and tools of an RLM. Thread-safe; each
/// [`Engine::start`] is an independent completion.
#[pyclass(module = "rlm_sandbox._native", frozen)]
pub(crate) struct Engine {
    plan: Arc<Plan>,
}

#[pymethods]
impl Engine {
    /// Builds the model clients and checks the settings (`ValueError` if
    /// one is wrong). The first engine of a process loads the sandbox guest.
    #[new]
    fn new(py: Python<'_>, spec: &str) -> PyResult<Self> {
        let spec: EngineSpec = serde_json::from_str(spec).map_err(|e| Error::json("engine settings", e))?;
        let plan = py.detach(|| Plan::new(spec))?;
        Ok(Engine { plan: Arc::new(plan) })
    }

    /// Starts a completion of `query` about `contexts` (`(kind, text)`
    /// pairs: the first is `context`, the next `context_1`, ...).
    #[pyo3(signature = (contexts, query))]
    fn start(&self, contexts: Vec<(String, String)>, query: String) -> PyResult<Run> {
        let mut contexts = contexts.into_iter().map(|(k, t)| context(&k, t)).collect::<Result<Vec<_>, _>>()?;
        if contexts.is_empty() {
            contexts.push(Context::default());
        }
        let router = Arc::new(ToolRouter::default());
        let rlm = self.plan.rlm(router.clone())?;
        let channel = Arc::new(Channel::default());
        router.set(channel.clone());
        let cancel = CancellationToken::new();
        let mut rest = contexts.into_iter();
        let mut request = rlm.request(rest.next().unwrap_or_default(), query);
        for more in rest {
            request = request.context(more);
        }
        let request = request.cancel(cancel.clone()).events(sink(&channel));
        Ok(spawn(channel, cancel, async move { result_json(&request.send().await) })?)
    }

    /// Starts one plain call of the root model (no REPL), as `rlms` answers
    /// at `max_depth=0`: `messages` is a JSON list of `{role, content}`.
    fn start_plain(&self, messages: &str) -> PyResult<Run> {
        let messages: Vec<Message> = serde_json::from_str(messages).map_err(|e| Error::json("messages", e))?;
        let name = self.plan.config.root_model.clone();
        let entry = self.plan.registry.get(&name).map_err(Error::Build)?.clone();
        let sampling = entry.sampling.overlay(&self.plan.config.sampling);
        let channel = Arc::new(Channel::default());
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        Ok(spawn(channel, cancel, async move {
            let started = Instant::now();
            let call = entry.model.complete(ModelRequest::new(messages).sampling(sampling));
            let reply = tokio::select! {
                reply = call => reply,
                _ = token.cancelled() => return json!({"error": {"kind": "cancelled", "message": "the call was cancelled"}}).to_string(),
            };
            let seconds = started.elapsed().as_secs_f64();
            match reply {
                Ok(reply) => json!({
                    "text": reply.text,
                    "model": name,
                    "input_tokens": reply.usage.input_tokens,
                    "output_tokens": reply.usage.output_tokens,
                    "cost": reply.cost.or_else(|| entry.price.map(|p| p.cost(reply.usage))),
                    "elapsed": seconds,
                }),
                Err(e) => json!({"error": {"kind": "model", "message": format!("the call to model `{name}` failed: {}", chain(&e))}}),
            }
            .to_string()
        })?)
    }

    /// A persistent REPL and conversation about `context` (`(kind, text)`).
    fn session(&self, context: (String, String)) -> PyResult<Session> {
        let router = Arc::new(ToolRouter::default());
        let rlm = self.plan.rlm(router.clone())?;
        let mut options = SessionOptions::default();
        // `None` never compacts, as `rlms` without `compaction`.
        options.compact_share = self.plan.compact_share.unwrap_or(f64::INFINITY);
        let session = rlm.session_with(crate::engine::context(&context.0, context.1)?, options);
        Ok(Session { session: Arc::new(tokio::sync::Mutex::new(Some(session))), router })
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

type SharedSession = Arc<tokio::sync::Mutex<Option<rlm_engine::Session>>>;

/// A sandbox and a conversation kept across queries (`persistent=True`).
#[pyclass(module = "rlm_sandbox._native", frozen)]
pub(crate) struct Session {
    session: SharedSession,
    router: Arc<ToolRouter>,
}

#[pymethods]
impl Session {
    /// Starts the next query; `context` (`(kind, text)`), if given, is added
    /// first as the next `context_N`.
    #[pyo3(signature = (query, context = None))]
    fn start(&self, query: String, context: Option<(String, String)>) -> PyResult<Run> {
        let context = context.map(|(k, t)| crate::engine::context(&k, t)).transpose()?;
        let channel = Arc::new(Channel::default());
        let cancel = CancellationToken::new();
        let (session, router, token, events) =
            (self.session.clone(), self.router.clone(), cancel.clone(), sink(&channel));
        let query_channel = channel.clone();
        Ok(spawn(channel, cancel, async move {
            let mut guard = session.lock().await;
            let Some(session) = guard.as_mut() else {
                return json!({"error": {"kind": "config", "message": "the session is closed"}}).to_string();
            };
            router.set(query_channel);
            if let Some(context) = context {
                session.add_context(context);
            }
            result_json(&session.request(query).cancel(token).events(events).send().await)
        })?)
    }

    /// The earlier queries and their answers, as JSON.
    fn history(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |s| {
            let entries: Vec<Value> =
                s.history().iter().map(|h| json!({"query": h.query, "answer": h.answer.to_value()})).collect();
            Ok(Value::Array(entries).to_string())
        })
    }

    /// What every query used together, as JSON.
    fn usage(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |s| Ok(serde_json::to_string(s.usage()).unwrap_or_default()))
    }

    /// The REPL's variables, as JSON `[[name, type], ...]`.
    fn vars(&self, py: Python<'_>) -> PyResult<String> {
        let session = self.session.clone();
        let rt = runtime::tokio()?;
        py.detach(|| {
            rt.block_on(async {
                let mut guard = session.lock().await;
                let session = guard.as_mut().ok_or(Error::Closed("the session"))?;
                let vars = session.vars().await.map_err(|e| Error::Config(e.to_string()))?;
                let pairs: Vec<(String, String)> = vars.into_iter().map(|v| (v.name, v.type_name)).collect();
                Ok::<_, Error>(serde_json::to_string(&pairs).unwrap_or_default())
            })
        })
        .map_err(Into::into)
    }

    /// Forgets the sandbox, the conversation and the history.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |s| {
            s.reset();
            Ok(())
        })
    }

    /// Frees the sandbox; later queries fail.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let session = self.session.clone();
        let rt = runtime::tokio()?;
        py.detach(|| drop(rt.block_on(async { session.lock().await.take() })));
        Ok(())
    }
}

impl Session {
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut rlm_engine::Session) -> Result<T, Error> + Send,
    ) -> PyResult<T> {
        let session = self.session.clone();
        let rt = runtime::tokio()?;
        py.detach(|| {
            rt.block_on(async {
                let mut guard = session.lock().await;
                f(guard.as_mut().ok_or(Error::Closed("the session"))?)
            })
        })
        .map_err(Into::into)
    }
}
