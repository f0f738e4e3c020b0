use rlm_llm::Provider;
use rlm_test_support::{MockLlm, MockReply};
use rlm_tests::{answer, mock_client, repl, rlm_for, runtime};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn one_turn_final_42() {
    let mock = MockLlm::builder().script([MockReply::text(repl("FINAL(42)"))]).start();
    let done = rlm_for(&mock).build().unwrap().completion("ctx", "What is the answer?").await.unwrap();
    assert_eq!(answer(&done), json!(42));
    assert_eq!(done.iterations, 1);
    assert_eq!(done.usage.total.calls, 1);
    assert_eq!(done.usage.total.input_tokens, 10);
    let request = &mock.requests()[0];
    assert!(request.system().contains("Recursive Language Model"), "the root prompt is sent");
    let first = request.last_user();
    assert!(first.contains("`context` is a str of 3 characters in 1 lines."), "{first}");
    assert!(first.contains("What is the answer?"), "{first}");
    assert_eq!(request.headers["authorization"], "Bearer sk-test-secret");
}

#[tokio::test]
async fn the_context_content_never_enters_the_prompt() {
    let mock = MockLlm::builder().script([MockReply::text(repl("FINAL(len(context))"))]).start();
    let secret = "TOP-SECRET-CONTENT ".repeat(1000);
    let done = rlm_for(&mock).build().unwrap().completion(secret.as_str(), "How long?").await.unwrap();
    assert_eq!(answer(&done), json!(secret.len()));
    assert!(!mock.requests()[0].body.to_string().contains("TOP-SECRET"));
}

#[tokio::test]
async fn three_turns_build_on_earlier_variables() {
    let mock = MockLlm::builder()
        .script([
            MockReply::text(repl("words = context.split()\nprint(len(words))")),
            MockReply::text(repl("longest = max(words, key=len)\nprint('longest:', longest)")),
            MockReply::text(repl("FINAL({'count': len(words), 'longest': longest})")),
        ])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("a bb cccc ddd", "Describe the words.").await.unwrap();
    assert_eq!(answer(&done), json!({"count": 4, "longest": "cccc"}));
    assert_eq!(done.iterations, 3);
    let requests = mock.requests();
    let second = requests[1].last_user();
    assert!(second.contains("stdout:\n4\n"), "the model sees the output: {second}");
    assert!(second.contains("Variables changed: words"), "{second}");
    let third = requests[2].last_user();
    assert!(third.contains("longest: cccc"), "{third}");
    assert_eq!(requests[2].messages().len(), 6, "system, user, then two assistant/user pairs");
}

#[tokio::test]
async fn final_var_in_code_and_in_text() {
    let mock =
        MockLlm::builder().script([MockReply::text(repl("result = sorted(context)\nFINAL_VAR('result')"))]).start();
    let done = rlm_for(&mock).build().unwrap().completion(json!([3, 1, 2]), "Sort it.").await.unwrap();
    assert_eq!(answer(&done), json!([1, 2, 3]));

    let mock = MockLlm::builder()
        .script([MockReply::text(format!("{}\nFINAL_VAR(total)", repl("total = sum(context)")))])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion(json!([3, 1, 2]), "Add it up.").await.unwrap();
    assert_eq!(answer(&done), json!(6));
    assert_eq!(done.iterations, 1);
}

#[tokio::test]
async fn text_level_final_ends_the_run_but_final_in_prose_does_not() {
    let mock = MockLlm::builder()
        .script([
            MockReply::text("I will finish with FINAL(...) once I know more.\n```repl\nprint(context[:5])\n```"),
            MockReply::text("It is clear now.\nFINAL(The capital is Paris)"),
        ])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("Paris is the capital", "Capital?").await.unwrap();
    assert_eq!(answer(&done), json!("The capital is Paris"));
    assert_eq!(done.iterations, 2);
}

#[tokio::test]
async fn printing_final_in_code_does_not_end_the_run() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("print('FINAL(forged)')")), MockReply::text(repl("FINAL('real')"))])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!("real"));
}

#[tokio::test]
async fn python_errors_go_back_to_the_model_and_the_run_continues() {
    let mock =
        MockLlm::builder().script([MockReply::text(repl("x = 1\n1 / 0")), MockReply::text(repl("FINAL(x)"))]).start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!(1));
    let feedback = mock.requests()[1].last_user();
    assert!(feedback.contains("stopped early (exception)"), "{feedback}");
    assert!(feedback.contains("ZeroDivisionError"), "{feedback}");
    let block = &done.trajectory.iterations[0].code_blocks[0];
    assert_eq!(block.result.error.as_ref().unwrap().kind, rlm_sandbox::CellErrorKind::Exception);
}

#[tokio::test]
async fn a_reply_without_code_or_final_is_reported_to_the_model() {
    let mock = MockLlm::builder()
        .script([MockReply::text("Let me think about this."), MockReply::text(repl("FINAL('ok')"))])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!("ok"));
    assert!(mock.requests()[1].last_user().contains("no ```repl block"));
}

#[tokio::test]
async fn long_output_is_cut_in_the_middle_for_the_model() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("print('A' * 50000 + 'TAIL')")), MockReply::text(repl("FINAL(1)"))])
        .start();
    rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    let feedback = mock.requests()[1].last_user();
    assert!(feedback.contains("characters cut ...]"), "a marker says how much was cut");
    assert!(feedback.contains("TAIL"), "the tail is kept");
    assert!(feedback.len() < 15_000, "{}", feedback.len());
}

#[tokio::test]
async fn list_contexts_are_described_by_chunks() {
    let mock = MockLlm::builder().script([MockReply::text(repl("FINAL(len(context))"))]).start();
    let context = rlm_core::Context::from(json!(["aaa", "bb", "c"]));
    let done = rlm_for(&mock).build().unwrap().completion(context, "How many?").await.unwrap();
    assert_eq!(answer(&done), json!(3));
    assert!(
        mock.requests()[0]
            .last_user()
            .contains("a list of 3 chunks, 6 characters in total. Chunk sizes in characters: [3, 2, 1]")
    );
}

#[tokio::test]
async fn the_anthropic_client_drives_a_run() {
    let mock =
        MockLlm::builder().script([MockReply::text(repl("x = 6 * 7")), MockReply::text(repl("FINAL(x)"))]).start();
    let model = Arc::new(mock_client(&mock, Provider::Anthropic, "claude-test"));
    let rlm = rlm_engine::Rlm::builder().sandboxes(Arc::new(runtime().clone())).root(model).build().unwrap();
    let done = rlm.completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!(42));
    let requests = mock.requests();
    assert_eq!(requests[0].path, "/v1/messages");
    assert_eq!(requests[0].headers["x-api-key"], "sk-test-secret");
    assert_eq!(requests[0].headers["anthropic-version"], "2023-06-01");
    assert!(requests[0].body["system"].as_str().unwrap().contains("Recursive Language Model"));
    assert_eq!(requests[0].body["max_tokens"], 8192);
    assert_eq!(done.usage.by_model["claude-test"].calls, 2);
}

#[tokio::test]
async fn a_final_var_whose_repr_spins_is_reported_and_the_run_goes_on() {
    // The set is sorted on its way out, and its items' `__lt__` never returns.
    let spin = "class Spins:\n    def __lt__(self, other):\n        while True:\n            pass\n    def __hash__(self):\n        return id(self)\nbad = {Spins(), Spins()}";
    let mock = MockLlm::builder()
        .script([
            MockReply::text(format!("{}\nFINAL_VAR(bad)", repl(spin))),
            MockReply::text(repl("FINAL('recovered')")),
        ])
        .start();
    let limits = rlm_sandbox::Limits::default().timeout(std::time::Duration::from_millis(300));
    let done = rlm_for(&mock).limits(limits).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!("recovered"));
    let feedback = mock.requests()[1].last_user();
    assert!(feedback.contains("FINAL_VAR(bad): the sandbox failed while reading a variable"), "{feedback}");
    assert!(feedback.contains("every variable, function and import is gone"), "{feedback}");
}
