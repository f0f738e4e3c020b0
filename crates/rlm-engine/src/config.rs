//! Settings of an [`Rlm`](crate::Rlm).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use rlm_sandbox::Limits;

use crate::prompts::Prompts;
use crate::usage::Price;

/// Default root iterations.
pub const DEFAULT_MAX_ITERATIONS: u32 = 20;
/// Default iterations of each sub-RLM.
pub const DEFAULT_CHILD_MAX_ITERATIONS: u32 = 10;
/// Default sub-RLM levels below the root.
pub const DEFAULT_MAX_DEPTH: u32 = 1;
/// Default model calls in flight at once, for the whole run.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;
/// Default erroring iterations in a row that end a run.
pub const DEFAULT_MAX_ERROR_STREAK: u32 = 5;
/// Default characters of each of stdout and stderr shown to the model per
/// block (head and tail kept).
pub const DEFAULT_MAX_OUTPUT_CHARS: usize = 10_000;
/// Default wall-clock limit of one cell in an RLM run: generous, because a
/// cell may wait for a fan-out of sub-RLMs.
pub const DEFAULT_CELL_TIMEOUT: Duration = Duration::from_secs(600);

/// Every setting of a run, with its default.
#[derive(Clone, Debug)]
pub struct RlmConfig {
    /// Root iterations before one last call asks for the answer. By default,
    /// [`DEFAULT_MAX_ITERATIONS`].
    pub max_iterations: u32,
    /// Iterations of each sub-RLM. By default, [`DEFAULT_CHILD_MAX_ITERATIONS`].
    pub child_max_iterations: u32,
    /// Sub-RLM levels allowed below the root; at the limit `rlm_query`
    /// behaves as `llm_query`. By default, [`DEFAULT_MAX_DEPTH`].
    pub max_depth: u32,
    /// Model calls in flight at once across the whole run. By default,
    /// [`DEFAULT_MAX_CONCURRENCY`].
    pub max_concurrency: usize,
    /// Token budget (input plus output, every model). By default, none.
    pub max_tokens: Option<u64>,
    /// Cost budget in dollars, counted over calls with a price. By default,
    /// none.
    pub max_cost: Option<f64>,
    /// Wall-clock budget of the run. By default, none.
    pub max_wall_time: Option<Duration>,
    /// Erroring iterations in a row that end the run. By default,
    /// [`DEFAULT_MAX_ERROR_STREAK`].
    pub max_error_streak: u32,
    /// Characters of each of stdout and stderr shown to the model per block.
    /// By default, [`DEFAULT_MAX_OUTPUT_CHARS`].
    pub max_output_chars: usize,
    /// Sandbox limits of every cell. By default, the sandbox defaults with a
    /// [`DEFAULT_CELL_TIMEOUT`] wall clock.
    pub limits: Limits,
    /// Prices by model name, for cost accounting. By default, none.
    pub prices: HashMap<String, Price>,
    /// Where to write the JSONL trajectory log. By default, nowhere.
    pub log_dir: Option<PathBuf>,
    /// The system prompts. By default, those in `prompts/`.
    pub prompts: Prompts,
}

impl Default for RlmConfig {
    fn default() -> Self {
        RlmConfig {
            max_iterations: DEFAULT_MAX_ITERATIONS,
            child_max_iterations: DEFAULT_CHILD_MAX_ITERATIONS,
            max_depth: DEFAULT_MAX_DEPTH,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_tokens: None,
            max_cost: None,
            max_wall_time: None,
            max_error_streak: DEFAULT_MAX_ERROR_STREAK,
            max_output_chars: DEFAULT_MAX_OUTPUT_CHARS,
            limits: Limits { timeout: DEFAULT_CELL_TIMEOUT, ..Limits::default() },
            prices: HashMap::new(),
            log_dir: None,
            prompts: Prompts::default(),
        }
    }
}
