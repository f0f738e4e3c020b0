//! The shared half of the sandbox: one engine, one compiled guest, one
//! pre-linked instance template, and the epoch ticker behind wall-clock limits.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings;
use crate::config::{EPOCH_TICK, Limits, MAX_MEMORY_BYTES, RuntimeConfig};
use crate::error::{Error, Result};
use crate::handler::SubcallHandler;
use crate::sandbox::Sandbox;
use crate::state::HostState;

/// The guest component, built from `wasm/` by this crate's build script.
pub const GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.wasm"));

/// A hash of every input of [`GUEST_WASM`]: the compiled-cache key.
const GUEST_KEY: &str = env!("RLM_GUEST_KEY");

// Pool slots per sandbox, sized for the componentize-py guest (CPython, the
// WASI adapter and their shims) with room to spare.
const CORE_INSTANCES_PER_SANDBOX: u32 = 32;
const MEMORIES_PER_SANDBOX: u32 = 2;
const TABLES_PER_SANDBOX: u32 = 8;
const TABLE_ELEMENTS: usize = 50_000;

/// Creates sandboxes. Cheap to clone; every clone shares the engine and the
/// compiled guest, so only the first [`Runtime::new`] on a machine pays the
/// compile (a few seconds) and later ones load the cached artefact.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    pre: bindings::SandboxPre<HostState>,
    config: RuntimeConfig,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine and loads (or compiles and caches) the guest.
    pub fn new(config: RuntimeConfig) -> Result<Runtime> {
        config.validate()?;
        let engine = match config.max_sandboxes {
            Some(max) => engine(&config, Some(max)).or_else(|e| {
                tracing::warn!(error = %e, "cannot reserve the sandbox pool; allocating sandboxes on demand");
                engine(&config, None)
            }),
            None => engine(&config, None),
        }
        .map_err(|e| Error::Engine(e.into()))?;
        let component = load_component(&engine, config.cache_dir.as_deref())?;

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| Error::Engine(e.into()))?;
        bindings::Sandbox::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(|e| Error::Engine(e.into()))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| Error::Compile(e.into()))?;
        let pre = bindings::SandboxPre::new(pre).map_err(|e| Error::Compile(e.into()))?;

        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), stop_ticker.clone());
        Ok(Runtime { inner: Arc::new(Inner { engine, pre, config, stop_ticker }) })
    }

    /// A fresh sandbox with the given limits, answering sub-calls with
    /// `handler`. It sees nothing of any other sandbox.
    pub async fn sandbox(&self, limits: Limits, handler: Arc<dyn SubcallHandler>) -> Result<Sandbox> {
        limits.validate(&self.inner.config)?;
        Sandbox::new(self.clone(), limits, handler).await
    }

    /// The settings this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn pre(&self) -> &bindings::SandboxPre<HostState> {
        &self.inner.pre
    }
}

/// Builds the engine: with a pool of `pool` sandbox slots, or allocating on
/// demand.
fn engine(config: &RuntimeConfig, pool: Option<u32>) -> wasmtime::Result<Engine> {
    let stack = config.wasm_stack_bytes + (2 << 20);
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(config.fuel_metering)
        .epoch_interruption(true)
        .max_wasm_stack(config.wasm_stack_bytes)
        .async_stack_size(stack)
        .parallel_compilation(true);
    if let Some(n) = pool {
        let mut pooling = PoolingAllocationConfig::new();
        pooling
            .total_component_instances(n)
            .total_core_instances(n * CORE_INSTANCES_PER_SANDBOX)
            .max_core_instances_per_component(CORE_INSTANCES_PER_SANDBOX)
            .total_memories(n * MEMORIES_PER_SANDBOX)
            .max_memories_per_component(MEMORIES_PER_SANDBOX)
            .total_tables(n * TABLES_PER_SANDBOX)
            .max_tables_per_component(TABLES_PER_SANDBOX)
            .total_stacks(n)
            .table_elements(TABLE_ELEMENTS)
            .max_memory_size(MAX_MEMORY_BYTES)
            .max_unused_warm_slots(n)
            .pagemap_scan(Enabled::Auto)
            .async_stack_keep_resident(1 << 20)
            .linear_memory_keep_resident(16 << 20)
            .table_keep_resident(1 << 20);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    Engine::new(&wasm)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the runtime drops;
/// each running store checks its wall-clock deadline on every tick.
fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("rlm-sandbox-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("cannot spawn the epoch thread");
}

/// The path of the cached compiled guest for this engine's settings.
fn cache_path(engine: &Engine, dir: &Path) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!("guest-{}-{:016x}.cwasm", &GUEST_KEY[..16], hasher.finish()))
}

fn load_component(engine: &Engine, cache_dir: Option<&Path>) -> Result<Component> {
    let compile = || engine.precompile_component(GUEST_WASM).map_err(|e| Error::Compile(e.into()));
    let Some(dir) = cache_dir else {
        let bytes = compile()?;
        // SAFETY: `bytes` was produced just now by this engine.
        #[allow(unsafe_code)]
        return unsafe { Component::deserialize(engine, &bytes) }.map_err(|e| Error::Compile(e.into()));
    };
    let path = cache_path(engine, dir);
    if path.exists() {
        // SAFETY: the file is written only by this function, atomically, under
        // a name that pins the guest and the engine settings; wasmtime checks
        // its header and rejects artefacts from another version or config.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring unusable compiled guest"),
        }
    }
    let started = std::time::Instant::now();
    let bytes = compile()?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "compiled the guest component");
    let cache_err = |source| Error::Cache { path: path.clone(), source };
    fs::create_dir_all(dir).map_err(cache_err)?;
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    fs::write(&partial, &bytes).map_err(cache_err)?;
    fs::rename(&partial, &path).map_err(cache_err)?;
    // SAFETY: as above; the file holds the bytes just compiled.
    #[allow(unsafe_code)]
    unsafe { Component::deserialize_file(engine, &path) }.map_err(|e| Error::Compile(e.into()))
}
