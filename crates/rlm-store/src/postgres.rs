//! The PostgreSQL store, for several replicas sharing one database.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::{DEFAULT_ACQUIRE_TIMEOUT, Error, Result, redact_url, sql};

/// Connections in each replica's pool: 10 (sqlx's default).
///
/// Each request holds a connection only for one short statement or
/// transaction; a server's `max_connections` (100 by default) divided by
/// this is how many replicas one database serves.
pub const DEFAULT_POSTGRES_MAX_CONNECTIONS: u32 = 10;

/// The store in a PostgreSQL database, shared by every replica of the
/// service.
///
/// The URL takes libpq's form, `postgres://user:password@host:port/database`,
/// with the parameters sqlx reads (`sslmode`, `sslrootcert`, …). TLS uses
/// rustls with the Mozilla root certificates; name a private CA with
/// `sslrootcert`.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The URL without its password, for `Debug`.
    url: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("url", &self.url).finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` and brings its schema up to date.
    ///
    /// Replicas may start together: migrations run under a lock on the
    /// database, once. A server that refuses connections (one still
    /// starting) is retried for up to [`DEFAULT_ACQUIRE_TIMEOUT`]; other
    /// failures, such as a wrong password or a missing database, fail at
    /// once. Errors show the URL without its password.
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        let shown = redact_url(url);
        let options = PgConnectOptions::from_str(url).map_err(Error::open(&shown))?;
        let pool = PgPoolOptions::new()
            .max_connections(DEFAULT_POSTGRES_MAX_CONNECTIONS)
            .acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(Error::open(&shown))?;
        sql::migrator().await.map_err(Error::open(&shown))?.run(&pool).await.map_err(Error::open(&shown))?;
        tracing::debug!(url = %shown, "opened the PostgreSQL store");
        Ok(PostgresStore { pool, url: shown })
    }
}

sql::impl_store!(PostgresStore);
