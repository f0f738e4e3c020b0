//! Every provider fault ends in a retry or a clear error, never a hang or a
//! panic, and the API key never shows in an error.

use std::time::{Duration, Instant};

use rlm_core::{Message, ModelRequest};
use rlm_engine::ErrorKind;
use rlm_llm::Provider;
use rlm_test_support::{MockLlm, MockReply};
use rlm_tests::{answer, mock_client, repl, rlm_for};
use serde_json::json;

fn hello() -> ModelRequest {
    ModelRequest::new(vec![Message::user("hello")])
}

#[tokio::test]
async fn a_429_is_retried_after_the_delay_it_asks_for() {
    let mock = MockLlm::builder().script([MockReply::rate_limited("0.3"), MockReply::text("ok")]).start();
    let client = mock_client(&mock, Provider::OpenAi, "m");
    let started = Instant::now();
    let reply = client.send(hello()).await.unwrap();
    assert_eq!(reply.text, "ok");
    assert!(started.elapsed() >= Duration::from_millis(200), "Retry-After is honoured (up to the 200 ms cap in tests)");
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_then_give_up_clearly() {
    let mock = MockLlm::builder()
        .script([MockReply::status(500, "boom"), MockReply::status(503, "busy"), MockReply::text("ok")])
        .start();
    assert_eq!(mock_client(&mock, Provider::OpenAi, "m").send(hello()).await.unwrap().text, "ok");

    let mock = MockLlm::builder().responder(|_| MockReply::status(502, "bad gateway")).start();
    let err = mock_client(&mock, Provider::OpenAi, "m").send(hello()).await.unwrap_err();
    assert_eq!(mock.requests().len(), 4, "the first try and three retries");
    assert_eq!(err.status(), Some(502));
    let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert_eq!(text, "openai still failing after 4 attempts: openai answered HTTP 502: bad gateway");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_say_what_to_check() {
    let mock = MockLlm::builder().responder(|_| MockReply::status(401, "invalid x-api-key")).start();
    let err = mock_client(&mock, Provider::Anthropic, "m").send(hello()).await.unwrap_err();
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(err.to_string(), "anthropic answered HTTP 401 (is the API key right?): invalid x-api-key");
    assert!(!format!("{err:?}").contains("sk-test-secret"), "the key never shows");

    let mock = MockLlm::builder().responder(|_| MockReply::status(404, "model `nope` not found")).start();
    let err = mock_client(&mock, Provider::OpenAi, "nope").send(hello()).await.unwrap_err();
    assert!(err.to_string().contains("(is the model name or base URL right?)"), "{err}");
}

#[tokio::test]
async fn a_hang_past_the_timeout_is_retried() {
    let mock = MockLlm::builder().script([MockReply::Hang(Duration::from_secs(10)), MockReply::text("ok")]).start();
    let mut config = mock_client(&mock, Provider::OpenAi, "m").config().clone();
    config.request_timeout = Duration::from_millis(300);
    let client = rlm_llm::Client::new(config).unwrap();
    let started = Instant::now();
    assert_eq!(client.send(hello()).await.unwrap().text, "ok");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    let mock = MockLlm::builder().responder(|_| MockReply::Hang(Duration::from_secs(10))).start();
    let mut config = mock_client(&mock, Provider::OpenAi, "m").config().clone();
    config.request_timeout = Duration::from_millis(200);
    config.retry.max_retries = 1;
    let err = rlm_llm::Client::new(config).unwrap().send(hello()).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn malformed_json_is_a_clear_error() {
    let mock = MockLlm::builder().script([MockReply::Malformed]).start();
    let err = mock_client(&mock, Provider::OpenAi, "m").send(hello()).await.unwrap_err();
    assert!(err.to_string().starts_with("openai sent a response this client cannot read: invalid JSON"), "{err}");
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let mock = MockLlm::builder().script([MockReply::Drop, MockReply::text("ok")]).start();
    assert_eq!(mock_client(&mock, Provider::OpenAi, "m").send(hello()).await.unwrap().text, "ok");
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = rlm_llm::ClientConfig::new(Provider::OpenAi, "m");
    config.base_url = format!("http://127.0.0.1:{port}/v1");
    config.retry = rlm_tests::fast_retries();
    let err = rlm_llm::Client::new(config).unwrap().send(hello()).await.unwrap_err();
    assert!(err.to_string().contains("still failing after 4 attempts"), "{err}");
}

#[tokio::test]
async fn a_root_model_failure_ends_the_run_with_a_model_error_and_the_trajectory() {
    let mock = MockLlm::builder().script([MockReply::text(repl("x = 1")), MockReply::status(401, "bad key")]).start();
    let err = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Model);
    assert_eq!(err.message, "the call to model `mock-root` failed");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("HTTP 401"), "{cause}");
    assert_eq!(err.completion.iterations, 1);
    assert_eq!(err.completion.trajectory.iterations.len(), 2);
}

#[tokio::test]
async fn a_run_rides_out_transient_faults() {
    let mock = MockLlm::builder()
        .script([
            MockReply::rate_limited("0"),
            MockReply::text(repl("x = 41")),
            MockReply::Drop,
            MockReply::status(500, "oops"),
            MockReply::text(repl("FINAL(x + 1)")),
        ])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!(42));
    assert_eq!(done.iterations, 2);
}
