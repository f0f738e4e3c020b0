//! Command-line arguments, as clap sees them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run untrusted, model-written Python in a WebAssembly sandbox, and drive
/// Recursive Language Models on top of it.
#[derive(Debug, Parser)]
#[command(name = "rlm-sandbox", version, propagate_version = true)]
pub struct Cli {
    /// Show more. On `run`: print the run as it happens (each reply, block,
    /// output and sub-call); -vv adds info logs, -vvv debug logs. On `exec`:
    /// -v info logs, -vv debug. `RUST_LOG` overrides the log level.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Python cells in one fresh sandbox, with no model behind it.
    ///
    /// Cells given with `-c` run first, in order, then FILE as one more cell,
    /// all in the same sandbox, so variables persist from cell to cell. A cell
    /// that fails does not stop the ones after it. `llm_query` and `rlm_query`
    /// fail with a clear message here.
    ///
    /// Exit status: 0 when every cell ran without error, 1 when a cell raised
    /// an exception, 2 when a limit stopped a cell, 64 for bad usage.
    Exec(ExecArgs),

    /// Talk to a Recursive Language Model about a context, one query after
    /// another, in one persistent REPL.
    ///
    /// On a terminal: line editing and history; Ctrl-C cancels the query
    /// running (not the session), Ctrl-D ends it. Commands: `/vars` lists the
    /// REPL's variables, `/reset` starts afresh, `/context FILE` adds a
    /// context, `/save FILE` writes the session's trajectory (JSONL),
    /// `/help`, `/quit`. With stdin not a terminal, each line is a query (or
    /// a command) and each answer is printed on stdout.
    ///
    /// Exit status: 0 at the end of input, 64 for bad usage.
    Chat(Box<ChatArgs>),

    /// Answer a query about a context with a Recursive Language Model.
    ///
    /// The context (CONTEXT_FILE, `-` for stdin, or empty) is loaded into a
    /// sandbox as `context`; the root model writes code to explore it, calls
    /// sub-models and sub-RLMs, and ends with FINAL. Prints the answer: a
    /// string as text, anything else as JSON.
    ///
    /// Exit status: 0 on an answer, 1 when a budget or the model stopped the
    /// run, 64 for bad usage (a missing or invalid input file, an invalid
    /// limit, an unwritable log directory), 130 when interrupted (Ctrl-C).
    Run(Box<RunArgs>),

    /// Serve RLM completions over HTTP to many tenants.
    ///
    /// An OpenAI-compatible `POST /v1/chat/completions` (name a profile as
    /// the `model`), a native `POST /v1/rlm/completions`, persistent
    /// sessions, stored trajectories, `/healthz`, `/readyz` and `/metrics`.
    /// With no `--config` (or one without tenants) it runs in dev mode: one
    /// tenant, with a key it generates and prints (or `--dev-key`), and a
    /// `default` profile on `--model`. Stops on SIGTERM or Ctrl-C: runs in
    /// flight get `--shutdown-grace-s` to finish, then are cancelled.
    ///
    /// Exit status: 0 after a clean shutdown, 1 when it cannot start, 64
    /// for bad usage (an invalid configuration).
    Serve(Box<ServeArgs>),

    /// Measure answer quality on tasks modelled on the RLM paper's.
    ///
    /// Generates seeded items (the same seed gives the same items on every
    /// machine) for each task and length, answers them with the RLM (and
    /// with `--base`, with one plain model call), scores them and prints a
    /// table per task, length and mode: score, mean and p90 cost, tokens,
    /// time, iterations and sub-calls. See docs/eval.md.
    ///
    /// Exit status: 0 when every item was run (whatever its score), 1 on an
    /// error, 64 for bad usage.
    Eval(Box<EvalArgs>),

    /// Turn a trajectory log into one self-contained HTML page.
    ///
    /// Opens logs written by `--log-dir`, the service and the official
    /// `rlms`. With `-o`, writes the page; without, serves it on 127.0.0.1
    /// and prints the URL until Ctrl-C.
    ///
    /// Exit status: 0 on success, 1 when the log cannot be read, 64 for bad
    /// usage.
    View(ViewArgs),
}

/// Arguments of `rlm-sandbox eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Tasks, comma-separated: s-niah, oolong, oolong-pairs, multi-hop,
    /// salary, needle, or `all`.
    #[arg(long, value_name = "LIST", default_value = "all")]
    pub task: String,

    /// Context lengths in tokens (one token taken as four characters),
    /// comma-separated: `8k,32k,128k`, from 1k to 16m.
    #[arg(long, value_name = "LIST", default_value = "8k")]
    pub lengths: String,

    /// Items per task and length.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub items: u32,

    /// Seed of the item generators (`--seed` is the model's sampling seed).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub data_seed: u64,

    /// Items answered at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,

    /// Also answer every item with one plain call to the root model, the
    /// context in the prompt.
    #[arg(long)]
    pub base: bool,

    /// With --base: characters of context shown to the plain call (the rest
    /// is cut, with a note in the prompt).
    #[arg(long, value_name = "N", default_value_t = rlm_eval::DEFAULT_BASE_WINDOW)]
    pub base_window: usize,

    /// Write every result and trajectory, and the report as text, JSON and
    /// CSV, here; an eval run again with the same directory skips finished
    /// items.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Arguments of `rlm-sandbox view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// The trajectory log (JSON Lines).
    #[arg(value_name = "LOG.jsonl")]
    pub log: PathBuf,

    /// Write the page here instead of serving it.
    #[arg(short, long, value_name = "FILE.html")]
    pub output: Option<PathBuf>,

    /// Where to serve the page (loopback only).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
}

/// Arguments of `rlm-sandbox serve`. Each overrides the configuration
/// file's key of the same name.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration: tenants, profiles and limits (TOML; see
    /// docs/deploy.md).
    #[arg(long, value_name = "FILE", env = rlm_core::env::SERVE_CONFIG)]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR", env = rlm_core::env::SERVE_LISTEN)]
    pub listen: Option<std::net::SocketAddr>,

    /// The store: `sqlite://PATH` or `postgres://USER:PASS@HOST/DB`
    /// [default: sqlite in $XDG_DATA_HOME/rlm-sandbox/serve.db].
    #[arg(long, value_name = "URL", env = rlm_core::env::DATABASE_URL, hide_env_values = true)]
    pub database_url: Option<String>,

    /// This replica's name, unique among replicas sharing a database
    /// [default: local].
    #[arg(long, value_name = "NAME", env = rlm_core::env::SERVE_REPLICA)]
    pub replica: Option<String>,

    /// Cap on a request body, in bytes [default: 67108864].
    #[arg(long, value_name = "N")]
    pub body_limit_bytes: Option<usize>,

    /// Time to receive a request's headers, and how long an idle
    /// connection is kept, in seconds [default: 30].
    #[arg(long, value_name = "S")]
    pub header_timeout_s: Option<u64>,

    /// Time to receive a request's body, in seconds [default: 120].
    #[arg(long, value_name = "S")]
    pub body_timeout_s: Option<u64>,

    /// Time runs in flight get to finish after SIGTERM, in seconds
    /// [default: 30].
    #[arg(long, value_name = "S")]
    pub shutdown_grace_s: Option<u64>,

    /// Idle time after which a session is evicted, in seconds [default: 1800].
    #[arg(long, value_name = "S")]
    pub session_ttl_s: Option<u64>,

    /// Runs in flight across every tenant [default: 256].
    #[arg(long, value_name = "N")]
    pub max_runs_in_flight: Option<usize>,

    /// Interval of keep-alive comments on streamed responses, in seconds
    /// [default: 15].
    #[arg(long, value_name = "S")]
    pub keep_alive_s: Option<u64>,

    /// Wall-clock budget of every run, in seconds; requests and profiles may
    /// set less [default: 600].
    #[arg(long, value_name = "S")]
    pub run_timeout_s: Option<u64>,

    /// Sandboxes alive at once across every tenant [default: 1024].
    #[arg(long, value_name = "N")]
    pub max_sandboxes: Option<usize>,

    /// Linear memory of every tenant's sandboxes together, in MiB
    /// [default: half of the machine's memory].
    #[arg(long, value_name = "N")]
    pub max_sandbox_memory_mb: Option<usize>,

    /// Open connections at once; more wait in the kernel's backlog
    /// [default: 4096].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Dev mode: the `default` profile's model [default: gpt-4o-mini].
    #[arg(long, value_name = "M", env = rlm_core::env::MODEL)]
    pub model: Option<String>,

    /// Dev mode: the `default` profile's API.
    #[arg(long, value_parser = ["openai", "anthropic"])]
    pub provider: Option<String>,

    /// Dev mode: the `default` profile's base URL.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Dev mode: accept this key instead of generating one.
    #[arg(long, value_name = "KEY", env = rlm_core::env::SERVE_DEV_KEY, hide_env_values = true)]
    pub dev_key: Option<String>,
}

/// Arguments of `rlm-sandbox run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The question to answer about the context.
    #[arg(short, long)]
    pub query: String,

    /// The context: `*.json` is parsed as JSON, anything else is text; `-`
    /// reads text from stdin. Without it the context is empty.
    #[arg(value_name = "CONTEXT_FILE")]
    pub context: Option<PathBuf>,

    /// Print one JSON object with the answer, usage and any error.
    #[arg(long)]
    pub json: bool,

    /// Write every run event (iterations, replies, blocks, sub-calls, usage)
    /// to this file as JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,

    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Arguments of `rlm-sandbox chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The context of the session: `*.json` is parsed as JSON, anything else
    /// is text. Without it the context is empty; `/context FILE` adds more.
    #[arg(value_name = "CONTEXT_FILE")]
    pub context: Option<PathBuf>,

    /// Write every run event (iterations, replies, blocks, sub-calls, usage)
    /// to this file as JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,

    #[command(flatten)]
    pub engine: EngineArgs,
}

/// The models, limits and prompts of a run or a chat.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// The model API: `openai` (any Chat Completions endpoint) or `anthropic`.
    #[arg(long, value_enum, default_value_t = ProviderArg::Openai)]
    pub provider: ProviderArg,

    /// The API's base URL (for OpenAI-compatible servers, the part before
    /// `/chat/completions`). By default the provider's official endpoint.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// The API key. By default `$OPENAI_API_KEY` or `$ANTHROPIC_API_KEY`;
    /// not needed for local servers.
    #[arg(long, value_name = "KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// The root model.
    #[arg(long, value_name = "M", env = rlm_core::env::MODEL)]
    pub model: String,

    /// The model for `llm_query` and sub-RLMs. By default the root model.
    #[arg(long, value_name = "M")]
    pub sub_model: Option<String>,

    /// The sub-model's API, when it differs from the root's.
    #[arg(long, value_enum)]
    pub sub_provider: Option<ProviderArg>,

    /// The sub-model's base URL, when it differs from the root's.
    #[arg(long, value_name = "URL")]
    pub sub_base_url: Option<String>,

    /// The environment variable holding the sub-model's API key, when it
    /// differs from the root's.
    #[arg(long, value_name = "VAR")]
    pub sub_api_key_env: Option<String>,

    /// Characters a sub-model call may carry: stated in the prompt, and a
    /// longer `llm_query` prompt is refused before it is sent.
    #[arg(long, value_name = "N", default_value_t = rlm_engine::DEFAULT_CONTEXT_CHARS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(100..))]
    pub sub_context_chars: usize,

    #[command(flatten)]
    pub sampling: SamplingArgs,

    /// Root iterations before one last call asks for the answer.
    #[arg(long, value_name = "N", default_value_t = rlm_engine::DEFAULT_MAX_ITERATIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_iterations: u32,

    /// Iterations of each sub-RLM.
    #[arg(long, value_name = "N", default_value_t = rlm_engine::DEFAULT_CHILD_MAX_ITERATIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub child_max_iterations: u32,

    /// Sub-RLM levels allowed below the root (0: `rlm_query` acts as
    /// `llm_query`).
    #[arg(long, value_name = "D", default_value_t = rlm_engine::DEFAULT_MAX_DEPTH)]
    pub max_depth: u32,

    /// Model calls in flight at once, for the whole run.
    #[arg(long, value_name = "N", default_value_t = rlm_engine::DEFAULT_MAX_CONCURRENCY,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_concurrency: usize,

    /// Token budget (input plus output, all models and depths).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,

    /// Cost budget in dollars (counts calls to models given a `--price`).
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,

    /// A model's price in dollars per million tokens, as
    /// `MODEL=INPUT/OUTPUT` (for example `gpt-4o-mini=0.15/0.6`); repeatable.
    #[arg(long, value_name = "MODEL=IN/OUT", value_parser = crate::models::parse_price)]
    pub price: Vec<(String, rlm_engine::Price)>,

    /// Wall-clock budget of the whole run, in seconds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_s: Option<u64>,

    /// Erroring iterations in a row that end the run.
    #[arg(long, value_name = "N", default_value_t = rlm_engine::DEFAULT_MAX_ERROR_STREAK,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_error_streak: u32,

    /// Characters of each of stdout and stderr shown to the model per block;
    /// longer output keeps its head and tail with a marker saying how much
    /// was cut.
    #[arg(long, value_name = "N", default_value_t = rlm_engine::DEFAULT_MAX_OUTPUT_CHARS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(100..))]
    pub max_output_chars: usize,

    /// Timeout of one model request, in seconds.
    #[arg(long, value_name = "N", default_value_t = rlm_llm::DEFAULT_REQUEST_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_s: u64,

    /// Retries of a model request after a 429, 5xx, timeout or dropped
    /// connection (exponential backoff with jitter, honouring `Retry-After`).
    #[arg(long, value_name = "N", default_value_t = rlm_llm::DEFAULT_MAX_RETRIES)]
    pub max_retries: u32,

    /// Sandboxes of the run alive at once (the root and its sub-RLMs); a
    /// new one waits for a free slot.
    #[arg(long, value_name = "N", default_value_t = rlm_core::DEFAULT_MAX_LIVE_SANDBOXES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_live_sandboxes: usize,

    /// Linear memory all sandboxes of the run may hold together, in MiB;
    /// growth past it fails in the guest with `MemoryError` (`memory_limit`).
    /// By default, half of the machine's memory.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(64..))]
    pub max_total_memory_mb: Option<u64>,

    /// Wall-clock limit of one cell, in seconds (a cell may wait for many
    /// sub-RLMs).
    #[arg(long, value_name = "N", default_value_t = rlm_engine::DEFAULT_CELL_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub cell_timeout_s: u64,

    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// Replace the root system prompt with this file's text.
    #[arg(long, value_name = "F")]
    pub prompt_file: Option<PathBuf>,

    /// Replace the sub-RLM system prompt with this file's text.
    #[arg(long, value_name = "F")]
    pub child_prompt_file: Option<PathBuf>,

    /// Write the run's trajectory as JSONL (the official `rlms` log format)
    /// into this directory.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// Python code loaded into every sandbox of the run (root and sub-RLMs)
    /// before the first cell; its functions are listed in the prompt.
    /// Repeatable.
    #[arg(long, value_name = "FILE.py")]
    pub helpers: Vec<PathBuf>,

    /// Start this Model Context Protocol server (a command line, split as a
    /// shell would, run without a shell) and let model code call its tools.
    /// The tools run on this machine, outside the sandbox, with your
    /// permissions: give only servers you trust. Repeatable.
    #[arg(long, value_name = "COMMAND")]
    pub mcp: Vec<String>,

    /// Reach a Model Context Protocol server over streamable HTTP and let
    /// model code call its tools. Repeatable.
    #[arg(long, value_name = "URL")]
    pub mcp_url: Vec<String>,

    /// Which runs see the MCP tools: the root, sub-RLMs, or both.
    #[arg(long, value_enum, default_value_t = ScopeArg::Both)]
    pub mcp_scope: ScopeArg,

    /// SRLM candidate search: run the root this many times, independently
    /// (fresh sandboxes, one shared budget), and pick one answer by
    /// self-consistency, then confidence x trace length (1 to 64).
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(rlm_engine::MAX_CANDIDATES)))]
    pub candidates: u32,

    /// Candidates running at once (by default all of them).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub candidate_parallel: Option<u64>,

    /// Sampling temperature of the candidates' root calls (by default the
    /// root's own).
    #[arg(long, value_name = "T")]
    pub candidate_temperature: Option<f64>,

    /// Ask the root model for its confidence at every step, kept in the
    /// trajectory and used to pick among agreeing candidates.
    #[arg(long)]
    pub confidence: bool,

    /// Run every candidate to the end, even when a strict majority already
    /// agrees.
    #[arg(long)]
    pub no_early_stop: bool,

    /// A context shorter than this many characters skips the REPL: one plain
    /// model call answers with the context in its prompt.
    #[arg(long, value_name = "CHARS")]
    pub direct_threshold: Option<usize>,

    /// A JSON Schema the final answer must match. An answer that does not
    /// match is shown its errors and the model tries again, within the
    /// iteration budget; the prompt shows the schema.
    #[arg(long, value_name = "FILE.json")]
    pub answer_schema: Option<PathBuf>,
}

/// `--mcp-scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScopeArg {
    /// The root run only.
    Root,
    /// Sub-RLMs only.
    Sub,
    /// Every run.
    Both,
}

impl From<ScopeArg> for rlm_engine::ToolScope {
    fn from(scope: ScopeArg) -> Self {
        match scope {
            ScopeArg::Root => rlm_engine::ToolScope::Root,
            ScopeArg::Sub => rlm_engine::ToolScope::Sub,
            ScopeArg::Both => rlm_engine::ToolScope::Both,
        }
    }
}

/// Sampling options of `run`, passed where the provider takes them.
#[derive(Debug, Args)]
pub struct SamplingArgs {
    /// Sampling temperature.
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,

    /// Nucleus sampling.
    #[arg(long, value_name = "P")]
    pub top_p: Option<f64>,

    /// Sampling seed, where the provider takes one.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Cap on reply tokens of every model call (Anthropic's `max_tokens`,
    /// 8192 when not given).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_completion_tokens: Option<u32>,

    /// Reasoning effort for models that take one (`low`, `medium`, `high`).
    #[arg(long, value_name = "EFFORT")]
    pub reasoning_effort: Option<String>,

    /// A JSON object merged into every request body (for example
    /// `{"chat_template_kwargs": {"enable_thinking": false}}` for vLLM).
    #[arg(long, value_name = "JSON", value_parser = parse_object)]
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,

    /// A `response_format` object passed through to OpenAI-compatible servers.
    #[arg(long, value_name = "JSON", value_parser = parse_object)]
    pub response_format: Option<serde_json::Map<String, serde_json::Value>>,
}

fn parse_object(s: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str(s) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("expected a JSON object".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// The `--provider` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderArg {
    /// OpenAI Chat Completions, or any server compatible with it.
    Openai,
    /// The Anthropic Messages API.
    Anthropic,
}

/// Sandbox limits shared by `exec` and `run`.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Instruction fuel per cell, or `off` to run without fuel metering
    /// (about 10% faster; the wall-clock limit still applies).
    #[arg(long, value_name = "N|off", default_value_t = Fuel::Limit(rlm_sandbox::DEFAULT_FUEL))]
    pub fuel: Fuel,

    /// Cap on the sandbox's linear memory, in MiB (at least 64).
    #[arg(long, value_name = "N", default_value_t = (rlm_sandbox::DEFAULT_MEMORY_BYTES >> 20) as u64)]
    pub memory_mb: u64,

    /// Cap on each of stdout and stderr per cell, in bytes; output past it is
    /// dropped with a visible marker and the cell stops.
    #[arg(long, value_name = "N", default_value_t = rlm_sandbox::DEFAULT_MAX_OUTPUT_BYTES as u64)]
    pub max_output_bytes: u64,

    /// Cap on host calls (`llm_query`, `rlm_query`, tools) per cell; each
    /// prompt of a batch counts, and an empty batch counts as one.
    #[arg(long, value_name = "N", default_value_t = rlm_sandbox::DEFAULT_MAX_HOST_CALLS)]
    pub max_host_calls: u32,

    /// Cap on one value handed from the sandbox to the host, in bytes of
    /// JSON: a FINAL answer, the arguments of one host call (a whole batch),
    /// a variable read.
    #[arg(long, value_name = "N", default_value_t = rlm_sandbox::DEFAULT_MAX_VALUE_BYTES as u64)]
    pub max_value_bytes: u64,
}

impl SandboxArgs {
    /// The sandbox limits these flags ask for, with `timeout` per cell.
    pub fn limits(&self, timeout: std::time::Duration) -> rlm_sandbox::Limits {
        let mut limits = rlm_sandbox::Limits::default();
        limits.fuel = match self.fuel {
            Fuel::Limit(n) => Some(n),
            Fuel::Off => None,
        };
        limits.memory_bytes = usize::try_from(self.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        limits.timeout = timeout;
        limits.max_output_bytes = usize::try_from(self.max_output_bytes).unwrap_or(usize::MAX);
        limits.max_host_calls = self.max_host_calls;
        limits.max_value_bytes = usize::try_from(self.max_value_bytes).unwrap_or(usize::MAX);
        limits
    }

    /// The runtime settings these flags need.
    pub fn runtime_config(&self) -> rlm_sandbox::RuntimeConfig {
        rlm_sandbox::RuntimeConfig::new().fuel_metering(self.fuel != Fuel::Off)
    }

    /// The limits, checked: an out-of-range value is a usage error.
    pub fn checked_limits(&self, timeout: std::time::Duration) -> Result<rlm_sandbox::Limits, UsageError> {
        let limits = self.limits(timeout);
        limits.validate().map_err(|e| UsageError(e.to_string()))?;
        Ok(limits)
    }
}

/// Arguments of `rlm-sandbox exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// A cell to run; repeatable, cells run in order in one sandbox.
    #[arg(short = 'c', long = "code", value_name = "CODE")]
    pub code: Vec<String>,

    /// A Python file run as one cell after the `-c` cells ('-' reads stdin).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Load `context` from a file: `*.json` is parsed as JSON, anything else
    /// is text. Repeat it for `context_1`, `context_2`, ...
    #[arg(long = "context-file", value_name = "PATH")]
    pub context_files: Vec<PathBuf>,

    /// Wall-clock limit per cell, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = rlm_sandbox::DEFAULT_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,

    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// Print one JSON object per cell (JSON Lines) instead of the cell's
    /// output.
    #[arg(long)]
    pub json: bool,
}

/// The `--fuel` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fuel {
    /// This much fuel per cell.
    Limit(u64),
    /// No metering.
    Off,
}

impl std::str::FromStr for Fuel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "off" {
            return Ok(Fuel::Off);
        }
        match s.replace('_', "").parse::<u64>() {
            Ok(0) => Err("fuel must be at least 1 (or `off`)".into()),
            Ok(n) => Ok(Fuel::Limit(n)),
            Err(_) => Err(format!("`{s}` is not a number or `off`")),
        }
    }
}

impl std::fmt::Display for Fuel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fuel::Limit(n) => write!(f, "{n}"),
            Fuel::Off => f.write_str("off"),
        }
    }
}

/// A usage error found after parsing; exits with status 64.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
