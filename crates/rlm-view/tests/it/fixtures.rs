//! Trajectory logs for the tests, made here rather than committed: small,
//! and shaped like `docs/log-format.md` (ours) or the `rlms` 0.1.3 logger.

use serde_json::{Value, json};

/// Text that would run script if the page ever treated log text as HTML.
pub const SCRIPT_PAYLOAD: &str = "</script><script>window.__pwned = 1; alert(1)</script>";
/// The same through an element attribute.
pub const IMG_PAYLOAD: &str = "<img src=x onerror=\"window.__pwned = 2; alert(2)\">";

fn usage(model: &str, calls: u64, input: u64, output: u64, cost: Option<f64>) -> Value {
    let mut per_model = json!({ "total_calls": calls, "total_input_tokens": input, "total_output_tokens": output });
    if let Some(cost) = cost {
        per_model["total_cost"] = json!(cost);
    }
    json!({ "model_usage_summaries": { model: per_model } })
}

fn jsonl(lines: &[Value]) -> String {
    lines.iter().map(|l| serde_json::to_string(l).unwrap() + "\n").collect()
}

fn metadata(model: &str, max_depth: u64) -> Value {
    json!({
        "type": "metadata", "timestamp": "2026-11-22T03:04:05.123456+00:00",
        "root_model": model, "max_depth": max_depth, "max_iterations": 10,
        "backend": "openai", "backend_kwargs": { "model_name": model },
        "environment_type": "wasm-sandbox", "environment_kwargs": { "memory_mb": 1024 },
        "other_backends": ["openai"], "run_id": "run-1", "query": "Summarise the reports",
        "sub_model": "gpt-sub", "sub_rlm_levels": max_depth - 1, "max_concurrency": 16,
    })
}

fn block(code: &str, stdout: &str, calls: Vec<Value>) -> Value {
    json!({ "code": code, "result": {
        "stdout": stdout, "stderr": "", "locals": {}, "execution_time": 0.5,
        "rlm_calls": calls, "final_answer": null, "error": null, "state_lost": false, "fuel_used": 1000,
    }})
}

fn iteration(number: u64, depth: u64, response: &str, blocks: Vec<Value>) -> Value {
    json!({
        "type": "iteration", "iteration": number, "timestamp": "2026-11-22T03:04:06+00:00",
        "prompt": [
            { "role": "system", "content": "You are an RLM. Use the repl." },
            { "role": "user", "content": format!("Iteration {number}: go on.") },
        ],
        "response": response, "code_blocks": blocks, "final_answer": null, "iteration_time": 1.0,
        "depth": depth, "usage": { "input_tokens": 100, "output_tokens": 20 }, "error": null,
        "answer": null, "reasoning": null, "finish_reason": "stop", "notes": [],
    })
}

fn with_answer(mut it: Value, answer: Value) -> Value {
    it["final_answer"] = match &answer {
        Value::String(s) => json!(s),
        other => json!(other.to_string()),
    };
    it["answer"] = answer;
    it
}

/// A root run (depth 0) with a plain call that works, one that fails, a tool
/// call, a code block raising an exception, and a sub-RLM whose own run has
/// a cell stopped by a timeout that lost the sandbox's state (and, inside
/// that cell, a depth-2 call). Log text carries HTML and script payloads.
///
/// Sub-calls: 5 (4 at depth 1, 1 at depth 2). Failures: the failed call and
/// the root iteration with the exception.
pub fn two_level_recursion() -> String {
    let llm_ok = json!({
        "root_model": "gpt-sub", "prompt": "Summarise report 1", "response": "Report 1 is about cats.",
        "usage_summary": usage("gpt-sub", 1, 120, 30, Some(0.0004)), "execution_time": 0.8,
        "kind": "llm", "depth": 1, "answer": "Report 1 is about cats.", "start_time": 0.1,
    });
    let llm_failed = json!({
        "root_model": "gpt-sub", "prompt": "Summarise report 2", "response": "Error: rate limited by the provider (429)",
        "usage_summary": usage("gpt-sub", 1, 0, 0, None), "execution_time": 0.3,
        "error": "rate limited by the provider (429)", "kind": "llm", "depth": 1, "start_time": 0.15,
    });
    let tool = json!({
        "root_model": "search_docs", "prompt": "{\"q\": \"cats\"}", "response": "3 hits",
        "usage_summary": {}, "execution_time": 0.05, "kind": "tool", "depth": 1, "start_time": 0.9,
    });
    let leaf = json!({
        "root_model": "gpt-leaf", "prompt": "leaf question", "response": "leaf answer",
        "usage_summary": usage("gpt-leaf", 1, 10, 5, Some(0.00001)), "execution_time": 0.4,
        "kind": "llm", "depth": 2, "start_time": 2.3,
    });
    let mut child_it1 = iteration(1, 1, "```repl\nleaf = llm_query('leaf question')\nwhile True: pass\n```", vec![]);
    child_it1["code_blocks"] = json!([{ "code": "leaf = llm_query('leaf question')\nwhile True: pass", "result": {
        "stdout": "", "stderr": "", "locals": {}, "execution_time": 30.0, "rlm_calls": [leaf], "final_answer": null,
        "error": { "kind": "timeout", "message": "the cell ran past its 30 s limit" }, "state_lost": true, "fuel_used": null,
    }}]);
    child_it1["iteration_time"] = json!(30.5);
    let child_it2 = with_answer(iteration(2, 1, "FINAL(child summary)", vec![]), json!("child summary"));
    let sub_rlm = json!({
        "root_model": "gpt-sub", "prompt": { "reports": ["r3", "r4"] }, "response": "child summary",
        "usage_summary": usage("gpt-sub", 3, 900, 120, Some(0.002)), "execution_time": 31.0,
        "metadata": { "run_metadata": metadata("gpt-sub", 2), "iterations": [child_it1, child_it2] },
        "kind": "rlm", "depth": 1, "answer": "child summary", "start_time": 2.1,
    });

    let mut it1 = iteration(
        1,
        0,
        &format!("I will fan out. {SCRIPT_PAYLOAD}"),
        vec![block(
            "answers = llm_query_batched(['Summarise report 1', 'Summarise report 2'])\nhits = search_docs(q='cats')",
            &format!("2 answers {IMG_PAYLOAD}"),
            vec![llm_ok, llm_failed, tool],
        )],
    );
    it1["notes"] = json!(["<b>not bold</b>: a note"]);
    it1["reasoning"] = json!("Fan out first, then recurse.");
    let mut exception = block("1/0", "", vec![]);
    exception["result"]["stderr"] = json!("Traceback (most recent call last):\nZeroDivisionError: division by zero");
    exception["result"]["error"] = json!({ "kind": "exception", "message": "ZeroDivisionError: division by zero" });
    let it2 = iteration(
        2,
        0,
        "```repl\nsummary = rlm_query(context)\n```",
        vec![block("summary = rlm_query({'reports': ['r3', 'r4']})", "done", vec![sub_rlm]), exception],
    );
    let it3 = with_answer(iteration(3, 0, "FINAL(summary)", vec![]), json!(format!("Cats and dogs. {SCRIPT_PAYLOAD}")));
    jsonl(&[metadata("gpt-root", 3), it1, it2, it3])
}

/// The dict every dict-answer log answers: key order with an integer-like
/// key, an integer beyond 2^53, nesting, and script text.
pub const DICT_ANSWER: &str =
    r#"{"z": 1, "10": "ten", "a": [1, 2.5, null, true], "big": 12345678901234567890, "nested": {"y": "</script>"}}"#;

/// A run whose answer is [`DICT_ANSWER`]. With `final_answer_text`, the
/// iteration also carries the answer JSON-encoded as `final_answer`, as our
/// logger writes it; without, only the raw `answer`.
pub fn dict_answer(final_answer_text: bool) -> String {
    let meta = serde_json::to_string(&metadata("gpt-root", 1)).unwrap();
    // Written as text, not through `serde_json::Value`, which would sort the keys.
    let final_answer = if final_answer_text { serde_json::to_string(DICT_ANSWER).unwrap() } else { "null".into() };
    format!(
        "{meta}\n{{\"type\": \"iteration\", \"iteration\": 1, \"prompt\": [], \"response\": \"FINAL_VAR(result)\", \
         \"code_blocks\": [], \"final_answer\": {final_answer}, \"answer\": {DICT_ANSWER}, \"iteration_time\": 0.5}}\n"
    )
}

/// Calls in the fan-out log.
pub const FAN_OUT: usize = 10_000;
/// Concurrent calls at any time in the fan-out log.
pub const FAN_OUT_CONCURRENCY: usize = 16;
/// Every this-many-th fan-out call fails.
pub const FAN_OUT_FAIL_EVERY: usize = 1000;

/// One iteration fanning out [`FAN_OUT`] calls, [`FAN_OUT_CONCURRENCY`] at a
/// time, then an answer.
pub fn fan_out() -> String {
    let calls: Vec<Value> = (0..FAN_OUT)
        .map(|i| {
            let mut call = json!({
                "root_model": "gpt-sub", "prompt": format!("item {i}: classify this line"), "response": format!("label {}", i % 7),
                "usage_summary": usage("gpt-sub", 1, 50, 3, Some(0.00001)), "execution_time": 0.5,
                "kind": "llm", "depth": 1, "start_time": 0.2 + (i / FAN_OUT_CONCURRENCY) as f64 * 0.5,
            });
            if i % FAN_OUT_FAIL_EVERY == FAN_OUT_FAIL_EVERY - 1 {
                call["error"] = json!("the model returned no text");
                call["response"] = json!("Error: the model returned no text");
            }
            call
        })
        .collect();
    let it1 = iteration(
        1,
        0,
        "```repl\nlabels = llm_query_batched(lines)\n```",
        vec![block("labels = llm_query_batched(lines)", "", calls)],
    );
    let it2 = with_answer(iteration(2, 0, "FINAL_VAR(count)", vec![]), json!(FAN_OUT));
    jsonl(&[metadata("gpt-root", 1), it1, it2])
}

/// A log as the official Python `rlms` 0.1.3 logger writes it, by hand: no
/// `kind`, `depth`, `start_time` or `answer`; a sub-RLM nested under
/// `metadata`; costs in the usage summaries.
///
/// Sub-calls: 3 (2 at depth 1, 1 inside the sub-RLM). Total cost: 0.0035.
pub const RLMS_LOG: &str = r#"{"type": "metadata", "timestamp": "2025-10-01T12:00:00.000000", "root_model": "gpt-5-nano", "max_depth": 2, "max_iterations": 30, "backend": "openai", "backend_kwargs": {"model_name": "gpt-5-nano"}, "environment_type": "local", "environment_kwargs": {}, "other_backends": null}
{"type": "iteration", "iteration": 1, "timestamp": "2025-10-01T12:00:03.000000", "prompt": [{"role": "system", "content": "You are tasked with answering a query with associated context."}, {"role": "user", "content": "What is the magic number?"}], "response": "Let me look.\n```repl\nchunk = context[:1000]\nanswer = llm_query(f'Find the magic number in {chunk}')\nprint(answer)\n```", "code_blocks": [{"code": "chunk = context[:1000]\nanswer = llm_query(f'Find the magic number in {chunk}')\nprint(answer)", "result": {"stdout": "The magic number is 42\n", "stderr": "", "locals": {"chunk": "<str>", "answer": "<str>"}, "execution_time": 1.25, "rlm_calls": [{"root_model": "gpt-5-nano", "prompt": "Find the magic number in ...", "response": "The magic number is 42", "usage_summary": {"model_usage_summaries": {"gpt-5-nano": {"total_calls": 1, "total_input_tokens": 300, "total_output_tokens": 12, "total_cost": 0.0005}}, "total_cost": 0.0005}, "execution_time": 1.2}], "final_answer": null}}], "final_answer": null, "iteration_time": 3.1}
{"type": "iteration", "iteration": 2, "timestamp": "2025-10-01T12:00:09.000000", "prompt": [{"role": "system", "content": "You are tasked with answering a query with associated context."}, {"role": "user", "content": "What is the magic number?"}, {"role": "assistant", "content": "Let me look."}, {"role": "user", "content": "REPL output: The magic number is 42"}], "response": "Let me double check with a sub-RLM.\n```repl\ncheck = rlm_query('Is 42 the magic number?')\n```", "code_blocks": [{"code": "check = rlm_query('Is 42 the magic number?')", "result": {"stdout": "", "stderr": "", "locals": {"check": "<str>"}, "execution_time": 4.5, "rlm_calls": [{"root_model": "gpt-5-nano", "prompt": "Is 42 the magic number?", "response": "yes", "usage_summary": {"model_usage_summaries": {"gpt-5-nano": {"total_calls": 3, "total_input_tokens": 1500, "total_output_tokens": 40, "total_cost": 0.003}}, "total_cost": 0.003}, "execution_time": 4.4, "metadata": {"run_metadata": {"root_model": "gpt-5-nano", "max_depth": 2, "max_iterations": 30, "backend": "openai", "backend_kwargs": {"model_name": "gpt-5-nano"}, "environment_type": "local", "environment_kwargs": {}, "other_backends": null}, "iterations": [{"type": "iteration", "iteration": 1, "timestamp": "2025-10-01T12:00:05.000000", "prompt": [{"role": "user", "content": "Is 42 the magic number?"}], "response": "```repl\nprint(llm_query('say yes'))\n```", "code_blocks": [{"code": "print(llm_query('say yes'))", "result": {"stdout": "yes\n", "stderr": "", "locals": {}, "execution_time": 0.9, "rlm_calls": [{"root_model": "gpt-5-nano", "prompt": "say yes", "response": "yes", "usage_summary": {"model_usage_summaries": {"gpt-5-nano": {"total_calls": 1, "total_input_tokens": 5, "total_output_tokens": 1}}}, "execution_time": 0.8}], "final_answer": null}}], "final_answer": null, "iteration_time": 1.5}, {"type": "iteration", "iteration": 2, "timestamp": "2025-10-01T12:00:08.000000", "prompt": [{"role": "user", "content": "Is 42 the magic number?"}], "response": "FINAL(yes)", "code_blocks": [], "final_answer": "yes", "iteration_time": 0.7}]}}], "final_answer": null}}], "final_answer": null, "iteration_time": 5.2}
{"type": "iteration", "iteration": 3, "timestamp": "2025-10-01T12:00:11.000000", "prompt": [{"role": "system", "content": "You are tasked with answering a query with associated context."}, {"role": "user", "content": "What is the magic number?"}], "response": "FINAL(The answer is 42)", "code_blocks": [], "final_answer": "The answer is 42", "iteration_time": 1.4}
"#;

/// A log that breaks every expectation the viewer could have: no metadata,
/// wrong types everywhere, nulls, an unknown line type, and an answer in the
/// two-element form of very old `rlms` logs.
pub const HOSTILE_LOG: &str = r#"{"type": "iteration", "iteration": "one", "prompt": 5, "response": null, "code_blocks": "nope", "notes": "not a list", "usage": [1, 2], "error": 42}
{"type": "iteration", "prompt": [null, 7, {"role": 3, "content": {"parts": ["a", 1]}}], "response": {"text": "an object reply"}, "code_blocks": [null, 3, {"result": "x"}, {"code": 7, "result": {"rlm_calls": [null, 5, {"usage_summary": "bad", "metadata": {"iterations": "no"}, "execution_time": "slow", "prompt": {"deep": [1, {"x": null}]}, "kind": "weird", "start_time": "soon", "depth": "deep"}, {"kind": "rlm", "metadata": {"run_metadata": 5, "iterations": [null, {"code_blocks": [{"result": {"error": "a string error", "state_lost": "yes"}}]}]}, "usage_summary": {"model_usage_summaries": {"m": null, "n": {"total_input_tokens": "many"}}}}], "error": "string error", "locals": [1], "stdout": 12, "stderr": null, "execution_time": -1}}], "iteration_time": null, "reasoning": 5, "finish_reason": {"a": 1}}
{"type": "something_else", "x": 1}
{"type": "iteration", "prompt": [], "response": "FINAL(old style answer)", "code_blocks": [], "final_answer": ["FINAL", "old style answer"], "iteration_time": 0.2}
"#;
