//! Settings of a [`Runtime`](crate::Runtime): they are baked into the engine
//! and the compiled guest, and shared by every sandbox it makes.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// Default wasm stack: 8 MiB, so deep Python recursion raises
/// `RecursionError` before the native wasm stack overflows.
pub const DEFAULT_WASM_STACK_BYTES: usize = 8 << 20;
/// Default for [`RuntimeConfig::slot_keep_resident`]: 16 MiB, several times
/// the pages a typical sandbox writes.
pub const DEFAULT_SLOT_KEEP_RESIDENT: usize = 16 << 20;
/// How long after the wall-clock deadline a cell may run before it is
/// interrupted. At the deadline, sleeps and sub-calls end and raise inside
/// Python (the state survives); this grace lets that exception finish the
/// cell. Code still running after it is stopped hard.
pub const HARD_STOP_GRACE: Duration = Duration::from_millis(100);
/// How long after the hard stop a cell blocked outside wasm (in a WASI poll)
/// is given before the host abandons its instance.
pub const ABANDON_GRACE: Duration = Duration::from_millis(200);
/// Default number of sandboxes that can be alive at once in one runtime with
/// the pooling allocator.
pub const DEFAULT_MAX_SANDBOXES: u32 = 2048;
/// Default wait for a free pool slot before a new sandbox fails.
pub const DEFAULT_SLOT_WAIT: Duration = Duration::from_secs(60);
/// Granularity of wall-clock checks without fuel metering: the epoch tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Granularity of wall-clock checks with fuel metering: a sandbox yields to
/// the others on its thread, and checks its deadline, every this much fuel
/// (about one per wasm instruction; typically 2-5 ms of guest time on the
/// machine of `BENCHMARKS.md`, longer when the guest waits on memory). A
/// runtime with fuel compiles no epoch checks: the fuel check at each loop
/// header and function entry does their work, and the host imports that
/// take guest data stop a guest past its hard deadline, since host work is
/// not fuel.
pub const FUEL_YIELD_INTERVAL: u64 = 1 << 22;

/// What a [`Runtime`](crate::Runtime) reports while it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartEvent {
    /// No compiled guest was cached: compiling it now (a few seconds).
    Compiling,
    /// The guest was compiled in this long.
    Compiled(Duration),
    /// The compiled guest could not be cached; it runs from memory and will
    /// be compiled again next time.
    CacheUnwritable,
}

/// A callback for [`StartEvent`]s.
pub type StartObserver = Arc<dyn Fn(StartEvent) + Send + Sync>;

/// Settings shared by every sandbox of one [`Runtime`](crate::Runtime).
#[derive(Clone)]
pub struct RuntimeConfig {
    pub(crate) fuel_metering: bool,
    pub(crate) max_sandboxes: Option<u32>,
    pub(crate) slot_wait: Duration,
    pub(crate) wasm_stack_bytes: usize,
    pub(crate) slot_keep_resident: usize,
    pub(crate) prefault: bool,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) on_start: Option<StartObserver>,
}

impl fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("fuel_metering", &self.fuel_metering)
            .field("max_sandboxes", &self.max_sandboxes)
            .field("slot_wait", &self.slot_wait)
            .field("wasm_stack_bytes", &self.wasm_stack_bytes)
            .field("slot_keep_resident", &self.slot_keep_resident)
            .field("prefault", &self.prefault)
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            fuel_metering: true,
            max_sandboxes: Some(DEFAULT_MAX_SANDBOXES),
            slot_wait: DEFAULT_SLOT_WAIT,
            wasm_stack_bytes: DEFAULT_WASM_STACK_BYTES,
            slot_keep_resident: DEFAULT_SLOT_KEEP_RESIDENT,
            prefault: true,
            cache_dir: default_cache_dir(),
            on_start: None,
        }
    }
}

impl RuntimeConfig {
    /// Starts from the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether wasm code counts fuel. Metering costs about 10% (8-13%) on
    /// the interpreter suite of `BENCHMARKS.md`; without it, a sandbox's fuel
    /// limit must be `None`, and wall-clock limits are checked by epochs
    /// instead of at fuel yields. By default, on.
    pub fn fuel_metering(mut self, on: bool) -> Self {
        self.fuel_metering = on;
        self
    }

    /// How many sandboxes may be alive at once, with their memories, tables,
    /// instances and stacks preallocated in a pool (wasmtime's pooling
    /// allocator): creating and dropping a sandbox then reuses a warm slot
    /// instead of mapping and unmapping memory, which is what makes a wide
    /// fan-out fast. Each slot reserves address space (4 GiB plus guards),
    /// not memory. When every slot is taken, a new sandbox waits for one (see
    /// [`RuntimeConfig::slot_wait`]). `None` allocates every sandbox on
    /// demand, without a cap. By default, [`DEFAULT_MAX_SANDBOXES`].
    pub fn max_sandboxes(mut self, max: Option<u32>) -> Self {
        self.max_sandboxes = max;
        self
    }

    /// How long a new sandbox waits for a free pool slot before it fails with
    /// a capacity error. By default, [`DEFAULT_SLOT_WAIT`].
    pub fn slot_wait(mut self, wait: Duration) -> Self {
        self.slot_wait = wait;
        self
    }

    /// The maximum native stack for wasm frames. By default,
    /// [`DEFAULT_WASM_STACK_BYTES`].
    pub fn wasm_stack_bytes(mut self, bytes: usize) -> Self {
        self.wasm_stack_bytes = bytes;
        self
    }

    /// How much of a pool slot's linear memory may stay resident after its
    /// sandbox ends. The pages the sandbox wrote, up to this many bytes, are
    /// copied back from the guest image instead of released, so the next
    /// sandbox in the slot does not fault them in again (on a multi-core host
    /// each such fault also interrupts the other cores). Each reset copies
    /// every page of the ended sandbox's memory that any sandbox of the slot
    /// wrote, not only the last one's. The cost is idle memory: what each
    /// used slot's sandboxes wrote, up to this much per slot. A sandbox with
    /// no context writes about 1.5 MiB, one that loaded a context that much
    /// plus its text (written into the sandbox's memory once); measured with
    /// a 1,000-child fan-out on 2 cores (BENCHMARKS.md), budgets of 2, 4 and
    /// 16 MiB all gave 2.2 ms of CPU per sub-RLM and about 630 MiB resident
    /// afterwards. Ignored without a pool ([`RuntimeConfig::max_sandboxes`]
    /// `None`). By default, [`DEFAULT_SLOT_KEEP_RESIDENT`].
    pub fn slot_keep_resident(mut self, bytes: usize) -> Self {
        self.slot_keep_resident = bytes;
        self
    }

    /// Whether the runtime, as it starts, runs three sandboxes of its own (a
    /// short text context each, then the first cells `x = 1`,
    /// `FINAL(context)` and one that splits, prints and answers) to learn
    /// which pages of guest memory every one of them wrote at its start and
    /// in its first cell; each new sandbox whose memory was just mapped (a
    /// pool slot's first use, or any sandbox without a pool) then has those
    /// pages faulted in writable at once: the first set when it starts, the
    /// second before its first cell. A page the guest reads before it writes
    /// otherwise costs two faults, the second a copy-on-write that interrupts
    /// the other cores running this process to flush the page from their
    /// TLBs: on 2 cores that was half the CPU of a process's first fan-out
    /// (BENCHMARKS.md). Pages of either set already mapped read-only, to
    /// the guest image or (outside it) to the zero page, are unmapped first
    /// (one call on Linux 6.14+, else one per run of pages); they hold what
    /// the next access would map again.
    /// Costs the start about 9 ms; a sandbox in a fresh slot then holds
    /// about 0.35 MiB at its start and 0.65 MiB more after its first cell
    /// even where its own code would not have written them all. Only where
    /// the pages are is learnt, from the runtime's own sandboxes, never what
    /// they hold. Skipped for a pool of 3 slots or fewer (the learning
    /// sandboxes' slots are reused first, so none would be fresh). Needs
    /// Linux 6.7 or later (`PAGEMAP_SCAN`); elsewhere nothing is learnt and
    /// nothing is faulted in ahead
    /// ([`Runtime::prefault_bytes`](crate::Runtime::prefault_bytes) says
    /// which). By default, on.
    pub fn prefault(mut self, on: bool) -> Self {
        self.prefault = on;
        self
    }

    /// Where compiled guests are cached, or `None` to compile every time. By
    /// default `$RLM_SANDBOX_CACHE_DIR`, else `$XDG_CACHE_HOME/rlm-sandbox`,
    /// else `~/.cache/rlm-sandbox`.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// Called as the runtime starts: whether it compiles the guest, how long
    /// that took, whether the cache could be written. By default, nothing.
    pub fn on_start(mut self, observer: impl Fn(StartEvent) + Send + Sync + 'static) -> Self {
        self.on_start = Some(Arc::new(observer));
        self
    }

    /// Whether a fuel limit can be used with this runtime.
    pub fn meters_fuel(&self) -> bool {
        self.fuel_metering
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_sandboxes == Some(0) {
            return Err(Error::InvalidConfig { setting: "max_sandboxes", reason: "must be at least 1".into() });
        }
        if self.wasm_stack_bytes < (64 << 10) {
            return Err(Error::InvalidConfig {
                setting: "wasm_stack_bytes",
                reason: format!("{} bytes is below the 64 KiB minimum", self.wasm_stack_bytes),
            });
        }
        Ok(())
    }

    pub(crate) fn notify(&self, event: StartEvent) {
        if let Some(observer) = &self.on_start {
            observer(event);
        }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    use rlm_core::env;
    if let Some(dir) = std::env::var_os(env::CACHE_DIR).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os(env::XDG_CACHE_HOME).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("rlm-sandbox"));
    }
    std::env::var_os(env::HOME).map(|home| PathBuf::from(home).join(".cache").join("rlm-sandbox"))
}
