//! The shared half of the sandbox: one engine, one compiled guest, one
//! pre-linked instance template, and, without fuel metering, the epoch ticker
//! behind wall-clock limits.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use rlm_core::{CallHandler, Limits, MAX_MEMORY_BYTES, Repl, ReplError, ReplFactory, SpawnOptions};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, ModuleVersionStrategy, PoolingAllocationConfig};

use crate::bindings;
use crate::config::{EPOCH_TICK, RuntimeConfig, StartEvent};
use crate::error::{Error, Result};
use crate::host::{self, HostState};
use crate::sandbox::{LEARNING_RUNS, Sandbox, Template, learn_pages};

/// The guest component, built from `wasm/` by this crate's build script.
pub const GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.wasm"));

/// A hash of every input of [`GUEST_WASM`]: the compiled-cache key.
const GUEST_KEY: &str = env!("RLM_GUEST_KEY");

/// A hash of the vendored wasmtime's sources (`vendor/`, by the build
/// script). Its code generator and serialized modules differ from the
/// published crates of the same version, so compiled code carries this as
/// its version: wasmtime then refuses code compiled by any other build, and
/// the cached guest's name changes with it (see [`cache_path`]).
const WASMTIME_KEY: &str = env!("RLM_WASMTIME_KEY");

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
    template: Arc<Template>,
    config: RuntimeConfig,
    stop_ticker: Arc<AtomicBool>,
    /// One permit per pool slot, so a full pool makes a new sandbox wait
    /// instead of failing; `None` when allocating on demand.
    slots: Option<(u32, Arc<Semaphore>)>,
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
        let (engine, pooled) = match config.max_sandboxes {
            Some(max) => match engine(&config, Some(max)) {
                Ok(engine) => (engine, Some(max)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reserve the sandbox pool; allocating sandboxes on demand");
                    (engine(&config, None).map_err(|e| Error::Engine(e.into()))?, None)
                }
            },
            None => (engine(&config, None).map_err(|e| Error::Engine(e.into()))?, None),
        };
        let component = load_component(&engine, &config)?;

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| Error::Engine(e.into()))?;
        host::add_to_linker(&mut linker).map_err(|e| Error::Engine(e.into()))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| Error::Compile(e.into()))?;
        let pre = bindings::SandboxPre::new(pre).map_err(|e| Error::Compile(e.into()))?;

        let stop_ticker = Arc::new(AtomicBool::new(false));
        if !config.fuel_metering {
            spawn_ticker(engine.clone(), stop_ticker.clone());
        }
        let slots = pooled.map(|n| (n, Arc::new(Semaphore::new(n as usize))));
        let template = Arc::new(Template {
            engine,
            pre,
            fuel_metering: config.fuel_metering,
            start_memory: AtomicUsize::new(0),
            learnt: OnceLock::new(),
        });
        // A pool no larger than the learning sandboxes never has a fresh
        // slot again once they have run (slots go to the module they held).
        if config.prefault && pooled.is_none_or(|n| n as usize > LEARNING_RUNS.len()) {
            learn(&template);
        }
        Ok(Runtime { inner: Arc::new(Inner { template, config, stop_ticker, slots }) })
    }

    /// A fresh sandbox with the given limits, answering host calls with
    /// `handler`. It sees nothing of any other sandbox.
    pub async fn sandbox(&self, limits: Limits, handler: Arc<dyn CallHandler>) -> Result<Sandbox> {
        self.spawn_sandbox(SpawnOptions::new(limits, handler)).await
    }

    /// A fresh sandbox, counted against the options' quota if any.
    pub async fn spawn_sandbox(&self, options: SpawnOptions) -> Result<Sandbox> {
        self.check(&options.limits)?;
        Sandbox::new(self.inner.template.clone(), options, self.slot()).await
    }

    /// Checks limits against this runtime (a fuel limit needs metering).
    pub fn check(&self, limits: &Limits) -> Result<()> {
        limits.validate().map_err(|e| match e {
            ReplError::InvalidLimits { limit, reason } => Error::InvalidConfig { setting: limit, reason },
            other => Error::InvalidConfig { setting: "limits", reason: other.to_string() },
        })?;
        if limits.fuel.is_some() && !self.inner.config.fuel_metering {
            let reason = "a fuel limit needs a runtime with fuel metering on".into();
            return Err(Error::InvalidConfig { setting: "fuel", reason });
        }
        Ok(())
    }

    /// Waits (bounded) for a free pool slot.
    async fn slot(&self) -> Result<Option<OwnedSemaphorePermit>> {
        let Some((_, semaphore)) = &self.inner.slots else { return Ok(None) };
        let wait = self.inner.config.slot_wait;
        match tokio::time::timeout(wait, semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            _ => Err(Error::Capacity { what: "every slot of the runtime's sandbox pool is in use", waited: wait }),
        }
    }

    /// The bytes of guest memory a new sandbox in a fresh pool slot faults
    /// in ahead of use, at its start and before its first cell, as learnt
    /// when the runtime started (see [`RuntimeConfig::prefault`]): at most
    /// these (a page the sandbox's memory has not reached is skipped).
    /// `None` when that is off, for a pool of 3 slots or fewer (the learning
    /// sandboxes' slots are reused first, so no slot would be fresh), or
    /// when nothing was learnt: no `PAGEMAP_SCAN` (Linux 6.7), a learning
    /// sandbox failed (logged), or it learnt more than 8 MiB.
    pub fn prefault_bytes(&self) -> Option<(usize, usize)> {
        let learnt = self.inner.template.learnt.get()?;
        Some((learnt.start.bytes(), learnt.first_cell.bytes()))
    }

    /// The settings this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }
}

/// Builds the engine: with a pool of `pool` sandbox slots, or allocating on
/// demand.
fn engine(config: &RuntimeConfig, pool: Option<u32>) -> wasmtime::Result<Engine> {
    let stack = config.wasm_stack_bytes + (2 << 20);
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(config.fuel_metering)
        // With fuel, the fuel checks bound wall-clock time too (see
        // `FUEL_YIELD_INTERVAL`): a second check in every loop would cost
        // the guest 10-20% for nothing.
        .epoch_interruption(!config.fuel_metering)
        .max_wasm_stack(config.wasm_stack_bytes)
        .async_stack_size(stack)
        .parallel_compilation(true)
        .module_version(ModuleVersionStrategy::Custom(format!("rlm-sandbox-{}", &WASMTIME_KEY[..32])))?;
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
            .linear_memory_keep_resident(config.slot_keep_resident)
            .table_keep_resident(1 << 20);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    Engine::new(&wasm)
}

/// Runs [`learn_pages`] to completion on a thread of its own (with its own
/// executor, as `Runtime::new` may be called from inside one). A failure
/// costs speed only: sandboxes then fault their pages in as they go.
fn learn(template: &Arc<Template>) {
    let template = template.clone();
    let learnt = std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let executor = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                executor.block_on(learn_pages(template)).map_err(anyhow::Error::from)
            })
            .join()
    });
    match learnt {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot learn the pages a sandbox writes; not faulting them in ahead"),
        Err(_) => tracing::warn!("the sandbox that learns the pages a sandbox writes panicked"),
    }
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
    // Covers the settings and the module version, which carries
    // `WASMTIME_KEY` (`engine`).
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!("guest-{}-{:016x}.cwasm", &GUEST_KEY[..16], hasher.finish()))
}

fn load_component(engine: &Engine, config: &RuntimeConfig) -> Result<Component> {
    let from_memory = |bytes: &[u8]| {
        // SAFETY: `bytes` was produced just now by this engine.
        #[allow(unsafe_code)]
        unsafe { Component::deserialize(engine, bytes) }.map_err(|e| Error::Compile(e.into()))
    };
    let compile = || {
        config.notify(StartEvent::Compiling);
        let started = std::time::Instant::now();
        let bytes = engine.precompile_component(GUEST_WASM).map_err(|e| Error::Compile(e.into()))?;
        config.notify(StartEvent::Compiled(started.elapsed()));
        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "compiled the guest component");
        Ok::<_, Error>(bytes)
    };
    let Some(dir) = config.cache_dir.as_deref() else {
        return from_memory(&compile()?);
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
    let bytes = compile()?;
    // A cache that cannot be written must not cost the compiled guest: run
    // from memory and say so once.
    if let Err(e) = write_cache(dir, &path, &bytes) {
        tracing::warn!(error = %e, "cannot cache the compiled guest; running it from memory");
        config.notify(StartEvent::CacheUnwritable);
    }
    from_memory(&bytes)
}

fn write_cache(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let cache_err = |source| Error::Cache { path: path.to_owned(), source };
    fs::create_dir_all(dir).map_err(cache_err)?;
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    fs::write(&partial, bytes).map_err(cache_err)?;
    fs::rename(&partial, path).map_err(cache_err)
}

impl ReplFactory for Runtime {
    fn spawn(&self, options: SpawnOptions) -> BoxFuture<'_, Result<Box<dyn Repl>, ReplError>> {
        Box::pin(async move {
            let sandbox = self.spawn_sandbox(options).await?;
            Ok(Box::new(sandbox) as Box<dyn Repl>)
        })
    }

    fn check_limits(&self, limits: &Limits) -> Result<(), ReplError> {
        self.check(limits).map_err(ReplError::from)
    }
}
