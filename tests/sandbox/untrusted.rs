//! The guest is untrusted in everything it reports: each class of attack of
//! the hostile-guest review, through the library. (The same classes through
//! the binary, with memory measured, are in `crates/rlm-cli/tests/hostile.rs`.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use rlm_sandbox::{CellErrorKind, CellOutcome, Context, Limits, NoBackend, Runtime, RuntimeConfig, SandboxQuota};
use rlm_tests::{RecordingHandler, Shared, sandbox, sandbox_with};
use serde_json::json;

fn kind(out: &CellOutcome) -> Option<CellErrorKind> {
    out.error.as_ref().map(|e| e.kind)
}

async fn recording() -> (rlm_sandbox::Sandbox, Arc<RecordingHandler>) {
    let handler = RecordingHandler::with_delay(Duration::ZERO);
    let sb = sandbox_with(Limits::default(), Arc::new(Shared(handler.clone()))).await;
    (sb, handler)
}

// --- 1. host memory amplification ------------------------------------------

#[tokio::test]
async fn values_over_the_cap_are_refused_before_the_host_reads_them() {
    let limits = Limits::default().max_value_bytes(1 << 20);
    let handler = RecordingHandler::with_delay(Duration::ZERO);
    let mut sb = sandbox_with(limits, Arc::new(Shared(handler.clone()))).await;
    let out = sb.run_cell("FINAL([{'': 0}] * 300_000)").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::SizeLimit), "{out:?}");
    assert!(out.final_value.is_none());
    assert!(out.error.as_ref().unwrap().message.contains("the limit is 1048576 bytes"), "{out:?}");
    assert!(out.stderr.contains("ValueTooLarge"), "the model sees why: {}", out.stderr);
    let out = sb.run_cell("rlm_query([{'': 0}] * 300_000)").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::SizeLimit), "{out:?}");
    assert!(handler.calls.lock().unwrap().is_empty(), "nothing reached the handler");
    let out = sb.run_cell("big = 'x' * 2_000_000").await.unwrap();
    assert!(out.is_ok());
    let read = sb.get_var("big").await.unwrap();
    assert!(read.unwrap_err().contains("limit is 1048576 bytes"));
    // Under the cap, a large answer arrives whole, as text.
    let out = sb.run_cell("FINAL([{'': 0}] * 100_000)").await.unwrap();
    assert_eq!(out.final_value.unwrap().as_str().len(), 900_000);
}

// --- 2. the output cap covers every guest string ------------------------------

#[tokio::test]
async fn tracebacks_and_variable_names_go_under_the_output_cap() {
    let mut sb = sandbox_with(Limits::default().max_output_bytes(1000), Arc::new(NoBackend)).await;
    let out = sb.run_cell("raise Exception('A' * 5_000_000)").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Exception));
    assert!(out.stderr.len() < 1100, "{}", out.stderr.len());
    assert!(out.error.as_ref().unwrap().message.len() < 1100);
    assert!(out.stderr.contains("more bytes cut"), "a marker says so");
    let out = sb.run_cell("for i in range(200_000):\n    globals()[f'name_{i}'] = i").await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    let listed = out.changed_vars.len() as u64;
    assert!(listed < 100, "names fit the 1000-byte cap: {listed}");
    assert_eq!(listed + out.changed_vars_omitted, 200_001, "every other name (and `i`) is counted");
    let vars = sb.list_vars().await.unwrap();
    assert!(vars.len() < 100);
}

// --- 3. host work stays inside the deadline -------------------------------------

#[tokio::test]
async fn a_huge_namespace_costs_guest_time_not_host_time() {
    let mut sb = sandbox_with(Limits::default().timeout(Duration::from_secs(20)), Arc::new(NoBackend)).await;
    let started = Instant::now();
    let out = sb.run_cell("for i in range(400_000):\n    globals()[f'v{i}'] = i").await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    let out = sb.run_cell("x = 1").await.unwrap();
    assert_eq!(out.changed_vars.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["x"]);
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_cell_stopped_by_a_hard_limit_gives_no_final() {
    let mut sb =
        sandbox_with(Limits::default().timeout(Duration::from_millis(300)).fuel(None), Arc::new(NoBackend)).await;
    let out = sb
        .run_cell("import time\ntry:\n    time.sleep(5)\nexcept BaseException:\n    pass\nFINAL('from a stopped cell')")
        .await
        .unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Timeout), "{out:?}");
    assert_eq!(out.final_value, None);
    assert!(out.notices.iter().any(|n| n.contains("its answer was not taken")), "{:?}", out.notices);
}

// --- 4. limit kinds come from host facts ------------------------------------------

#[tokio::test]
async fn raising_the_drivers_limit_classes_is_an_exception() {
    let mut sb = sandbox().await;
    for class in ["CellTimeout", "OutputLimitExceeded", "HostCallLimitExceeded"] {
        let out = sb.run_cell(&format!("import hostio\nraise hostio.{class}('forged')")).await.unwrap();
        assert_eq!(kind(&out), Some(CellErrorKind::Exception), "{class}: {out:?}");
    }
}

#[tokio::test]
async fn catching_a_limit_does_not_hide_it() {
    let mut sb = sandbox_with(Limits::default().timeout(Duration::from_millis(300)), Arc::new(NoBackend)).await;
    let out = sb.run_cell("import time\ntry:\n    time.sleep(5)\nexcept BaseException:\n    pass").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Timeout), "{out:?}");
    assert!(!out.state_lost);

    let handler = RecordingHandler::with_delay(Duration::ZERO);
    let mut sb = sandbox_with(Limits::default().max_host_calls(2), Arc::new(Shared(handler))).await;
    let code = "try:\n    llm_query_batched(['a'] * 5)\nexcept BaseException as e:\n    raise ValueError('not a limit, honest')";
    let out = sb.run_cell(code).await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::HostCallLimit), "{out:?}");
    let out = sb.run_cell("try:\n    print('x' * 10_000_000)\nexcept BaseException:\n    pass").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::OutputLimit), "{out:?}");
}

// --- 5. model code cannot corrupt later cells -----------------------------------------

#[tokio::test]
async fn patching_json_cannot_forge_an_answer() {
    let mut sb = sandbox().await;
    sb.run_cell(
        "import json, json.encoder\njson.dumps = lambda *a, **k: '\"forged\"'\njson.encoder.c_make_encoder = None",
    )
    .await
    .unwrap();
    let out = sb.run_cell("FINAL(42)").await.unwrap();
    assert_eq!(out.final_value.unwrap(), json!(42));
}

#[tokio::test]
async fn patching_the_c_json_module_reaches_neither_answers_nor_replies() {
    let (mut sb, _handler) = recording().await;
    let patch = "import _json, json.decoder\n\
                 _json.make_encoder = lambda *a: (lambda v, i: ['\"forged\"'])\n\
                 _json.make_scanner = None\n\
                 json.decoder.JSONDecoder.raw_decode = lambda *a, **k: ('forged', 0)\n\
                 json.decoder.JSONDecoder.decode = lambda *a, **k: 'forged'";
    assert!(sb.run_cell(patch).await.unwrap().is_ok());
    let out = sb.run_cell("FINAL({'n': 42})").await.unwrap();
    assert_eq!(out.final_value.unwrap(), json!({"n": 42}));
    let out = sb.run_cell("print(llm_query('hi') != 'forged')").await.unwrap();
    assert_eq!(out.stdout, "True\n", "{out:?}");
}

#[tokio::test]
async fn rebinding_the_drivers_functions_does_not_redirect_later_cells() {
    let mut sb = sandbox().await;
    sb.run_cell("FINAL.__globals__['run_cell'] = lambda code: 'ok'\nimport app\napp.state = None").await.unwrap();
    let out = sb.run_cell("1 / 0").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::Exception), "{out:?}");
    assert!(out.stderr.contains("ZeroDivisionError"));
    let rebind = "g = FINAL.__globals__\n\
                  g['_run'] = lambda code: None\n\
                  g['_restore'] = lambda: None\n\
                  g['_BUILTINS'] = (('len', lambda x: 0),)\n\
                  g['format_exception'] = lambda e: ''\n\
                  import builtins\n\
                  builtins.len = lambda x: 0";
    assert!(sb.run_cell(rebind).await.unwrap().is_ok());
    let out = sb.run_cell("print(len([1, 2]))\n1 / 0").await.unwrap();
    assert_eq!(out.stdout, "2\n", "the cell ran, with the builtins restored: {out:?}");
    assert!(out.stderr.contains("ZeroDivisionError"), "{out:?}");
}

#[tokio::test]
async fn trace_and_profile_hooks_and_gc_callbacks_do_not_outlive_their_cell() {
    let mut sb = sandbox().await;
    let code = "import sys, gc\ndef hook(*a):\n    return hook\nsys.settrace(hook)\nsys.setprofile(hook)\ngc.callbacks.append(lambda *a: print('gc!'))";
    assert!(sb.run_cell(code).await.unwrap().is_ok());
    let out =
        sb.run_cell("import sys, gc\nprint(sys.gettrace(), sys.getprofile(), len(gc.callbacks))\n1 / 0").await.unwrap();
    assert_eq!(out.stdout, "None None 0\n");
    assert_eq!(kind(&out), Some(CellErrorKind::Exception), "errors are still reported: {out:?}");
}

/// A `sys.monitoring` tool a cell registers (with a callback on every
/// line) is cleared and freed after it, even when the cell also replaced
/// `sys.monitoring.get_tool` to hide it.
#[tokio::test]
async fn monitoring_tools_do_not_outlive_their_cell() {
    let mut sb = sandbox().await;
    let code = "import sys\n\
                m = sys.monitoring\n\
                real_get_tool = m.get_tool\n\
                for tool, name in ((0, ''), (5, 'spy')):\n\
                \x20   m.use_tool_id(tool, name)\n\
                \x20   m.register_callback(tool, m.events.LINE, lambda *a: print('line!'))\n\
                \x20   m.set_events(tool, m.events.LINE)\n\
                m.get_tool = lambda tool: None";
    assert!(sb.run_cell(code).await.unwrap().is_ok());
    let out = sb
        .run_cell(
            "m = sys.monitoring\nx = 1\nprint(real_get_tool(0), real_get_tool(5), m.get_events(0), m.get_events(5))",
        )
        .await
        .unwrap();
    assert!(out.is_ok(), "{}", out.stderr);
    assert_eq!(out.stdout, "None None 0 0\n", "no tool and no callback survive the cell");
}

/// A line callback left running gets no line of the driver between two of
/// its clearing steps: one that re-arms another tool and a trace function
/// whenever it fires does not outlive its cell either.
#[tokio::test]
async fn a_monitoring_callback_cannot_rearm_hooks_while_they_are_cleared() {
    let mut sb = sandbox().await;
    let code = "import sys\n\
                m = sys.monitoring\n\
                real = (m.use_tool_id, m.register_callback, m.set_events, m.get_tool, sys.settrace, sys.gettrace)\n\
                def rearm(*a):\n\
                \x20   if real[3](0) is None:\n\
                \x20       real[0](0, 'again')\n\
                \x20       real[1](0, m.events.LINE, lambda *a: print('line!'))\n\
                \x20       real[2](0, m.events.LINE)\n\
                \x20   if real[5]() is None:\n\
                \x20       real[4](lambda *a: None)\n\
                m.use_tool_id(5, 'spy')\n\
                m.register_callback(5, m.events.LINE, rearm)\n\
                m.set_events(5, m.events.LINE)";
    assert!(sb.run_cell(code).await.unwrap().is_ok());
    let out = sb.run_cell("print(real[3](0), real[3](5), real[5]())").await.unwrap();
    assert!(out.is_ok(), "{}", out.stderr);
    assert_eq!(out.stdout, "None None None\n", "no tool, callback or tracer survives the cell");
}

/// Clearing the tools does not go through the builtins, which a cell may
/// have replaced when the hooks are cleared (before they are restored).
#[tokio::test]
async fn replacing_range_does_not_hide_a_monitoring_tool() {
    let mut sb = sandbox().await;
    let code = "import sys, builtins\n\
                m = sys.monitoring\n\
                get_tool = m.get_tool\n\
                m.use_tool_id(2, 'spy')\n\
                m.register_callback(2, m.events.LINE, lambda *a: print('line!'))\n\
                m.set_events(2, m.events.LINE)\n\
                builtins.range = lambda *a: ()";
    assert!(sb.run_cell(code).await.unwrap().is_ok());
    let out = sb.run_cell("print(get_tool(2), list(range(2)))").await.unwrap();
    assert!(out.is_ok(), "{}", out.stderr);
    assert_eq!(out.stdout, "None [0, 1]\n");
}

#[tokio::test]
async fn audit_hooks_are_refused() {
    let mut sb = sandbox().await;
    let out = sb.run_cell("import sys\nsys.addaudithook(lambda *a: 1 / 0)").await.unwrap();
    assert!(out.stderr.contains("sys.addaudithook is disabled"), "{}", out.stderr);
    let out = sb.run_cell("print('fine')").await.unwrap();
    assert_eq!(out.stdout, "fine\n");
}

#[tokio::test]
async fn builtins_are_restored_from_a_copy_the_model_cannot_write() {
    let mut sb = sandbox().await;
    let code = "import builtins, state\nbuiltins.len = lambda x: 0\nbuiltins.extra = 1\ntry:\n    state._BUILTINS[0] = None\nexcept TypeError as e:\n    print('immutable')";
    let out = sb.run_cell(code).await.unwrap();
    assert_eq!(out.stdout, "immutable\n");
    let out = sb.run_cell("print(len([1, 2]), 'extra' in dir(__builtins__))").await.unwrap();
    assert_eq!(out.stdout, "2 False\n");
}

#[tokio::test]
async fn a_patched_vars_does_not_hide_the_builtins_from_their_restore() {
    // The restore reaches the builtins module's dict through a reference
    // taken at build time, not through `vars`, which the cell can replace.
    let mut sb = sandbox().await;
    let code = "import builtins\nbuiltins.vars = lambda *a: {}\nbuiltins.len = lambda x: 0";
    assert!(sb.run_cell(code).await.unwrap().is_ok());
    let out =
        sb.run_cell("import builtins\nprint(len([1, 2]), builtins.vars(builtins) is builtins.__dict__)").await.unwrap();
    assert_eq!(out.stdout, "2 True\n", "{out:?}");
}

#[tokio::test]
async fn a_replaced_builtin_whose_eq_raises_or_answers_is_still_restored() {
    // The restore's quick check compares the builtins with one `==`, which
    // calls a replacement's `__eq__`: one that raises, or that calls `FINAL`,
    // must neither break the next cell nor skip the restore.
    let mut sb = sandbox().await;
    let code = "import builtins\nclass Odd:\n    def __eq__(self, other):\n        raise RuntimeError('no')\n\
                class Loud:\n    def __eq__(self, other):\n        FINAL('from eq')\n\
                builtins.len = Odd()\nbuiltins.abs = Loud()";
    assert!(sb.run_cell(code).await.unwrap().is_ok());
    let out = sb.run_cell("print(len([1, 2]), abs(-3))").await.unwrap();
    assert_eq!(out.stdout, "2 3\n", "{out:?}");
    assert_eq!(out.final_value, None);
}

/// Runs an innocent cell that allocates enough to start a collection and
/// checks that nothing planted earlier answered for it; `label` names the
/// case in a failure.
async fn assert_next_cell_cannot_answer(sb: &mut rlm_sandbox::Sandbox, label: &str) {
    let out = sb.run_cell("x = [list(range(10)) for _ in range(10_000)]\nprint('innocent')").await.unwrap();
    assert_eq!(out.stdout, "innocent\n", "{label}: {out:?}");
    assert_eq!(out.final_value, None, "{label}: {out:?}");
}

#[tokio::test]
async fn a_finalizer_planted_in_one_cell_cannot_answer_for_another() {
    let mut sb = sandbox().await;
    let plant = "class Ghost:\n    def __del__(self):\n        FINAL('ghost')\ng = Ghost()\ng.cycle = g\ndel g";
    assert!(sb.run_cell(plant).await.unwrap().is_ok());
    assert_next_cell_cannot_answer(&mut sb, "cyclic finalizer").await;
}

/// A finalizer that plants one more finalizable object before it answers:
/// the cell after it still starts with two collections (from an independent
/// review of deferring the collection after a cell).
#[tokio::test]
async fn a_finalizer_that_plants_one_more_cannot_answer_for_the_next_cell() {
    let mut sb = sandbox().await;
    let plant = "class G:\n    def __init__(s, n):\n        s.n = n\n        s.me = s\n    def __del__(s):\n        \
                 if s.n:\n            G(s.n - 1)\n        else:\n            FINAL('ghost')\nx = G(1)\ndel x";
    assert!(sb.run_cell(plant).await.unwrap().is_ok());
    assert_next_cell_cannot_answer(&mut sb, "finalizer that plants one more").await;
}

/// A finalizer that sets a hook which answers once `FINAL` is armed: the
/// hooks are cleared after the collections that start the next cell, not
/// only before them (from an independent review of deferring the collection
/// after a cell).
#[tokio::test]
async fn a_hook_set_by_a_finalizer_does_not_reach_the_next_cell() {
    let hooks = [
        "sys.settrace(ghost)",
        "sys.setprofile(ghost)",
        "gc.callbacks.append(ghost)",
        "sys.monitoring.use_tool_id(3, 'x')\n        \
         sys.monitoring.register_callback(3, sys.monitoring.events.PY_START, ghost)\n        \
         sys.monitoring.set_events(3, sys.monitoring.events.PY_START)",
    ];
    for hook in hooks {
        let mut sb = sandbox().await;
        let plant = format!(
            "import gc, sys\ndef ghost(*a):\n    try:\n        FINAL('ghost')\n    except RuntimeError:\n        pass\n\
             class G:\n    def __del__(s):\n        {hook}\ng = G()\ng.me = g\ndel g"
        );
        let out = sb.run_cell(&plant).await.unwrap();
        assert!(out.is_ok(), "{hook}: {out:?}");
        assert_next_cell_cannot_answer(&mut sb, hook).await;
    }
}

/// A cell's garbage is collected at the sandbox's next call, not as the cell
/// ends: reading a variable is such a call, so its finalizers have run, with
/// `FINAL` disarmed, before the value is read.
#[tokio::test]
async fn a_cells_garbage_is_collected_before_the_next_call_reads_a_variable() {
    let mut sb = sandbox().await;
    let plant = "class Ghost:\n    def __del__(self):\n        global ran\n        ran = 'collected'\n        \
                 FINAL('ghost')\ng = Ghost()\ng.cycle = g\ndel g";
    let out = sb.run_cell(plant).await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.final_value, None, "{out:?}");
    assert_eq!(sb.get_var("ran").await.unwrap().unwrap(), json!("collected"));
    let out = sb.run_cell("print(ran)").await.unwrap();
    assert_eq!(out.stdout, "collected\n");
    assert_eq!(out.final_value, None, "{out:?}");
}

/// A fresh sandbox skips the collection before its first cell, which is
/// sound only while no code but the driver's has run: helper code counts.
#[tokio::test]
async fn a_finalizer_planted_by_a_helper_cannot_answer_for_the_first_cell() {
    let mut sb = sandbox().await;
    let plant = "class Ghost:\n    def __del__(self):\n        FINAL('ghost')\ng = Ghost()\ng.cycle = g\ndel g";
    let helper = rlm_core::HelperSource::new("plant", plant);
    assert!(sb.install(&[], &[helper]).await.unwrap().is_ok());
    assert_next_cell_cannot_answer(&mut sb, "finalizer planted by a helper").await;
}

// --- 6. strings that cannot be encoded ---------------------------------------------------

#[tokio::test]
async fn lone_surrogates_never_trap_on_any_path() {
    let (mut sb, handler) = recording().await;
    sb.load_context(0, Context::from(json!(["\u{fffd}"]))).await.unwrap();
    sb.run_cell("keep = 'state survives'\nbad = __import__('json').loads('\"\\\\udcff\"')").await.unwrap();
    let cells = [
        "print(bad)",
        "import sys\nsys.stderr.write(bad)",
        "FINAL(bad)",
        "FINAL({bad: 1})",
        "FINAL_VAR('bad')",
        "raise ValueError(bad)",
        "e = ValueError('x')\ne.add_note(bad)\nraise e",
        "globals()[bad] = 1",
        "llm_query(bad)",
        "llm_query('x', model=bad)",
        "rlm_query({bad: bad})",
        "llm_query_batched([bad, 'ok'])",
    ];
    for code in cells {
        let out = sb.run_cell(code).await.unwrap();
        assert!(!out.state_lost, "{code}: {out:?}");
        assert!(!matches!(kind(&out), Some(CellErrorKind::Trap)), "{code}: {out:?}");
    }
    assert!(handler.calls.lock().unwrap().iter().any(|c| c.contains('\u{fffd}')), "replaced, not dropped");
    let out = sb.run_cell("print(keep)").await.unwrap();
    assert_eq!(out.stdout, "state survives\n");
    assert!(sb.list_vars().await.unwrap().iter().any(|v| v.name.contains('\u{fffd}')));
    let value = sb.get_var("bad").await.unwrap().unwrap();
    assert_eq!(value, json!("\u{fffd}\u{fffd}\u{fffd}"));
}

// --- 7. aggregate budgets ----------------------------------------------------------------

#[tokio::test]
async fn a_quota_caps_live_sandboxes_and_their_memory_together() {
    let runtime = rlm_tests::runtime();
    let quota = SandboxQuota::new(2, 160 << 20).with_wait(Duration::from_millis(200));
    let options = || rlm_sandbox::SpawnOptions::new(Limits::default(), Arc::new(NoBackend)).quota(Some(quota.clone()));
    let mut a = runtime.spawn_sandbox(options()).await.unwrap();
    let _b = runtime.spawn_sandbox(options()).await.unwrap();
    let err = runtime.spawn_sandbox(options()).await.unwrap_err();
    assert!(matches!(err, rlm_sandbox::Error::Capacity { .. }), "{err:?}");
    let held = quota.memory_used();
    assert!(held > 0 && held <= 160 << 20, "{held}");
    let out = a.run_cell("x = bytearray(150 << 20)").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::MemoryLimit), "{out:?}");
    assert!(out.error.as_ref().unwrap().message.contains("run's budget"), "{out:?}");
    drop(a);
    assert!(quota.memory_used() < held, "a dropped sandbox gives its memory back");
}

#[tokio::test]
async fn a_crash_in_a_full_pool_frees_the_broken_slot_first() {
    let runtime =
        Runtime::new(RuntimeConfig::new().max_sandboxes(Some(1)).slot_wait(Duration::from_millis(100))).unwrap();
    let limits = Limits::default().fuel(Some(50_000_000));
    let mut sb = runtime.sandbox(limits, Arc::new(NoBackend)).await.unwrap();
    let out = sb.run_cell("while True: pass").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::FuelExhausted));
    assert!(out.state_lost);
    let out = sb.run_cell("print('next')").await.unwrap();
    assert_eq!(out.stdout, "next\n");
}

#[tokio::test]
async fn empty_batches_count_toward_the_host_call_cap() {
    let handler = RecordingHandler::with_delay(Duration::ZERO);
    let mut sb = sandbox_with(Limits::default().max_host_calls(3), Arc::new(Shared(handler))).await;
    let out = sb.run_cell("for _ in range(10):\n    llm_query_batched([])").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::HostCallLimit), "{out:?}");
}

// --- 8. fidelity ------------------------------------------------------------------------------

#[tokio::test]
async fn values_are_exact_or_flagged() {
    let mut sb = sandbox().await;
    let out = sb.run_cell("FINAL([2**64 + 1, 10**400])").await.unwrap();
    let text = out.final_value.unwrap();
    assert!(text.as_str().starts_with("[18446744073709551617, 1000"), "{text}");
    let out =
        sb.run_cell("x = []\ny = x\nfor _ in range(200):\n    y.append([])\n    y = y[0]\nFINAL(x)").await.unwrap();
    assert_eq!(kind(&out), Some(CellErrorKind::SizeLimit), "{out:?}");
    assert!(out.error.as_ref().unwrap().message.contains("nests deeper than 100 levels"), "{out:?}");
    let out =
        sb.run_cell("x = []\ny = x\nfor _ in range(50_000):\n    y.append([])\n    y = y[0]\nFINAL(x)").await.unwrap();
    assert!(!out.state_lost, "a very deep value does not trap: {out:?}");
    assert!(out.final_value.is_none());
    let out = sb.run_cell("FINAL({1: 'a', '1': 'b'})").await.unwrap();
    assert!(out.final_value.is_none());
    assert!(out.stderr.contains("appears twice"), "{}", out.stderr);
}

#[tokio::test]
async fn a_new_sandbox_in_a_reused_slot_never_sees_the_memory_of_the_last() {
    // One pool slot, so every sandbox reuses it. The writer dirties every
    // other page of 16 MiB (thousands of separate dirty runs, far more than
    // the pooling allocator's reset scans in one go); the reader allocates
    // the same block, which CPython takes zeroed from fresh heap, and must
    // find only zeros.
    let runtime = Runtime::new(RuntimeConfig::new().max_sandboxes(Some(1))).unwrap();
    // Three rounds of a writer and then a reader in the one slot; each
    // returns the reader's output.
    let rounds = |write: &'static str, wrote: &'static str, read: &'static str| {
        let runtime = runtime.clone();
        async move {
            let mut seen = Vec::new();
            for _ in 0..3 {
                let mut writer = runtime.sandbox(Limits::default(), Arc::new(NoBackend)).await.unwrap();
                assert_eq!(writer.run_cell(write).await.unwrap().stdout, wrote);
                drop(writer);
                let mut reader = runtime.sandbox(Limits::default(), Arc::new(NoBackend)).await.unwrap();
                seen.push(reader.run_cell(read).await.unwrap().stdout);
            }
            seen
        }
    };
    let write =
        "buf = bytearray(16 << 20)\nfor i in range(0, len(buf), 8192):\n    buf[i] = 0xCD\nprint(buf.count(0xCD))";
    let read = "buf = bytearray(16 << 20)\nprint(buf.count(0) == len(buf), buf.find(0xCD))";
    assert_eq!(rounds(write, "2048\n", read).await, ["True -1\n"; 3], "the reader saw the writer's memory");
    // CPython zeroes a new bytearray itself, so the reader above would not
    // see leftovers in fresh heap; the interpreter's own objects live in the
    // guest image, and a page of it that kept the last sandbox's writes
    // would show here: a mark on every module (hundreds of pages apart).
    let mark = "import sys\nfor m in list(sys.modules.values()):\n    try:\n        m.__dict__['_rlm_mark'] = 1\n    except Exception:\n        pass\nprint(sum('_rlm_mark' in vars(m) for m in list(sys.modules.values())) > 100)";
    let look = "import sys\nprint(sum('_rlm_mark' in vars(m) for m in list(sys.modules.values())))";
    assert_eq!(rounds(mark, "True\n", look).await, ["0\n"; 3], "a module kept a mark");
}

#[tokio::test]
async fn pages_faulted_in_ahead_change_nothing_a_sandbox_sees() {
    // Eight sandboxes alive at once in a new runtime: most in a pool slot
    // used for the first time (the learning sandboxes' three slots are
    // taken first), which gets the learnt pages faulted in at its start
    // and, after its contexts are loaded, before its first cell (which first
    // unmaps those of them still mapped read-only to the image). Whatever the contexts wrote must read back exactly, and the
    // interpreter's state must be that of a runtime that faults nothing in.
    let check = "import zlib, sys\n\
        want = ''.join(f'{i}:{chr(0xe9 + i % 7)};' for i in range(40000 + seed))\n\
        print(context == want, zlib.crc32(context_1.encode()), len(sys.modules), sorted(globals())[:3])";
    let mut seen = Vec::new();
    for prefault in [true, false] {
        let runtime = Runtime::new(RuntimeConfig::new().max_sandboxes(Some(16)).prefault(prefault)).unwrap();
        // A kernel without PAGEMAP_SCAN learns nothing: checked below all the same.
        if let Some((start, first_cell)) = runtime.prefault_bytes() {
            assert!(prefault, "nothing is learnt when it is off");
            // About 0.4 and 0.7 MiB on the machine of BENCHMARKS.md.
            assert!(start > 64 << 10 && first_cell > 64 << 10, "{start} {first_cell}");
            assert!(start + first_cell <= 8 << 20, "{start} {first_cell}");
        }
        let mut sandboxes = Vec::new();
        for seed in 0..8 {
            let mut sb = runtime.sandbox(Limits::default(), Arc::new(NoBackend)).await.unwrap();
            let text: String =
                (0..40000 + seed).map(|i| format!("{i}:{};", char::from_u32(0xe9 + i % 7).unwrap())).collect();
            sb.load_context(0, Context::from(text)).await.unwrap();
            sb.load_context(1, Context::from("x".repeat(300_000 + seed as usize))).await.unwrap();
            sandboxes.push((seed, sb));
        }
        let mut outputs = Vec::new();
        for (seed, sb) in &mut sandboxes {
            let out = sb.run_cell(&format!("seed = {seed}\n{check}")).await.unwrap();
            assert_eq!(out.error, None, "{out:?}");
            outputs.push(out.stdout);
        }
        assert!(outputs.iter().all(|o| o.starts_with("True ")), "{outputs:?}");
        seen.push(outputs);
    }
    assert_eq!(seen[0], seen[1], "faulting pages in ahead changed what a sandbox saw");
}
