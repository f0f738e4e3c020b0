use std::sync::Arc;
use std::time::Duration;

use rlm_sandbox::{CellErrorKind, CellOutcome, Context, Limits, NoBackend, Sandbox};
use rlm_tests::{RecordingHandler, Shared, sandbox_with};
use serde_json::json;

fn noticed(out: &CellOutcome, needle: &str) -> bool {
    out.notices.iter().any(|n| n.contains(needle))
}

fn kind(out: &CellOutcome) -> Option<CellErrorKind> {
    out.error.as_ref().map(|e| e.kind)
}

async fn limited(limits: Limits) -> Sandbox {
    let mut sb = sandbox_with(limits, Arc::new(NoBackend)).await;
    sb.load_context(0, Context::from("kept")).await.unwrap();
    sb.run_cell("survivor = 1").await.unwrap();
    sb
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// After any stop the next cell runs; `state_lost` says whether variables survived.
async fn next_cell_runs(sb: &mut Sandbox, state_lost: bool) {
    let out = sb.run_cell("print(context, 'survivor' in globals())").await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, format!("kept {}\n", py_bool(!state_lost)));
    sb.run_cell("survivor = 1").await.unwrap();
}

#[tokio::test]
async fn a_busy_loop_hits_the_wall_clock_limit() {
    let mut sb = limited(Limits::default().fuel(None).timeout(Duration::from_millis(300))).await;
    let out = sb.run_cell("print('started')\nwhile True:\n    pass").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Timeout), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    assert_eq!(out.stdout, "started\n", "output before the stop is kept");
    assert!(out.state_lost);
    assert!(noticed(&out, "sandbox was restarted"), "{:?}", out.notices);
    next_cell_runs(&mut sb, true).await;
}

/// A runtime without fuel metering stops a busy loop by its epoch checks.
#[tokio::test]
async fn without_fuel_metering_a_busy_loop_hits_the_wall_clock_limit() {
    let runtime = rlm_sandbox::Runtime::new(rlm_sandbox::RuntimeConfig::new().fuel_metering(false)).unwrap();
    let limits = Limits::default().fuel(None).timeout(Duration::from_millis(300));
    let mut sb = runtime.sandbox(limits, Arc::new(NoBackend)).await.unwrap();
    let out = sb.run_cell("print('started')\nwhile True:\n    pass").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Timeout), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    assert_eq!(out.stdout, "started\n");
    assert_eq!(out.fuel_used, None);
    let out = sb.run_cell("print('next')").await.unwrap();
    assert_eq!(out.stdout, "next\n", "{out:?}");
}

/// Host work is not fuel: a loop over host calls is stopped by the host
/// calls themselves once past the deadline.
#[tokio::test]
async fn a_loop_over_host_calls_hits_the_wall_clock_limit() {
    let mut sb = limited(Limits::default().fuel(None).timeout(Duration::from_millis(300))).await;
    let code =
        "big = 'x' * 200_000\nwhile True:\n    try:\n        FINAL(big)\n    except BaseException:\n        pass";
    let out = sb.run_cell(code).await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Timeout), "{out:?}");
    assert!(out.elapsed < Duration::from_millis(1500), "{:?}", out.elapsed);
    assert_eq!(out.final_value, None, "{out:?}");
    next_cell_runs(&mut sb, true).await;
}

/// A busy loop runs out of fuel exactly, under one fuel yield interval
/// (2^22) and across many.
#[tokio::test]
async fn a_busy_loop_runs_out_of_fuel() {
    for fuel in [1_000_000, 200_000_000] {
        let mut sb = limited(Limits::default().fuel(Some(fuel))).await;
        let out = sb.run_cell("n = 0\nwhile True:\n    n += 1").await.unwrap();
        assert_eq!(kind(&out), Some(CellErrorKind::FuelExhausted), "{fuel}: {out:?}");
        assert_eq!(out.fuel_used, Some(fuel));
        next_cell_runs(&mut sb, true).await;
    }
}

#[tokio::test]
async fn fuel_used_is_reported() {
    let mut sb = limited(Limits::default()).await;
    let out = sb.run_cell("x = sum(range(1000))").await.unwrap();
    let used = out.fuel_used.unwrap();
    assert!(used > 1000 && used < rlm_sandbox::DEFAULT_FUEL, "{used}");
}

#[tokio::test]
async fn a_sleep_ends_at_the_deadline_and_keeps_the_state() {
    let mut sb = limited(Limits::default().timeout(Duration::from_millis(300))).await;
    let out = sb.run_cell("import time\ntime.sleep(30)").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Timeout), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(2), "{:?}", out.elapsed);
    assert!(!out.state_lost, "a soft stop keeps the variables");
    assert!(out.stderr.contains("CellTimeout"), "{}", out.stderr);
    next_cell_runs(&mut sb, false).await;
}

#[tokio::test]
async fn catching_the_timeout_does_not_escape_the_deadline() {
    let mut sb = limited(Limits::default().timeout(Duration::from_millis(300))).await;
    let code = "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except BaseException:\n        pass";
    let out = sb.run_cell(code).await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Timeout), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);
    next_cell_runs(&mut sb, true).await;
}

#[tokio::test]
async fn a_blocking_select_is_stopped_by_the_host() {
    let mut sb = limited(Limits::default().timeout(Duration::from_millis(300))).await;
    let out = sb.run_cell("import select\nselect.select([], [], [], 30)").await.unwrap();
    // Either the guest cannot block this way at all, or the host stops it.
    if let Some(e) = &out.error {
        assert!(matches!(e.kind, CellErrorKind::Timeout | CellErrorKind::Exception), "{e:?}");
    }
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);
    next_cell_runs(&mut sb, out.state_lost).await;
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_cap() {
    let mut sb = limited(Limits::default().memory_bytes(256 << 20)).await;
    let out = sb.run_cell("blocks = []\nwhile True:\n    blocks.append(bytearray(10 << 20))").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::MemoryLimit), "{out:?}");
    assert!(out.stderr.contains("MemoryError") || out.state_lost, "{}", out.stderr);
    let out2 = sb.run_cell("blocks = None\nprint(context, 'survivor' in globals())").await.unwrap();
    assert!(out2.is_ok(), "{out2:?}");
    assert_eq!(out2.stdout, format!("kept {}\n", py_bool(!out.state_lost)));
}

#[tokio::test]
async fn one_huge_allocation_is_refused() {
    let mut sb = limited(Limits::default().memory_bytes(256 << 20)).await;
    let out = sb.run_cell("x = 'a' * (1 << 30)").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::MemoryLimit), "{out:?}");
    next_cell_runs(&mut sb, out.state_lost).await;
}

#[tokio::test]
async fn an_output_flood_is_cut_with_a_marker() {
    let mut sb = limited(Limits::default().max_output_bytes(10_000)).await;
    let out = sb.run_cell("while True:\n    print('x' * 100)").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::OutputLimit), "{out:?}");
    assert!(out.stdout.len() <= 10_000, "{}", out.stdout.len());
    assert!(noticed(&out, "stdout was cut at the cap of 10000 bytes"), "{:?}", out.notices);
    assert!(!out.state_lost);
    next_cell_runs(&mut sb, false).await;
}

#[tokio::test]
async fn a_flood_that_catches_the_limit_is_still_cut() {
    let mut sb = limited(Limits::default().max_output_bytes(1000).timeout(Duration::from_secs(2))).await;
    let code = "for i in range(10000):\n    try:\n        print('y' * 50)\n    except BaseException:\n        pass\nprint('done')";
    let out = sb.run_cell(code).await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::OutputLimit), "{out:?}");
    assert!(out.stdout.len() < 1200);
}

#[tokio::test]
async fn deep_recursion_raises_recursion_error() {
    let mut sb = limited(Limits::default()).await;
    let out = sb.run_cell("def f(n):\n    return f(n + 1)\nf(0)").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Exception), "{out:?}");
    assert!(out.stderr.contains("RecursionError"), "{}", out.stderr);
    next_cell_runs(&mut sb, false).await;
    let out =
        sb.run_cell("import sys\nsys.setrecursionlimit(100000)\ndef g(n):\n    return g(n + 1)\ng(0)").await.unwrap();
    assert!(out.error.is_some(), "{out:?}");
    next_cell_runs(&mut sb, out.state_lost).await;
    let out = sb.run_cell("import json\njson.dumps(eval('[' * 100000 + ']' * 100000))").await.unwrap();
    assert!(out.error.is_some(), "{out:?}");
    next_cell_runs(&mut sb, out.state_lost).await;
}

#[tokio::test]
async fn huge_ints_are_stopped() {
    let mut sb = limited(Limits::default().timeout(Duration::from_secs(1)).memory_bytes(256 << 20)).await;
    let out = sb.run_cell("x = 10 ** (10 ** 10)").await.unwrap();
    assert!(
        matches!(kind(&out), Some(CellErrorKind::Timeout | CellErrorKind::MemoryLimit | CellErrorKind::FuelExhausted)),
        "{out:?}"
    );
    next_cell_runs(&mut sb, out.state_lost).await;
    let out = sb.run_cell("print(str(10 ** 5000))").await.unwrap();
    assert!(out.stderr.contains("Exceeds the limit"), "int-to-str digit limit: {}", out.stderr);
}

/// With fuel metering the deadline is checked at the fuel yields, not by
/// epochs (none are compiled in): a loop inside the regex engine, in C,
/// stops at the deadline as a Python loop does, under the default fuel.
#[tokio::test]
async fn a_catastrophic_regex_is_stopped() {
    let mut sb = limited(Limits::default().timeout(Duration::from_millis(500))).await;
    let out = sb.run_cell("import re\nre.match(r'(a+)+$', 'a' * 40 + 'b')").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Timeout), "{out:?}");
    assert!(out.elapsed < Duration::from_millis(1500), "{:?}", out.elapsed);
    next_cell_runs(&mut sb, true).await;
}

#[tokio::test]
async fn host_calls_per_cell_are_capped() {
    let handler = RecordingHandler::with_delay(Duration::ZERO);
    let limits = Limits::default().max_host_calls(3);
    let mut sb = sandbox_with(limits, Arc::new(Shared(handler.clone()))).await;
    let out = sb.run_cell("got = []\nfor i in range(10):\n    got.append(llm_query(str(i)))").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::HostCallLimit), "{out:?}");
    assert_eq!(handler.calls.lock().unwrap().len(), 3);
    assert_eq!(sb.get_var("got").await.unwrap().unwrap(), json!(["echo:0", "echo:1", "echo:2"]));
    let out = sb.run_cell("print(llm_query_batched(['a', 'b']))").await.unwrap();
    assert!(out.is_ok(), "the cap is per cell: {out:?}");
    let out = sb.run_cell("llm_query_batched(['a'] * 4)").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::HostCallLimit), "{out:?}");
}

#[tokio::test]
async fn a_slow_sub_call_ends_at_the_deadline_and_keeps_the_state() {
    let handler = RecordingHandler::with_delay(Duration::from_secs(30));
    let limits = Limits::default().timeout(Duration::from_millis(300));
    let mut sb = sandbox_with(limits, Arc::new(Shared(handler))).await;
    sb.run_cell("survivor = 1").await.unwrap();
    let out = sb.run_cell("llm_query('slow')").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Timeout), "{out:?}");
    assert!(!out.state_lost);
    let out = sb.run_cell("print(survivor)").await.unwrap();
    assert_eq!(out.stdout, "1\n");
}

#[tokio::test]
async fn the_sandbox_pool_caps_live_sandboxes_and_recovers() {
    let config = rlm_sandbox::RuntimeConfig::new().max_sandboxes(Some(2)).slot_wait(Duration::from_millis(200));
    let runtime = rlm_sandbox::Runtime::new(config).unwrap();
    let mut a = runtime.sandbox(Limits::default(), Arc::new(NoBackend)).await.unwrap();
    a.run_cell("x = 'left behind'").await.unwrap();
    let _b = runtime.sandbox(Limits::default(), Arc::new(NoBackend)).await.unwrap();
    let err = runtime.sandbox(Limits::default(), Arc::new(NoBackend)).await.unwrap_err();
    assert!(matches!(err, rlm_sandbox::Error::Capacity { .. }), "{err:?}");
    // A full pool makes a new sandbox wait for a slot rather than fail.
    let waiting = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.sandbox(Limits::default(), Arc::new(NoBackend)).await.map(|_| ()) }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(a);
    waiting.await.unwrap().expect("the waiting sandbox got the freed slot");
    let mut c = runtime.sandbox(Limits::default(), Arc::new(NoBackend)).await.unwrap();
    let out = c.run_cell("print('fresh' if 'x' not in globals() else 'reused')").await.unwrap();
    assert_eq!(out.stdout, "fresh\n", "a reused slot starts clean");
}

#[tokio::test]
async fn a_raw_fd_flood_is_cut_too() {
    let mut sb = limited(Limits::default().max_output_bytes(10_000)).await;
    let out = sb.run_cell("import os\nwhile True:\n    os.write(1, b'z' * 100)").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::OutputLimit), "{out:?}");
    assert!(noticed(&out, "stdout was cut"), "{:?}", out.notices);
    assert!(out.stdout.len() < 10_200);
    next_cell_runs(&mut sb, out.state_lost).await;
}
