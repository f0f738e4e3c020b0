//! `rlm-sandbox serve`: a multi-tenant RLM service.
//!
//! An OpenAI-compatible `POST /v1/chat/completions` (plain and streamed), a
//! native `POST /v1/rlm/completions` that can stream the run's events,
//! persistent sessions, stored trajectories, health, readiness and
//! Prometheus metrics. Tenants are bearer keys (stored as SHA-256 hashes)
//! with ceilings: runs in flight under a global limit, live sessions,
//! requests per minute, tokens and dollars per day, profiles, context size
//! and sandbox limits. Usage, trajectories and sessions go to a
//! [`rlm_store::Store`]: SQLite by default, PostgreSQL for several replicas.
//!
//! ```no_run
//! # async fn start(sandboxes: std::sync::Arc<dyn rlm_core::ReplFactory>) -> Result<(), rlm_server::ServeError> {
//! let config = rlm_server::ServeConfig::load(None, rlm_server::Overrides::default())?;
//! let server = rlm_server::Server::bind(config, sandboxes).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.run(async { tokio::signal::ctrl_c().await.unwrap_or_default() }).await
//! # }
//! ```
#![deny(missing_docs)]

mod config;
mod error;
mod metrics;
mod profiles;
mod routes;
mod run;
mod serve;
mod state;

pub use config::{
    DEFAULT_BODY_LIMIT_BYTES, DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_KEEP_ALIVE, DEFAULT_LISTEN,
    DEFAULT_MAX_RUNS_IN_FLIGHT, DEFAULT_RUN_TIMEOUT, DEFAULT_SESSION_TTL, DEFAULT_SHUTDOWN_GRACE, Overrides, Profile,
    RunLimits, ServeConfig, Tenant, generate_key, key_hash,
};
pub use error::{ApiError, ConfigError, ServeError};
pub use serve::Server;
