use rlm_store::{SqliteStore, Store, UsageRow};

use crate::suite::{self, Db, assert_no_password, chain};

/// A fresh database file in a temporary directory, opened through a
/// `sqlite://` URL.
fn fresh_db() -> Db {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    Db { url, _keep: Box::new(dir) }
}

macro_rules! sqlite_tests {
    ($($behaviour:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() {
                suite::$behaviour(fresh_db()).await;
            }
        )*
    };
}

suite::for_each_behaviour!(sqlite_tests);

#[tokio::test]
async fn open_creates_the_file_and_its_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/store.db");
    let store = SqliteStore::open(&path).await.unwrap_or_else(|err| panic!("{}", chain(&err)));
    store.record_usage(vec![UsageRow::new("acme", "2026-05-01", "big", 0, 1, 1, 1, 0.0)]).await.unwrap();
    assert!(path.is_file());
    // WAL mode: the write went to the log beside the database.
    assert!(dir.path().join("a/b/store.db-wal").is_file());
    assert!(format!("{store:?}").contains("store.db"));
}

#[tokio::test]
async fn plain_paths_open_sqlite_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.db");
    suite::ping(Db { url: path.display().to_string(), _keep: Box::new(()) }).await;
    assert!(path.is_file());
}

#[tokio::test]
async fn memory_databases_are_private() {
    let one = suite::Db { url: "sqlite::memory:".to_owned(), _keep: Box::new(()) }.open().await;
    let two = SqliteStore::open_in_memory().await.unwrap();
    one.put_trajectory("t1", "acme", "{}\n".to_owned()).await.unwrap();
    assert_eq!(one.get_trajectory("acme", "t1").await.unwrap().as_deref(), Some("{}\n"));
    assert_eq!(two.get_trajectory("acme", "t1").await.unwrap(), None);
}

#[tokio::test]
async fn a_memory_database_is_one_database_under_concurrency() {
    // The pool keeps its one connection, so concurrent writers all reach the
    // same database rather than fresh, empty ones.
    let db = Db { url: "sqlite::memory:".to_owned(), _keep: Box::new(()) };
    suite::usage_is_exact_under_concurrent_writers(db).await;
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    let err = rlm_store::open("mysql://root:hunter2@db/rlm").await.unwrap_err();
    assert!(matches!(err, rlm_store::Error::UnsupportedUrl { .. }), "{err:?}");
    assert_no_password(&err, "hunter2");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_fails_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.db");
    std::fs::write(&path, "this is not an SQLite database, but long enough to have a header ..........").unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, rlm_store::Error::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("not.db"), "{err}");
}
