use std::time::{Duration, Instant};

use rlm_engine::{ErrorKind, Price};
use rlm_test_support::{MockLlm, MockReply};
use rlm_tests::{answer, repl, rlm_for};
use serde_json::json;

#[tokio::test]
async fn at_the_iteration_cap_one_last_call_asks_for_the_answer() {
    let mock = MockLlm::builder()
        .script([
            MockReply::text(repl("x = 1")),
            MockReply::text(repl("x += 1")),
            MockReply::text("Here it is.\nFINAL(two)"),
        ])
        .start();
    let done = rlm_for(&mock).max_iterations(2).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!("two"));
    assert_eq!(done.iterations, 2);
    let last = mock.requests()[2].last_user();
    assert!(last.contains("used every iteration"), "{last}");
    assert_eq!(done.trajectory.iterations.len(), 3);
}

#[tokio::test]
async fn no_answer_after_the_cap_is_an_error_with_the_partial_answer() {
    let mock = MockLlm::builder().responder(|_| MockReply::text(repl("x = 1"))).start();
    let err = rlm_for(&mock).max_iterations(3).build().unwrap().completion("", "q").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::MaxIterations);
    assert_eq!(err.completion.iterations, 3);
    assert_eq!(err.completion.usage.total.calls, 4);
    assert!(err.completion.last_reply.as_ref().unwrap().contains("x = 1"));
    assert_eq!(err.completion.answer, None, "the last reply is not passed off as an answer");
    assert_eq!(err.completion.trajectory.iterations.len(), 4);
}

#[tokio::test]
async fn an_error_streak_ends_the_run_after_asking_for_an_answer() {
    let mock = MockLlm::builder().responder(|_| MockReply::text(repl("1 / 0"))).start();
    let err = rlm_for(&mock).max_error_streak(3).build().unwrap().completion("", "q").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ErrorStreak);
    assert_eq!(err.completion.iterations, 3);
    assert_eq!(mock.requests().len(), 4, "three erroring iterations, then a last request for the answer");
    assert!(mock.requests()[3].last_user().contains("used every iteration"));

    let mock = MockLlm::builder()
        .script([MockReply::text(repl("1 / 0")), MockReply::text(repl("1 / 0")), MockReply::text("FINAL(best effort)")])
        .start();
    let done = rlm_for(&mock).max_error_streak(2).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!("best effort"));
}

#[tokio::test]
async fn a_success_resets_the_error_streak() {
    let mock = MockLlm::builder()
        .script([
            MockReply::text(repl("1 / 0")),
            MockReply::text(repl("1 / 0")),
            MockReply::text(repl("ok = 1")),
            MockReply::text(repl("1 / 0")),
            MockReply::text(repl("1 / 0")),
            MockReply::text(repl("FINAL(ok)")),
        ])
        .start();
    let done = rlm_for(&mock).max_error_streak(3).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!(1));
}

#[tokio::test]
async fn the_token_budget_stops_the_run() {
    let mock = MockLlm::builder().responder(|_| MockReply::text(repl("x = 1"))).start();
    // Each mock reply uses 15 tokens.
    let err = rlm_for(&mock).max_tokens(40).build().unwrap().completion("", "q").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::MaxTokens);
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(err.completion.usage.total.tokens(), 45);
    assert!(err.message.contains("token budget of 40"), "{}", err.message);
}

#[tokio::test]
async fn the_cost_budget_stops_the_run() {
    let mock = MockLlm::builder().responder(|_| MockReply::text(repl("x = 1"))).start();
    // 10 input + 5 output tokens at $1000/$2000 per million: $0.02 a call.
    let price = Price::new(1000.0, 2000.0);
    let rlm = rlm_for(&mock).price("mock-root", price).price("mock-sub", price).max_cost(0.05).build().unwrap();
    let err = rlm.completion("", "q").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::MaxCost);
    assert_eq!(mock.requests().len(), 3);
    let cost = err.completion.usage.total.cost.unwrap();
    assert!((cost - 0.06).abs() < 1e-9, "{cost}");
}

#[tokio::test]
async fn the_wall_clock_budget_stops_the_run_and_keeps_the_trajectory() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("x = 1"))])
        .responder(|_| MockReply::Hang(Duration::from_secs(5)))
        .start();
    let started = Instant::now();
    let err =
        rlm_for(&mock).max_wall_time(Duration::from_secs(1)).build().unwrap().completion("", "q").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(4), "the 5 s hang was cut short: {:?}", started.elapsed());
    assert_eq!(err.completion.iterations, 1);
    assert_eq!(err.completion.trajectory.iterations.len(), 2, "the finished iteration and the one cut short");
    assert!(err.completion.trajectory.iterations[1].error.as_ref().unwrap().contains("timeout"));
}

#[tokio::test]
async fn a_sub_rlm_budget_stop_surfaces_in_the_parent() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("r = rlm_query('task')\nprint(r)"))])
        .responder(|_| MockReply::text(repl("y = 2")))
        .start();
    let err = rlm_for(&mock).max_tokens(60).build().unwrap().completion("", "q").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::MaxTokens);
    let call = &err.completion.trajectory.iterations[0].code_blocks[0].result.rlm_calls[0];
    assert!(call.error.as_ref().unwrap().contains("max_tokens"), "{:?}", call.error);
}

#[tokio::test]
async fn a_cost_budget_without_prices_is_refused_before_any_call() {
    let mock = MockLlm::builder().start();
    let err = rlm_for(&mock).max_cost(1.0).build().unwrap_err();
    assert!(err.to_string().contains("a cost budget needs a price for model `mock-root`"), "{err}");
    assert!(mock.requests().is_empty());
}
