use std::time::{Duration, Instant};

use rlm_test_support::{MockLlm, MockReply, RecordedRequest};
use std::sync::Arc;

use rlm_llm::Provider;
use rlm_tests::{answer, mock_client, repl, rlm_for};
use serde_json::json;

/// Root requests carry the root prompt, sub-RLMs the child prompt, plain
/// `llm_query` calls no system prompt at all.
fn is_plain(r: &RecordedRequest) -> bool {
    r.system().is_empty()
}

#[tokio::test]
async fn llm_query_reaches_the_sub_model_and_its_answer_stays_in_the_repl() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("summary = llm_query('Summarize: ' + context)\nprint(len(summary))"))])
        .responder(|r| {
            if is_plain(r) {
                MockReply::text(format!("summary of [{}]", r.last_user()))
            } else {
                MockReply::text(repl("FINAL_VAR('summary')"))
            }
        })
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("the text", "Summarize.").await.unwrap();
    assert_eq!(answer(&done), json!("summary of [Summarize: the text]"));
    assert_eq!(done.sub_calls, 1);
    let plain: Vec<_> = mock.requests().into_iter().filter(is_plain).collect();
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].model(), "mock-sub");
    assert_eq!(done.usage.by_depth[&1].calls, 1);
    assert_eq!(done.usage.by_model["mock-sub"].calls, 1);
    let call = &done.trajectory.iterations[0].code_blocks[0].result.rlm_calls[0];
    assert_eq!(call.kind, "llm");
    assert_eq!(call.prompt, json!("Summarize: the text"));
}

#[tokio::test]
async fn a_failing_sub_call_is_shown_to_the_model_and_the_run_goes_on() {
    let mock = MockLlm::builder()
        .script([
            MockReply::text(repl(
                "try:\n    r = llm_query('x')\nexcept RuntimeError as e:\n    r = 'failed: ' + str(e)\nprint(r)",
            )),
            MockReply::status(400, "prompt too long"),
            MockReply::text(repl("FINAL(r)")),
        ])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    let answer = answer(&done);
    let answer = answer.as_str().unwrap();
    assert!(
        answer.starts_with(
            "failed: model: the call to model `mock-sub` failed: openai answered HTTP 400: prompt too long"
        ),
        "{answer}"
    );
    let call = &done.trajectory.iterations[0].code_blocks[0].result.rlm_calls[0];
    assert!(call.error.as_ref().unwrap().contains("HTTP 400"));
}

#[tokio::test]
async fn a_hundred_batched_calls_run_concurrently_and_keep_order() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl(
            "rs = llm_query_batched([f'q{i}' for i in range(100)])\nFINAL([rs[0], rs[99], len(rs)])",
        ))])
        .responder(|r| MockReply::text(format!("a:{}", r.last_user())))
        .latency(Duration::from_millis(300))
        .start();
    let rlm = rlm_for(&mock).max_concurrency(100).build().unwrap();
    let started = Instant::now();
    let done = rlm.completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!(["a:q0", "a:q99", 100]));
    assert_eq!(mock.max_in_flight(), 100, "all hundred were in flight at once");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(done.sub_calls, 100);
}

#[tokio::test]
async fn the_concurrency_limit_holds_for_the_whole_run() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("rs = llm_query_batched(['p'] * 40)\nFINAL(len(rs))"))])
        .responder(|_| MockReply::text("x"))
        .latency(Duration::from_millis(50))
        .start();
    let done = rlm_for(&mock).max_concurrency(8).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!(40));
    assert_eq!(mock.max_in_flight(), 8);
}

#[tokio::test]
async fn depth_two_recursion_gives_every_child_a_fresh_sandbox() {
    // Every sub-RLM runs the same code: it records whether it saw a variable
    // set by anyone before it, then recurses one level deeper.
    let child_code = "fresh = 'seen' not in globals()\nseen = True\nsub = rlm_query('leaf:' + context)\nFINAL({'ctx': context, 'fresh': fresh, 'sub': sub})";
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("seen = True\na = rlm_query('task A')\nb = rlm_query('task B')\nFINAL([a, b])"))])
        .responder(move |r| {
            if is_plain(r) {
                MockReply::text(format!("plain:{}", r.last_user()))
            } else {
                MockReply::text(repl(child_code))
            }
        })
        .start();
    let done = rlm_for(&mock).max_depth(2).build().unwrap().completion("", "q").await.unwrap();
    let leaf = |task: &str| json!({"ctx": task, "fresh": true, "sub": {"ctx": format!("leaf:{task}"), "fresh": true, "sub": format!("plain:leaf:leaf:{task}")}});
    assert_eq!(answer(&done), json!([leaf("task A"), leaf("task B")]));
    let depths: Vec<u32> = done.usage.by_depth.keys().copied().collect();
    assert_eq!(depths, vec![0, 1, 2, 3], "root, two sub-RLM levels, then plain calls");
    let child = done.trajectory.iterations[0].code_blocks[0].result.rlm_calls[0].metadata.as_ref().unwrap();
    assert_eq!(child.run_metadata["depth"], 1);
    let grandchild = child.iterations[0].code_blocks[0].result.rlm_calls[0].metadata.as_ref().unwrap();
    assert_eq!(grandchild.run_metadata["depth"], 2);
    assert!(mock.requests().iter().any(|r| r.system().contains("You are a sub-RLM")));
}

#[tokio::test]
async fn at_max_depth_zero_rlm_query_is_a_plain_call() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("FINAL(rlm_query({'task': 'x'}))"))])
        .responder(|r| MockReply::text(format!("plain:{}", r.last_user())))
        .start();
    let done = rlm_for(&mock).max_depth(0).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!("plain:{\"task\": \"x\"}"), "the context as the guest sent it");
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test]
async fn batched_sub_rlms_run_concurrently() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl(
            "rs = rlm_query_batched([f'chunk {i}' for i in range(20)], model='picked')\nFINAL(rs)",
        ))])
        .responder(|_| MockReply::text(repl("FINAL(context.upper())")))
        // Long enough that all twenty children, each spawning a sandbox
        // first, are surely waiting at once even on a loaded machine.
        .latency(Duration::from_millis(1000))
        .start();
    let started = Instant::now();
    let picked = rlm_engine::ModelEntry::new(Arc::new(mock_client(&mock, Provider::OpenAi, "picked")));
    let rlm = rlm_for(&mock).model("picked", picked).max_concurrency(32).build().unwrap();
    let done = rlm.completion("", "q").await.unwrap();
    let expected: Vec<String> = (0..20).map(|i| format!("CHUNK {i}")).collect();
    assert_eq!(answer(&done), json!(expected));
    assert_eq!(mock.max_in_flight(), 20);
    let call = &done.trajectory.iterations[0].code_blocks[0].result.rlm_calls[0];
    assert_eq!(call.root_model, "picked", "the record names the model the call asked for");
    // Sequential children would take 20 s or more.
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
}

#[tokio::test]
async fn dropping_the_completion_cancels_its_calls() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("rs = llm_query_batched(['p'] * 5)"))])
        .responder(|_| MockReply::Hang(Duration::from_secs(30)))
        .start();
    let rlm = rlm_for(&mock).build().unwrap();
    let run = rlm.completion("", "q");
    assert!(tokio::time::timeout(Duration::from_secs(2), run).await.is_err());
    // Dropping the future closed the connections; nothing is left waiting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mock.requests().len(), 6);
}

#[tokio::test]
async fn a_completion_can_be_spawned_and_runs_concurrently_with_others() {
    let mock =
        MockLlm::builder().responder(|r| MockReply::text(repl(&format!("FINAL({:?})", r.messages().len())))).start();
    let rlm = rlm_for(&mock).build().unwrap();
    // `tokio::spawn` needs the future to be `Send + 'static`.
    let tasks: Vec<_> = (0..4).map(|i| tokio::spawn(rlm.completion(format!("ctx {i}"), format!("q {i}")))).collect();
    for task in tasks {
        assert_eq!(rlm_tests::answer(&task.await.unwrap().unwrap()), json!(2));
    }
    assert_eq!(mock.requests().len(), 4);
}

#[tokio::test]
async fn guest_code_can_only_name_models_the_embedder_allowed() {
    let mock = MockLlm::builder()
        .script([
            MockReply::text(repl("try:\n    llm_query('x', model='gpt-4-expensive')\nexcept RuntimeError as e:\n    err = str(e)\nFINAL(err)")),
        ])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    let message = answer(&done);
    assert!(message.as_str().unwrap().contains("unknown model `gpt-4-expensive`"), "{message}");
    assert!(message.as_str().unwrap().contains("mock-root, mock-sub"), "{message}");
    assert_eq!(mock.requests().len(), 1, "nothing was sent for the unknown model");
}

#[tokio::test]
async fn batched_sub_calls_are_logged_in_call_order() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("rs = llm_query_batched(['slow', 'fast'])\nFINAL(rs)"))])
        .responder(|r| {
            if r.last_user() == "slow" { MockReply::Hang(Duration::from_millis(400)) } else { MockReply::text("quick") }
        })
        .start();
    let done = rlm_for(&mock).build().unwrap().completion("", "q").await.unwrap();
    let calls = &done.trajectory.iterations[0].code_blocks[0].result.rlm_calls;
    let prompts: Vec<String> = calls.iter().map(|c| c.prompt.as_text().into_owned()).collect();
    assert_eq!(prompts, ["slow", "fast"], "call order, not completion order");
    assert!(calls[0].start_time <= calls[1].start_time);
}

#[tokio::test]
async fn a_prompt_over_the_sub_models_window_is_refused_before_it_is_sent() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl(
            "try:\n    llm_query('x' * 5000)\nexcept RuntimeError as e:\n    FINAL(str(e))",
        ))])
        .start();
    let done = rlm_for(&mock).sub_context_chars(1000).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(
        answer(&done),
        json!("the prompt is 5000 characters; the sub-model takes at most 1000. Split it into smaller chunks")
    );
    assert_eq!(mock.requests().len(), 1);
    assert!(mock.requests()[0].system().contains("up to 1000 characters"), "the window is stated in the prompt");
}
