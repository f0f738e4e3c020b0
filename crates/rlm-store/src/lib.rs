//! Storage of the `rlm-sandbox serve` service, behind one trait: a usage
//! ledger, stored trajectories, session metadata and idempotency keys.
//!
//! [`Store`] is implemented for SQLite (embedded, the default) and
//! PostgreSQL (for several replicas), with the same schema and migrations
//! run at start.
#![deny(missing_docs)]

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

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

/// A response kept for an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body, as sent.
    pub body: String,
}

/// Why the store failed. The cause is kept as the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be opened or migrated.
    #[error("cannot open the database at `{url}`")]
    Open {
        /// The database URL, without its password.
        url: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A query failed.
    #[error("the database failed while {action}")]
    Query {
        /// What the store was doing.
        action: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The service's storage. Every method is scoped to a tenant where the data
/// is a tenant's: one tenant never reads another's rows.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Adds usage to the ledger (rows with the same tenant, day, model and
    /// depth add up).
    fn record_usage(&self, rows: Vec<UsageRow>) -> BoxFuture<'_, Result<()>>;

    /// A tenant's totals for a day.
    fn day_totals<'a>(&'a self, tenant: &'a str, day: &'a str) -> BoxFuture<'a, Result<DayTotals>>;

    /// Every ledger row of a tenant (all tenants when `None`), for reports
    /// and checks.
    fn usage_rows<'a>(&'a self, tenant: Option<&'a str>) -> BoxFuture<'a, Result<Vec<UsageRow>>>;

    /// Stores a trajectory (JSONL text) under a fresh id.
    fn put_trajectory<'a>(&'a self, id: &'a str, tenant: &'a str, jsonl: String) -> BoxFuture<'a, Result<()>>;

    /// A tenant's trajectory, if it has one with that id.
    fn get_trajectory<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<Option<String>>>;

    /// Records a new session, or updates one.
    fn put_session(&self, session: SessionRecord) -> BoxFuture<'_, Result<()>>;

    /// A tenant's session, if it has one with that id.
    fn get_session<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>>>;

    /// Marks every live session of `replica` as `lost` (at start, for the
    /// sessions a previous run of this replica held); returns how many.
    fn lose_sessions<'a>(&'a self, replica: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// The response stored for a tenant's idempotency key, if any.
    fn get_idempotent<'a>(&'a self, tenant: &'a str, key: &'a str) -> BoxFuture<'a, Result<Option<StoredResponse>>>;

    /// Stores the response for a tenant's idempotency key (the first one
    /// stored wins).
    fn put_idempotent<'a>(&'a self, tenant: &'a str, key: &'a str, response: StoredResponse)
    -> BoxFuture<'a, Result<()>>;

    /// Whether the database answers.
    fn ping(&self) -> BoxFuture<'_, Result<()>>;
}
