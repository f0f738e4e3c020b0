//! Limits and settings for the runtime and for each sandbox.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Default instruction fuel per cell: about 15 seconds of pure-Python work
/// on one current x86-64 core (measured: ~7 billion units a second).
pub const DEFAULT_FUEL: u64 = 100_000_000_000;
/// The largest memory cap: all a 32-bit wasm memory can address.
pub const MAX_MEMORY_BYTES: usize = 4 << 30;
/// Default cap on a sandbox's linear memory: 1 GiB, enough for a 100 MB
/// context plus working copies of it.
pub const DEFAULT_MEMORY_BYTES: usize = 1 << 30;
/// Default wall-clock limit per cell.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on each of stdout and stderr per cell: 1 MiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1 << 20;
/// Default cap on `llm_query`/`rlm_query` calls per cell (each prompt of a
/// batch counts as one call).
pub const DEFAULT_MAX_HOST_CALLS: u32 = 2_000;
/// Default wasm stack: 8 MiB, so deep Python recursion raises
/// `RecursionError` before the native wasm stack overflows.
pub const DEFAULT_WASM_STACK_BYTES: usize = 8 << 20;
/// How long after the wall-clock deadline a cell may run before it is
/// interrupted. At the deadline, sleeps and sub-calls end and raise inside
/// Python (the state survives); this grace lets that exception finish the
/// cell. Code still running after it is stopped hard.
pub const HARD_STOP_GRACE: Duration = Duration::from_millis(100);
/// How long after the hard stop a cell blocked outside wasm (in a WASI poll)
/// is given before the host abandons its instance.
pub const ABANDON_GRACE: Duration = Duration::from_millis(200);
/// Default number of sandboxes that can be alive at once in one runtime with
/// the pooling allocator; one more fails to start with
/// [`Error::Instantiate`](crate::Error::Instantiate).
pub const DEFAULT_MAX_SANDBOXES: u32 = 2048;
/// Granularity of wall-clock checks: the epoch tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Settings shared by every sandbox of one [`Runtime`](crate::Runtime):
/// they are baked into the engine and the compiled guest.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub(crate) fuel_metering: bool,
    pub(crate) max_sandboxes: Option<u32>,
    pub(crate) wasm_stack_bytes: usize,
    pub(crate) cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            fuel_metering: true,
            max_sandboxes: Some(DEFAULT_MAX_SANDBOXES),
            wasm_stack_bytes: DEFAULT_WASM_STACK_BYTES,
            cache_dir: default_cache_dir(),
        }
    }
}

impl RuntimeConfig {
    /// Starts from the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether wasm code counts fuel. Metering costs about 30% on pure-Python
    /// loops; without it, [`Limits::fuel`] must be `None`. By default, on.
    pub fn fuel_metering(mut self, on: bool) -> Self {
        self.fuel_metering = on;
        self
    }

    /// How many sandboxes may be alive at once, with their memories, tables,
    /// instances and stacks preallocated in a pool (wasmtime's pooling
    /// allocator): creating and dropping a sandbox then reuses a warm slot
    /// instead of mapping and unmapping memory, which is what makes a wide
    /// fan-out fast. Each slot reserves address space (4 GiB plus guards),
    /// not memory. `None` allocates every sandbox on demand, without a cap.
    /// By default, [`DEFAULT_MAX_SANDBOXES`].
    pub fn max_sandboxes(mut self, max: Option<u32>) -> Self {
        self.max_sandboxes = max;
        self
    }

    /// The maximum native stack for wasm frames. By default,
    /// [`DEFAULT_WASM_STACK_BYTES`].
    pub fn wasm_stack_bytes(mut self, bytes: usize) -> Self {
        self.wasm_stack_bytes = bytes;
        self
    }

    /// Where compiled guests are cached, or `None` to compile every time. By
    /// default `$RLM_SANDBOX_CACHE_DIR`, else `$XDG_CACHE_HOME/rlm-sandbox`,
    /// else `~/.cache/rlm-sandbox`.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_sandboxes == Some(0) {
            return Err(Error::InvalidConfig("max sandboxes must be at least 1".into()));
        }
        if self.wasm_stack_bytes < (64 << 10) {
            return Err(Error::InvalidConfig(format!(
                "wasm stack of {} bytes is below the 64 KiB minimum",
                self.wasm_stack_bytes
            )));
        }
        Ok(())
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(crate::env::CACHE_DIR) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("rlm-sandbox"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("rlm-sandbox"))
}

/// Per-sandbox limits. Each one, when hit, ends the cell with its own
/// [`ErrorKind`](crate::ErrorKind) and leaves the host healthy.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Instruction fuel per cell; `None` for no fuel limit. By default,
    /// [`DEFAULT_FUEL`].
    pub fuel: Option<u64>,
    /// Cap on linear memory in bytes. By default, [`DEFAULT_MEMORY_BYTES`].
    pub memory_bytes: usize,
    /// Wall-clock limit per cell. By default, [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// Cap on each of stdout and stderr per cell, in bytes, counting both
    /// `sys.stdout`/`sys.stderr` and raw writes to fd 1 and 2. By default,
    /// [`DEFAULT_MAX_OUTPUT_BYTES`].
    pub max_output_bytes: usize,
    /// Cap on host calls per cell. By default, [`DEFAULT_MAX_HOST_CALLS`].
    pub max_host_calls: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: Some(DEFAULT_FUEL),
            memory_bytes: DEFAULT_MEMORY_BYTES,
            timeout: DEFAULT_TIMEOUT,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_host_calls: DEFAULT_MAX_HOST_CALLS,
        }
    }
}

impl Limits {
    pub(crate) fn validate(&self, runtime: &RuntimeConfig) -> Result<()> {
        if self.fuel.is_some() && !runtime.fuel_metering {
            return Err(Error::InvalidConfig(
                "a fuel limit needs a runtime with fuel metering on".into(),
            ));
        }
        if self.fuel == Some(0) {
            return Err(Error::InvalidConfig("fuel must be at least 1".into()));
        }
        if self.memory_bytes > MAX_MEMORY_BYTES {
            return Err(Error::InvalidConfig(format!(
                "memory cap of {} bytes is above the 4 GiB a 32-bit wasm memory can address",
                self.memory_bytes
            )));
        }
        if self.memory_bytes < (64 << 20) {
            return Err(Error::InvalidConfig(format!(
                "memory cap of {} bytes is below the 64 MiB the interpreter needs",
                self.memory_bytes
            )));
        }
        if self.timeout.is_zero() {
            return Err(Error::InvalidConfig("timeout must be above zero".into()));
        }
        Ok(())
    }
}
