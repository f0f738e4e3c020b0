//! Replies shaped the way real models write them, one test per failure
//! that a real model or server produced.

use rlm_test_support::{MockLlm, MockReply};
use rlm_tests::{answer, repl, rlm_for};
use serde_json::json;

#[tokio::test]
async fn a_text_final_ends_at_its_matching_parenthesis() {
    let reply =
        "The total is computed.\nFINAL(63)\n\nLet me know if you want more detail (for example a breakdown by line).";
    let mock = MockLlm::builder().script([MockReply::text(reply)]).start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!("63"), "text, as in rlms");
    let mock = MockLlm::builder().script([MockReply::text(repl("FINAL(42)"))]).start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!(42), "inside code FINAL(42) stays a number");
}

#[tokio::test]
async fn reasoning_is_kept_but_never_run() {
    let mock = MockLlm::builder()
        .script([
            MockReply::text(format!("<think>\n{}\n</think>\n{}", repl("FINAL('from the thoughts')"), repl("x = 1"))),
            MockReply::message(json!({"content": repl("FINAL(x)"), "reasoning_content": "x is one, so answer it."})),
        ])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!(1));
    assert_eq!(done.trajectory.iterations[0].code_blocks.len(), 1, "only the block outside <think> ran");
    assert_eq!(done.trajectory.iterations[1].reasoning.as_deref(), Some("x is one, so answer it."));
}

#[tokio::test]
async fn fence_variants_run_and_code_that_did_not_run_is_explained() {
    let mock = MockLlm::builder()
        .script([
            MockReply::text("~~~repl\na = 1\n~~~\n```Repl\nb = 2\n```"),
            MockReply::text("```python\nc = a + b\n```"),
            MockReply::text(
                "```repl\nd = c * 2\n```\n```python\nnot_run = True\n```\n```bash\nprint = 'FINAL(1)'\n```",
            ),
            MockReply::text(repl("FINAL([a, b, c, d, 'not_run' in globals()])")),
        ])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!([1, 2, 3, 6, false]));
    let requests = mock.requests();
    assert!(requests[2].last_user().contains("fence code as ```repl"), "{}", requests[2].last_user());
    let third = requests[3].last_user();
    assert!(third.contains("```python was not run"), "{third}");
    assert!(third.contains("```bash was not run"), "{third}");
}

#[tokio::test]
async fn a_reply_cut_off_by_the_length_limit_does_not_run_its_last_block() {
    let mock = MockLlm::builder()
        .script([
            MockReply::cut_off(format!("{}\n```repl\nimport os\nos.remove_everything(", repl("x = 1"))),
            MockReply::text(repl("FINAL(x)")),
        ])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!(1));
    assert_eq!(done.trajectory.iterations[0].code_blocks.len(), 1);
    assert_eq!(done.trajectory.iterations[0].finish_reason, "length");
    assert!(mock.requests()[1].last_user().contains("cut off at the token limit"), "the model is told");
}

#[tokio::test]
async fn content_null_and_content_parts_do_not_stop_the_run() {
    let mock = MockLlm::builder()
        .script([
            MockReply::message(json!({"content": null, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "x", "arguments": "{}"}}]})),
            MockReply::message(json!({"content": [{"type": "text", "text": "```repl\n"}, {"type": "text", "text": "FINAL('parts')\n```"}]})),
        ])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!("parts"));
    assert!(mock.requests()[1].last_user().contains("Your reply was empty"), "{}", mock.requests()[1].last_user());
}

#[tokio::test]
async fn the_answer_dict_protocol_of_rlms_ends_the_run() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("answer['content'] = {'total': 7}\nanswer['ready'] = True"))])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!({"total": 7}));
}

#[tokio::test]
async fn a_bare_call_shows_its_value_and_silence_is_explained() {
    let root = ["llm_query('what is it?')", "y = 1\ndel y", "y = 1\ndel y", "FINAL('done')"];
    let mock = MockLlm::builder()
        .responder(move |r| {
            if r.system().is_empty() {
                return MockReply::text("a sub-model reply");
            }
            let turn = r.messages().iter().filter(|(role, _)| role == "assistant").count();
            MockReply::text(repl(root[turn]))
        })
        .start();
    rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    let requests: Vec<_> = mock.requests().into_iter().filter(|r| !r.system().is_empty()).collect();
    let first = requests[1].last_user();
    assert!(first.contains("value of the last expression:\n'a sub-model reply'"), "{first}");
    let silent = requests[2].last_user();
    assert!(silent.contains("printed nothing and changed no variable"), "{silent}");
    let repeated = requests[3].last_user();
    assert!(repeated.contains("You sent the same code as before"), "{repeated}");
}

#[tokio::test]
async fn a_repl_block_in_the_last_answer_is_run_not_returned_as_text() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("x = 0")), MockReply::text(format!("Here is my answer:\n{}", repl("FINAL(x)")))])
        .start();
    let done = rlm_for(&mock).max_iterations(1).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!(0));
    assert!(!done.answer.unwrap().as_str().contains("```"));
}

#[tokio::test]
async fn other_spellings_of_final_are_accepted() {
    for reply in ["Final(7)", &repl("final(7)"), &repl("x = 7\nfinal_var('x')")] {
        let mock = MockLlm::builder().script([MockReply::text(reply)]).start();
        let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
        assert!(answer(&done) == json!(7) || answer(&done) == json!("7"), "{reply}: {:?}", done.answer);
    }
}

#[tokio::test]
async fn json_contexts_and_answers_keep_key_order_and_big_integers() {
    let context = rlm_core::JsonText::parse(r#"{"zeta": 18446744073709551617, "alpha": 1}"#, 1000).unwrap();
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("FINAL({'keys': list(context), 'big': context['zeta'] * 10})"))])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion(context, "q").await.unwrap();
    assert_eq!(done.answer.unwrap().as_str(), r#"{"keys": ["zeta", "alpha"], "big": 184467440737095516170}"#);
}
