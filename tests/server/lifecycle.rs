use std::time::{Duration, Instant};

use rlm_test_support::{MockLlm, MockReply};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{ALPHA, BETA, Service, client, config, mock, program};

/// The program mock, but a sub-call asking `wait` hangs for a minute.
fn hanging_mock() -> MockLlm {
    MockLlm::builder()
        .responder(|request| {
            if request.last_user() == "wait" { MockReply::Hang(Duration::from_secs(60)) } else { program(request) }
        })
        .start()
}

async fn ledger_calls(service: &Service, tenant: &str) -> u64 {
    let rows = service.store().await.usage_rows(Some(tenant)).await.unwrap();
    rows.iter().map(|r| r.calls).sum()
}

async fn metric(service: &Service, name: &str) -> String {
    let text = client().get(service.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find(|l| l.starts_with(name)).unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_cancels_its_run_and_the_ledger_keeps_what_it_spent() {
    let service = Service::start(&config("", "", ""), hanging_mock()).await;
    let request = client()
        .post(service.url("/v1/rlm/completions"))
        .bearer_auth(ALPHA)
        .timeout(Duration::from_millis(1500))
        .json(&json!({"query": "<<r = llm_query('wait') | FINAL(r)>>"}));
    let started = Instant::now();
    assert!(request.send().await.unwrap_err().is_timeout());
    // The root call was made and paid for; the sub-call hangs until the
    // run is cancelled. Well before the hang would end, the run is over
    // and recorded.
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&service, "rlm_runs_in_flight").await != "rlm_runs_in_flight 0"
        || ledger_calls(&service, "alpha").await == 0
    {
        assert!(Instant::now() < deadline, "the run was not cancelled and recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(ledger_calls(&service, "alpha").await, 2, "the root call and the sub-call it cut off");
    assert_eq!(service.mock.requests().len(), 2, "root call and the sub-call, nothing after");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_stream_cancels_its_run_too() {
    let service = Service::start(&config("", "", ""), hanging_mock()).await;
    let body = json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": "<<r = llm_query('wait') | FINAL(r)>>"}]});
    let response = service.post(ALPHA, "/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(response);
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&service, "rlm_runs_in_flight").await != "rlm_runs_in_flight 0" {
        assert!(Instant::now() < deadline, "the streamed run was not cancelled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The root's call and the sub-call cut off mid-flight (its input tokens
    // were sent, so it is billed).
    assert_eq!(ledger_calls(&service, "alpha").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_a_run_in_flight_finish_and_refuses_new_connections() {
    let slow = MockLlm::builder().responder(program).latency(Duration::from_millis(1500)).start();
    let mut service = Service::start(&config("shutdown_grace_s = 20", "", ""), slow).await;
    let run = {
        let request = client().post(service.url("/v1/rlm/completions")).bearer_auth(ALPHA);
        tokio::spawn(request.json(&json!({"query": "<<FINAL('finished')>>"})).send())
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    service.stop().await;
    let response = run.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["answer"], "finished");
    assert!(client().get(service.url("/healthz")).send().await.is_err(), "the listener is closed");
    assert_eq!(ledger_calls(&service, "alpha").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_grace_period_runs_are_cancelled_and_still_recorded() {
    let mut service = Service::start(&config("shutdown_grace_s = 1", "", ""), hanging_mock()).await;
    let run = {
        let request = client().post(service.url("/v1/rlm/completions")).bearer_auth(ALPHA);
        tokio::spawn(request.json(&json!({"query": "<<r = llm_query('wait') | FINAL(r)>>"})).send())
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let started = Instant::now();
    service.stop().await;
    assert!(started.elapsed() < Duration::from_secs(15), "stopped in {:?}", started.elapsed());
    let response = run.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "cancelled", "{body}");
    // The root's call and the sub-call cut off mid-flight (its input tokens
    // were sent, so it is billed).
    assert_eq!(ledger_calls(&service, "alpha").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_4xx_and_nothing_breaks() {
    let service = Service::start(&config("body_limit_bytes = 4096", "", ""), crate::mock()).await;
    let raw = |body: String| {
        let request = client().post(service.url("/v1/rlm/completions")).bearer_auth(ALPHA).body(body);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let deep = format!(r#"{{"query": "q", "context": {}{}}}"#, "[".repeat(120), "]".repeat(120));
    let cases: Vec<(u16, Value, &str)> = vec![
        {
            let (s, b) = raw("{not json".to_owned()).await;
            (s, b, "not valid")
        },
        {
            let (s, b) = raw("".to_owned()).await;
            (s, b, "JSON body")
        },
        {
            let (s, b) = raw(r#"{"query": 5}"#.to_owned()).await;
            (s, b, "invalid type")
        },
        {
            let (s, b) = raw("{}".to_owned()).await;
            (s, b, "missing field `query`")
        },
        {
            let (s, b) = raw(r#"{"query": "q", "contxt": "c"}"#.to_owned()).await;
            (s, b, "contxt")
        },
        {
            let (s, b) = raw(r#"{"query": "q", "profile": "nope"}"#.to_owned()).await;
            (s, b, "no profile `nope`")
        },
        {
            let (s, b) = raw(deep).await;
            (s, b, "deep")
        },
        {
            let r = service
                .post(
                    ALPHA,
                    "/v1/chat/completions",
                    json!({"model": "fast", "messages": [{"role": "system", "content": "s"}]}),
                )
                .await;
            (r.status().as_u16(), r.json().await.unwrap(), "user message")
        },
        {
            let r = service.post(ALPHA, "/v1/rlm/completions", json!({"query": "x".repeat(5000)})).await;
            (r.status().as_u16(), r.json().await.unwrap(), "size limit")
        },
        {
            let r = service.get(ALPHA, "/v1/nothing-here").await;
            (r.status().as_u16(), r.json().await.unwrap(), "no such route")
        },
        {
            let r = service.get(ALPHA, "/v1/rlm/completions").await;
            (r.status().as_u16(), r.json().await.unwrap(), "method")
        },
        {
            let r = client()
                .post(service.url("/v1/rlm/completions"))
                .bearer_auth(ALPHA)
                .header("Idempotency-Key", "k".repeat(300))
                .json(&json!({"query": "q"}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json().await.unwrap(), "Idempotency-Key")
        },
    ];
    for (status, body, expected) in &cases {
        assert!((400..500).contains(status), "{status} {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "expected `{expected}` in {body}");
        assert!(body["error"]["type"].is_string() && body["error"]["code"].is_string(), "{body}");
    }
    let statuses: Vec<u16> = cases.iter().map(|(s, ..)| *s).collect();
    assert_eq!(statuses, [400, 400, 400, 400, 400, 404, 400, 400, 413, 404, 405, 400]);
    // Nothing counted as a server error, and the service still answers.
    let metrics = client().get(service.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("status=\"500\""), "{metrics}");
    let (status, body) = service.complete(ALPHA, json!("c"), "<<FINAL('fine')>>").await;
    assert_eq!((status, &body["answer"]), (200, &json!("fine")));
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_or_idle_connections_are_closed() {
    let service = Service::start(&config("header_timeout_s = 1\nbody_timeout_s = 1", "", ""), crate::mock()).await;
    let addr = service.base.trim_start_matches("http://").to_owned();
    let closed_within = |mut stream: tokio::net::TcpStream| async move {
        let started = Instant::now();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the connection stayed open");
        (started.elapsed(), String::from_utf8_lossy(&buf).into_owned())
    };
    // Headers that never end.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let (took, _) = closed_within(slow).await;
    assert!(took < Duration::from_secs(5), "{took:?}");
    // An idle keep-alive connection after one request.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (took, text) = closed_within(idle).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // A body that never arrives.
    let mut body = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/rlm/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALPHA}\r\nContent-Length: 100\r\n\r\n{{\"q"
    );
    body.write_all(head.as_bytes()).await.unwrap();
    let (took, text) = closed_within(body).await;
    assert!(text.starts_with("HTTP/1.1 4"), "{text}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_code_in_one_request_leaves_the_service_serving() {
    let service = Service::start(&config("", "", ""), crate::mock()).await;
    let hostile = [
        "<<while True: pass | FINAL('after the loop')>>",
        "<<x = bytearray(10**10) | FINAL('after the bomb')>>",
        "<<import sys; sys.setrecursionlimit(10**6)\ndef f(): f()\nf() | FINAL('after the recursion')>>",
    ];
    let runs = hostile.iter().map(|query| {
        let body = json!({"query": query, "limits": {"cell_timeout_s": 2, "memory_mb": 128}});
        service.post(ALPHA, "/v1/rlm/completions", body)
    });
    for response in futures::future::join_all(runs).await {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert!(body["answer"].as_str().is_some_and(|a| a.starts_with("after")), "{body}");
    }
    assert_eq!(client().get(service.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_the_ledger_refused_still_counts_against_the_budget_and_is_written_later() {
    // Each run makes one call of 15 tokens; alpha may use 30 a day.
    let service = Service::start(&config("", "tokens_per_day = 30", ""), mock()).await;
    let pool = sqlx::SqlitePool::connect(&service.database_url).await.unwrap();
    for op in ["INSERT", "UPDATE"] {
        let sql =
            format!("CREATE TRIGGER refuse_{op} BEFORE {op} ON ledger BEGIN SELECT RAISE(ABORT, 'disk full'); END");
        sqlx::query(&sql).execute(&pool).await.unwrap();
    }
    for key in [ALPHA, ALPHA, BETA] {
        assert_eq!(service.complete(key, json!("c"), "<<FINAL(1)>>").await.0, 200);
    }
    assert_eq!(ledger_calls(&service, "alpha").await, 0, "the ledger refused every run's usage");
    assert_eq!(client().get(service.url("/readyz")).send().await.unwrap().status(), 503);
    // Alpha's 30 tokens are spent, though the ledger does not know it.
    let (status, body) = service.complete(ALPHA, json!("c"), "<<FINAL(1)>>").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "tokens_per_day");
    // Once the store takes writes again, beta's next write records its
    // earlier run too.
    for op in ["INSERT", "UPDATE"] {
        sqlx::query(&format!("DROP TRIGGER refuse_{op}")).execute(&pool).await.unwrap();
    }
    assert_eq!(service.complete(BETA, json!("c"), "<<FINAL(1)>>").await.0, 200);
    assert_eq!(ledger_calls(&service, "beta").await, 2);
}
