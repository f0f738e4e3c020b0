//! Storage of the `rlm-sandbox serve` service, behind one trait: a usage
//! ledger, stored trajectories, session metadata and idempotency keys.
//!
//! [`Store`] is implemented for SQLite ([`SqliteStore`], embedded, the
//! default) and PostgreSQL ([`PostgresStore`], for several replicas sharing
//! one database). Both run the same SQL over the same schema, whose
//! migrations are compiled in and run when a store is opened. [`open`] picks
//! the backend from a URL.
//!
//! ```
//! use rlm_store::{StoredResponse, UsageRow};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rlm_store::Error> {
//! // `sqlite:///var/lib/rlm/store.db` or `postgres://rlm:…@db/rlm` in a service.
//! let store = rlm_store::open("sqlite::memory:").await?;
//!
//! let day = "2026-05-01";
//! store.record_usage(vec![UsageRow::new("acme", day, "gpt-5", 0, 1, 1200, 300, 0.004)]).await?;
//! store.record_usage(vec![UsageRow::new("acme", day, "gpt-5-mini", 1, 2, 800, 100, 0.001)]).await?;
//! let totals = store.day_totals("acme", day).await?;
//! assert_eq!((totals.calls, totals.tokens), (3, 2400));
//!
//! // Another tenant sees nothing of acme's.
//! store.put_idempotent("acme", "key-1", StoredResponse::new(200, "{}")).await?;
//! assert!(store.get_idempotent("globex", "key-1").await?.is_none());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod error;
mod postgres;
mod sql;
mod sqlite;
mod url;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use crate::error::Error;
pub use crate::postgres::{DEFAULT_POSTGRES_MAX_CONNECTIONS, PostgresStore};
pub use crate::sqlite::{DEFAULT_BUSY_TIMEOUT, DEFAULT_SQLITE_MAX_CONNECTIONS, SqliteStore};
use crate::url::Target;
pub use crate::url::redact_url;

/// How long a store waits for a free pooled connection, and at open for a
/// PostgreSQL server that refuses connections (one still starting): 30 s.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens the store a URL names, bringing its schema up to date:
///
/// - `sqlite://PATH`, `sqlite:PATH` or a plain path: an SQLite database
///   file, created with its parent directories if missing
///   ([`SqliteStore::open`]); `sqlite:///var/lib/rlm/store.db` is absolute;
/// - `sqlite::memory:` (or `:memory:`): a private in-memory SQLite database
///   ([`SqliteStore::open_in_memory`]);
/// - `postgres://…` or `postgresql://…`: a PostgreSQL database
///   ([`PostgresStore::connect`]).
///
/// Any other `scheme://` is an [`Error::UnsupportedUrl`]. No error shows the
/// URL's password.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    Ok(match Target::parse(url)? {
        Target::SqliteFile(path) => Arc::new(SqliteStore::open(path).await?),
        Target::SqliteMemory => Arc::new(SqliteStore::open_in_memory().await?),
        Target::Postgres => Arc::new(PostgresStore::connect(url).await?),
    })
}

/// A day, as `YYYY-MM-DD` in UTC: the ledger's unit of time.
pub type Day = String;

/// One row of the usage ledger: what a tenant's calls to one model at one
/// depth cost on one day. Rows add up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UsageRow {
    /// The tenant.
    pub tenant: String,
    /// The UTC day.
    pub day: Day,
    /// The model (its registry name).
    pub model: String,
    /// The depth the calls ran at (0: the root).
    pub depth: u32,
    /// Model calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Dollars, of the calls whose cost was known.
    pub cost: f64,
}

impl UsageRow {
    /// A row.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tenant: impl Into<String>,
        day: impl Into<String>,
        model: impl Into<String>,
        depth: u32,
        calls: u64,
        input_tokens: u64,
        output_tokens: u64,
        cost: f64,
    ) -> Self {
        UsageRow {
            tenant: tenant.into(),
            day: day.into(),
            model: model.into(),
            depth,
            calls,
            input_tokens,
            output_tokens,
            cost,
        }
    }
}

/// A tenant's totals for one day, summed over models and depths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DayTotals {
    /// Model calls.
    pub calls: u64,
    /// Input plus output tokens.
    pub tokens: u64,
    /// Dollars.
    pub cost: f64,
}

/// A stored trajectory's metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TrajectoryMeta {
    /// Its id.
    pub id: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// When it was stored, as RFC 3339 text.
    pub created_at: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What the store keeps of a session (its sandbox lives in one replica's
/// memory; this survives it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionRecord {
    /// Its id.
    pub id: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// The profile it runs with.
    pub profile: String,
    /// Which replica holds its sandbox.
    pub replica: String,
    /// When it was made, as RFC 3339 text.
    pub created_at: String,
    /// When it last answered a query, as RFC 3339 text.
    pub last_used_at: String,
    /// Queries answered.
    pub queries: u64,
    /// `live`, `deleted`, `expired` or `lost` (its replica went away).
    pub state: String,
}

impl SessionRecord {
    /// A session just made: `live`, no queries answered, last used when
    /// made. The fields are public, so a caller updates a copy and stores it
    /// again with [`Store::put_session`].
    pub fn new(
        id: impl Into<String>,
        tenant: impl Into<String>,
        profile: impl Into<String>,
        replica: impl Into<String>,
        created_at: impl Into<String>,
    ) -> Self {
        let created_at = created_at.into();
        SessionRecord {
            id: id.into(),
            tenant: tenant.into(),
            profile: profile.into(),
            replica: replica.into(),
            last_used_at: created_at.clone(),
            created_at,
            queries: 0,
            state: "live".to_owned(),
        }
    }
}

/// A response kept for an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body, as sent.
    pub body: String,
}

impl StoredResponse {
    /// A response.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        StoredResponse { status, body: body.into() }
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The service's storage. Every method is scoped to a tenant where the data
/// is a tenant's: one tenant never reads another's rows.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Adds usage to the ledger: rows with the same tenant, day, model and
    /// depth add up, in the database (concurrent calls, from any replica,
    /// lose nothing). A batch is added whole or not at all.
    fn record_usage(&self, rows: Vec<UsageRow>) -> BoxFuture<'_, Result<()>>;

    /// A tenant's totals for a day (zero when it has no rows).
    fn day_totals<'a>(&'a self, tenant: &'a str, day: &'a str) -> BoxFuture<'a, Result<DayTotals>>;

    /// Every ledger row of a tenant (all tenants when `None`), for reports
    /// and checks, ordered by tenant, day, model and depth.
    fn usage_rows<'a>(&'a self, tenant: Option<&'a str>) -> BoxFuture<'a, Result<Vec<UsageRow>>>;

    /// Stores a trajectory (JSONL text) under a fresh id, with its size and
    /// the time. Storing an id again replaces the tenant's trajectory of that
    /// id (a retried write is harmless); ids are per tenant, so it never
    /// touches another tenant's.
    fn put_trajectory<'a>(&'a self, id: &'a str, tenant: &'a str, jsonl: String) -> BoxFuture<'a, Result<()>>;

    /// A tenant's trajectory, if it has one with that id.
    fn get_trajectory<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<Option<String>>>;

    /// Records a new session, or updates one (every field but `created_at`,
    /// which stays the first one stored).
    fn put_session(&self, session: SessionRecord) -> BoxFuture<'_, Result<()>>;

    /// A tenant's session, if it has one with that id.
    fn get_session<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>>>;

    /// Marks every live session of `replica` as `lost` (at start, for the
    /// sessions a previous run of this replica held); returns how many.
    fn lose_sessions<'a>(&'a self, replica: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// The response stored for a tenant's idempotency key, if any.
    fn get_idempotent<'a>(&'a self, tenant: &'a str, key: &'a str) -> BoxFuture<'a, Result<Option<StoredResponse>>>;

    /// Stores the response for a tenant's idempotency key. The first one
    /// stored wins: a later one, from any replica, is dropped without error,
    /// and [`Store::get_idempotent`] keeps answering the first.
    fn put_idempotent<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        response: StoredResponse,
    ) -> BoxFuture<'a, Result<()>>;

    /// Whether the database answers.
    fn ping(&self) -> BoxFuture<'_, Result<()>>;
}
