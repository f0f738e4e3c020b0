//! Tests of the `rlm-sandbox` binary itself.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

fn rlm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rlm-sandbox")).args(args).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(out: &Output) -> Vec<Value> {
    text(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
}

#[test]
fn exec_runs_cells_in_one_sandbox() {
    let out = rlm(&["exec", "-c", "x = 20", "-c", "print(x + 22)"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "42\n");
}

#[test]
fn exec_json_prints_one_object_per_cell() {
    let out = rlm(&["exec", "--json", "-c", "a = 1\nprint('hi')", "-c", "FINAL({'a': a})"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["stdout"], "hi\n");
    assert_eq!(lines[0]["changed_vars"], serde_json::json!(["a"]));
    assert_eq!(lines[0]["error"], Value::Null);
    assert_eq!(lines[0]["state_lost"], false);
    assert!(lines[0]["fuel_used"].as_u64().unwrap() > 0);
    assert!(lines[0]["elapsed_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(lines[1]["final"], serde_json::json!({"a": 1}));
    let keys: Vec<_> = lines[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "stdout",
            "stderr",
            "error",
            "final",
            "display",
            "changed_vars",
            "changed_vars_omitted",
            "notices",
            "fuel_used",
            "elapsed_ms",
            "state_lost"
        ]
    );
}

#[test]
fn exec_exits_1_when_a_cell_raises_and_keeps_going() {
    let out = rlm(&["exec", "--json", "-c", "1/0", "-c", "print('next')"]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["error"]["kind"], "exception");
    assert!(lines[0]["stderr"].as_str().unwrap().contains("ZeroDivisionError"));
    assert_eq!(lines[1]["stdout"], "next\n");
}

#[test]
fn exec_exits_2_when_a_limit_stops_a_cell() {
    let out =
        rlm(&["exec", "--json", "--timeout-ms", "300", "--fuel", "off", "-c", "while True: pass", "-c", "print(1)"]);
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["error"]["kind"], "timeout");
    assert_eq!(lines[0]["state_lost"], true);
    assert_eq!(lines[0]["fuel_used"], Value::Null);
    assert_eq!(lines[1]["stdout"], "1\n");
}

#[test]
fn exec_limit_flags_apply() {
    let out = rlm(&["exec", "--json", "--fuel", "1000000", "-c", "while True: pass"]);
    assert_eq!(json_lines(&out)[0]["error"]["kind"], "fuel_exhausted");
    let out = rlm(&["exec", "--json", "--max-output-bytes", "100", "-c", "print('x' * 1000)"]);
    let line = &json_lines(&out)[0];
    assert_eq!(line["error"]["kind"], "output_limit");
    assert_eq!(line["stdout"].as_str().unwrap().len(), 100);
    assert!(line["notices"][0].as_str().unwrap().contains("stdout was cut at the cap of 100 bytes"), "{line}");
    let out = rlm(&["exec", "--json", "--memory-mb", "128", "-c", "x = bytearray(512 << 20)"]);
    assert_eq!(json_lines(&out)[0]["error"]["kind"], "memory_limit");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn exec_reads_a_file_from_stdin_and_a_json_context() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx.json");
    std::fs::write(&ctx, r#"{"items": [3, 4]}"#).unwrap();
    let txt = dir.path().join("ctx.txt");
    std::fs::write(&txt, "plain text").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rlm-sandbox"))
        .args(["exec", "--context-file"])
        .arg(&ctx)
        .arg("--context-file")
        .arg(&txt)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"print(sum(context['items']), context_1)\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "7 plain text\n");
}

#[test]
fn exec_prints_stdout_stderr_and_final_for_a_terminal_user() {
    let out = rlm(&["exec", "-c", "import sys\nprint('out')\nprint('err', file=sys.stderr)\nFINAL('done')"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "out\nFINAL: done\n");
    assert_eq!(text(&out.stderr), "err\n");
}

#[test]
fn bad_usage_exits_64() {
    assert_eq!(rlm(&["exec"]).status.code(), Some(64));
    assert_eq!(rlm(&["exec", "--fuel", "lots", "-c", "1"]).status.code(), Some(64));
    assert_eq!(rlm(&["exec", "--memory-mb", "1", "-c", "1"]).status.code(), Some(64));
    assert_eq!(rlm(&["nonsense"]).status.code(), Some(64));
    let out = rlm(&["exec", "--context-file", "/nonexistent.json", "-c", "1"]);
    assert_eq!(out.status.code(), Some(64), "a missing input file is a usage error");
    assert!(text(&out.stderr).contains("cannot read context file"), "{}", text(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    let out = rlm(&["exec", "--context-file", bad.to_str().unwrap(), "-c", "1"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("is not valid JSON"), "{}", text(&out.stderr));
    assert_eq!(rlm(&["exec", "/nonexistent.py"]).status.code(), Some(64));
}

#[test]
fn help_describes_every_flag() {
    let out = rlm(&["exec", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for flag in [
        "--code",
        "--context-file",
        "--fuel",
        "--memory-mb",
        "--timeout-ms",
        "--max-output-bytes",
        "--max-host-calls",
        "--json",
        "Exit status",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert_eq!(rlm(&["--help"]).status.code(), Some(0));
}

mod run {
    use super::*;
    use rlm_test_support::{MockLlm, MockReply};

    fn run_against(mock: &MockLlm, extra: &[&str]) -> Output {
        let base = mock.openai_base_url();
        let mut args = vec!["run", "--base-url", base.as_str(), "--model", "mock-model", "--max-retries", "1"];
        args.extend_from_slice(extra);
        rlm(&args)
    }

    #[test]
    fn run_prints_a_string_answer_as_text_and_json_as_json() {
        let mock = MockLlm::builder().script([MockReply::text("```repl\nFINAL(context.upper())\n```")]).start();
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx.txt");
        std::fs::write(&ctx, "hello").unwrap();
        let out = run_against(&mock, &["--query", "Shout it.", ctx.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "HELLO\n");

        let mock = MockLlm::builder().script([MockReply::text("```repl\nFINAL({'n': len(context)})\n```")]).start();
        let ctx = dir.path().join("ctx.json");
        std::fs::write(&ctx, "[1, 2, 3]").unwrap();
        let out = run_against(&mock, &["--query", "Count.", ctx.to_str().unwrap()]);
        assert_eq!(text(&out.stdout), "{\"n\": 3}\n", "the answer as the sandbox wrote it");
    }

    #[test]
    fn run_json_reports_answer_usage_and_no_error() {
        let mock = MockLlm::builder()
            .script([
                MockReply::text("```repl\nr = llm_query('x')\n```"),
                MockReply::text("sub answer"),
                MockReply::text("FINAL(done)"),
            ])
            .start();
        let out = run_against(&mock, &["--json", "--query", "q", "--sub-model", "small"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let line: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
        assert_eq!(line["answer"], "done");
        assert_eq!(line["iterations"], 2);
        assert_eq!(line["sub_calls"], 1);
        assert_eq!(line["error"], Value::Null);
        assert_eq!(line["usage"]["total"]["calls"], 3);
        assert_eq!(line["usage"]["by_model"]["small"]["calls"], 1);
        assert!(line["elapsed_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(mock.requests()[1].model(), "small");
    }

    #[test]
    fn run_exits_1_when_a_budget_stops_it() {
        let mock = MockLlm::builder().responder(|_| MockReply::text("```repl\nx = 1\n```")).start();
        let out = run_against(&mock, &["--json", "--query", "q", "--max-tokens", "20"]);
        assert_eq!(out.status.code(), Some(1));
        let line: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
        assert_eq!(line["error"]["kind"], "max_tokens");
        assert_eq!(line["iterations"], 2);

        let out = run_against(&mock, &["--query", "q", "--max-iterations", "1"]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("max_iterations"), "{stderr}");
        assert!(stderr.contains("the model's last reply was"), "{stderr}");
        let out = run_against(&mock, &["--json", "--query", "q", "--max-iterations", "1"]);
        let line: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
        assert_eq!(line["answer"], Value::Null, "the raw last reply is not passed off as an answer");
        assert!(line["last_reply"].as_str().unwrap().contains("x = 1"));
    }

    #[test]
    fn run_writes_a_log_and_reads_prompt_files() {
        let mock = MockLlm::builder().script([MockReply::text("FINAL(ok)")]).start();
        let dir = tempfile::tempdir().unwrap();
        let prompt = dir.path().join("root.txt");
        std::fs::write(&prompt, "CUSTOM ROOT PROMPT").unwrap();
        let logs = dir.path().join("logs");
        let out = run_against(
            &mock,
            &["--query", "q", "--prompt-file", prompt.to_str().unwrap(), "--log-dir", logs.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(mock.requests()[0].system(), "CUSTOM ROOT PROMPT");
        let log = std::fs::read_dir(&logs).unwrap().next().unwrap().unwrap().path();
        let first: Value = serde_json::from_str(std::fs::read_to_string(log).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(first["type"], "metadata");
    }

    #[test]
    fn helpers_are_loaded_and_listed_and_events_are_written_as_json_lines() {
        let mock = MockLlm::builder().script([MockReply::text("```repl\nprint('go')\nFINAL(double(21))\n```")]).start();
        let dir = tempfile::tempdir().unwrap();
        let (helpers, events) = (dir.path().join("helpers.py"), dir.path().join("events.jsonl"));
        std::fs::write(&helpers, "def double(x):\n    \"\"\"Twice x.\"\"\"\n    return 2 * x\n").unwrap();
        let (h, e) = (helpers.to_str().unwrap(), events.to_str().unwrap());
        let out = run_against(&mock, &["--query", "q", "--helpers", h, "--events", e]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "42\n");
        let system = mock.requests()[0].system();
        assert!(system.contains("double(x)") && system.contains("Twice x."), "{system}");
        let lines: Vec<Value> =
            std::fs::read_to_string(&events).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let names: Vec<&str> = lines.iter().filter_map(|l| l["event"].as_str()).filter(|e| *e != "usage").collect();
        assert_eq!(
            names,
            ["run_started", "iteration_started", "model_reply", "code_started", "code_finished", "final_answer"],
            "{lines:?}"
        );
        assert!(lines.iter().all(|l| l["run_id"].is_string() && l["depth"] == 0 && l["at"].is_string()));
        let broken = dir.path().join("broken.py");
        std::fs::write(&broken, "def oops(:\n").unwrap();
        let out = run_against(&mock, &["--query", "q", "--helpers", broken.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("broken.py"), "{}", text(&out.stderr));
        assert_eq!(mock.requests().len(), 1, "no model call for the broken helper");
    }

    #[test]
    fn run_bad_usage_exits_64() {
        assert_eq!(rlm(&["run", "--model", "m"]).status.code(), Some(64), "missing --query");
        assert_eq!(rlm(&["run", "--query", "q", "--model", "m", "--provider", "nope"]).status.code(), Some(64));
        let out = rlm(&["run", "--query", "q", "--model", "m", "--base-url", "ftp://x"]);
        assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
        let out = Command::new(env!("CARGO_BIN_EXE_rlm-sandbox"))
            .args(["run", "--query", "q", "--model", "m"])
            .env_remove("OPENAI_API_KEY")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64));
        assert!(text(&out.stderr).contains("OPENAI_API_KEY"), "{}", text(&out.stderr));
        assert_eq!(rlm(&["run", "--query", "q", "--model", "m", "--price", "m=abc"]).status.code(), Some(64));
    }

    #[test]
    fn run_help_describes_every_flag() {
        let help = text(&rlm(&["run", "--help"]).stdout);
        for flag in [
            "--query",
            "--provider",
            "--base-url",
            "--api-key",
            "--model",
            "--sub-model",
            "--max-iterations",
            "--child-max-iterations",
            "--max-depth",
            "--max-concurrency",
            "--max-tokens",
            "--max-cost",
            "--price",
            "--timeout-s",
            "--max-error-streak",
            "--max-output-chars",
            "--request-timeout-s",
            "--max-retries",
            "--cell-timeout-s",
            "--fuel",
            "--memory-mb",
            "--max-output-bytes",
            "--max-host-calls",
            "--prompt-file",
            "--child-prompt-file",
            "--log-dir",
            "--json",
            "--candidates",
            "--candidate-parallel",
            "--candidate-temperature",
            "--confidence",
            "--no-early-stop",
            "--direct-threshold",
            "--answer-schema",
            "--extra-body",
            "--response-format",
            "Exit status",
        ] {
            assert!(help.contains(flag), "{flag} missing from:\n{help}");
        }
    }

    #[test]
    fn verbose_shows_the_run_as_it_happens_without_escapes_when_piped() {
        let mock = MockLlm::builder()
            .script([
                MockReply::text("Look first.\n```repl\nprint('hello from the sandbox')\nr = llm_query('sub')\n```"),
                MockReply::text("sub reply"),
                MockReply::text("FINAL(done)"),
            ])
            .start();
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().to_str().unwrap();
        let out = run_against(&mock, &["-v", "--query", "q", "--log-dir", logs, "--price", "mock-model=1000/2000"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        for needle in [
            // 10 in + 5 out tokens at $1000/$2000 per million: $0.02.
            "[10 in + 5 out tokens, finish: stop; run so far: 15 tokens, $0.0200]",
            "── iteration 1/20",
            "Look first.",
            "▶ block 1",
            "hello from the sandbox",
            "↳ llm mock-model (depth 1) ok",
            "FINAL: done",
            "tokens",
        ] {
            assert!(stderr.contains(needle), "{needle} missing from:\n{stderr}");
        }
        assert!(!stderr.contains('\x1b'), "no escape codes when piped");
        assert!(stderr.contains(&format!("log: {logs}")), "the summary names the log: {stderr}");
        assert_eq!(text(&out.stdout), "done\n");
    }

    #[test]
    fn ctrl_c_prints_the_partial_result_writes_the_log_and_exits_130() {
        let mock = MockLlm::builder()
            .script([MockReply::text("```repl\nx = 1\n```")])
            .responder(|_| MockReply::Hang(Duration::from_secs(30)))
            .start();
        let dir = tempfile::tempdir().unwrap();
        let base = mock.openai_base_url();
        let child = Command::new(env!("CARGO_BIN_EXE_rlm-sandbox"))
            .args([
                "run",
                "--base-url",
                &base,
                "--model",
                "m",
                "--query",
                "q",
                "--log-dir",
                dir.path().to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while mock.requests().len() < 2 && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("cancelled"), "{stderr}");
        assert!(stderr.contains("1 iteration(s)") && stderr.contains("tokens"), "usage is shown: {stderr}");
        let log = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        let lines = std::fs::read_to_string(log).unwrap();
        assert!(lines.lines().count() >= 2, "the metadata and the finished iteration: {lines}");
    }

    #[test]
    fn bad_inputs_and_limits_are_usage_errors_before_any_model_call() {
        let mock = MockLlm::builder().start();
        assert_eq!(run_against(&mock, &["--query", "q", "/nonexistent/ctx.txt"]).status.code(), Some(64));
        assert_eq!(run_against(&mock, &["--query", "q", "--memory-mb", "10"]).status.code(), Some(64));
        let out = run_against(&mock, &["--query", "q", "--log-dir", "/proc/no-such-dir/logs"]);
        assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("--log-dir"), "{}", text(&out.stderr));
        let out = run_against(&mock, &["--query", "q", "--max-cost", "1"]);
        assert_eq!(out.status.code(), Some(64));
        assert!(text(&out.stderr).contains("needs a price for model `mock-model`"), "{}", text(&out.stderr));
        assert!(mock.requests().is_empty(), "nothing was sent");
    }

    #[test]
    fn sampling_options_reach_the_wire_and_the_sub_model_can_have_its_own_provider() {
        let mock = MockLlm::builder()
            .script([
                MockReply::text("```repl\nr = llm_query('sub?')\n```"),
                MockReply::text("sub answer"),
                MockReply::text("FINAL(ok)"),
            ])
            .start();
        let anthropic = mock.anthropic_base_url();
        let out = Command::new(env!("CARGO_BIN_EXE_rlm-sandbox"))
            .args([
                "run",
                "--base-url",
                &mock.openai_base_url(),
                "--model",
                "root-m",
                "--query",
                "q",
                "--max-retries",
                "0",
            ])
            .args(["--temperature", "0.2", "--top-p", "0.9", "--seed", "7", "--max-completion-tokens", "300"])
            .args([
                "--reasoning-effort",
                "low",
                "--extra-body",
                r#"{"chat_template_kwargs": {"enable_thinking": false}}"#,
            ])
            .args(["--sub-model", "claude-sub", "--sub-provider", "anthropic", "--sub-base-url", &anthropic])
            .args(["--sub-api-key-env", "SUB_KEY_FOR_TEST"])
            .env("SUB_KEY_FOR_TEST", "sk-sub")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let requests = mock.requests();
        let root = &requests[0].body;
        assert_eq!(root["temperature"], 0.2);
        assert_eq!(root["top_p"], 0.9);
        assert_eq!(root["seed"], 7);
        assert_eq!(root["max_completion_tokens"], 300);
        assert_eq!(root["reasoning_effort"], "low");
        assert_eq!(root["chat_template_kwargs"]["enable_thinking"], false);
        assert_eq!(requests[1].path, "/v1/messages", "the sub-model speaks Anthropic");
        assert_eq!(requests[1].headers["x-api-key"], "sk-sub");
        assert_eq!(requests[1].body["max_tokens"], 300);
    }

    #[test]
    fn candidates_vote_and_the_json_says_how_the_answer_was_picked() {
        // Three candidates answer 42, "The answer is 42." and 7, in whichever
        // order they ask: the first two agree, and within them the shorter
        // trace (fewer output tokens) gives 42.
        let answers = [("FINAL(42)", 5), ("FINAL('The answer is 42.')", 9), ("FINAL(7)", 5)];
        let n = std::sync::atomic::AtomicUsize::new(0);
        let mock = MockLlm::builder()
            .responder(move |_| {
                let (code, output_tokens) = answers[n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 3];
                MockReply::Text { text: format!("```repl\n{code}\n```"), input_tokens: 10, output_tokens }
            })
            .start();
        let args = ["--query", "q", "--candidates", "3", "--candidate-parallel", "3", "--no-early-stop"];
        let out = run_against(&mock, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), "42");
        assert!(
            text(&out.stderr).contains("of 3 picked (3 answered, 2 agreed, rule shortest)"),
            "{}",
            text(&out.stderr)
        );
        let mut json_args = vec!["--json"];
        json_args.extend_from_slice(&args);
        let line: Value = serde_json::from_str(text(&run_against(&mock, &json_args).stdout).trim()).unwrap();
        let report = &line["candidates"];
        assert_eq!(report["candidates"].as_array().unwrap().len(), 3, "{line}");
        assert_eq!(report["clusters"][0].as_array().unwrap().len(), 2, "{line}");
        assert_eq!(report["stopped_early"], false);
        assert_eq!(line["answer"], 42, "the cluster's pick: {line}");
        // Usage covers all three.
        assert_eq!(line["usage"]["total"]["calls"], 3, "{line}");
    }

    #[test]
    fn an_answer_schema_is_enforced_and_shown_to_the_model() {
        let mock = MockLlm::builder()
            .script([
                MockReply::text("```repl\nFINAL({'total': 'many'})\n```"),
                MockReply::text("```repl\nFINAL({'total': 12})\n```"),
            ])
            .start();
        let dir = tempfile::tempdir().unwrap();
        let schema = dir.path().join("schema.json");
        std::fs::write(
            &schema,
            r#"{"type": "object", "properties": {"total": {"type": "integer"}}, "required": ["total"]}"#,
        )
        .unwrap();
        let out = run_against(&mock, &["--json", "--query", "q", "--answer-schema", schema.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let line: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
        assert_eq!(line["answer"], json!({"total": 12}), "{line}");
        assert_eq!(line["iterations"], 2);
        let requests = mock.requests();
        assert!(requests[0].system().contains(r#""required": ["total"]"#), "the prompt shows the schema");
        assert!(requests[1].last_user().contains("total"), "the model sees why: {}", requests[1].last_user());

        std::fs::write(&schema, r#"{"type": 12}"#).unwrap();
        let out = run_against(&mock, &["--query", "q", "--answer-schema", schema.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("--answer-schema"), "{}", text(&out.stderr));
        assert_eq!(mock.requests().len(), 2, "no model call for a bad schema");
    }

    #[test]
    fn a_short_context_is_answered_directly() {
        let mock = MockLlm::builder().script([MockReply::text("HELLO")]).start();
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx.txt");
        std::fs::write(&ctx, "hello there").unwrap();
        let out =
            run_against(&mock, &["--json", "--query", "Shout it.", "--direct-threshold", "100", ctx.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let line: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
        assert_eq!((&line["answer"], &line["route"]), (&json!("HELLO"), &json!("direct")), "{line}");
        let requests = mock.requests();
        assert_eq!(requests.len(), 1);
        assert!(requests[0].last_user().contains("hello there"), "the context is in the prompt");
    }
}

#[test]
fn an_error_chain_is_printed_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let out = rlm(&["run", "--base-url", &base, "--model", "m", "--query", "q", "--max-retries", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("cannot talk to openai").count(), 1, "{stderr}");
    assert!(stderr.contains("the call to model `m` failed: cannot talk to openai at"), "{stderr}");
}

#[test]
fn the_first_run_says_it_compiles_and_an_unwritable_cache_only_warns() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let with_cache = |path: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_rlm-sandbox"))
            .args(["exec", "-c", "print(1)"])
            .env("RLM_SANDBOX_CACHE_DIR", path)
            .output()
            .unwrap()
    };
    let first = with_cache(&cache);
    assert_eq!(first.status.code(), Some(0));
    let stderr = text(&first.stderr);
    assert!(
        stderr.contains("compiling the sandbox guest") && stderr.contains("compiled the sandbox guest in"),
        "{stderr}"
    );
    let second = with_cache(&cache);
    assert_eq!(text(&second.stderr), "", "the compiled guest is cached");
    let unwritable = with_cache(std::path::Path::new("/proc/rlm-no-such-cache"));
    assert_eq!(unwritable.status.code(), Some(0), "{}", text(&unwritable.stderr));
    assert_eq!(text(&unwritable.stdout), "1\n");
    assert_eq!(text(&unwritable.stderr).matches("cannot write the compiled-guest cache").count(), 1);
}

/// `rlm-sandbox chat` against `mock` with `extra` arguments, `script` on
/// its stdin.
fn chat(mock: &rlm_test_support::MockLlm, extra: &[&std::ffi::OsStr], script: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rlm-sandbox"))
        .args(["chat", "--base-url", &mock.openai_base_url(), "--model", "m", "--max-retries", "0"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn chat_keeps_one_repl_across_queries_read_from_stdin() {
    use rlm_test_support::{MockLlm, MockReply};
    let mock = MockLlm::builder()
        .script([
            MockReply::text("```repl\nx = 41\nFINAL(x)\n```"),
            MockReply::text("```repl\nFINAL([x + 1, len(history)])\n```"),
        ])
        .start();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("session.jsonl");
    let script = format!("What is x?\n/vars\n\nAnd plus one?\n/save {}\n/nonsense\n", saved.display());
    let out = chat(&mock, &[], &script);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "41\nx: int\n[42, 1]\nWrote 2 queries to ".to_owned() + saved.to_str().unwrap() + ".\n"
    );
    assert!(text(&out.stderr).contains("unknown command `/nonsense`"));
    let lines = std::fs::read_to_string(&saved).unwrap();
    let types: Vec<String> =
        lines.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["metadata", "iteration", "metadata", "iteration"]);
}

#[test]
fn chat_adds_contexts_and_resets_on_command() {
    use rlm_test_support::{MockLlm, MockReply};
    let mock = MockLlm::builder()
        .script([
            MockReply::text("```repl\nx = 1\nFINAL(context)\n```"),
            MockReply::text("```repl\nFINAL([x, context_1])\n```"),
            MockReply::text("```repl\nFINAL(['x' in globals(), 'history' in globals()])\n```"),
        ])
        .start();
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first.txt"), dir.path().join("second.txt"));
    std::fs::write(&first, "the first context").unwrap();
    std::fs::write(&second, "the second context").unwrap();
    let script = format!("Read it.\n/context {}\nBoth?\n/reset\nStill there?\n", second.display());
    let out = chat(&mock, &[first.as_os_str()], &script);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "the first context\nAdded `context_1`; the next query sees it.\n[1, \"the second context\"]\n\
         The session starts afresh.\n[false, false]\n",
        "{}",
        text(&out.stderr)
    );
}

mod serve {
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpStream;

    use super::*;
    use rlm_test_support::{MockLlm, MockReply};

    /// One HTTP/1.1 request on a fresh connection; the status and body.
    fn http(addr: &str, method: &str, path: &str, key: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    #[test]
    fn serve_in_dev_mode_prints_a_key_answers_and_stops_on_sigterm() {
        let mock = MockLlm::builder().script([MockReply::text("```repl\nFINAL('served')\n```")]).start();
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rlm-sandbox"))
            .args(["serve", "--listen", "127.0.0.1:0", "--model", "mock-model", "--base-url", &mock.openai_base_url()])
            .env("XDG_DATA_HOME", data.path())
            .env_remove("RLM_SERVE_DEV_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first.split("http://").nth(1).unwrap().split(' ').next().unwrap().to_owned();
        let key_line = lines.next().unwrap().unwrap();
        let key = key_line.strip_prefix("API key: ").unwrap().to_owned();
        assert!(key.starts_with("rlm-dev-") && key.len() > 30, "{key_line}");

        let (status, body) = http(&addr, "GET", "/v1/models", &key, "");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"default\""), "{body}");
        assert_eq!(http(&addr, "GET", "/v1/models", "wrong", "").0, 401);
        let chat = r#"{"model": "default", "messages": [{"role": "user", "content": "q"}]}"#;
        let (status, body) = http(&addr, "POST", "/v1/chat/completions", &key, chat);
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("served"), "{body}");
        assert!(data.path().join("rlm-sandbox").join("serve.db").exists(), "SQLite in the data directory");

        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0));
    }

    #[test]
    fn an_invalid_configuration_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(&path, "listn = \"127.0.0.1:1\"\n").unwrap();
        let out = rlm(&["serve", "--config", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(64));
        assert!(text(&out.stderr).contains("listn"), "{}", text(&out.stderr));
    }
}

mod mcp {
    use super::*;
    use rlm_test_support::mcp::{HttpServer, everything};
    use rlm_test_support::{MockLlm, MockReply};

    #[test]
    fn run_with_mcp_lets_model_code_call_the_servers_tools() {
        let entry = everything();
        let mock =
            MockLlm::builder().script([MockReply::text("```repl\nFINAL(echo(message='through MCP'))\n```")]).start();
        let command = format!("node {} stdio", entry.display());
        let base = mock.openai_base_url();
        let out = rlm(&["run", "--base-url", &base, "--model", "m", "--query", "q", "--mcp", &command]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "Echo: through MCP\n");
        let prompt = mock.requests()[0].system();
        assert!(prompt.contains("echo(") && prompt.contains("Echoes back the input string"), "{prompt}");
        assert!(prompt.contains("get_sum("), "a name made a Python identifier: {prompt}");
    }

    #[test]
    fn mcp_url_tools_can_be_scoped_to_sub_rlms() {
        let server = HttpServer::start();
        let mock = MockLlm::builder()
            .responder(|r| {
                if r.system().starts_with("You are the root") {
                    MockReply::text("```repl\nFINAL([rlm_query('echo it'), 'echo' in globals()])\n```")
                } else {
                    MockReply::text("```repl\nFINAL(echo(message='over HTTP'))\n```")
                }
            })
            .start();
        let base = mock.openai_base_url();
        let out = rlm(&[
            "run",
            "--base-url",
            &base,
            "--model",
            "m",
            "--query",
            "q",
            "--json",
            "--mcp-url",
            &server.url,
            "--mcp-scope",
            "sub",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let line: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
        assert_eq!(line["answer"], json!(["Echo: over HTTP", false]), "{line}");
        let requests = mock.requests();
        let root = requests.iter().find(|r| r.system().starts_with("You are the root")).unwrap();
        assert!(!root.system().contains("echo("), "the root does not see sub-RLM tools");
    }

    #[test]
    fn an_mcp_server_that_does_not_start_is_a_usage_error_before_any_model_call() {
        let mock = MockLlm::builder().start();
        let base = mock.openai_base_url();
        let out =
            rlm(&["run", "--base-url", &base, "--model", "m", "--query", "q", "--mcp", "/nonexistent/server --x"]);
        assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("MCP server `/nonexistent/server --x`"), "{}", text(&out.stderr));
        assert!(mock.requests().is_empty());
    }
}

mod eval {
    use super::*;
    use rlm_eval::{Item, Task, generate, mock_classify, parse_lengths, scripted_program, scripted_program_wrong};
    use rlm_test_support::{MockLlm, MockReply, RecordedRequest};

    const TASKS: &str = "s-niah,oolong,oolong-pairs,multi-hop,salary,needle";

    fn items() -> Vec<Item> {
        generate(&Task::ALL, &parse_lengths("8k").unwrap(), 2, 7)
    }

    /// A model that writes each item's scripted program (or a wrong one),
    /// and labels questions as the scripted sub-model does.
    fn policy(wrong: bool) -> MockLlm {
        let items = items();
        MockLlm::builder()
            .responder(move |request: &RecordedRequest| {
                let text: String = request.messages().into_iter().map(|(_, c)| c).collect();
                match items.iter().find(|item| text.contains(&item.query)) {
                    Some(item) if wrong => MockReply::text(scripted_program_wrong(item)),
                    Some(item) => MockReply::text(scripted_program(item)),
                    None => MockReply::text(mock_classify(&request.last_user())),
                }
            })
            .start()
    }

    fn eval(mock: &MockLlm, extra: &[&str]) -> Output {
        let base = mock.openai_base_url();
        let mut args = vec![
            "eval",
            "--task",
            TASKS,
            "--lengths",
            "8k",
            "--items",
            "2",
            "--data-seed",
            "7",
            "--base-url",
            &base,
            "--model",
            "m",
        ];
        args.extend_from_slice(extra);
        rlm(&args)
    }

    #[test]
    fn a_correct_policy_scores_full_marks_and_a_resumed_eval_runs_nothing_again() {
        let mock = policy(false);
        let dir = tempfile::tempdir().unwrap();
        let out_dir = dir.path().join("out");
        let out = eval(&mock, &["--out", out_dir.to_str().unwrap(), "--concurrency", "6"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let table = text(&out.stdout);
        for task in TASKS.split(',') {
            assert!(table.contains(task), "{task} missing:\n{table}");
        }
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
        let groups = summary["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 6, "{summary}");
        for group in groups {
            assert_eq!(group["mean_score"], 1.0, "{group}");
        }
        assert!(out_dir.join("report.csv").exists());
        let calls = mock.requests().len();
        assert!(calls >= 12);

        let again = eval(&mock, &["--out", out_dir.to_str().unwrap()]);
        assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
        assert_eq!(mock.requests().len(), calls, "finished items are not run again");
        assert_eq!(text(&again.stdout), table);
    }

    #[test]
    fn a_wrong_policy_scores_less_and_base_mode_answers_in_one_call() {
        let mock = policy(true);
        let out = eval(&mock, &["--base", "--base-window", "1000"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let table = text(&out.stdout);
        assert!(table.contains("base") && table.contains("rlm"), "{table}");
        // The plain calls see the context cut to the window, with a note.
        let truncated =
            mock.requests().iter().filter(|r| r.last_user().contains("truncated to its first 1000")).count();
        assert_eq!(truncated, 12, "one plain call per item");
        assert!(!table.contains(" 1.00 "), "no group scores full marks:\n{table}");
    }

    #[test]
    fn bad_eval_arguments_are_usage_errors() {
        assert_eq!(rlm(&["eval", "--task", "nope", "--model", "m"]).status.code(), Some(64));
        assert_eq!(rlm(&["eval", "--lengths", "3", "--model", "m"]).status.code(), Some(64));
        assert_eq!(rlm(&["eval", "--items", "0", "--model", "m"]).status.code(), Some(64));
    }
}

mod view {
    use std::io::{BufRead, BufReader, Read};

    use super::*;

    const LOG: &str = concat!(
        r#"{"type": "metadata", "root_model": "m", "max_depth": 1, "max_iterations": 3}"#,
        "\n",
        r#"{"type": "iteration", "iteration": 1, "prompt": [], "response": "```repl\nFINAL(1)\n```", "code_blocks": [], "final_answer": "1", "iteration_time": 0.1}"#,
        "\n"
    );

    #[test]
    fn view_writes_one_self_contained_page() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run.jsonl");
        std::fs::write(&log, LOG).unwrap();
        let page = dir.path().join("page.html");
        let out = rlm(&["view", log.to_str().unwrap(), "-o", page.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"), "{}", &html[..100]);
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "no network resources");
    }

    #[test]
    fn view_serves_the_page_on_loopback_and_prints_its_url() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run.jsonl");
        std::fs::write(&log, LOG).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rlm-sandbox"))
            .args(["view", log.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let url = BufReader::new(child.stdout.take().unwrap()).lines().next().unwrap().unwrap();
        let addr = url.trim_start_matches("http://").trim_end_matches('/').to_owned();
        assert!(addr.starts_with("127.0.0.1:"), "{url}");
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(stream, "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_log_that_is_not_json_lines_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("bad.jsonl");
        std::fs::write(&log, "not json\n").unwrap();
        let out = rlm(&["view", log.to_str().unwrap(), "-o", dir.path().join("p.html").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("line 1"), "{}", text(&out.stderr));
        assert_eq!(rlm(&["view", "/nonexistent.jsonl", "-o", "/tmp/x.html"]).status.code(), Some(64));
    }
}
