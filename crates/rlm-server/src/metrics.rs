//! Prometheus metrics: requests by route, status and tenant; runs in flight;
//! live sandboxes and sessions; model calls and tokens by tenant and model;
//! latency histograms.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) route: String,
    pub(crate) status: u16,
    pub(crate) tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ModelLabels {
    pub(crate) tenant: String,
    pub(crate) model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TokenLabels {
    pub(crate) tenant: String,
    pub(crate) model: String,
    pub(crate) kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TenantLabels {
    pub(crate) tenant: String,
}

/// Every metric the service exports.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) request_seconds: Family<RouteLabels, Histogram>,
    pub(crate) runs_in_flight: Gauge,
    pub(crate) run_seconds: Histogram,
    pub(crate) live_sandboxes: Family<TenantLabels, Gauge>,
    pub(crate) live_sessions: Gauge,
    pub(crate) sandbox_memory: Gauge,
    pub(crate) model_calls: Family<ModelLabels, Counter>,
    pub(crate) tokens: Family<TokenLabels, Counter>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("rlm");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route, status and tenant", requests.clone());
        let request_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 20))
        });
        registry.register("http_request_duration_seconds", "Time to answer a request", request_seconds.clone());
        let runs_in_flight = Gauge::default();
        registry.register("runs_in_flight", "Completions running now", runs_in_flight.clone());
        let run_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 20));
        registry.register("run_duration_seconds", "Time a completion took", run_seconds.clone());
        let live_sandboxes = Family::<TenantLabels, Gauge>::default();
        registry.register("live_sandboxes", "Sandboxes alive now, by tenant", live_sandboxes.clone());
        let live_sessions = Gauge::default();
        registry.register("live_sessions", "Sessions alive on this replica", live_sessions.clone());
        let sandbox_memory = Gauge::default();
        registry.register("sandbox_memory_bytes", "Linear memory held by every sandbox now", sandbox_memory.clone());
        let model_calls = Family::<ModelLabels, Counter>::default();
        registry.register("model_calls", "Model calls by tenant and model", model_calls.clone());
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register("model_tokens", "Tokens by tenant, model and kind (input, output)", tokens.clone());
        Metrics {
            registry,
            requests,
            request_seconds,
            runs_in_flight,
            run_seconds,
            live_sandboxes,
            live_sessions,
            sandbox_memory,
            model_calls,
            tokens,
        }
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}
