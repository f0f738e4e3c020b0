//! The service on a real PostgreSQL server the test starts: two replicas
//! share its ledger, trajectories and idempotency keys; a session lives on
//! the replica that made it.

use rlm_test_support::postgres::{self, PostgresServer};
use serde_json::{Value, json};

use crate::{ALPHA, Service, client, config, mock};

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::print_stderr)] // The skip says so.
async fn two_replicas_share_one_postgres_store() {
    if postgres::skip() {
        eprintln!("skipped: {}=1", postgres::SKIP_POSTGRES_TESTS);
        return;
    }
    let server = PostgresServer::start().await;
    let url = server.create_database("serve").await;
    let replica = |name: &str| config(&format!("replica = \"{name}\""), "", "");
    let one = Service::start_on(&replica("one"), mock(), url.clone(), tempfile::tempdir().unwrap()).await;
    let two = Service::start_on(&replica("two"), mock(), url.clone(), tempfile::tempdir().unwrap()).await;

    // A trajectory made on one is read on the other.
    let (status, done) = one.complete(ALPHA, json!("c"), "<<FINAL('from one')>>").await;
    assert_eq!(status, 200, "{done}");
    let id = done["trajectory_id"].as_str().unwrap();
    assert_eq!(two.get(ALPHA, &format!("/v1/trajectories/{id}")).await.status(), 200);

    // An idempotency key used on one replays on the other.
    let send = |service: &Service| {
        client()
            .post(service.url("/v1/rlm/completions"))
            .bearer_auth(ALPHA)
            .header("Idempotency-Key", "shared")
            .json(&json!({"query": "<<FINAL('once')>>"}))
            .send()
    };
    let first = send(&one).await.unwrap();
    let second = send(&two).await.unwrap();
    assert!(first.headers().get("idempotent-replayed").is_none());
    assert_eq!(second.headers()["idempotent-replayed"], "true");

    // The ledger adds both replicas' runs.
    let (status, _) = two.complete(ALPHA, json!("c"), "<<FINAL('from two')>>").await;
    assert_eq!(status, 200);
    let rows = rlm_store::open(&url).await.unwrap().usage_rows(Some("alpha")).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.calls).sum::<u64>(), 3);

    // A session lives on its replica; the other says where.
    let created: Value = one.post(ALPHA, "/v1/sessions", json!({})).await.json().await.unwrap();
    let sid = created["id"].as_str().unwrap();
    let elsewhere = two.get(ALPHA, &format!("/v1/sessions/{sid}")).await;
    assert_eq!(elsewhere.status(), 404);
    let body: Value = elsewhere.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("replica `one`"), "{body}");

    // Replica one dies and comes back: its session is reported lost.
    drop(one);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let again = Service::start_on(&replica("one"), mock(), url.clone(), tempfile::tempdir().unwrap()).await;
    let lost = again.get(ALPHA, &format!("/v1/sessions/{sid}")).await;
    assert_eq!(lost.status(), 404);
    let body: Value = lost.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("was lost"), "{body}");
}
