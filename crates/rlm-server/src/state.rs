//! What the service holds while it runs: tenants and their admission
//! state, profiles, live sessions, the store, metrics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rlm_core::SandboxQuota;
use rlm_engine::Session;
use rlm_store::Store;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::{ServeConfig, Tenant, key_hash};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::profiles::ProfileRuntime;

/// Default runs in flight per tenant, when its config sets none.
pub(crate) const DEFAULT_TENANT_RUNS: usize = 16;
/// Default live sandboxes per tenant.
const DEFAULT_TENANT_SANDBOXES: usize = 512;
/// Default live sessions per tenant.
pub(crate) const DEFAULT_TENANT_SESSIONS: usize = 16;

/// A tenant and its admission state.
#[derive(Debug)]
pub(crate) struct TenantState {
    pub(crate) config: Tenant,
    /// One permit per run in flight: below the service's global limit, so
    /// one tenant's flood cannot take every slot.
    pub(crate) runs: Arc<Semaphore>,
    /// Its sandboxes (runs and sessions together) and their memory.
    pub(crate) quota: SandboxQuota,
    pub(crate) sessions: AtomicUsize,
    /// Requests in the current minute: `(minute, count)`.
    window: Mutex<(u64, u32)>,
    /// Tokens and dollars of today's budgets held by runs in flight.
    pub(crate) reserved: Mutex<(u64, f64)>,
    /// Usage the ledger refused (after its retries), one row per day, model
    /// and depth: counted against the daily budgets and written with this
    /// tenant's next ledger write, so a store outage loses no spend while
    /// this replica runs.
    pub(crate) unrecorded: Mutex<Vec<rlm_store::UsageRow>>,
}

impl TenantState {
    /// A tenant whose sandboxes also count against the service's `global`
    /// quota; by default it may hold half of the service's sandbox memory.
    fn new(config: Tenant, global: &SandboxQuota) -> Self {
        let runs = config.max_runs_in_flight.unwrap_or(DEFAULT_TENANT_RUNS).max(1);
        let memory = config.max_sandbox_memory_mb.map_or(global.max_memory() / 2, |mb| mb.saturating_mul(1 << 20));
        let live = config.max_sandboxes.unwrap_or(DEFAULT_TENANT_SANDBOXES);
        let quota = SandboxQuota::within(global, live, memory)
            .with_wait(Duration::from_secs(config.sandbox_wait_s.unwrap_or(30)));
        TenantState {
            config,
            runs: Arc::new(Semaphore::new(runs)),
            quota,
            sessions: AtomicUsize::new(0),
            window: Mutex::new((0, 0)),
            reserved: Mutex::new((0, 0.0)),
            unrecorded: Mutex::new(Vec::new()),
        }
    }

    /// Its cap on runs in flight.
    pub(crate) fn max_runs(&self) -> usize {
        self.config.max_runs_in_flight.unwrap_or(DEFAULT_TENANT_RUNS).max(1)
    }

    /// Its cap on live sessions.
    pub(crate) fn max_sessions(&self) -> usize {
        self.config.max_live_sessions.unwrap_or(DEFAULT_TENANT_SESSIONS)
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    /// Counts a request against the per-minute limit.
    pub(crate) fn admit_request(&self) -> Result<(), ApiError> {
        let Some(limit) = self.config.requests_per_minute else { return Ok(()) };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let minute = now.as_secs() / 60;
        let mut window = self.window.lock().unwrap();
        if window.0 != minute {
            *window = (minute, 0);
        }
        if window.1 >= limit {
            let wait = Duration::from_secs(60 - now.as_secs() % 60);
            return Err(ApiError::quota("rate_limited", format!("more than {limit} requests this minute"), Some(wait)));
        }
        window.1 += 1;
        Ok(())
    }

    /// Whether the tenant may use `profile`.
    pub(crate) fn may_use(&self, profile: &str) -> bool {
        self.config.profiles.is_empty() || self.config.profiles.iter().any(|p| p == profile)
    }
}

/// A run's share of its tenant's daily budgets, given back when the run
/// ends (what it spent is in the ledger by then).
#[derive(Debug)]
pub(crate) struct DayReservation {
    tenant: Arc<TenantState>,
    tokens: u64,
    dollars: f64,
}

impl DayReservation {
    pub(crate) fn new(tenant: &Arc<TenantState>, tokens: u64, dollars: f64) -> Self {
        DayReservation { tenant: tenant.clone(), tokens, dollars }
    }

    pub(crate) fn none(tenant: &Arc<TenantState>) -> Self {
        DayReservation::new(tenant, 0, 0.0)
    }
}

impl Drop for DayReservation {
    fn drop(&mut self) {
        let mut reserved = self.tenant.reserved.lock().unwrap();
        reserved.0 = reserved.0.saturating_sub(self.tokens);
        reserved.1 = (reserved.1 - self.dollars).max(0.0);
    }
}

/// A live session: its engine session (one query at a time) and what the
/// store keeps of it.
#[derive(Debug)]
pub(crate) struct SessionEntry {
    pub(crate) id: String,
    pub(crate) tenant: Arc<TenantState>,
    pub(crate) profile: Arc<ProfileRuntime>,
    pub(crate) session: Arc<tokio::sync::Mutex<Session>>,
    /// Limits of every query (a query may ask for less).
    pub(crate) limits: crate::config::RunLimits,
    pub(crate) created_at: String,
    pub(crate) last_used: Mutex<Instant>,
    pub(crate) queries: AtomicU64,
    /// Cancels the query running in it (when it is deleted or evicted).
    pub(crate) cancel: CancellationToken,
}

impl Drop for SessionEntry {
    fn drop(&mut self) {
        self.tenant.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) config: ServeConfig,
    pub(crate) profiles: BTreeMap<String, Arc<ProfileRuntime>>,
    keys: HashMap<String, Arc<TenantState>>,
    pub(crate) tenants: Vec<Arc<TenantState>>,
    pub(crate) store: Arc<dyn Store>,
    /// Runs in flight across every tenant.
    pub(crate) runs: Arc<Semaphore>,
    pub(crate) sessions: Mutex<HashMap<String, Arc<SessionEntry>>>,
    /// `(tenant, Idempotency-Key)` of requests running now.
    pub(crate) idempotent: Mutex<HashSet<(String, String)>>,
    pub(crate) metrics: Metrics,
    /// Cancels every run: after the shutdown grace.
    pub(crate) cancel_all: CancellationToken,
    /// Every run's task: shutdown waits for them, so each records its usage.
    pub(crate) tasks: tokio_util::task::TaskTracker,
    /// Set once shutdown starts: `/readyz` answers 503, new runs are refused.
    pub(crate) draining: AtomicBool,
    /// When a ledger write last failed for good (cleared by a success):
    /// `/readyz` answers 503 for a while after it.
    pub(crate) store_write_failed: std::sync::Mutex<Option<std::time::Instant>>,
    /// Every tenant's sandboxes count against this too.
    pub(crate) sandboxes: SandboxQuota,
}

impl AppState {
    pub(crate) fn new(
        config: ServeConfig,
        profiles: BTreeMap<String, Arc<ProfileRuntime>>,
        store: Arc<dyn Store>,
    ) -> Self {
        let machine = SandboxQuota::for_machine();
        let memory = config.max_sandbox_memory_mb.map_or(machine.max_memory(), |mb| mb.saturating_mul(1 << 20));
        let sandboxes = SandboxQuota::new(config.max_sandboxes, memory);
        let tenants: Vec<Arc<TenantState>> =
            config.tenants.iter().cloned().map(|t| Arc::new(TenantState::new(t, &sandboxes))).collect();
        let keys = tenants
            .iter()
            .flat_map(|t| t.config.key_sha256.iter().map(move |h| (h.to_ascii_lowercase(), t.clone())))
            .collect();
        AppState {
            runs: Arc::new(Semaphore::new(config.max_runs_in_flight)),
            config,
            profiles,
            keys,
            tenants,
            store,
            sessions: Mutex::new(HashMap::new()),
            idempotent: Mutex::new(HashSet::new()),
            metrics: Metrics::new(),
            cancel_all: CancellationToken::new(),
            tasks: tokio_util::task::TaskTracker::new(),
            draining: AtomicBool::new(false),
            store_write_failed: std::sync::Mutex::new(None),
            sandboxes,
        }
    }

    /// The tenant a bearer key belongs to.
    pub(crate) fn tenant_for(&self, key: &str) -> Option<Arc<TenantState>> {
        self.keys.get(&key_hash(key)).cloned()
    }

    /// A profile the tenant may use, or a 404 that lists those it may.
    pub(crate) fn profile(&self, tenant: &TenantState, name: &str) -> Result<Arc<ProfileRuntime>, ApiError> {
        match self.profiles.get(name) {
            Some(profile) if tenant.may_use(name) => Ok(profile.clone()),
            _ => {
                let known: Vec<&str> = self.profiles.keys().filter(|p| tenant.may_use(p)).map(String::as_str).collect();
                Err(ApiError::not_found(format!("no profile `{name}`; this key may use: {}", known.join(", "))))
            }
        }
    }

    /// A tenant's live session.
    pub(crate) fn session(&self, tenant: &TenantState, id: &str) -> Option<Arc<SessionEntry>> {
        let sessions = self.sessions.lock().unwrap();
        sessions.get(id).filter(|s| s.tenant.name() == tenant.name()).cloned()
    }
}

/// The tenant of a request, from its `Authorization: Bearer KEY`.
#[derive(Clone, Debug)]
pub(crate) struct Authed(pub(crate) Arc<TenantState>);

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let key = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let tenant = state.tenant_for(key).ok_or_else(ApiError::unauthorized)?;
        tenant.admit_request()?;
        Ok(Authed(tenant))
    }
}

/// The key of an `Authorization: Bearer KEY` header.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}
