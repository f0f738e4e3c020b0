//! The behaviours every backend must have: one async function each, taking a
//! fresh, empty database. `sqlite.rs` and `postgres.rs` run every one of
//! them, through [`for_each_behaviour!`].

use std::error::Error as _;
use std::sync::Arc;

use rlm_store::{SessionRecord, Store, StoredResponse, UsageRow};

/// Calls `$callback!` with the name of every behaviour below, so a backend
/// cannot miss one.
macro_rules! for_each_behaviour {
    ($callback:ident) => {
        $callback!(
            ping,
            usage_adds_up,
            usage_is_exact_under_concurrent_writers,
            usage_is_scoped_by_tenant,
            trajectories_are_scoped_by_tenant,
            sessions_round_trip_and_are_scoped_by_tenant,
            lose_sessions_marks_only_that_replicas_live_sessions,
            idempotency_first_write_wins,
            idempotency_first_write_wins_under_concurrent_writers,
            reopening_keeps_the_data,
        );
    };
}

pub(crate) use for_each_behaviour;

/// A fresh, empty database: a URL that opens it, as often as a test likes.
pub struct Db {
    /// What [`rlm_store::open`] is given.
    pub url: String,
    /// Whatever must live as long as the database (its temporary directory).
    pub _keep: Box<dyn Send + Sync>,
}

impl Db {
    /// Opens the database, panicking with the whole error chain.
    pub async fn open(&self) -> Arc<dyn Store> {
        match rlm_store::open(&self.url).await {
            Ok(store) => store,
            Err(err) => panic!("cannot open `{}`: {}", self.url, chain(&err)),
        }
    }
}

/// An error and its causes, one per line.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str("\n  caused by: ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Unwraps a store result, panicking with the whole error chain.
#[track_caller]
fn ok<T>(result: rlm_store::Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{}", chain(&err)),
    }
}

const DAY: &str = "2026-05-01";

pub async fn ping(db: Db) {
    let store = db.open().await;
    ok(store.ping().await);
}

pub async fn usage_adds_up(db: Db) {
    let store = db.open().await;
    assert_eq!(ok(store.day_totals("acme", DAY).await), Default::default(), "no rows yet");

    ok(store.record_usage(vec![UsageRow::new("acme", DAY, "big", 0, 1, 1000, 100, 0.5)]).await);
    // The same key again, twice within one batch, and another depth.
    ok(store
        .record_usage(vec![
            UsageRow::new("acme", DAY, "big", 0, 2, 2000, 200, 1.0),
            UsageRow::new("acme", DAY, "small", 1, 4, 40, 4, 0.0),
            UsageRow::new("acme", DAY, "big", 0, 3, 3000, 300, 1.5),
        ])
        .await);
    ok(store.record_usage(vec![UsageRow::new("acme", "2026-05-02", "big", 0, 7, 7, 7, 7.0)]).await);
    ok(store.record_usage(Vec::new()).await);

    let rows = ok(store.usage_rows(Some("acme")).await);
    assert_eq!(
        rows,
        vec![
            UsageRow::new("acme", DAY, "big", 0, 6, 6000, 600, 3.0),
            UsageRow::new("acme", DAY, "small", 1, 4, 40, 4, 0.0),
            UsageRow::new("acme", "2026-05-02", "big", 0, 7, 7, 7, 7.0),
        ]
    );
    let totals = ok(store.day_totals("acme", DAY).await);
    assert_eq!((totals.calls, totals.tokens, totals.cost), (10, 6644, 3.0));
    let next = ok(store.day_totals("acme", "2026-05-02").await);
    assert_eq!((next.calls, next.tokens, next.cost), (7, 14, 7.0));

    // Counts up to the largest BIGINT survive the round trip.
    let big = i64::MAX as u64;
    ok(store.record_usage(vec![UsageRow::new("acme", "2026-06-01", "big", u32::MAX, big, big, 0, 0.0)]).await);
    let rows = ok(store.usage_rows(Some("acme")).await);
    assert!(rows.contains(&UsageRow::new("acme", "2026-06-01", "big", u32::MAX, big, big, 0, 0.0)), "{rows:?}");
    // Beyond it, the store refuses rather than wraps.
    let err = store.record_usage(vec![UsageRow::new("acme", DAY, "big", 0, u64::MAX, 0, 0, 0.0)]).await.unwrap_err();
    assert!(matches!(err, rlm_store::Error::TooLarge { field: "calls", .. }), "{err:?}");
}

pub async fn usage_is_exact_under_concurrent_writers(db: Db) {
    const WRITERS: u64 = 50;
    let store = db.open().await;
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // Two rows in each batch, in opposite orders for odd and even
            // writers, to catch batches that lock rows in different orders.
            let mut rows = vec![
                UsageRow::new("acme", DAY, "big", 0, 1, i, 2 * i, 0.25),
                UsageRow::new("acme", DAY, "small", 1, 1, 1, 1, 0.5),
            ];
            if i % 2 == 1 {
                rows.reverse();
            }
            store.record_usage(rows).await
        }));
    }
    for task in tasks {
        ok(task.await.expect("a writer panicked"));
    }

    let sum_i = WRITERS * (WRITERS - 1) / 2;
    let rows = ok(store.usage_rows(Some("acme")).await);
    assert_eq!(
        rows,
        vec![
            // 0.25 and 0.5 are exact in binary, so the sums are too.
            UsageRow::new("acme", DAY, "big", 0, WRITERS, sum_i, 2 * sum_i, 0.25 * WRITERS as f64),
            UsageRow::new("acme", DAY, "small", 1, WRITERS, WRITERS, WRITERS, 0.5 * WRITERS as f64),
        ]
    );
    let totals = ok(store.day_totals("acme", DAY).await);
    assert_eq!((totals.calls, totals.tokens, totals.cost), (2 * WRITERS, 3 * sum_i + 2 * WRITERS, 37.5));
}

pub async fn usage_is_scoped_by_tenant(db: Db) {
    let store = db.open().await;
    ok(store
        .record_usage(vec![
            UsageRow::new("acme", DAY, "big", 0, 1, 10, 1, 0.5),
            UsageRow::new("globex", DAY, "big", 0, 2, 20, 2, 1.0),
        ])
        .await);

    let acme = ok(store.day_totals("acme", DAY).await);
    assert_eq!((acme.calls, acme.tokens, acme.cost), (1, 11, 0.5));
    let globex = ok(store.day_totals("globex", DAY).await);
    assert_eq!((globex.calls, globex.tokens, globex.cost), (2, 22, 1.0));
    assert_eq!(ok(store.day_totals("initech", DAY).await), Default::default());

    assert_eq!(ok(store.usage_rows(Some("acme")).await), vec![UsageRow::new("acme", DAY, "big", 0, 1, 10, 1, 0.5)]);
    assert_eq!(ok(store.usage_rows(Some("initech")).await), Vec::new());
    let all = ok(store.usage_rows(None).await);
    assert_eq!(
        all,
        vec![
            UsageRow::new("acme", DAY, "big", 0, 1, 10, 1, 0.5),
            UsageRow::new("globex", DAY, "big", 0, 2, 20, 2, 1.0)
        ]
    );
}

pub async fn trajectories_are_scoped_by_tenant(db: Db) {
    let store = db.open().await;
    let acme = "{\"type\":\"metadata\"}\n{\"text\":\"héllo ✓\"}\n".to_owned();
    ok(store.put_trajectory("t1", "acme", acme.clone()).await);

    assert_eq!(ok(store.get_trajectory("acme", "t1").await), Some(acme.clone()));
    assert_eq!(ok(store.get_trajectory("globex", "t1").await), None, "another tenant's trajectory");
    assert_eq!(ok(store.get_trajectory("acme", "t2").await), None);

    // Another tenant's trajectory with the same id is its own.
    ok(store.put_trajectory("t1", "globex", "{}\n".to_owned()).await);
    assert_eq!(ok(store.get_trajectory("globex", "t1").await).as_deref(), Some("{}\n"));
    assert_eq!(ok(store.get_trajectory("acme", "t1").await), Some(acme));

    // Storing an id again replaces it; a large one round-trips whole.
    let large = "{\"x\":\"0123456789abcdef\"}\n".repeat(64 * 1024);
    ok(store.put_trajectory("t1", "acme", large.clone()).await);
    assert_eq!(ok(store.get_trajectory("acme", "t1").await), Some(large));
}

pub async fn sessions_round_trip_and_are_scoped_by_tenant(db: Db) {
    let store = db.open().await;
    let made = SessionRecord::new("s1", "acme", "default", "replica-a", "2026-05-01T10:00:00.000Z");
    assert_eq!((made.queries, made.state.as_str(), made.last_used_at.as_str()), (0, "live", made.created_at.as_str()));
    ok(store.put_session(made.clone()).await);
    assert_eq!(ok(store.get_session("acme", "s1").await), Some(made.clone()));
    assert_eq!(ok(store.get_session("globex", "s1").await), None, "another tenant's session");
    assert_eq!(ok(store.get_session("acme", "s2").await), None);

    // An update changes everything but when it was made.
    let mut used = made.clone();
    used.queries = u64::try_from(i64::MAX).unwrap();
    used.last_used_at = "2026-05-01T10:05:00.000Z".to_owned();
    used.replica = "replica-b".to_owned();
    used.profile = "large".to_owned();
    used.state = "deleted".to_owned();
    let mut update = used.clone();
    update.created_at = "2030-01-01T00:00:00.000Z".to_owned();
    ok(store.put_session(update).await);
    assert_eq!(ok(store.get_session("acme", "s1").await), Some(used));

    // Another tenant's session with the same id is its own.
    let theirs = SessionRecord::new("s1", "globex", "default", "replica-a", "2026-05-01T11:00:00.000Z");
    ok(store.put_session(theirs.clone()).await);
    assert_eq!(ok(store.get_session("globex", "s1").await), Some(theirs));
    assert_eq!(ok(store.get_session("acme", "s1").await).map(|s| s.profile), Some("large".to_owned()));
}

pub async fn lose_sessions_marks_only_that_replicas_live_sessions(db: Db) {
    let store = db.open().await;
    let at = "2026-05-01T10:00:00.000Z";
    let mut sessions = vec![
        SessionRecord::new("s1", "acme", "default", "replica-a", at),
        SessionRecord::new("s2", "globex", "default", "replica-a", at),
        SessionRecord::new("s3", "acme", "default", "replica-a", at),
        SessionRecord::new("s4", "acme", "default", "replica-b", at),
    ];
    sessions[2].state = "deleted".to_owned();
    for session in &sessions {
        ok(store.put_session(session.clone()).await);
    }

    assert_eq!(ok(store.lose_sessions("replica-a").await), 2);
    let state = async |tenant: &str, id: &str| ok(store.get_session(tenant, id).await).expect("stored").state;
    assert_eq!(state("acme", "s1").await, "lost");
    assert_eq!(state("globex", "s2").await, "lost");
    assert_eq!(state("acme", "s3").await, "deleted", "only live sessions are lost");
    assert_eq!(state("acme", "s4").await, "live", "only that replica's");
    assert_eq!(ok(store.lose_sessions("replica-a").await), 0, "already lost");
    assert_eq!(ok(store.lose_sessions("replica-c").await), 0);
}

pub async fn idempotency_first_write_wins(db: Db) {
    let store = db.open().await;
    assert_eq!(ok(store.get_idempotent("acme", "k1").await), None);

    ok(store.put_idempotent("acme", "k1", StoredResponse::new(201, "{\"id\":1}")).await);
    ok(store.put_idempotent("acme", "k1", StoredResponse::new(500, "{\"error\":\"late\"}")).await);
    assert_eq!(ok(store.get_idempotent("acme", "k1").await), Some(StoredResponse::new(201, "{\"id\":1}")));

    assert_eq!(ok(store.get_idempotent("globex", "k1").await), None, "another tenant's response");
    ok(store.put_idempotent("globex", "k1", StoredResponse::new(u16::MAX, "")).await);
    assert_eq!(ok(store.get_idempotent("globex", "k1").await), Some(StoredResponse::new(u16::MAX, "")));
    assert_eq!(ok(store.get_idempotent("acme", "k1").await), Some(StoredResponse::new(201, "{\"id\":1}")));
}

pub async fn idempotency_first_write_wins_under_concurrent_writers(db: Db) {
    let store = db.open().await;
    let mut tasks = Vec::new();
    for i in 0..20u16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.put_idempotent("acme", "k", StoredResponse::new(200 + i, format!("writer {i}"))).await
        }));
    }
    for task in tasks {
        ok(task.await.expect("a writer panicked"));
    }
    let kept = ok(store.get_idempotent("acme", "k").await).expect("one response is kept");
    assert_eq!(kept.body, format!("writer {}", kept.status - 200), "status and body of one write");
}

pub async fn reopening_keeps_the_data(db: Db) {
    let store = db.open().await;
    ok(store.record_usage(vec![UsageRow::new("acme", DAY, "big", 0, 1, 10, 1, 0.5)]).await);
    ok(store.put_trajectory("t1", "acme", "{}\n".to_owned()).await);
    drop(store);

    // Migrations already applied are skipped, twice over.
    for _ in 0..2 {
        let store = db.open().await;
        ok(store.record_usage(vec![UsageRow::new("acme", DAY, "big", 0, 1, 10, 1, 0.5)]).await);
        assert_eq!(ok(store.get_trajectory("acme", "t1").await).as_deref(), Some("{}\n"));
    }
    let store = db.open().await;
    assert_eq!(ok(store.usage_rows(None).await), vec![UsageRow::new("acme", DAY, "big", 0, 3, 30, 3, 1.5)]);
}

/// The source chain of an error must never hold the password of the URL.
pub fn assert_no_password(err: &rlm_store::Error, password: &str) {
    let text = format!("{}\n{err:?}", chain(err));
    assert!(!text.contains(password), "the password leaked: {text}");
    assert!(err.source().is_some() || matches!(err, rlm_store::Error::UnsupportedUrl { .. }), "{text}");
}
