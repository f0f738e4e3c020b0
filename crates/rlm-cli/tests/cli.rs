//! Tests of the `rlm-sandbox` binary itself.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

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
        ["changed_vars", "elapsed_ms", "error", "final", "fuel_used", "state_lost", "stderr", "stdout"]
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
    let out = rlm(&["exec", "--json", "--timeout-ms", "300", "--fuel", "off", "-c", "while True: pass", "-c", "print(1)"]);
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
    assert!(line["stdout"].as_str().unwrap().contains("truncated"));
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
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read context file"), "{}", text(&out.stderr));
}

#[test]
fn help_describes_every_flag() {
    let out = rlm(&["exec", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for flag in ["--code", "--context-file", "--fuel", "--memory-mb", "--timeout-ms", "--max-output-bytes", "--max-host-calls", "--json", "Exit status"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert_eq!(rlm(&["--help"]).status.code(), Some(0));
}
