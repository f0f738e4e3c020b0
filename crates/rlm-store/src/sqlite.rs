//! The SQLite store: one embedded database file, the default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::{DEFAULT_ACQUIRE_TIMEOUT, Error, Result, sql};

/// How long a connection waits for another one's write to finish before it
/// fails with "database is locked": 10 s.
///
/// SQLite lets one writer in at a time. Every ledger update, session and
/// idempotency write of every request queues on that lock, and each holds it
/// for well under a millisecond, so a long wait only happens when something
/// is badly wrong.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the pool of a database file: 4.
///
/// Writers take turns whatever the pool size, and in WAL mode readers do not
/// wait for them; a few connections let reads (a trajectory, a session)
/// proceed while one write runs, and more would only contend for the write
/// lock on a small machine.
pub const DEFAULT_SQLITE_MAX_CONNECTIONS: u32 = 4;

/// The store in an SQLite database: a file (created with its parent
/// directories if missing), or a private in-memory database for tests.
///
/// The file is in WAL mode, so readers do not block the writer, with
/// `synchronous = NORMAL` (a committed write survives a crash of the
/// process; a power loss may lose the last ones) and a busy timeout of
/// [`DEFAULT_BUSY_TIMEOUT`].
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// What errors and `Debug` show: the path, or `:memory:`.
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and its
    /// parent directories, and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(Error::open(&shown))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(DEFAULT_BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(DEFAULT_SQLITE_MAX_CONNECTIONS)
            .acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(Error::open(&shown))?;
        SqliteStore::migrate(pool, path.to_owned()).await
    }

    /// Opens a new, empty database in memory: gone when the store is
    /// dropped, and seen by no other store.
    pub async fn open_in_memory() -> Result<SqliteStore> {
        let shown = ":memory:";
        // A private in-memory database lives and dies with its connection, so
        // the pool holds exactly one for its whole life. (Several connections
        // could share one through SQLite's shared cache, but then they fail
        // with "table is locked" instead of waiting for each other.)
        let options = SqliteConnectOptions::new().in_memory(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(Error::open(shown))?;
        SqliteStore::migrate(pool, PathBuf::from(shown)).await
    }

    async fn migrate(pool: SqlitePool, path: PathBuf) -> Result<SqliteStore> {
        let shown = path.display().to_string();
        sql::migrator().await.map_err(Error::open(&shown))?.run(&pool).await.map_err(Error::open(&shown))?;
        tracing::debug!(path = %shown, "opened the SQLite store");
        Ok(SqliteStore { pool, path })
    }
}

sql::impl_store!(SqliteStore);
