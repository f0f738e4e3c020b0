//! The REPL the engine drives, and what running one cell produced.
//!
//! `rlm-sandbox` implements [`Repl`] and [`ReplFactory`] with a CPython guest
//! in wasmtime; the engine depends only on these traits, so its loop can be
//! tested with a scripted model and a fake REPL in milliseconds.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::{Serialize, Serializer};

use crate::calls::CallHandler;
use crate::context::Context;
use crate::json::JsonText;
use crate::quota::SandboxQuota;
use crate::tools::ToolSpec;

/// Default instruction fuel per cell: about 15 seconds of pure-Python work
/// on one current x86-64 core (measured: ~7 billion units a second).
pub const DEFAULT_FUEL: u64 = 100_000_000_000;
/// The largest memory cap: all a 32-bit wasm memory can address.
pub const MAX_MEMORY_BYTES: usize = 4 << 30;
/// The smallest memory cap: what the interpreter needs to start.
pub const MIN_MEMORY_BYTES: usize = 64 << 20;
/// Default cap on a sandbox's linear memory: 1 GiB, enough for a 100 MB
/// context plus working copies of it.
pub const DEFAULT_MEMORY_BYTES: usize = 1 << 30;
/// Default wall-clock limit per cell.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on each of stdout and stderr per cell: 1 MiB. Tracebacks,
/// error messages and the names of changed variables count against it too.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1 << 20;
/// Default cap on host calls per cell (each prompt of a batch counts as one
/// call, and an empty batch as one).
pub const DEFAULT_MAX_HOST_CALLS: u32 = 2_000;
/// Default cap on the bytes of one value the guest hands the host: a `FINAL`
/// answer, the contexts and prompts of one host call (a whole batch), a
/// variable read. 32 MiB: the host holds it as text, about once.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 32 << 20;

/// Per-sandbox limits. Each one, when hit, ends the cell with its own
/// [`CellErrorKind`] and leaves the host healthy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Instruction fuel per cell; `None` for no fuel limit (the runtime must
    /// then run without fuel metering). By default, [`DEFAULT_FUEL`].
    pub fuel: Option<u64>,
    /// Cap on linear memory in bytes. By default, [`DEFAULT_MEMORY_BYTES`].
    pub memory_bytes: usize,
    /// Wall-clock limit per cell. By default, [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// Cap on each of stdout and stderr per cell, in bytes, counting
    /// `sys.stdout`/`sys.stderr`, raw writes to fd 1 and 2 and tracebacks. By
    /// default, [`DEFAULT_MAX_OUTPUT_BYTES`].
    pub max_output_bytes: usize,
    /// Cap on host calls per cell. By default, [`DEFAULT_MAX_HOST_CALLS`].
    pub max_host_calls: u32,
    /// Cap on one value handed from the guest to the host. By default,
    /// [`DEFAULT_MAX_VALUE_BYTES`].
    pub max_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: Some(DEFAULT_FUEL),
            memory_bytes: DEFAULT_MEMORY_BYTES,
            timeout: DEFAULT_TIMEOUT,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_host_calls: DEFAULT_MAX_HOST_CALLS,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

impl Limits {
    /// Sets [`Limits::fuel`].
    pub fn fuel(mut self, fuel: Option<u64>) -> Self {
        self.fuel = fuel;
        self
    }

    /// Sets [`Limits::memory_bytes`].
    pub fn memory_bytes(mut self, bytes: usize) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// Sets [`Limits::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`Limits::max_output_bytes`].
    pub fn max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// Sets [`Limits::max_host_calls`].
    pub fn max_host_calls(mut self, calls: u32) -> Self {
        self.max_host_calls = calls;
        self
    }

    /// Sets [`Limits::max_value_bytes`].
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// Checks that every limit is in range.
    pub fn validate(&self) -> Result<(), ReplError> {
        let bad = |limit: &'static str, reason: String| Err(ReplError::InvalidLimits { limit, reason });
        if self.fuel == Some(0) {
            return bad("fuel", "must be at least 1".into());
        }
        if self.memory_bytes > MAX_MEMORY_BYTES {
            return bad(
                "memory_bytes",
                format!(
                    "a memory cap of {} MiB is above the 4096 MiB a 32-bit wasm memory can address",
                    self.memory_bytes >> 20
                ),
            );
        }
        if self.memory_bytes < MIN_MEMORY_BYTES {
            return bad(
                "memory_bytes",
                format!("a memory cap of {} MiB is below the 64 MiB the interpreter needs", self.memory_bytes >> 20),
            );
        }
        if self.timeout.is_zero() {
            return bad("timeout", "must be above zero".into());
        }
        if self.timeout > MAX_CELL_TIMEOUT {
            return bad("timeout", format!("must be at most {} hours", MAX_CELL_TIMEOUT.as_secs() / 3600));
        }
        if self.max_output_bytes == 0 {
            return bad("max_output_bytes", "must be at least 1 byte".into());
        }
        if self.max_value_bytes < 1024 {
            return bad("max_value_bytes", "must be at least 1024 bytes".into());
        }
        Ok(())
    }
}

/// The longest wall-clock limit of one cell: a day (deadlines past it would
/// overflow the clock's arithmetic long before they mattered).
pub const MAX_CELL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Why a cell stopped early. Every limit has its own kind, decided from what
/// the host saw, never from what the guest says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CellErrorKind {
    /// The cell raised a Python exception (including `RecursionError`).
    Exception,
    /// The cell used up its instruction fuel.
    FuelExhausted,
    /// The cell passed its wall-clock limit.
    Timeout,
    /// The cell hit the linear-memory cap (or the run's memory budget).
    MemoryLimit,
    /// The cell wrote more than the stdout/stderr cap.
    OutputLimit,
    /// The cell made more host calls than allowed.
    HostCallLimit,
    /// The cell handed the host a value over the size cap, or one JSON cannot
    /// represent faithfully.
    SizeLimit,
    /// The guest trapped or its REPL driver broke.
    Trap,
}

impl CellErrorKind {
    /// Whether this kind is a sandbox limit, as opposed to an exception.
    pub fn is_limit(self) -> bool {
        !matches!(self, CellErrorKind::Exception)
    }

    /// The kind's name as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CellErrorKind::Exception => "exception",
            CellErrorKind::FuelExhausted => "fuel_exhausted",
            CellErrorKind::Timeout => "timeout",
            CellErrorKind::MemoryLimit => "memory_limit",
            CellErrorKind::OutputLimit => "output_limit",
            CellErrorKind::HostCallLimit => "host_call_limit",
            CellErrorKind::SizeLimit => "size_limit",
            CellErrorKind::Trap => "trap",
        }
    }
}

impl fmt::Display for CellErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An early stop of a cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CellError {
    /// Why it stopped.
    pub kind: CellErrorKind,
    /// The host's explanation for limits; the traceback (capped like the
    /// output) for exceptions.
    pub message: String,
}

impl CellError {
    /// An error of `kind` with `message`.
    pub fn new(kind: CellErrorKind, message: impl Into<String>) -> Self {
        CellError { kind, message: message.into() }
    }
}

/// The result of one cell. Every string and list in it that came from the
/// guest is capped.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CellOutcome {
    /// What the cell printed, cut at the cap.
    pub stdout: String,
    /// What the cell wrote to stderr, then the traceback of an exception.
    pub stderr: String,
    /// Set when the cell stopped early.
    pub error: Option<CellError>,
    /// The value passed to `FINAL`/`FINAL_VAR` (or `answer["ready"] = True`)
    /// in this cell, if any. Never set for a cell stopped by a hard limit.
    #[serde(rename = "final")]
    pub final_value: Option<JsonText>,
    /// The `repr` of the cell's trailing expression, as an interactive
    /// interpreter shows it (cut short; `None` is not shown).
    pub display: Option<String>,
    /// User variables the cell added, rebound or changed in place (as far as
    /// a bounded check can see), in name order; at most [`MAX_CHANGED_VARS`].
    /// Serialised as their names.
    #[serde(serialize_with = "names")]
    pub changed_vars: Vec<VarInfo>,
    /// Changed variables not listed because the list was too long.
    pub changed_vars_omitted: u64,
    /// What the host has to say about the cell, apart from its output: cut
    /// output, a restarted sandbox, a refused value. The guest cannot write
    /// these.
    pub notices: Vec<String>,
    /// Fuel the cell used, when fuel is metered.
    pub fuel_used: Option<u64>,
    /// Wall-clock time of the cell.
    #[serde(rename = "elapsed_ms", serialize_with = "millis")]
    pub elapsed: Duration,
    /// `true` when the cell was stopped so hard that its instance had to be
    /// replaced: every variable is gone and the contexts were reloaded.
    pub state_lost: bool,
}

/// How many changed variable names a [`CellOutcome`] lists.
pub const MAX_CHANGED_VARS: usize = 1000;

impl CellOutcome {
    /// Whether the cell ran to the end (or to `FINAL`) without an error.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    /// An outcome with only these fields set, for fakes and tests.
    pub fn new(stdout: impl Into<String>, stderr: impl Into<String>, error: Option<CellError>) -> Self {
        CellOutcome { stdout: stdout.into(), stderr: stderr.into(), error, ..CellOutcome::default() }
    }
}

fn names<S: Serializer>(vars: &[VarInfo], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(vars.iter().map(|v| &v.name))
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// A user variable: its name and Python type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VarInfo {
    /// The variable's name.
    pub name: String,
    /// The name of its Python type.
    pub type_name: String,
}

impl VarInfo {
    /// A variable `name` of type `type_name`.
    pub fn new(name: impl Into<String>, type_name: impl Into<String>) -> Self {
        VarInfo { name: name.into(), type_name: type_name.into() }
    }
}

/// A function defined by helper code or a tool, as the model's prompt lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FunctionInfo {
    /// Its name.
    pub name: String,
    /// Its signature, as Python prints it (`(text, limit=10)`).
    pub signature: String,
    /// Its docstring, first paragraph.
    pub doc: String,
}

impl FunctionInfo {
    /// A function's listing.
    pub fn new(name: impl Into<String>, signature: impl Into<String>, doc: impl Into<String>) -> Self {
        FunctionInfo { name: name.into(), signature: signature.into(), doc: doc.into() }
    }
}

/// Python code loaded into a sandbox before the first cell: its functions
/// become REPL globals the model is told about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HelperSource {
    /// A name for tracebacks (a file name, or `helper`).
    pub name: String,
    /// The code.
    pub code: String,
}

impl HelperSource {
    /// Helper code named `name` (for tracebacks).
    pub fn new(name: impl Into<String>, code: impl Into<String>) -> Self {
        HelperSource { name: name.into(), code: code.into() }
    }
}

/// A sandbox failure on the host side. A Python error or a limit is not one:
/// those are [`CellOutcome`]s that the model sees.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplError {
    /// A limit is out of range.
    #[error("invalid sandbox limit `{limit}`: {reason}")]
    InvalidLimits {
        /// Which limit.
        limit: &'static str,
        /// Why it is out of range.
        reason: String,
    },
    /// No sandbox could be started in time: the pool or the run's quota of
    /// live sandboxes stayed full.
    #[error("no sandbox became free within {waited:?} ({what})")]
    Capacity {
        /// How long it waited.
        waited: Duration,
        /// Which limit was full.
        what: &'static str,
    },
    /// The host could not do what was asked.
    #[error("the sandbox failed while {action}")]
    Host {
        /// What it was doing.
        action: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// A Python REPL with persistent state: the engine runs a model's code in it.
pub trait Repl: Send {
    /// Binds `context_{index}` (and `context` for index 0). Contexts load in
    /// order: 0, 1, 2, ... Reloading an index replaces it.
    fn load_context(&mut self, index: u32, context: Context) -> BoxFuture<'_, Result<(), ReplError>>;

    /// Defines host tools (as Python functions that call the host) and runs
    /// helper code, before the first cell. Returns the functions the helpers
    /// defined, or the message of a helper that failed.
    fn install<'a>(
        &'a mut self,
        tools: &'a [ToolSpec],
        helpers: &'a [HelperSource],
    ) -> BoxFuture<'a, Result<Result<Vec<FunctionInfo>, String>, ReplError>>;

    /// Runs one cell. It ends at `deadline` at the latest (besides the
    /// sandbox's own per-cell limit).
    fn run_cell<'a>(
        &'a mut self,
        code: &'a str,
        deadline: Option<Instant>,
    ) -> BoxFuture<'a, Result<CellOutcome, ReplError>>;

    /// A variable's value as JSON; `Ok(Err(message))` when there is no such
    /// variable or its value cannot cross (too large, not representable).
    fn get_var<'a>(&'a mut self, name: &'a str) -> BoxFuture<'a, Result<Result<JsonText, String>, ReplError>>;

    /// The user variables, in name order.
    fn list_vars(&mut self) -> BoxFuture<'_, Result<Vec<VarInfo>, ReplError>>;
}

/// What a new sandbox gets.
#[derive(Clone)]
#[non_exhaustive]
pub struct SpawnOptions {
    /// Its limits.
    pub limits: Limits,
    /// Who answers its host calls.
    pub handler: Arc<dyn CallHandler>,
    /// The run-wide caps it counts against, if any.
    pub quota: Option<SandboxQuota>,
}

impl SpawnOptions {
    /// A sandbox with these limits whose calls `handler` answers.
    pub fn new(limits: Limits, handler: Arc<dyn CallHandler>) -> Self {
        SpawnOptions { limits, handler, quota: None }
    }

    /// Counts the sandbox against `quota`.
    pub fn quota(mut self, quota: Option<SandboxQuota>) -> Self {
        self.quota = quota;
        self
    }
}

impl fmt::Debug for SpawnOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnOptions").field("limits", &self.limits).field("quota", &self.quota).finish_non_exhaustive()
    }
}

/// Makes fresh REPLs: one per run and per sub-RLM.
pub trait ReplFactory: Send + Sync + fmt::Debug {
    /// A fresh REPL that shares nothing with any other.
    fn spawn(&self, options: SpawnOptions) -> BoxFuture<'_, Result<Box<dyn Repl>, ReplError>>;

    /// Whether limits are acceptable to this factory (for example a fuel
    /// limit needs fuel metering). By default, [`Limits::validate`].
    fn check_limits(&self, limits: &Limits) -> Result<(), ReplError> {
        limits.validate()
    }
}
