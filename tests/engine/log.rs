//! The JSONL log has the shape of the official `rlms` logger.

use rlm_test_support::{MockLlm, MockReply};
use rlm_tests::{answer, repl, rlm_for};
use serde_json::Value;

#[tokio::test]
async fn the_jsonl_log_parses_and_matches_the_rlms_format() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockLlm::builder()
        .responder(|r| {
            let system = r.system();
            if system.is_empty() {
                MockReply::text("hello")
            } else if system.starts_with("You are a sub-RLM") {
                MockReply::text(repl("FINAL(context)"))
            } else if r.messages().len() == 2 {
                MockReply::text(repl("a = llm_query('hi')\nb = rlm_query('child task')"))
            } else {
                MockReply::text(repl("FINAL([a, b])"))
            }
        })
        .start();
    let done = rlm_for(&mock).log_dir(dir.path()).build().unwrap().completion("ctx", "q").await.unwrap();
    assert_eq!(answer(&done), serde_json::json!(["hello", "child task"]));

    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("rlm_") && name.ends_with(".jsonl"), "{name}");
    let lines: Vec<Value> = std::fs::read_to_string(&files[0])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3, "metadata and two iterations");

    let meta = &lines[0];
    assert_eq!(meta["type"], "metadata");
    for key in [
        "timestamp",
        "root_model",
        "max_depth",
        "max_iterations",
        "backend",
        "backend_kwargs",
        "environment_type",
        "environment_kwargs",
        "other_backends",
    ] {
        assert!(meta.get(key).is_some(), "metadata lacks {key}: {meta}");
    }
    assert_eq!(meta["root_model"], "mock-root");
    assert_eq!(meta["backend"], "openai");

    for (i, line) in lines[1..].iter().enumerate() {
        assert_eq!(line["type"], "iteration");
        assert_eq!(line["iteration"], i + 1);
        for key in ["timestamp", "prompt", "response", "code_blocks", "final_answer", "iteration_time"] {
            assert!(line.get(key).is_some(), "iteration lacks {key}: {line}");
        }
        assert!(line["prompt"].as_array().unwrap().iter().all(|m| m["role"].is_string() && m["content"].is_string()));
    }
    let block = &lines[1]["code_blocks"][0];
    assert!(block["code"].as_str().unwrap().contains("llm_query"));
    let result = &block["result"];
    for key in ["stdout", "stderr", "locals", "execution_time", "rlm_calls"] {
        assert!(result.get(key).is_some(), "result lacks {key}: {result}");
    }
    assert_eq!(result["locals"]["a"], "<str>");
    let calls = result["rlm_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    for call in calls {
        for key in ["root_model", "prompt", "response", "usage_summary", "execution_time"] {
            assert!(call.get(key).is_some(), "call lacks {key}: {call}");
        }
        assert!(call["usage_summary"]["model_usage_summaries"].is_object());
    }
    assert_eq!(calls[0]["kind"], "llm");
    assert_eq!(calls[1]["kind"], "rlm");
    assert_eq!(calls[0]["response"], "hello");
    let child = &calls[1]["metadata"];
    assert_eq!(child["run_metadata"]["depth"], 1);
    assert_eq!(child["run_metadata"]["root_model"], "mock-sub");
    assert_eq!(child["iterations"][0]["type"], "iteration");
    assert_eq!(child["iterations"][0]["final_answer"], "child task");
    // Every final answer is a string, as rlms writes it; the value is under `answer`.
    assert_eq!(lines[2]["final_answer"], r#"["hello", "child task"]"#);
    assert_eq!(lines[2]["answer"], serde_json::json!(["hello", "child task"]));
    assert_eq!(lines[2]["code_blocks"][0]["result"]["final_answer"], r#"["hello", "child task"]"#);
    assert_eq!(meta["max_depth"], 2, "rlms counts the root: one sub-RLM level is max_depth 2");
    assert_eq!(meta["sub_rlm_levels"], 1);
}
