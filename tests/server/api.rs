use std::time::Duration;

use serde_json::{Value, json};

use crate::{ALPHA, BETA, Service, client, config, mock, sse};

#[tokio::test(flavor = "multi_thread")]
async fn chat_completion_answers_with_the_whole_runs_usage() {
    let service = Service::start(&config("", "", ""), mock()).await;
    let body = json!({
        "model": "fast",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "<<n = len(context) | r = llm_query('hi') | FINAL(str(n) + ' ' + r)>>"},
        ],
    });
    let response = service.post(ALPHA, "/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-request-id").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "fast");
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["finish_reason"], "stop");
    // The context is the other messages: one, the system message.
    assert_eq!(choice["message"]["content"], "1 sub:hi", "{body}");
    // Three root calls and one sub-call, 10 + 5 tokens each.
    assert_eq!(body["usage"]["prompt_tokens"], 40);
    assert_eq!(body["usage"]["completion_tokens"], 20);
    assert_eq!(body["usage"]["total_tokens"], 60);
    assert_eq!(body["rlm"]["sub_calls"], 1);
    assert!(body["rlm"]["trajectory_id"].as_str().is_some_and(|t| t.starts_with("traj-")));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rlm_extension_passes_a_large_context_and_limits() {
    let service = Service::start(&config("", "", ""), mock()).await;
    let context: Vec<Value> = (0..1000).map(|i| json!({"id": i, "text": "x".repeat(100)})).collect();
    let body = json!({
        "model": "fast",
        "messages": [{"role": "user", "content": "<<FINAL(len(context))>>"}],
        "rlm": {"context": context, "max_iterations": 2},
    });
    let response = service.post(ALPHA, "/v1/chat/completions", body).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "1000", "{body}");

    let unknown = json!({"model": "fast", "messages": [{"role": "user", "content": "q"}], "rlm": {"max_iteration": 2}});
    let response = service.post(ALPHA, "/v1/chat/completions", unknown).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("max_iteration"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_chat_completion_sends_openai_chunks() {
    let service = Service::start(&config("", "", ""), mock()).await;
    let body = json!({
        "model": "fast",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "<<FINAL('streamed')>>"}],
    });
    let response = service.post(ALPHA, "/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = sse(&response.text().await.unwrap());
    let data: Vec<&str> = events.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(data.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect::<Vec<_>>().concat();
    assert_eq!(text, "streamed");
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"));
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 15);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_stays_alive_while_the_run_works() {
    let toml = config("keep_alive_s = 1", "", "");
    let slow =
        rlm_test_support::MockLlm::builder().responder(crate::program).latency(Duration::from_millis(2500)).start();
    let service = Service::start(&toml, slow).await;
    let body = json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": "<<FINAL(1)>>"}]});
    let response = service.post(ALPHA, "/v1/chat/completions", body).await;
    let text = response.text().await.unwrap();
    // Keep-alive comments are `:` lines between the chunks.
    assert!(text.lines().any(|l| l.starts_with(':')), "{text}");
    assert!(text.contains("[DONE]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn native_completion_returns_json_and_stores_the_trajectory() {
    let service = Service::start(&config("", "", ""), mock()).await;
    let (status, body) =
        service.complete(ALPHA, json!({"a": [1, 2, 3]}), "<<x = {'sum': sum(context['a'])}\nFINAL_VAR('x')>>").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["answer"], json!({"sum": 6}));
    assert_eq!(body["iterations"], 1);
    assert_eq!(body["error"], Value::Null);
    assert!(body["elapsed_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(body["usage"]["total"]["calls"], 1);
    let id = body["trajectory_id"].as_str().unwrap();
    let response = service.get(ALPHA, &format!("/v1/trajectories/{id}")).await;
    assert_eq!(response.status(), 200);
    let jsonl = response.text().await.unwrap();
    let first: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "metadata");
    assert_eq!(jsonl.lines().count(), 2, "metadata and one iteration");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_stops_says_why() {
    // Each call is 15 tokens: the second goes over.
    let toml = config("", "", "max_tokens = 20");
    let service = Service::start(&toml, mock()).await;
    let (status, body) = service.complete(BETA, json!("c"), "<<x = 1 | x = 2 | FINAL(x)>>").await;
    assert_eq!(status, 200);
    assert_eq!(body["answer"], Value::Null, "{body}");
    assert_eq!(body["error"]["kind"], "max_tokens", "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn a_limit_out_of_range_is_a_400_before_a_stream_starts() {
    let service = Service::start(&config("", "", ""), mock()).await;
    let body = json!({"query": "<<FINAL(1)>>", "stream": true, "limits": {"max_iterations": 0}});
    let response = service.post(ALPHA, "/v1/rlm/completions", body).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("iteration limit"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn native_streaming_sends_the_runs_events_then_the_result() {
    let service = Service::start(&config("", "", ""), mock()).await;
    let body =
        json!({"context": "ctx", "query": "<<r = rlm_query('<' + '<FINAL(7)>' + '>') | FINAL(r)>>", "stream": true});
    let response = service.post(ALPHA, "/v1/rlm/completions", body).await;
    assert_eq!(response.status(), 200);
    let events = sse(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "run_started",
        "iteration_started",
        "model_reply",
        "code_started",
        "code_finished",
        "sub_call_started",
        "sub_call_finished",
        "usage",
        "final_answer",
    ] {
        assert!(names.contains(&expected), "no {expected} in {names:?}");
    }
    assert_eq!(names.last(), Some(&"result"));
    let (_, result) = events.last().unwrap();
    let result: Value = serde_json::from_str(result).unwrap();
    assert_eq!(result["answer"], 7, "{result}");
    assert!(result["trajectory_id"].is_string());
    // The sub-RLM ran one level down.
    let depths: Vec<u64> = events
        .iter()
        .filter(|(n, _)| n == "run_started")
        .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap()["depth"].as_u64().unwrap())
        .collect();
    assert_eq!(depths, [0, 1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_keep_variables_and_history_across_queries() {
    let service = Service::start(&config("", "", ""), mock()).await;
    let response =
        service.post(ALPHA, "/v1/sessions", json!({"context": "a session context", "profile": "fast"})).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["object"], "session");

    let path = format!("/v1/sessions/{id}/completions");
    let first =
        service.post(ALPHA, &path, json!({"query": "<<x = 41\ndef inc(v): return v + 1 | FINAL('set')>>"})).await;
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["answer"], "set", "{first}");
    let second = service.post(ALPHA, &path, json!({"query": "<<FINAL(inc(x))>>"})).await;
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["answer"], 42, "{second}");
    // The native endpoint reaches the same session.
    let third = json!({"session": id, "query": "<<FINAL(len(context))>>"});
    let third: Value = service.post(ALPHA, "/v1/rlm/completions", third).await.json().await.unwrap();
    assert_eq!(third["answer"], "a session context".len(), "{third}");

    let shown: Value = service.get(ALPHA, &format!("/v1/sessions/{id}")).await.json().await.unwrap();
    assert_eq!(shown["queries"], 3);
    assert_eq!(shown["history"].as_array().unwrap().len(), 3);
    assert_eq!(shown["history"][1]["answer"], 42);

    let deleted = client().delete(service.url(&format!("/v1/sessions/{id}"))).bearer_auth(ALPHA).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    let gone = service.get(ALPHA, &format!("/v1/sessions/{id}")).await;
    assert_eq!(gone.status(), 404);
    let gone: Value = gone.json().await.unwrap();
    assert!(gone["error"]["message"].as_str().unwrap().contains("deleted"), "{gone}");
    let again = service.post(ALPHA, &path, json!({"query": "<<FINAL(x)>>"})).await;
    assert_eq!(again.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_is_evicted_with_a_clear_404() {
    let service = Service::start(&config("session_ttl_s = 1", "", ""), mock()).await;
    let created: Value = service.post(ALPHA, "/v1/sessions", json!({})).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let response = service.post(ALPHA, &format!("/v1/sessions/{id}/completions"), json!({"query": "q"})).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("evicted") && message.contains("create a new session"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_session_answers_one_query_at_a_time() {
    let slow =
        rlm_test_support::MockLlm::builder().responder(crate::program).latency(Duration::from_millis(800)).start();
    let service = Service::start(&config("", "", ""), slow).await;
    let created: Value = service.post(ALPHA, "/v1/sessions", json!({})).await.json().await.unwrap();
    let path = format!("/v1/sessions/{}/completions", created["id"].as_str().unwrap());
    let (a, b) = tokio::join!(
        service.post(ALPHA, &path, json!({"query": "<<FINAL(1)>>"})),
        service.post(ALPHA, &path, json!({"query": "<<FINAL(2)>>"})),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
}

#[tokio::test(flavor = "multi_thread")]
async fn models_lists_the_profiles_a_key_may_use() {
    let service = Service::start(&config("", "", "profiles = [\"other\"]"), mock()).await;
    let all: Value = service.get(ALPHA, "/v1/models").await.json().await.unwrap();
    let ids: Vec<&str> = all["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["fast", "other"]);
    assert_eq!(all["object"], "list");
    assert_eq!(all["data"][0]["object"], "model");
    let some: Value = service.get(BETA, "/v1/models").await.json().await.unwrap();
    assert_eq!(some["data"].as_array().unwrap().len(), 1);
    // A profile the key may not use is "no profile", and says which it may.
    let body = json!({"model": "fast", "messages": [{"role": "user", "content": "q"}]});
    let response = service.post(BETA, "/v1/chat/completions", body).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("may use: other"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_returns_the_first_result_without_a_second_run() {
    let service = Service::start(&config("", "", ""), mock()).await;
    let send = |body: Value, key: &'static str| {
        let request =
            client().post(service.url("/v1/rlm/completions")).bearer_auth(ALPHA).header("Idempotency-Key", key);
        async move { request.json(&body).send().await.unwrap() }
    };
    let body = json!({"query": "<<FINAL('once')>>", "context": "c"});
    let first = send(body.clone(), "k-1").await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let calls = service.mock.requests().len();
    let second = send(body.clone(), "k-1").await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(service.mock.requests().len(), calls, "no second run");
    // Another tenant's same key is its own.
    let other = client()
        .post(service.url("/v1/rlm/completions"))
        .bearer_auth(BETA)
        .header("Idempotency-Key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("idempotent-replayed").is_none());
    // The same key with a different request is refused.
    let different = send(json!({"query": "<<FINAL('twice')>>"}), "k-1").await;
    assert_eq!(different.status(), 422);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_and_metrics() {
    let service = Service::start(&config("", "", ""), mock()).await;
    assert_eq!(client().get(service.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(client().get(service.url("/readyz")).send().await.unwrap().status(), 200);
    let (status, _) = service.complete(ALPHA, json!("c"), "<<r = llm_query('x') | FINAL(r)>>").await;
    assert_eq!(status, 200);
    let metrics = client().get(service.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for expected in [
        r#"rlm_http_requests_total{route="/v1/rlm/completions",status="200",tenant="alpha"} 1"#,
        r#"rlm_model_calls_total{tenant="alpha",model="mock-root"} 2"#,
        r#"rlm_model_calls_total{tenant="alpha",model="mock-sub"} 1"#,
        r#"rlm_model_tokens_total{tenant="alpha",model="mock-root",kind="input"} 20"#,
        "rlm_runs_in_flight 0",
        "rlm_live_sessions 0",
        r#"rlm_live_sandboxes{tenant="alpha"} 0"#,
        "rlm_http_request_duration_seconds_bucket",
        "rlm_run_duration_seconds_count 1",
    ] {
        assert!(metrics.contains(expected), "no `{expected}` in\n{metrics}");
    }
}
