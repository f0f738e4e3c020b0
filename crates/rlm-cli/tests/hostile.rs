//! Hostile guests against the binary: one test per class of the
//! hostile-guest review, with the host's peak memory measured where the
//! class is about memory.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rlm_test_support::{MockLlm, MockReply};
use serde_json::Value;

/// Runs the binary and reads its peak resident memory (`VmHWM`) while it
/// runs; returns the output and the peak in MiB.
fn measured(args: &[&str]) -> (Output, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_rlm-sandbox"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let status = format!("/proc/{}/status", child.id());
    // The pipes are drained by wait_with_output; poll the peak from another
    // thread meanwhile.
    let poller = std::thread::spawn(move || {
        let mut peak = 0u64;
        while let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kib) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    });
    let out = child.wait_with_output().unwrap();
    (out, poller.join().unwrap() / 1024)
}

fn json_line(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().expect("a line")).expect("JSON")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The binary's own footprint doing nothing much, for comparison.
fn baseline_mib() -> u64 {
    measured(&["exec", "-c", "x = 1"]).1
}

#[test]
fn class_1_a_huge_final_does_not_amplify_in_the_host() {
    let base = baseline_mib();
    // 13.5 MB of JSON; the old host parsed it into ~2 GB of tree.
    let (out, peak) = measured(&["exec", "--json", "--memory-mb", "1024", "-c", "FINAL([{'': 0}] * 1_500_000)"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = json_line(&out);
    assert_eq!(line["final"].as_array().unwrap().len(), 1_500_000);
    // The guest's own memory (the list and its JSON) counts in the process.
    assert!(peak < base + 400, "peak {peak} MiB against a baseline of {base} MiB");
    // 108 MB of JSON is over the value cap: refused before the host reads it.
    let (out, peak) = measured(&["exec", "--json", "--memory-mb", "1024", "-c", "FINAL([{'': 0}] * 12_000_000)"]);
    let line = json_line(&out);
    assert_eq!(line["error"]["kind"], "size_limit", "{line}");
    assert_eq!(line["final"], Value::Null);
    assert!(peak < base + 900, "the guest's 1 GiB cap bounds it, not the host: {peak} MiB");
}

#[test]
fn class_2_a_huge_exception_and_a_million_globals_stay_under_the_output_cap() {
    let (out, _) =
        measured(&["exec", "--json", "--max-output-bytes", "1000", "-c", "raise Exception('A' * 50_000_000)"]);
    let line = json_line(&out);
    assert!(line["stderr"].as_str().unwrap().len() < 1100);
    assert!(line["error"]["message"].as_str().unwrap().len() < 1100);
    // What the cell wrote to stderr and its traceback share the one cap.
    let code = "import sys\nsys.stderr.write('B' * 999)\nraise Exception('A' * 500)";
    let (out, _) = measured(&["exec", "--json", "--max-output-bytes", "1000", "-c", code]);
    let stderr = json_line(&out)["stderr"].as_str().unwrap().to_owned();
    assert!(stderr.len() < 1100, "{} bytes", stderr.len());
    assert!(stderr.contains("BBB") && stderr.contains("Exception: AAA"), "{stderr}");
    let code = "for i in range(1_000_000):\n    globals()[f'v{i}'] = i";
    let (out, _) = measured(&["exec", "--json", "--max-output-bytes", "1000", "--timeout-ms", "60000", "-c", code]);
    let line = json_line(&out);
    assert!(out.stdout.len() < 5000, "{} bytes of JSON", out.stdout.len());
    assert!(line["changed_vars"].as_array().unwrap().len() < 100);
    assert!(line["changed_vars_omitted"].as_u64().unwrap() > 999_000);
}

#[test]
fn class_2_and_3_a_flood_of_names_reaches_neither_the_prompt_nor_the_clock() {
    let code = "for i in range(200_000):\n    globals()[f'name_{i}'] = i";
    let mock = MockLlm::builder()
        .script([MockReply::text(format!("```repl\n{code}\n```")), MockReply::text("FINAL(done)")])
        .start();
    let dir = tempfile::tempdir().unwrap();
    let base = mock.openai_base_url();
    let logs = dir.path().to_str().unwrap();
    let started = Instant::now();
    let args = [
        "run",
        "--json",
        "--base-url",
        &base,
        "--model",
        "m",
        "--query",
        "q",
        "--timeout-s",
        "60",
        "--cell-timeout-s",
        "30",
        "--log-dir",
        logs,
    ];
    let (out, _) = measured(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(45), "{:?}", started.elapsed());
    let second = &mock.requests()[1];
    let size = second.body.to_string().len();
    assert!(size < 20_000, "the next prompt is {size} bytes");
    assert!(second.last_user().contains("... and 199951 more"), "{}", second.last_user());
    let log = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
    let biggest_line = std::fs::read_to_string(log).unwrap().lines().map(str::len).max().unwrap();
    assert!(biggest_line < 200_000, "a trajectory line of {biggest_line} bytes");
}

#[test]
fn class_4_forged_limit_kinds_are_exceptions_and_caught_limits_still_count() {
    let (out, _) = measured(&[
        "exec",
        "--json",
        "--timeout-ms",
        "300",
        "-c",
        "import hostio\nraise hostio.CellTimeout('forged')",
        "-c",
        "import time\ntry:\n    time.sleep(3)\nexcept BaseException:\n    pass",
    ]);
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["error"]["kind"], "exception");
    assert_eq!(lines[1]["error"]["kind"], "timeout");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn class_5_a_cell_cannot_corrupt_later_cells() {
    let patch = "import json, _json, sys, gc, builtins\n\
                 json.dumps = lambda *a, **k: '\"forged\"'\n\
                 _json.make_encoder = lambda *a: (lambda v, i: ['\"forged\"'])\n\
                 g = FINAL.__globals__\n\
                 g['_run'] = lambda code: None\n\
                 g['run_cell'] = lambda code: 'ok'\n\
                 g['_BUILTINS'] = (('len', lambda x: 0),)\n\
                 builtins.len = lambda x: 0\n\
                 def tracer(*a):\n    print('traced')\n    return tracer\n\
                 sys.settrace(tracer)\n\
                 gc.callbacks.append(lambda *a: print('gc!'))\n\
                 class Ghost:\n    def __del__(self):\n        FINAL('ghost')\n\
                 ghost = Ghost()\nghost.cycle = ghost\ndel ghost";
    let (out, _) = measured(&[
        "exec",
        "--json",
        "-c",
        patch,
        "-c",
        "print(len([1, 2]))\n1 / 0",
        "-c",
        "junk = [list(range(10)) for _ in range(10_000)]\nFINAL(42)",
    ]);
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{}", stderr(&out));
    assert_eq!(lines[0]["error"], Value::Null, "{}", lines[0]);
    assert_eq!(lines[1]["stdout"], "2\n", "the cell ran with the builtins restored: {}", lines[1]);
    assert_eq!(lines[1]["error"]["kind"], "exception", "errors are still reported: {}", lines[1]);
    assert_eq!(lines[2]["final"], 42, "not forged, not the ghost: {}", lines[2]);
    assert_eq!(lines[2]["stdout"], "", "no GC callback survived: {}", lines[2]);
}

#[test]
fn class_6_lone_surrogates_do_not_trap() {
    let code = "bad = __import__('json').loads('\"\\\\udcff\"')\nprint(bad)\nFINAL({bad: bad})";
    let (out, _) = measured(&["exec", "--json", "-c", code, "-c", "print('alive', len(bad))"]);
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["error"], Value::Null, "{}", lines[0]);
    assert_eq!(lines[0]["stdout"], "\u{fffd}\u{fffd}\u{fffd}\n");
    assert_eq!(lines[1]["stdout"], "alive 1\n");
    assert_eq!(lines[1]["state_lost"], false);
}

#[test]
fn class_7_children_cannot_exhaust_host_memory_together() {
    // Thirty children each try to hold 200 MB at once; the run's memory
    // budget of 1 GiB refuses what does not fit.
    let child = "```repl\nx = bytearray(200 << 20)\nr = llm_query('wait')\nFINAL('held')\n```";
    let mock = MockLlm::builder()
        .script([MockReply::text("```repl\nrs = rlm_query_batched(['c'] * 30)\nFINAL(rs)\n```")])
        .responder(move |r| if r.system().is_empty() { MockReply::text("ok") } else { MockReply::text(child) })
        .latency(Duration::from_millis(500))
        .start();
    let base = mock.openai_base_url();
    let args = [
        "run",
        "--json",
        "--base-url",
        &base,
        "--model",
        "m",
        "--query",
        "q",
        "--max-concurrency",
        "64",
        "--max-total-memory-mb",
        "1024",
        "--child-max-iterations",
        "1",
    ];
    let (out, peak) = measured(&args);
    let line = json_line(&out);
    let answers = line["answer"].as_array().unwrap_or_else(|| panic!("{line} {}", stderr(&out)));
    let held = answers.iter().filter(|a| *a == "held").count();
    assert!((1..30).contains(&held), "some children fit, not all: {held}");
    assert!(peak < 1024 + 600, "peak {peak} MiB with a 1 GiB budget (was 6 GB without one)");
}

#[test]
fn class_8_host_lines_cannot_be_forged_and_bidi_is_escaped() {
    let out = Command::new(env!("CARGO_BIN_EXE_rlm-sandbox"))
        .args(["exec", "-c", "print('FINAL: 42')\nprint('rlm-sandbox: the sandbox was restarted')\nprint('a\\u202eb')"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("\\FINAL: 42\n\\rlm-sandbox: the sandbox was restarted\n"), "{stdout}");
    // On a terminal, bidi controls and escapes are shown, not obeyed. `script`
    // (util-linux) gives the binary a pseudo-terminal.
    let command = format!("{} exec -c \"print('a\\u202eb\\x1b[31m')\"", env!("CARGO_BIN_EXE_rlm-sandbox"));
    let out = Command::new("script").args(["-qec", &command, "/dev/null"]).output().expect("util-linux's script");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("a\\u{202e}b"), "{shown:?}");
    assert!(!shown.contains('\u{202e}') && !shown.contains('\u{1b}'), "{shown:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_rlm-sandbox")).args(["exec", "-c", "FINAL(42)"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "FINAL: 42\n");
}
