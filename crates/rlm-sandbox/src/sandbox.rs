//! One sandbox: a fresh guest instance, its contexts, and the REPL in it.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rlm_core::{
    CellOutcome, Context, FunctionInfo, HelperSource, JsonText, Limits, LivePermit, MAX_CHANGED_VARS, Repl, ReplError,
    SpawnOptions, ToolSpec, VarInfo,
};
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::{Store, UpdateDeadline, WrittenPages};

use crate::bindings::{self, repl};
use crate::config::{ABANDON_GRACE, FUEL_YIELD_INTERVAL, HARD_STOP_GRACE};
use crate::error::{Error, Result};
use crate::host::{CallState, HostState, PendingText, TextShape};
use crate::outcome::{Returned, Seen, classify};
use crate::output::Output;

/// The notice a cell's outcome carries when its instance was replaced.
const RESTARTED: &str =
    "the sandbox was restarted: every variable, function and import is gone; the contexts were reloaded";

/// A Python REPL in its own WebAssembly instance. Variables persist across
/// [`Sandbox::run_cell`] calls; no other sandbox sees them.
pub struct Sandbox {
    template: Arc<Template>,
    options: SpawnOptions,
    /// `None` after a hard stop, until the next use replaces it.
    instance: Option<Instance>,
    /// Kept so that a fresh instance can get them back after a hard stop.
    contexts: Vec<Context>,
    installed: Option<(Vec<ToolSpec>, Vec<HelperSource>)>,
    _slot: Option<OwnedSemaphorePermit>,
    _live: Option<LivePermit>,
}

struct Instance {
    store: Store<HostState>,
    guest: bindings::Sandbox,
    /// Whether the first cell's learnt pages are still to be faulted in.
    cell_pages_due: bool,
}

/// The pages of guest memory a sandbox writes, learnt from the runtime's own
/// sandboxes (see [`RuntimeConfig::prefault`](crate::RuntimeConfig::prefault)).
pub(crate) struct LearntPages {
    /// Written by instantiation and loading a context.
    pub(crate) start: WrittenPages,
    /// Written by the first cell, and not at the start.
    pub(crate) first_cell: WrittenPages,
}

/// The most a sandbox faults in ahead of use, so that a learning run that
/// wrote far more than usual cannot make every sandbox hold it.
const MAX_LEARNT_BYTES: usize = 8 << 20;

/// The learning sandboxes' contexts and first cells: binding a name, a
/// sub-RLM's usual answer, and a common first cell (read the context, print,
/// answer). Only the pages all of them write are learnt, so a sandbox is not
/// made to hold pages that only one kind of cell writes.
pub(crate) const LEARNING_RUNS: [(&str, &str); 3] = [
    ("The runtime's own sandbox, run once as it starts.", "x = 1"),
    ("One more of the runtime's own.", "FINAL(context)"),
    ("Another of the runtime's own, with other text.", "n = len(context.split())\nprint(context[:20], n)\nFINAL(n)"),
];

/// What a new instance is made from: the engine, the pre-linked guest,
/// whether fuel is metered, and the pages a new sandbox faults in at once. The
/// [`Runtime`](crate::Runtime) owns one and hands it to every sandbox, which
/// keeps it to replace a broken instance.
pub(crate) struct Template {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) pre: bindings::SandboxPre<HostState>,
    pub(crate) fuel_metering: bool,
    /// Linear memory a fresh instance holds, learnt from the first ones:
    /// reserved in the quota before a start, so a full quota makes a start
    /// wait rather than fail.
    pub(crate) start_memory: AtomicUsize,
    /// Set once, by [`learn_pages`], before the runtime hands out sandboxes.
    pub(crate) learnt: OnceLock<LearntPages>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.options.limits)
            .field("contexts", &self.contexts.len())
            .field("alive", &self.instance.is_some())
            .finish_non_exhaustive()
    }
}

/// What one call into the guest left behind.
struct Done<T> {
    returned: std::result::Result<T, Returned>,
    call: CallState,
    output: Output,
    memory_denied: bool,
    quota_denied: bool,
}

impl Sandbox {
    /// A sandbox in the pool slot `slot` (when the runtime pools them).
    pub(crate) async fn new(
        template: Arc<Template>,
        options: SpawnOptions,
        slot: impl Future<Output = Result<Option<OwnedSemaphorePermit>>>,
    ) -> Result<Sandbox> {
        let live = match &options.quota {
            Some(quota) => Some(quota.acquire().await.map_err(|e| match e {
                ReplError::Capacity { waited, what } => Error::Capacity { waited, what },
                other => Error::Instantiate(other.into()),
            })?),
            None => None,
        };
        let slot = slot.await?;
        let prepaid = match &options.quota {
            Some(quota) => {
                let bytes = template.start_memory.load(Ordering::Relaxed);
                quota.reserve(bytes).await.map_err(|e| match e {
                    ReplError::Capacity { waited, what } => Error::Capacity { waited, what },
                    other => Error::Instantiate(other.into()),
                })?;
                bytes
            }
            None => 0,
        };
        let instance = instantiate(&template, &options, prepaid).await?;
        if options.quota.is_some() {
            template.start_memory.fetch_max(instance.store.data().memory.charged(), Ordering::Relaxed);
        }
        Ok(Sandbox {
            template,
            options,
            instance: Some(instance),
            contexts: Vec::new(),
            installed: None,
            _slot: slot,
            _live: live,
        })
    }

    /// The limits this sandbox runs cells under.
    pub fn limits(&self) -> &Limits {
        &self.options.limits
    }

    /// Binds `context_{index}` (and `context` for index 0). Contexts must be
    /// loaded in order: 0, 1, 2, ... Reloading an index replaces it.
    pub async fn load_context(&mut self, index: u32, context: Context) -> Result<()> {
        if index as usize > self.contexts.len() {
            let reason = format!("context {index} loaded before context {}", self.contexts.len());
            return Err(Error::InvalidConfig { setting: "context index", reason });
        }
        self.ensure().await?;
        self.push_context(index, &context).await?;
        if (index as usize) < self.contexts.len() {
            self.contexts[index as usize] = context;
        } else {
            self.contexts.push(context);
        }
        Ok(())
    }

    async fn push_context(&mut self, index: u32, context: &Context) -> Result<()> {
        let format = match context {
            Context::Text(_) => repl::ContextFormat::Text,
            Context::Json(_) => repl::ContextFormat::Json,
        };
        let shape = TextShape::of(context.as_prompt());
        let Ok(length) = u32::try_from(shape.length) else {
            let reason = format!("{} characters; a sandbox holds at most {}", shape.length, u32::MAX);
            return Err(Error::InvalidConfig { setting: "context size", reason });
        };
        let done = {
            let wait = self.prepare(false, None);
            let instance = self.instance.as_mut().expect("prepared");
            // The guest makes a `str` of this shape and asks for the text.
            instance.store.data_mut().pending_text = Some(PendingText { context: context.clone(), shape });
            let result = tokio::time::timeout(
                wait,
                instance.guest.rlm_sandbox_repl().call_load_context(
                    &mut instance.store,
                    index,
                    format,
                    length,
                    shape.max_char,
                ),
            )
            .await;
            self.collect(result)
        };
        match self.settle("loading a context", done)? {
            (true, _) => Ok(()),
            (false, call) => Err(Error::Guest {
                action: "loading a context",
                source: anyhow::anyhow!(call.reports.message.unwrap_or_else(|| format!("context {index} was refused"))),
            }),
        }
    }

    /// Defines host tools (Python functions that call the host) and runs
    /// helper code. Returns the functions the tools and helpers defined, or
    /// the message of a helper that failed. Calls add up: a fresh instance
    /// after a hard stop gets everything installed so far.
    pub async fn install(
        &mut self,
        tools: &[ToolSpec],
        helpers: &[HelperSource],
    ) -> Result<std::result::Result<Vec<FunctionInfo>, String>> {
        self.ensure().await?;
        let installed = self.push_install(tools, helpers).await?;
        if installed.is_ok() {
            // Kept for a fresh instance after a hard stop: everything installed
            // so far, a later helper of the same name replacing an earlier one.
            let (all_tools, all_helpers) = self.installed.get_or_insert_with(Default::default);
            all_tools.extend(
                tools.iter().filter(|t| !all_tools.iter().any(|o| o.name == t.name)).cloned().collect::<Vec<_>>(),
            );
            for helper in helpers {
                match all_helpers.iter_mut().find(|h| h.name == helper.name) {
                    Some(old) => *old = helper.clone(),
                    None => all_helpers.push(helper.clone()),
                }
            }
        }
        Ok(installed)
    }

    async fn push_install(
        &mut self,
        tools: &[ToolSpec],
        helpers: &[HelperSource],
    ) -> Result<std::result::Result<Vec<FunctionInfo>, String>> {
        let tools_json = serde_json::to_string(tools).expect("tool specs serialize");
        let helpers_json =
            serde_json::to_string(&helpers.iter().map(|h| json!({"name": h.name, "code": h.code})).collect::<Vec<_>>())
                .expect("helpers serialize");
        let done = {
            let wait = self.prepare(false, None);
            let instance = self.instance.as_mut().expect("prepared");
            let result = tokio::time::timeout(
                wait,
                instance.guest.rlm_sandbox_repl().call_install(&mut instance.store, &tools_json, &helpers_json),
            )
            .await;
            self.collect(result)
        };
        Ok(match self.settle("installing tools and helpers", done)? {
            (true, call) => Ok(call.reports.functions.unwrap_or_default()),
            (false, call) => Err(call.reports.message.unwrap_or_else(|| "the helpers could not be loaded".into())),
        })
    }

    /// Runs one cell under the sandbox's limits. Python errors and limits are
    /// reported in the outcome; `Err` only when the host itself fails (for
    /// example it cannot replace an instance after a hard stop).
    pub async fn run_cell(&mut self, code: &str) -> Result<CellOutcome> {
        self.run_cell_until(code, None).await
    }

    /// As [`Sandbox::run_cell`], ending the cell at `deadline` at the latest.
    #[tracing::instrument(name = "cell", level = "debug", skip_all, fields(code_bytes = code.len()))]
    pub async fn run_cell_until(&mut self, code: &str, deadline: Option<Instant>) -> Result<CellOutcome> {
        let mut state_lost = self.ensure().await?;
        let started = Instant::now();
        let fuel_start = self.options.limits.fuel;
        let done = {
            let wait = self.prepare(true, deadline);
            let instance = self.instance.as_mut().expect("prepared");
            if std::mem::take(&mut instance.cell_pages_due)
                && let Some(learnt) = self.template.learnt.get()
            {
                learnt.first_cell.prefault(&mut instance.store);
            }
            let result =
                tokio::time::timeout(wait, instance.guest.rlm_sandbox_repl().call_run_cell(&mut instance.store, code))
                    .await;
            self.collect(result)
        };
        let elapsed = started.elapsed();
        let fuel_used = match (&self.instance, fuel_start) {
            (Some(instance), Some(start)) => Some(start.saturating_sub(instance.store.get_fuel().unwrap_or(0))),
            _ => None,
        };
        let Done { returned, call, output, memory_denied, quota_denied } = done;
        let returned = match returned {
            Ok(status) => Returned::Status(status),
            Err(returned) => returned,
        };
        let mut notices = call.reports.refused.clone();
        for (name, stream) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
            if stream.dropped() > 0 {
                notices.push(format!(
                    "{name} was cut at the cap of {} bytes: {} more bytes were not kept",
                    self.options.limits.max_output_bytes,
                    stream.dropped()
                ));
            }
        }
        let output_cut = output.stdout.dropped() > 0 || output.stderr.dropped() > 0;
        let seen = Seen {
            returned,
            facts: &call.facts,
            memory_denied,
            quota_denied,
            output_cut,
            traceback: call.reports.traceback.as_deref(),
            driver_message: call.reports.message.as_deref(),
        };
        let (error, poison) = classify(&seen, &self.options.limits);
        if poison {
            // Free the broken instance's pool slot before taking a new one.
            self.instance = None;
            state_lost |= self.ensure().await?;
        }
        if state_lost {
            notices.push(RESTARTED.to_owned());
        }
        let mut final_value = call.final_value;
        if let Some(e) = &error
            && e.kind.is_limit()
            && final_value.take().is_some()
        {
            notices.push(format!(
                "the cell called FINAL but was stopped by a limit ({}), so its answer was not taken",
                e.kind
            ));
        }
        let mut stderr = output.stderr.into_text();
        if let Some(traceback) = &call.reports.traceback {
            // The traceback counts against the same cap as what the cell
            // wrote: the written text gives way to the traceback.
            let room = self.options.limits.max_output_bytes.saturating_sub(traceback.len());
            if stderr.len() > room {
                stderr = crate::output::cap_text(stderr, room);
            }
            if !stderr.is_empty() && !stderr.ends_with('\n') {
                stderr.push('\n');
            }
            stderr.push_str(traceback);
        }
        let (changed_vars, changed_vars_omitted) = match call.reports.changed_vars {
            Some((vars, omitted)) => {
                let extra = vars.len().saturating_sub(MAX_CHANGED_VARS) as u64;
                let vars =
                    vars.into_iter().take(MAX_CHANGED_VARS).map(|(name, type_name)| VarInfo::new(name, type_name));
                (vars.collect(), omitted.saturating_add(extra))
            }
            None => (Vec::new(), 0),
        };
        tracing::debug!(
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            error = error.as_ref().map(|e| e.kind.as_str()),
            state_lost,
            "cell finished"
        );
        let mut outcome = CellOutcome::new(output.stdout.into_text(), stderr, error);
        outcome.final_value = final_value;
        outcome.display = call.reports.display;
        outcome.changed_vars = changed_vars;
        outcome.changed_vars_omitted = changed_vars_omitted;
        outcome.notices = notices;
        outcome.fuel_used = fuel_used;
        outcome.elapsed = elapsed;
        outcome.state_lost = state_lost;
        Ok(outcome)
    }

    /// A user variable's value as JSON; `Ok(Err(message))` when there is no
    /// such variable or its value cannot cross (too large, not representable).
    pub async fn get_var(&mut self, name: &str) -> Result<std::result::Result<JsonText, String>> {
        self.ensure().await?;
        let done = {
            let wait = self.prepare(false, None);
            let instance = self.instance.as_mut().expect("prepared");
            let result =
                tokio::time::timeout(wait, instance.guest.rlm_sandbox_repl().call_get_var(&mut instance.store, name))
                    .await;
            self.collect(result)
        };
        Ok(match self.settle("reading a variable", done)? {
            (true, call) => call.reports.value.ok_or_else(|| match call.facts.size_refused {
                Some(why) => format!("the value of {name} cannot be returned: {why}"),
                None => format!("the value of {name} could not be read"),
            }),
            (false, call) => Err(call.reports.message.unwrap_or_else(|| format!("no variable named {name}"))),
        })
    }

    /// The user variables, in name order.
    pub async fn list_vars(&mut self) -> Result<Vec<VarInfo>> {
        self.ensure().await?;
        let done = {
            let wait = self.prepare(false, None);
            let instance = self.instance.as_mut().expect("prepared");
            let result =
                tokio::time::timeout(wait, instance.guest.rlm_sandbox_repl().call_list_vars(&mut instance.store)).await;
            self.collect(result)
        };
        let (_, call) = self.settle("listing variables", done)?;
        let vars = call.reports.vars.unwrap_or_default();
        Ok(vars.into_iter().map(|(name, type_name)| VarInfo::new(name, type_name)).collect())
    }

    /// Prepares a call into the guest: the deadline (at most the per-cell
    /// limit from now), fresh fuel and facts. Returns how long the host waits
    /// for the call before giving the instance up.
    fn prepare(&mut self, cell: bool, deadline: Option<Instant>) -> Duration {
        let limits = &self.options.limits;
        let now = Instant::now();
        let own = now + limits.timeout;
        let deadline = deadline.map_or(own, |d| d.min(own)).max(now + Duration::from_millis(1));
        let instance = self.instance.as_mut().expect("ensure() runs before every call");
        instance.store.data_mut().begin(deadline, cell);
        if let Some(fuel) = limits.fuel
            && let Err(e) = instance.store.set_fuel(fuel)
        {
            tracing::error!(error = %e, "cannot refuel a sandbox");
        }
        deadline - now + HARD_STOP_GRACE + ABANDON_GRACE
    }

    /// What a call into the guest left behind.
    fn collect<T>(&mut self, result: std::result::Result<wasmtime::Result<T>, tokio::time::error::Elapsed>) -> Done<T> {
        let returned = match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(trap)) => Err(Returned::Trapped(trap.into())),
            Err(_) => Err(Returned::Abandoned),
        };
        let instance = self.instance.as_mut().expect("the instance is still there");
        let memory = &instance.store.data().memory;
        let (memory_denied, quota_denied) = (memory.denied, memory.quota_denied);
        let (call, output) = instance.store.data_mut().finish();
        Done { returned, call, output, memory_denied, quota_denied }
    }

    /// The result of a guest call made outside any cell. A trap or a hang
    /// gives up the instance, so the next use starts a fresh one.
    fn settle<T>(&mut self, action: &'static str, done: Done<T>) -> Result<(T, CallState)> {
        let source = match done.returned {
            Ok(value) => return Ok((value, done.call)),
            Err(Returned::Trapped(trap)) => trap,
            Err(_) => anyhow::anyhow!("the guest did not return within {:?}", self.options.limits.timeout),
        };
        self.instance = None;
        Err(Error::Guest { action, source })
    }

    /// Replaces a given-up instance with a fresh one, reloading the contexts
    /// and reinstalling tools and helpers. Returns whether it had to.
    async fn ensure(&mut self) -> Result<bool> {
        if self.instance.is_some() {
            return Ok(false);
        }
        self.instance = Some(instantiate(&self.template, &self.options, 0).await?);
        for (index, context) in self.contexts.clone().iter().enumerate() {
            self.push_context(index as u32, context).await?;
        }
        if let Some((tools, helpers)) = self.installed.clone()
            && let Err(message) = self.push_install(&tools, &helpers).await?
        {
            tracing::warn!(%message, "the helpers failed to load again after a restart");
        }
        Ok(true)
    }
}

async fn instantiate(template: &Template, options: &SpawnOptions, prepaid: usize) -> Result<Instance> {
    let limits = &options.limits;
    let state = HostState::new(limits.clone(), options.handler.clone(), options.quota.clone(), prepaid);
    let mut store = Store::new(&template.engine, state);
    store.limiter(|s| &mut s.memory);
    // Asked at every epoch tick, or with fuel metering every
    // `FUEL_YIELD_INTERVAL` of fuel (the vendored wasmtime's `out_of_gas`).
    store.epoch_deadline_callback(|ctx| {
        if Instant::now() >= ctx.data().call.hard_deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            // Let other sandboxes on this executor thread run.
            Ok(UpdateDeadline::Yield(1))
        }
    });
    if template.fuel_metering {
        store.set_fuel(limits.fuel.unwrap_or(u64::MAX)).map_err(|e| Error::Engine(e.into()))?;
        store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL)).map_err(|e| Error::Engine(e.into()))?;
    } else {
        store.set_epoch_deadline(1);
    }
    let guest = template.pre.instantiate_async(&mut store).await.map_err(|e| Error::Instantiate(e.into()))?;
    if let Some(learnt) = template.learnt.get() {
        learnt.start.prefault(&mut store);
    }
    Ok(Instance { store, guest, cell_pages_due: true })
}

/// Runs the runtime's own sandboxes ([`LEARNING_RUNS`], alive at once so
/// that each has a fresh slot) and records the pages of guest memory both
/// wrote at their start and in their first cell, for
/// [`RuntimeConfig::prefault`](crate::RuntimeConfig::prefault). Nothing of
/// what the pages hold is kept.
pub(crate) async fn learn_pages(template: Arc<Template>) -> Result<()> {
    let mut runs = Vec::new();
    for (context, _) in LEARNING_RUNS {
        let options = SpawnOptions::new(Limits::default(), Arc::new(rlm_core::NoBackend));
        let mut sandbox = Sandbox::new(template.clone(), options, std::future::ready(Ok(None))).await?;
        sandbox.load_context(0, Context::from(context)).await?;
        runs.push(sandbox);
    }
    let (mut starts, mut afters) = (Vec::new(), Vec::new());
    for (sandbox, (_, cell)) in runs.iter_mut().zip(LEARNING_RUNS) {
        starts.push(WrittenPages::of(&sandbox.instance.as_ref().expect("just made").store));
        let out = sandbox.run_cell(cell).await?;
        let Some(instance) = sandbox.instance.as_ref().filter(|_| out.error.is_none()) else {
            let reason = format!("{:?}", out.error);
            return Err(Error::Instantiate(anyhow::anyhow!("a learning sandbox's cell failed: {reason}")));
        };
        afters.push(WrittenPages::of(&instance.store));
    }
    let in_all = |sets: Vec<WrittenPages>| sets.into_iter().reduce(|a, b| a.and(&b)).unwrap_or_default();
    let (start, after) = (in_all(starts), in_all(afters));
    let first_cell = after.without(&start);
    tracing::debug!(
        start_bytes = start.bytes(),
        first_cell_bytes = first_cell.bytes(),
        runs = start.runs() + first_cell.runs(),
        "learnt the pages a sandbox writes"
    );
    // Nothing learnt (no `PAGEMAP_SCAN`), or far more than usual: keep none.
    if (1..=MAX_LEARNT_BYTES).contains(&(start.bytes() + first_cell.bytes())) {
        let _ = template.learnt.set(LearntPages { start, first_cell });
    }
    Ok(())
}

impl Repl for Sandbox {
    fn load_context(&mut self, index: u32, context: Context) -> BoxFuture<'_, Result<(), ReplError>> {
        Box::pin(async move { Sandbox::load_context(self, index, context).await.map_err(ReplError::from) })
    }

    fn install<'a>(
        &'a mut self,
        tools: &'a [ToolSpec],
        helpers: &'a [HelperSource],
    ) -> BoxFuture<'a, Result<std::result::Result<Vec<FunctionInfo>, String>, ReplError>> {
        Box::pin(async move { Sandbox::install(self, tools, helpers).await.map_err(ReplError::from) })
    }

    fn run_cell<'a>(
        &'a mut self,
        code: &'a str,
        deadline: Option<Instant>,
    ) -> BoxFuture<'a, Result<CellOutcome, ReplError>> {
        Box::pin(async move { self.run_cell_until(code, deadline).await.map_err(ReplError::from) })
    }

    fn get_var<'a>(
        &'a mut self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<std::result::Result<JsonText, String>, ReplError>> {
        Box::pin(async move { Sandbox::get_var(self, name).await.map_err(ReplError::from) })
    }

    fn list_vars(&mut self) -> BoxFuture<'_, Result<Vec<VarInfo>, ReplError>> {
        Box::pin(async move { Sandbox::list_vars(self).await.map_err(ReplError::from) })
    }
}
