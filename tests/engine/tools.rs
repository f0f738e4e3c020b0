//! Host tools, Python helpers, sessions and run events, end to end with the
//! mock model.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rlm_core::JsonText;
use rlm_engine::{BuildError, Event, EventKind, EventSink, FnTool, SessionOptions, Tool, ToolScope};
use rlm_test_support::{MockLlm, MockReply, RecordedRequest};
use rlm_tests::{answer, repl, rlm_for};
use serde_json::json;

fn schema(text: &str) -> JsonText {
    JsonText::parse(text, 10_000).unwrap()
}

/// `lookup(key)`: the value of `key` in a small table, or an error.
fn lookup_tool() -> Arc<dyn Tool> {
    let params = schema(r#"{"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}"#);
    Arc::new(FnTool::new("lookup", "Looks a key up in the company directory.", params, |args, _| {
        let key = args.to_value()["key"].as_str().unwrap_or_default().to_owned();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match key.as_str() {
                "ceo" => Ok(JsonText::string("Ada")),
                "cto" => Ok(JsonText::string("Ben")),
                other => Err(format!("no entry for {other:?}")),
            }
        })
    }))
}

/// An event sink that keeps every event, and the events it kept.
fn recorder() -> (Arc<Mutex<Vec<Event>>>, EventSink) {
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let kept = events.clone();
    (events, Arc::new(move |e: &Event| kept.lock().unwrap().push(e.clone())))
}

fn is_root(r: &RecordedRequest) -> bool {
    r.system().starts_with("You are the root")
}

#[tokio::test]
async fn a_tool_is_called_from_a_cell_a_gathered_batch_and_a_child() {
    let root = repl(
        "a = lookup('ceo')\nimport asyncio\nb = await asyncio.gather(lookup_async('cto'), lookup_async(key='ceo'))\nc = rlm_query('find the cto')\ntry:\n    lookup('nobody')\nexcept RuntimeError as e:\n    d = str(e)\nFINAL([a, b, c, d])",
    );
    let mock = MockLlm::builder()
        .responder(move |r| {
            if is_root(r) { MockReply::text(root.clone()) } else { MockReply::text(repl("FINAL(lookup('cto'))")) }
        })
        .start();
    let started = std::time::Instant::now();
    let rlm = rlm_for(&mock).tool(lookup_tool(), ToolScope::Both).build().unwrap();
    let done = rlm.completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!(["Ada", ["Ben", "Ada"], "Ben", "no entry for \"nobody\""]));
    assert!(started.elapsed() < Duration::from_secs(3));
    let system = mock.requests()[0].system();
    assert!(system.contains("`lookup(key)`: Looks a key up in the company directory."), "{system}");
    let calls = &done.trajectory.iterations[0].code_blocks[0].result.rlm_calls;
    let kinds: Vec<&str> = calls.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, ["tool", "tool", "tool", "rlm", "tool"], "in call order");
    assert_eq!(calls[4].error.as_deref(), Some("no entry for \"nobody\""));
}

#[tokio::test]
async fn tool_calls_count_toward_the_host_call_cap_and_are_events() {
    let mock = MockLlm::builder()
        .script([
            MockReply::text(repl("a = lookup('ceo')\nb = lookup('cto')\nc = lookup('ceo')")),
            MockReply::text(repl("FINAL([a, b, 'c' in globals()])")),
        ])
        .start();
    let (events, sink) = recorder();
    let limits = rlm_sandbox::Limits::default().max_host_calls(2);
    let rlm = rlm_for(&mock).limits(limits).tool(lookup_tool(), ToolScope::Both).build().unwrap();
    let done = rlm.request("", "q").events(sink).send().await.unwrap();
    assert_eq!(answer(&done), json!(["Ada", "Ben", false]), "the third call was refused");
    let block = &done.trajectory.iterations[0].code_blocks[0].result;
    assert_eq!(block.error.as_ref().map(|e| e.kind), Some(rlm_core::CellErrorKind::HostCallLimit), "{block:?}");
    let tools: Vec<serde_json::Value> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .filter(|v| v["kind"] == "tool")
        .collect();
    let started = tools.iter().filter(|v| v["event"] == "sub_call_started").count();
    let finished = tools.iter().filter(|v| v["event"] == "sub_call_finished").count();
    assert_eq!((started, finished), (2, 2), "{tools:?}");
    assert!(tools.iter().all(|v| v["name"] == "lookup"), "{tools:?}");
}

#[tokio::test]
async fn tools_can_be_scoped_to_the_root_or_to_sub_rlms() {
    let mock = MockLlm::builder()
        .responder(|r| {
            if is_root(r) {
                MockReply::text(repl("FINAL([callable(globals().get('lookup')), rlm_query('x')])"))
            } else {
                MockReply::text(repl("FINAL(callable(globals().get('lookup')))"))
            }
        })
        .start();
    let done = rlm_for(&mock).tool(lookup_tool(), ToolScope::Sub).build().unwrap().completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!([false, true]));
}

#[test]
fn tool_names_that_python_or_the_scaffold_cannot_take_are_refused() {
    let mock = MockLlm::builder().start();
    for name in ["llm_query", "FINAL", "class", "2fast", "has-dash", "search_async", "context_3"] {
        let tool = Arc::new(FnTool::new(name, "x", schema(r#"{"type": "object", "properties": {}}"#), |_, _| {
            Box::pin(async { Ok(JsonText::null()) })
        }));
        let err = rlm_for(&mock).tool(tool, ToolScope::Both).build().unwrap_err();
        assert!(matches!(err, BuildError::Tool { .. }), "{name}: {err}");
    }
}

#[tokio::test]
async fn helpers_are_loaded_listed_and_shared_with_children() {
    let helper = "def parse_row(line):\n    \"\"\"Splits a `name,age` row into a dict.\"\"\"\n    name, age = line.split(',')\n    return {'name': name, 'age': int(age)}\n";
    let mock = MockLlm::builder()
        .responder(|r| {
            if is_root(r) {
                let code = "def shout(s):\n    \"\"\"Upper-cases s.\"\"\"\n    return s.upper()\nrow = parse_row('ada,36')\nchild = rlm_query('bo,7', helpers=[shout])\nFINAL([row, child])";
                MockReply::text(repl(code))
            } else {
                MockReply::text(repl("FINAL(shout(parse_row(context)['name']))"))
            }
        })
        .start();
    let rlm = rlm_for(&mock).helpers("rows.py", helper).build().unwrap();
    let done = rlm.completion("", "q").await.unwrap();
    assert_eq!(answer(&done), json!([{"name": "ada", "age": 36}, "BO"]));
    let requests = mock.requests();
    assert!(
        requests[0].system().contains("`parse_row(line)`: Splits a `name,age` row into a dict."),
        "{}",
        requests[0].system()
    );
    let child = requests.iter().find(|r| r.system().starts_with("You are a sub-RLM")).unwrap();
    assert!(child.system().contains("`shout(s)`: Upper-cases s."), "the shared helper is listed: {}", child.system());
}

#[tokio::test]
async fn a_broken_helper_is_reported_before_any_model_call() {
    let mock = MockLlm::builder().start();
    let rlm = rlm_for(&mock).helpers("bad.py", "def broken(:\n    pass").build().unwrap();
    let err = rlm.completion("", "q").await.unwrap_err();
    assert_eq!(err.kind, rlm_engine::ErrorKind::Config);
    assert!(err.message.contains("helper bad.py failed") && err.message.contains("SyntaxError"), "{}", err.message);
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn a_session_keeps_the_repl_and_the_conversation_across_queries() {
    let replies = [
        repl("totals = {'q1': sum(context)}\nFINAL(totals['q1'])"),
        repl("FINAL(len(history))"),
        repl("FINAL([totals['q1'], sorted(context_1), history[0]['answer']])"),
    ];
    let mock = MockLlm::builder()
        .responder(move |r| {
            let queries = r.messages().iter().filter(|(role, c)| role == "user" && c.contains("query")).count();
            MockReply::text(replies[queries - 1].clone())
        })
        .start();
    let rlm = rlm_for(&mock).build().unwrap();
    let mut session = rlm.session(json!([1, 2, 3]));
    let first = session.completion("Sum it.").await.unwrap();
    assert_eq!(answer(&first), json!(6));
    let second = session.completion("How many queries so far?").await.unwrap();
    assert_eq!(answer(&second), json!(1));
    session.add_context(json!(["b", "a"]));
    let third = session.completion("Use the first answer.").await.unwrap();
    assert_eq!(answer(&third), json!([6, ["a", "b"], 6]));
    assert_eq!(session.history().len(), 3);
    assert_eq!(session.usage().total.calls, 3);
    let last = &mock.requests()[2];
    assert!(last.last_user().contains("`context_1` is a list of 2 chunks"), "{}", last.last_user());
    assert_eq!(last.messages().len(), 6, "system, then three user/assistant turns");
    let vars = session.vars().await.unwrap();
    assert!(vars.iter().any(|v| v.name == "totals"));
}

#[tokio::test]
async fn dropping_a_session_frees_its_sandbox() {
    let mock = MockLlm::builder().responder(|_| MockReply::text(repl("FINAL(1)"))).start();
    let rlm = rlm_for(&mock).build().unwrap();
    let quota = rlm_core::SandboxQuota::new(1, usize::MAX).with_wait(Duration::from_millis(200));
    let mut session = rlm.session("");
    session.request("q").quota(quota.clone()).send().await.unwrap();
    assert_eq!(quota.live(), 1, "the session keeps its sandbox between queries");
    let refused = rlm.request("", "q").quota(quota.clone()).send().await;
    assert!(refused.is_err(), "the one slot is the session's");
    drop(session);
    assert_eq!(quota.live(), 0);
    let done = rlm.request("", "q").quota(quota.clone()).send().await.unwrap();
    assert_eq!(answer(&done), json!(1));
}

#[tokio::test]
async fn session_budgets_cover_all_of_its_queries() {
    // Every reply bills 15 tokens; the session may use 35 in all.
    let mock = MockLlm::builder().responder(|_| MockReply::text(repl("FINAL(1)"))).start();
    let rlm = rlm_for(&mock).build().unwrap();
    let mut options = SessionOptions::default();
    options.max_tokens = Some(35);
    let mut session = rlm.session_with("", options);
    session.completion("one").await.unwrap();
    session.completion("two").await.unwrap();
    // 5 tokens left: the third query's one call crosses the line (a call is
    // paid for once sent, and its answer kept)...
    session.completion("three").await.unwrap();
    // ...and nothing is left for a fourth, which makes no call.
    let fourth = session.completion("four").await.unwrap_err();
    assert_eq!(fourth.kind, rlm_engine::ErrorKind::MaxTokens, "{fourth}");
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(session.usage().total.tokens(), 45);
}

#[tokio::test]
async fn a_session_says_so_after_a_hard_limit_lost_its_state() {
    let mock = MockLlm::builder()
        .script([
            MockReply::text(repl("kept = 1")),
            MockReply::text(repl("while True: pass")),
            MockReply::text("FINAL(gave up)"),
            MockReply::text(repl("FINAL('kept' in globals())")),
        ])
        .start();
    let limits = rlm_sandbox::Limits::default().timeout(Duration::from_millis(300)).fuel(None);
    let rlm = rlm_for(&mock).limits(limits).build().unwrap();
    let mut session = rlm.session("");
    let first = session.completion("loop").await.unwrap();
    assert_eq!(answer(&first), json!("gave up"));
    let second = session.completion("still there?").await.unwrap();
    assert_eq!(answer(&second), json!(false));
    let message = mock.requests()[3].last_user();
    assert!(message.contains("The sandbox was restarted after a hard stop"), "{message}");
}

#[tokio::test]
async fn a_long_session_conversation_is_compacted_and_the_variables_stay() {
    let mock = MockLlm::builder()
        .responder(|r| {
            let last = r.last_user();
            if last.starts_with("Summarise this conversation") {
                MockReply::text("SUMMARY: x holds 41.")
            } else if last.contains("Give x") {
                MockReply::text(repl("FINAL(x + 1)"))
            } else {
                MockReply::text(repl(&format!("x = 41\nprint('{}')\nFINAL('ok')", "p".repeat(400))))
            }
        })
        .start();
    let root =
        rlm_engine::ModelEntry::new(Arc::new(rlm_tests::mock_client(&mock, rlm_llm::Provider::OpenAi, "small-window")));
    let rlm =
        rlm_for(&mock).model("small-window", root.context_chars(6000)).root_model("small-window").build().unwrap();
    let mut session = rlm.session_with("", SessionOptions::default());
    for i in 0..3 {
        session.completion(format!("step {i}")).await.unwrap();
    }
    let done = session.completion("Give x plus one.").await.unwrap();
    assert_eq!(answer(&done), json!(42), "the REPL's variables survive compaction");
    let compacted = mock.requests().into_iter().any(|r| r.last_user().starts_with("Summarise this conversation"));
    assert!(compacted);
    let last = mock.requests().last().unwrap().messages();
    assert!(last.iter().any(|(_, c)| c.contains("SUMMARY: x holds 41.")), "{last:?}");
}

#[tokio::test]
async fn the_event_stream_of_a_run_with_a_child_comes_in_order() {
    let mock = MockLlm::builder()
        .responder(|r| {
            if is_root(r) {
                MockReply::text(repl("r = rlm_query('task')\nFINAL(r)"))
            } else {
                MockReply::text(repl("FINAL('child done')"))
            }
        })
        .start();
    let (events, sink) = recorder();
    let rlm = rlm_for(&mock).build().unwrap();
    let done = rlm.request("", "q").events(sink).send().await.unwrap();
    let events = events.lock().unwrap();
    let names: Vec<String> = events
        .iter()
        .filter(|e| !matches!(e.kind, EventKind::Usage { .. }))
        .map(|e| {
            let v = serde_json::to_value(e).unwrap();
            format!("{}@{}", v["event"].as_str().unwrap(), e.depth)
        })
        .collect();
    assert_eq!(
        names,
        [
            "run_started@0",
            "iteration_started@0",
            "model_reply@0",
            "code_started@0",
            "sub_call_started@0",
            "run_started@1",
            "iteration_started@1",
            "model_reply@1",
            "code_started@1",
            "code_finished@1",
            "final_answer@1",
            "sub_call_finished@0",
            "code_finished@0",
            "final_answer@0",
        ]
    );
    assert!(events.iter().all(|e| e.run_id.starts_with(&done.run_id)), "every event carries its run's id");
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at), "timestamps in order");
}
