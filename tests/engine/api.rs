//! The embedder's API: request metadata, shared limits, the model's view of
//! its budget.

use std::sync::Arc;
use std::time::Duration;

use rlm_core::{JsonText, RequestMeta};
use rlm_engine::{FnTool, ToolScope};
use rlm_test_support::{MockLlm, MockReply};
use rlm_tests::{answer, repl, rlm_for};
use serde_json::json;

#[tokio::test]
async fn request_metadata_reaches_the_model_clients_and_the_tools() {
    let mock = MockLlm::builder().script([MockReply::text(repl("FINAL(who())"))]).start();
    let tool = FnTool::new(
        "who",
        "Says who asked.",
        JsonText::parse(r#"{"type":"object","properties":{}}"#, 100).unwrap(),
        |_, call| {
            let tenant = call.meta.tenant.clone().unwrap_or_default();
            Box::pin(async move { Ok(JsonText::string(&tenant)) })
        },
    );
    let rlm = rlm_for(&mock).tool(Arc::new(tool), ToolScope::Both).build().unwrap();
    let meta = RequestMeta::with_request_id("req-42").tenant("acme");
    let done = rlm.request("", "q").meta(meta).send().await.unwrap();
    assert_eq!(answer(&done), json!("acme"));
    assert_eq!(mock.requests()[0].headers["x-request-id"], "req-42");
    assert_eq!(done.trajectory.run_metadata["tenant"], "acme");
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn request_metadata_reaches_the_tracing_spans_of_the_run_and_its_children() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // This test's runtime is single-threaded, so the thread's default
    // subscriber sees every task of the run.
    let _default = tracing::subscriber::set_default(subscriber);
    let mock = MockLlm::builder()
        .responder(|r| {
            if r.system().starts_with("You are the root") {
                MockReply::text(repl("FINAL(rlm_query('sub task'))"))
            } else {
                MockReply::text(repl("FINAL('from the child')"))
            }
        })
        .start();
    let rlm = rlm_for(&mock).max_depth(1).build().unwrap();
    let meta = RequestMeta::with_request_id("req-7").tenant("acme");
    let done = rlm.request("", "q").meta(meta).send().await.unwrap();
    assert_eq!(answer(&done), json!("from the child"));
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let root = log.lines().find(|l| l.contains("rlm_run{depth=0")).unwrap_or_else(|| panic!("{log}"));
    assert!(root.contains(r#"tenant="acme""#) && root.contains(r#"request_id="req-7""#), "{root}");
    let child = log.lines().find(|l| l.contains("rlm_run{depth=1")).unwrap_or_else(|| panic!("{log}"));
    assert!(log.contains(r#"sub_call{kind="rlm""#), "{log}");
    assert!(child.contains(r#"tenant="acme""#) && child.contains(r#"request_id="req-7""#), "{child}");
}

#[tokio::test]
async fn one_concurrency_limit_can_be_shared_by_completions() {
    let mock = MockLlm::builder()
        .responder(|r| {
            if r.system().is_empty() {
                MockReply::text("x")
            } else {
                MockReply::text(repl("rs = llm_query_batched(['a'] * 5)\nFINAL(len(rs))"))
            }
        })
        .latency(Duration::from_millis(50))
        .start();
    let permits = Arc::new(tokio::sync::Semaphore::new(2));
    let rlm = rlm_for(&mock).shared_concurrency(permits).build().unwrap();
    let runs: Vec<_> = (0..3).map(|_| tokio::spawn(rlm.completion("", "q"))).collect();
    for run in runs {
        assert_eq!(answer(&run.await.unwrap().unwrap()), json!(5));
    }
    assert_eq!(mock.max_in_flight(), 2, "three completions, one limit of two");
}

#[tokio::test]
async fn the_model_sees_what_is_left_of_its_budgets() {
    let mock = MockLlm::builder().script([MockReply::text(repl("b = budget()\nFINAL(b)"))]).start();
    let rlm = rlm_for(&mock).max_tokens(1000).max_wall_time(Duration::from_secs(60)).max_iterations(5).build().unwrap();
    let done = rlm.completion("", "q").await.unwrap();
    let b = answer(&done);
    assert_eq!(b["tokens_used"], 15);
    assert_eq!(b["tokens_left"], 985);
    assert!(b["seconds_left"].as_f64().unwrap() > 50.0);
    assert_eq!(b["iterations_left"], 4);
    assert_eq!(b["cost_left"], serde_json::Value::Null);
    assert_eq!(b["depth"], 0);
}
