//! The SQL both backends run, the embedded migrations, and the one
//! implementation of [`Store`](crate::Store) that [`impl_store!`] stamps out
//! for each backend's pool type.
//!
//! Every statement is portable between SQLite (3.24 or later, for upserts)
//! and PostgreSQL: `$N` placeholders (SQLite reads `$1` as parameter 1),
//! `ON CONFLICT … DO UPDATE`/`DO NOTHING`, and sums cast back to the column
//! types, since PostgreSQL sums `BIGINT` into `NUMERIC`.

use std::borrow::Cow;
use std::time::SystemTime;

use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::{Error, Result, UsageRow};

/// The migrations, in order: version, description and SQL. Applied versions
/// are recorded (with a checksum of their SQL) in sqlx's `_sqlx_migrations`
/// table, so an applied migration must never be edited: add a new one.
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "initial", include_str!("../migrations/0001_initial.sql"))];

/// [`MIGRATIONS`] as an sqlx migration source, so they are compiled in
/// without sqlx's `macros` feature (which would build both database drivers
/// a second time, for the proc-macro).
#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        let migrations = MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, Cow::Borrowed(sql), false)
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// The migrator for [`MIGRATIONS`]. It takes a database-wide lock on
/// PostgreSQL while it runs, so replicas that start together migrate once.
pub(crate) async fn migrator() -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded).await
}

pub(crate) const RECORD_USAGE: &str = "\
INSERT INTO ledger (tenant, day, model, depth, calls, input_tokens, output_tokens, cost)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant, day, model, depth) DO UPDATE SET
    calls = ledger.calls + excluded.calls,
    input_tokens = ledger.input_tokens + excluded.input_tokens,
    output_tokens = ledger.output_tokens + excluded.output_tokens,
    cost = ledger.cost + excluded.cost";

pub(crate) const DAY_TOTALS: &str = "\
SELECT
    CAST(COALESCE(SUM(calls), 0) AS BIGINT),
    CAST(COALESCE(SUM(input_tokens + output_tokens), 0) AS BIGINT),
    CAST(COALESCE(SUM(cost), 0) AS DOUBLE PRECISION)
FROM ledger WHERE tenant = $1 AND day = $2";

pub(crate) const USAGE_ROWS: &str = "\
SELECT tenant, day, model, depth, calls, input_tokens, output_tokens, cost
FROM ledger ORDER BY tenant, day, model, depth";

pub(crate) const TENANT_USAGE_ROWS: &str = "\
SELECT tenant, day, model, depth, calls, input_tokens, output_tokens, cost
FROM ledger WHERE tenant = $1 ORDER BY day, model, depth";

/// Storing an id again replaces the trajectory, so a retried write is
/// harmless; the key includes the tenant, so it can only replace its own.
pub(crate) const PUT_TRAJECTORY: &str = "\
INSERT INTO trajectories (tenant, id, created_at, bytes, jsonl)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant, id) DO UPDATE SET
    created_at = excluded.created_at, bytes = excluded.bytes, jsonl = excluded.jsonl";

pub(crate) const GET_TRAJECTORY: &str = "SELECT jsonl FROM trajectories WHERE tenant = $1 AND id = $2";

/// An update keeps the first `created_at`: a session is made once.
pub(crate) const PUT_SESSION: &str = "\
INSERT INTO sessions (tenant, id, profile, replica, created_at, last_used_at, queries, state)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant, id) DO UPDATE SET
    profile = excluded.profile,
    replica = excluded.replica,
    last_used_at = excluded.last_used_at,
    queries = excluded.queries,
    state = excluded.state";

pub(crate) const GET_SESSION: &str = "\
SELECT id, tenant, profile, replica, created_at, last_used_at, queries, state
FROM sessions WHERE tenant = $1 AND id = $2";

pub(crate) const LOSE_SESSIONS: &str = "UPDATE sessions SET state = 'lost' WHERE replica = $1 AND state = 'live'";

pub(crate) const PUT_IDEMPOTENT: &str = "\
INSERT INTO idempotency_keys (tenant, idem_key, status, body, created_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant, idem_key) DO NOTHING";

pub(crate) const GET_IDEMPOTENT: &str = "SELECT status, body FROM idempotency_keys WHERE tenant = $1 AND idem_key = $2";

pub(crate) const PING: &str = "SELECT 1";

/// The current time as RFC 3339 text in UTC, with milliseconds.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// A count as the database's `BIGINT`.
pub(crate) fn to_db(field: &'static str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::TooLarge { field, value })
}

/// A `BIGINT` count read back. The store never writes a negative one.
pub(crate) fn from_db(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A ledger row's key and amounts as they are bound.
#[derive(Debug, PartialEq)]
pub(crate) struct LedgerRow {
    pub(crate) tenant: String,
    pub(crate) day: String,
    pub(crate) model: String,
    pub(crate) depth: i64,
    pub(crate) calls: i64,
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cost: f64,
}

/// Sorts usage rows by key and sums the rows that share one. Upserting in
/// key order keeps concurrent batches from locking the same rows in opposite
/// orders, which PostgreSQL would end by aborting one of them as a deadlock.
pub(crate) fn ledger_rows(mut rows: Vec<UsageRow>) -> Result<Vec<LedgerRow>> {
    rows.sort_by(|a, b| (&a.tenant, &a.day, &a.model, a.depth).cmp(&(&b.tenant, &b.day, &b.model, b.depth)));
    let mut out: Vec<LedgerRow> = Vec::with_capacity(rows.len());
    for row in rows {
        let calls = to_db("calls", row.calls)?;
        let input_tokens = to_db("input_tokens", row.input_tokens)?;
        let output_tokens = to_db("output_tokens", row.output_tokens)?;
        if let Some(last) = out.last_mut()
            && last.tenant == row.tenant
            && last.day == row.day
            && last.model == row.model
            && last.depth == i64::from(row.depth)
        {
            last.calls = add("calls", last.calls, calls)?;
            last.input_tokens = add("input_tokens", last.input_tokens, input_tokens)?;
            last.output_tokens = add("output_tokens", last.output_tokens, output_tokens)?;
            last.cost += row.cost;
            continue;
        }
        out.push(LedgerRow {
            tenant: row.tenant,
            day: row.day,
            model: row.model,
            depth: i64::from(row.depth),
            calls,
            input_tokens,
            output_tokens,
            cost: row.cost,
        });
    }
    Ok(out)
}

fn add(field: &'static str, a: i64, b: i64) -> Result<i64> {
    a.checked_add(b).ok_or(Error::TooLarge { field, value: from_db(a).saturating_add(from_db(b)) })
}

/// Implements [`Store`](crate::Store) for a store type whose `pool` field is
/// an sqlx pool. The body is written once and type-checked against each
/// backend's concrete types, which sqlx's generic `Database` bounds make
/// much harder to do in a generic impl.
macro_rules! impl_store {
    ($store:ty) => {
        impl $crate::Store for $store {
            fn record_usage(
                &self,
                rows: Vec<$crate::UsageRow>,
            ) -> ::futures::future::BoxFuture<'_, $crate::Result<()>> {
                Box::pin(async move {
                    const ACTION: &str = "recording usage";
                    let rows = $crate::sql::ledger_rows(rows)?;
                    if rows.is_empty() {
                        return Ok(());
                    }
                    // One transaction: a batch of rows is counted whole or not at all.
                    let mut tx = self.pool.begin().await.map_err($crate::Error::query(ACTION))?;
                    for row in rows {
                        sqlx::query($crate::sql::RECORD_USAGE)
                            .bind(row.tenant)
                            .bind(row.day)
                            .bind(row.model)
                            .bind(row.depth)
                            .bind(row.calls)
                            .bind(row.input_tokens)
                            .bind(row.output_tokens)
                            .bind(row.cost)
                            .execute(&mut *tx)
                            .await
                            .map_err($crate::Error::query(ACTION))?;
                    }
                    tx.commit().await.map_err($crate::Error::query(ACTION))
                })
            }

            fn day_totals<'a>(
                &'a self,
                tenant: &'a str,
                day: &'a str,
            ) -> ::futures::future::BoxFuture<'a, $crate::Result<$crate::DayTotals>> {
                Box::pin(async move {
                    let (calls, tokens, cost): (i64, i64, f64) = sqlx::query_as($crate::sql::DAY_TOTALS)
                        .bind(tenant)
                        .bind(day)
                        .fetch_one(&self.pool)
                        .await
                        .map_err($crate::Error::query("summing a day's usage"))?;
                    Ok($crate::DayTotals {
                        calls: $crate::sql::from_db(calls),
                        tokens: $crate::sql::from_db(tokens),
                        cost,
                    })
                })
            }

            fn usage_rows<'a>(
                &'a self,
                tenant: Option<&'a str>,
            ) -> ::futures::future::BoxFuture<'a, $crate::Result<Vec<$crate::UsageRow>>> {
                Box::pin(async move {
                    type Row = (String, String, String, i64, i64, i64, i64, f64);
                    let query = match tenant {
                        Some(tenant) => sqlx::query_as::<_, Row>($crate::sql::TENANT_USAGE_ROWS).bind(tenant),
                        None => sqlx::query_as::<_, Row>($crate::sql::USAGE_ROWS),
                    };
                    let rows =
                        query.fetch_all(&self.pool).await.map_err($crate::Error::query("reading the usage ledger"))?;
                    Ok(rows
                        .into_iter()
                        .map(|(tenant, day, model, depth, calls, input_tokens, output_tokens, cost)| $crate::UsageRow {
                            tenant,
                            day,
                            model,
                            depth: u32::try_from(depth).unwrap_or(u32::MAX),
                            calls: $crate::sql::from_db(calls),
                            input_tokens: $crate::sql::from_db(input_tokens),
                            output_tokens: $crate::sql::from_db(output_tokens),
                            cost,
                        })
                        .collect())
                })
            }

            fn put_trajectory<'a>(
                &'a self,
                id: &'a str,
                tenant: &'a str,
                jsonl: String,
            ) -> ::futures::future::BoxFuture<'a, $crate::Result<()>> {
                Box::pin(async move {
                    let bytes = $crate::sql::to_db("bytes", jsonl.len() as u64)?;
                    sqlx::query($crate::sql::PUT_TRAJECTORY)
                        .bind(tenant)
                        .bind(id)
                        .bind($crate::sql::now())
                        .bind(bytes)
                        .bind(jsonl)
                        .execute(&self.pool)
                        .await
                        .map_err($crate::Error::query("storing a trajectory"))?;
                    Ok(())
                })
            }

            fn get_trajectory<'a>(
                &'a self,
                tenant: &'a str,
                id: &'a str,
            ) -> ::futures::future::BoxFuture<'a, $crate::Result<Option<String>>> {
                Box::pin(async move {
                    sqlx::query_scalar($crate::sql::GET_TRAJECTORY)
                        .bind(tenant)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err($crate::Error::query("reading a trajectory"))
                })
            }

            fn put_session(
                &self,
                session: $crate::SessionRecord,
            ) -> ::futures::future::BoxFuture<'_, $crate::Result<()>> {
                Box::pin(async move {
                    let queries = $crate::sql::to_db("queries", session.queries)?;
                    sqlx::query($crate::sql::PUT_SESSION)
                        .bind(session.tenant)
                        .bind(session.id)
                        .bind(session.profile)
                        .bind(session.replica)
                        .bind(session.created_at)
                        .bind(session.last_used_at)
                        .bind(queries)
                        .bind(session.state)
                        .execute(&self.pool)
                        .await
                        .map_err($crate::Error::query("storing a session"))?;
                    Ok(())
                })
            }

            fn get_session<'a>(
                &'a self,
                tenant: &'a str,
                id: &'a str,
            ) -> ::futures::future::BoxFuture<'a, $crate::Result<Option<$crate::SessionRecord>>> {
                Box::pin(async move {
                    let row: Option<(String, String, String, String, String, String, i64, String)> =
                        sqlx::query_as($crate::sql::GET_SESSION)
                            .bind(tenant)
                            .bind(id)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err($crate::Error::query("reading a session"))?;
                    Ok(row.map(|(id, tenant, profile, replica, created_at, last_used_at, queries, state)| {
                        $crate::SessionRecord {
                            id,
                            tenant,
                            profile,
                            replica,
                            created_at,
                            last_used_at,
                            queries: $crate::sql::from_db(queries),
                            state,
                        }
                    }))
                })
            }

            fn lose_sessions<'a>(&'a self, replica: &'a str) -> ::futures::future::BoxFuture<'a, $crate::Result<u64>> {
                Box::pin(async move {
                    let done = sqlx::query($crate::sql::LOSE_SESSIONS)
                        .bind(replica)
                        .execute(&self.pool)
                        .await
                        .map_err($crate::Error::query("marking a replica's sessions lost"))?;
                    Ok(done.rows_affected())
                })
            }

            fn get_idempotent<'a>(
                &'a self,
                tenant: &'a str,
                key: &'a str,
            ) -> ::futures::future::BoxFuture<'a, $crate::Result<Option<$crate::StoredResponse>>> {
                Box::pin(async move {
                    const ACTION: &str = "reading an idempotent response";
                    let row: Option<(i64, String)> = sqlx::query_as($crate::sql::GET_IDEMPOTENT)
                        .bind(tenant)
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err($crate::Error::query(ACTION))?;
                    row.map(|(status, body)| {
                        let status = u16::try_from(status)
                            .map_err(|source| $crate::Error::Query { action: ACTION, source: Box::new(source) })?;
                        Ok($crate::StoredResponse { status, body })
                    })
                    .transpose()
                })
            }

            fn put_idempotent<'a>(
                &'a self,
                tenant: &'a str,
                key: &'a str,
                response: $crate::StoredResponse,
            ) -> ::futures::future::BoxFuture<'a, $crate::Result<()>> {
                Box::pin(async move {
                    sqlx::query($crate::sql::PUT_IDEMPOTENT)
                        .bind(tenant)
                        .bind(key)
                        .bind(i64::from(response.status))
                        .bind(response.body)
                        .bind($crate::sql::now())
                        .execute(&self.pool)
                        .await
                        .map_err($crate::Error::query("storing an idempotent response"))?;
                    Ok(())
                })
            }

            fn ping(&self) -> ::futures::future::BoxFuture<'_, $crate::Result<()>> {
                Box::pin(async move {
                    sqlx::query($crate::sql::PING)
                        .execute(&self.pool)
                        .await
                        .map_err($crate::Error::query("pinging"))?;
                    Ok(())
                })
            }
        }
    };
}

pub(crate) use impl_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_rows_are_sorted_and_merged() {
        let rows = vec![
            UsageRow::new("b", "2026-01-01", "m", 0, 1, 10, 5, 0.5),
            UsageRow::new("a", "2026-01-01", "m", 1, 1, 1, 1, 0.25),
            UsageRow::new("b", "2026-01-01", "m", 0, 2, 20, 10, 1.0),
        ];
        let merged = ledger_rows(rows).unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!((merged[0].tenant.as_str(), merged[0].depth, merged[0].calls), ("a", 1, 1));
        assert_eq!((merged[1].tenant.as_str(), merged[1].calls, merged[1].input_tokens), ("b", 3, 30));
        assert_eq!((merged[1].output_tokens, merged[1].cost), (15, 1.5));
    }

    #[test]
    fn counts_beyond_bigint_are_refused() {
        let too_many = UsageRow::new("a", "2026-01-01", "m", 0, u64::MAX, 0, 0, 0.0);
        let err = ledger_rows(vec![too_many]).unwrap_err();
        assert!(matches!(err, Error::TooLarge { field: "calls", value: u64::MAX }), "{err:?}");
        let half = UsageRow::new("a", "2026-01-01", "m", 0, 0, i64::MAX as u64, 0, 0.0);
        let err = ledger_rows(vec![half.clone(), half]).unwrap_err();
        assert!(matches!(err, Error::TooLarge { field: "input_tokens", .. }), "{err:?}");
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "migration {} is not before {}", pair[0].0, pair[1].0);
        }
    }
}
