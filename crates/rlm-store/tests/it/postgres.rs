//! One server for the whole suite: starting a cluster costs a couple of
//! seconds, a database a fraction of one. Every behaviour runs at once on
//! its own fresh database, and the test reports each one that failed, by
//! name.

use std::future::Future;
use std::pin::Pin;

use rlm_store::PostgresStore;

use crate::suite::{self, Db, assert_no_password, chain};
use rlm_test_support::postgres::{self as postgres_server, PostgresServer};

type Behaviour = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A behaviour and its name.
type Named = (&'static str, fn(Db) -> Behaviour);

macro_rules! postgres_behaviours {
    ($($behaviour:ident),* $(,)?) => {
        /// Every behaviour of the suite, given a URL of a fresh database.
        fn behaviours() -> Vec<Named> {
            vec![$((stringify!($behaviour), |db| Box::pin(suite::$behaviour(db))),)*]
        }
    };
}

suite::for_each_behaviour!(postgres_behaviours);

/// What only a server shared by several replicas does.
fn server_behaviours() -> Vec<Named> {
    vec![
        ("replicas_starting_together_migrate_once", |db| Box::pin(replicas_starting_together_migrate_once(db))),
        ("errors_never_show_the_password", |db| Box::pin(errors_never_show_the_password(db))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Says so when it skips: a skipped test otherwise looks like a passing one.
#[allow(clippy::print_stderr)]
async fn every_behaviour_on_postgres() {
    if postgres_server::skip() {
        eprintln!("skipped: {}=1", postgres_server::SKIP_POSTGRES_TESTS);
        return;
    }
    let server = PostgresServer::start().await;
    let mut runs = Vec::new();
    for (name, behaviour) in behaviours().into_iter().chain(server_behaviours()) {
        let url = server.create_database(name).await;
        // Each behaviour in its own task, so one that panics is reported
        // by name and the others still run.
        runs.push((name, tokio::spawn(behaviour(Db { url, _keep: Box::new(()) }))));
    }
    let mut failures = Vec::new();
    for (name, run) in runs {
        if let Err(err) = run.await {
            let message = match err.try_into_panic() {
                Ok(panic) => panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
                Err(err) => err.to_string(),
            };
            failures.push(format!("`{name}` failed: {message}"));
        }
    }
    assert!(failures.is_empty(), "on PostgreSQL:\n{}\n\nserver log:\n{}", failures.join("\n"), server.log());
}

#[test]
fn missing_binaries_fail_with_a_pointer_to_the_setup_script() {
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(empty.path().join("15/bin")).unwrap();
    let panic = std::panic::catch_unwind(|| postgres_server::find_binaries(empty.path())).unwrap_err();
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(message.contains("tests/setup-postgres.sh"), "{message}");
    assert!(message.contains("RLM_SKIP_POSTGRES_TESTS=1"), "{message}");
}

#[test]
fn the_newest_version_is_used() {
    let root = tempfile::tempdir().unwrap();
    for version in ["9.6", "15", "17", "not-a-version"] {
        let bin = root.path().join(version).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for program in ["initdb", "postgres", "pg_ctl"] {
            std::fs::write(bin.join(program), "").unwrap();
        }
    }
    assert_eq!(postgres_server::find_binaries(root.path()), root.path().join("17/bin"));
}

/// Several replicas opening a new database at the same moment: one migrates
/// under the lock, the others find it done.
async fn replicas_starting_together_migrate_once(db: Db) {
    let opens: Vec<_> = (0..4).map(|_| PostgresStore::connect(&db.url)).collect();
    for result in futures::future::join_all(opens).await {
        let store = result.unwrap_or_else(|err| panic!("{}", chain(&err)));
        rlm_store::Store::ping(&store).await.unwrap();
    }
}

async fn errors_never_show_the_password(db: Db) {
    let missing = format!("{}_missing", db.url);
    let err = rlm_store::open(&missing).await.unwrap_err();
    assert!(matches!(err, rlm_store::Error::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("postgres:****@127.0.0.1"), "{err}");
    assert_no_password(&err, "hunter2");

    let unparsable = db.url.replace("127.0.0.1:", "127.0.0.1:port");
    let err = rlm_store::open(&unparsable).await.unwrap_err();
    assert_no_password(&err, "hunter2");

    let store = PostgresStore::connect(&db.url).await.unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("hunter2") && debug.contains("****"), "{debug}");
}
