use std::time::Duration;

use rlm_test_support::MockLlm;
use serde_json::{Value, json};

use crate::{ALPHA, BETA, Service, client, config, mock, program};

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_never_sees_anothers_sessions_or_trajectories() {
    let service = Service::start(&config("", "", ""), mock()).await;
    let created: Value = service.post(ALPHA, "/v1/sessions", json!({"context": "secret"})).await.json().await.unwrap();
    let session = created["id"].as_str().unwrap().to_owned();
    let (_, done) = service.complete(ALPHA, json!("secret"), "<<FINAL(context)>>").await;
    let trajectory = done["trajectory_id"].as_str().unwrap().to_owned();

    // Every way of reaching them answers exactly as for an id that never
    // existed: 404, "no session" / "no trajectory".
    let made_up = service.get(BETA, "/v1/sessions/sess-0000").await.json::<Value>().await.unwrap();
    let probes = [
        service.get(BETA, &format!("/v1/sessions/{session}")).await,
        client().delete(service.url(&format!("/v1/sessions/{session}"))).bearer_auth(BETA).send().await.unwrap(),
        service
            .post(BETA, &format!("/v1/sessions/{session}/completions"), json!({"query": "<<FINAL(context)>>"}))
            .await,
        service.post(BETA, "/v1/rlm/completions", json!({"session": session, "query": "<<FINAL(context)>>"})).await,
    ];
    for response in probes {
        assert_eq!(response.status(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(message(&body).replace(&session, "ID"), message(&made_up).replace("sess-0000", "ID"));
    }
    let response = service.get(BETA, &format!("/v1/trajectories/{trajectory}")).await;
    assert_eq!(response.status(), 404);
    // Alpha still has both.
    assert_eq!(service.get(ALPHA, &format!("/v1/sessions/{session}")).await.status(), 200);
    assert_eq!(service.get(ALPHA, &format!("/v1/trajectories/{trajectory}")).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_key_or_an_unknown_key_is_401() {
    let service = Service::start(&config("", "", ""), mock()).await;
    let none = client().get(service.url("/v1/models")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert_eq!(service.get("key-wrong", "/v1/models").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_in_flight_past_the_tenants_limit_are_429_and_another_tenant_still_gets_through() {
    // Two slots for the whole service, one per tenant: alpha's flood takes
    // its one, the rest are refused at once, and beta's run still starts.
    let toml = config("max_runs_in_flight = 2", "max_runs_in_flight = 1", "max_runs_in_flight = 1");
    let slow = MockLlm::builder().responder(program).latency(Duration::from_millis(600)).start();
    let service = Service::start(&toml, slow).await;
    let flood = futures::future::join_all((0..5).map(|_| service.complete(ALPHA, json!("c"), "<<FINAL(1)>>")));
    let other = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        service.complete(BETA, json!("c"), "<<FINAL(2)>>").await
    };
    let (flood, other) = tokio::join!(flood, other);
    let mut statuses: Vec<u16> = flood.iter().map(|(s, _)| *s).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 429, 429, 429, 429]);
    let refused = flood.iter().find(|(s, _)| *s == 429).unwrap();
    assert_eq!(refused.1["error"]["code"], "runs_in_flight");
    assert_eq!(other.0, 200, "{}", other.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_carries_retry_after() {
    let toml = config("", "requests_per_minute = 2", "");
    let service = Service::start(&toml, mock()).await;
    for _ in 0..2 {
        assert_eq!(service.get(ALPHA, "/v1/models").await.status(), 200);
    }
    let refused = service.get(ALPHA, "/v1/models").await;
    assert_eq!(refused.status(), 429);
    let after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&after));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Beta is not alpha.
    assert_eq!(service.get(BETA, "/v1/models").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_token_and_dollar_budgets() {
    // One call is 15 tokens and, at these prices, $0.02.
    let toml = config("", "tokens_per_day = 20", "dollars_per_day = 0.03");
    let service = Service::start(&toml, mock()).await;
    for (key, code) in [(ALPHA, "tokens_per_day"), (BETA, "dollars_per_day")] {
        let (status, _) = service.complete(key, json!("c"), "<<FINAL(1)>>").await;
        assert_eq!(status, 200);
        let (status, body) = service.complete(key, json!("c"), "<<FINAL(2)>>").await;
        assert_eq!(status, 200, "still under: {body}");
        let (status, body) = service.complete(key, json!("c"), "<<FINAL(3)>>").await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["error"]["code"], code);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn live_sessions_and_context_size_ceilings() {
    let toml = config("", "max_live_sessions = 1\nmax_context_bytes = 100", "");
    let service = Service::start(&toml, mock()).await;
    assert_eq!(service.post(ALPHA, "/v1/sessions", json!({})).await.status(), 201);
    let refused = service.post(ALPHA, "/v1/sessions", json!({})).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "live_sessions");

    let (status, body) = service.complete(ALPHA, json!("x".repeat(101)), "<<FINAL(1)>>").await;
    assert_eq!(status, 413, "{body}");
    assert!(message(&body).contains("at most 100"), "{body}");
    let body = json!({"model": "fast", "messages": [{"role": "user", "content": "x".repeat(200)}, {"role": "user", "content": "q"}]});
    assert_eq!(service.post(ALPHA, "/v1/chat/completions", body).await.status(), 413);
}

#[tokio::test(flavor = "multi_thread")]
async fn request_limits_are_clamped_to_the_tenants_ceilings() {
    let toml = config("", "", "max_tokens = 20");
    let service = Service::start(&toml, mock()).await;
    let body = json!({"query": "<<x = 1 | x = 2 | FINAL(x)>>", "limits": {"max_tokens": 1000}});
    let body: Value = service.post(BETA, "/v1/rlm/completions", body).await.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "max_tokens", "{body}");
    // Alpha has no ceiling: the same request answers.
    let body = json!({"query": "<<x = 1 | x = 2 | FINAL(x)>>", "limits": {"max_tokens": 1000}});
    let body: Value = service.post(ALPHA, "/v1/rlm/completions", body).await.json().await.unwrap();
    assert_eq!(body["answer"], 2, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_sandbox_ceiling_holds_across_its_sessions() {
    // One sandbox at most: the first session's sandbox lives on, so a
    // query in a second session is refused (429), and nothing else fails.
    let toml = config("", "max_sandboxes = 1\nsandbox_wait_s = 1", "");
    let service = Service::start(&toml, mock()).await;
    let one: Value = service.post(ALPHA, "/v1/sessions", json!({})).await.json().await.unwrap();
    let two: Value = service.post(ALPHA, "/v1/sessions", json!({})).await.json().await.unwrap();
    let ask = |id: &Value| {
        let path = format!("/v1/sessions/{}/completions", id["id"].as_str().unwrap());
        let service = &service;
        async move {
            let response = service.post(ALPHA, &path, json!({"query": "<<FINAL(1)>>"})).await;
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(ask(&one).await.1["answer"], 1);
    let (status, refused) = tokio::time::timeout(Duration::from_secs(60), ask(&two)).await.unwrap();
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["error"]["code"], "sandboxes", "{refused}");
    // The first session still answers.
    assert_eq!(ask(&one).await.1["answer"], 1);
    // Beta is not held back by alpha's sandbox.
    let (status, body) = service.complete(BETA, json!("c"), "<<FINAL(2)>>").await;
    assert_eq!((status, &body["answer"]), (200, &json!(2)), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_cannot_raise_a_limit_past_its_profile() {
    // Profile `fast` allows 6 iterations; alpha has no ceilings of its own.
    let service = Service::start(&config("", "", ""), mock()).await;
    let body = json!({"query": "<<x = 1>>", "limits": {"max_iterations": 1000, "max_depth": 50}});
    let body: Value = service.post(ALPHA, "/v1/rlm/completions", body).await.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "max_iterations", "{body}");
    assert!(body["iterations"].as_u64().unwrap() <= 7, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_over_the_tenants_limit_is_refused_before_it_starts() {
    let toml = config("", "max_runs_in_flight = 1", "");
    let slow = MockLlm::builder().responder(program).latency(Duration::from_millis(800)).start();
    let service = Service::start(&toml, slow).await;
    let busy = service.complete(ALPHA, json!("c"), "<<FINAL(1)>>");
    let streamed = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let body = json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": "<<FINAL(2)>>"}]});
        let response = service.post(ALPHA, "/v1/chat/completions", body).await;
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };
    let ((status, _), (refused, body)) = tokio::join!(busy, streamed);
    assert_eq!(status, 200);
    assert_eq!(refused, 429, "an HTTP error, not an error inside a 200 stream: {body}");
    assert_eq!(body["error"]["code"], "runs_in_flight");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_runs_cannot_overspend_a_daily_budget() {
    // One call is 15 tokens; the budget holds one run's worth. Each run
    // reserves what is left, so concurrent runs cannot all pass the check
    // and then all spend.
    let toml = config("", "tokens_per_day = 20", "");
    let slow = MockLlm::builder().responder(program).latency(Duration::from_millis(300)).start();
    let service = Service::start(&toml, slow).await;
    let queries: Vec<String> = (0..6).map(|n| format!("<<FINAL({n})>>")).collect();
    let runs = futures::future::join_all(queries.iter().map(|q| service.complete(ALPHA, json!("c"), q))).await;
    assert!(runs.iter().any(|(s, b)| *s == 200 && !b["answer"].is_null()), "{runs:?}");
    let rows = service.store().await.usage_rows(Some("alpha")).await.unwrap();
    let spent: u64 = rows.iter().map(|r| r.input_tokens + r.output_tokens).sum();
    assert!(spent <= 20, "spent {spent} tokens of a 20-token day: {runs:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_cannot_take_an_idempotency_key() {
    let service = Service::start(&config("", "", ""), mock()).await;
    let body = json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": "<<FINAL(1)>>"}]});
    let response = client()
        .post(service.url("/v1/chat/completions"))
        .bearer_auth(ALPHA)
        .header("Idempotency-Key", "k1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(message(&body).contains("Idempotency-Key"), "{body}");
    assert!(service.mock.requests().is_empty(), "nothing ran");
}
