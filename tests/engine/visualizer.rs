//! Our logs open in the official `rlms` visualizer: real logs written by the
//! engine are loaded with the visualizer's own TypeScript parser and its React
//! components rendered headless (`tests/visualizer/run.sh`, which pins the
//! visualizer's npm packages), for every kind of answer, a failed sub-call
//! and a two-level recursion.

use std::path::{Path, PathBuf};
use std::process::Command;

use rlm_core::env::{RLMS_VISUALIZER_DIR, SKIP_VISUALIZER_TESTS};
use rlm_test_support::{MockLlm, MockReply};
use rlm_tests::{repl, rlm_for};
use serde_json::Value;

/// Where the visualizer's source is: `$RLMS_VISUALIZER_DIR`, else
/// `../shared/rlms-visualizer` beside the repository or the workplace's copy.
fn visualizer_dir() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let candidates = [
        std::env::var_os(RLMS_VISUALIZER_DIR).map(PathBuf::from),
        Some(repo.join("../shared/rlms-visualizer")),
        Some(PathBuf::from("/work/shared/rlms-visualizer")),
    ];
    candidates.into_iter().flatten().find(|d| d.join("src/lib/parse-logs.ts").exists())
}

/// Runs one completion whose root replies come from `script` and writes
/// its log into `dir`.
async fn log_of(dir: &Path, name: &str, root: Vec<String>, sub: fn(&str) -> MockReply) -> PathBuf {
    let mock = MockLlm::builder()
        .responder(move |r| {
            let system = r.system();
            if system.starts_with("You are the root") {
                let turn = r.messages().iter().filter(|(role, _)| role == "assistant").count();
                MockReply::text(root.get(turn).cloned().unwrap_or_else(|| repl("FINAL('late')")))
            } else {
                sub(&r.last_user())
            }
        })
        .start();
    let out = dir.join(name);
    let rlm = rlm_for(&mock).max_depth(2).log_dir(&out).build().unwrap();
    let _ = rlm.completion("The quick brown fox.", "Describe the context.").await;
    let log = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    let named = dir.join(format!("{name}.jsonl"));
    std::fs::rename(log, &named).unwrap();
    named
}

/// Sub-RLMs (at depths 1 and 2) recurse once more; at depth 3 the call is a
/// plain one.
fn child_or_plain(prompt: &str) -> MockReply {
    if prompt.contains("The query") {
        MockReply::text(repl("r = rlm_query('leaf task')\nFINAL(r)"))
    } else if prompt.contains("FAIL") {
        MockReply::status(400, "the sub-model refused")
    } else {
        MockReply::text("a plain reply")
    }
}

#[tokio::test]
// A skip has to say so where `cargo test` shows it.
#[allow(clippy::print_stderr)]
async fn our_logs_open_in_the_rlms_visualizer() {
    let Some(visualizer) = visualizer_dir() else {
        // Without the visualizer's source there is nothing to load the logs
        // with; only an explicit choice skips the check.
        if std::env::var_os(SKIP_VISUALIZER_TESTS).is_some_and(|v| v == "1") {
            eprintln!("SKIPPED: the rlms visualizer's source was not found and {SKIP_VISUALIZER_TESTS}=1");
            return;
        }
        panic!(
            "the rlms visualizer's source was not found: set RLMS_VISUALIZER_DIR to its folder (the one holding \
             src/lib/parse-logs.ts), or {SKIP_VISUALIZER_TESTS}=1 to skip this check"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let logs = vec![
        log_of(d, "dict_answer", vec![repl("FINAL({'fox': 1, 'n': 2**64 + 1})")], child_or_plain).await,
        log_of(d, "list_answer", vec![repl("FINAL(['fox', 'dog'])")], child_or_plain).await,
        log_of(d, "number_answer", vec![repl("x = 41"), repl("FINAL(x + 1)")], child_or_plain).await,
        log_of(d, "string_answer", vec!["FINAL(a fox)".into()], child_or_plain).await,
        log_of(
            d,
            "failed_subcall",
            vec![repl("rs = llm_query_batched(['ok', 'FAIL'])\nprint(rs)"), repl("1 / 0"), repl("FINAL(rs[0])")],
            child_or_plain,
        )
        .await,
        log_of(d, "two_levels", vec![repl("r = rlm_query('a sub task')\nFINAL(r)")], child_or_plain).await,
    ];
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("visualizer/run.sh");
    let out = Command::new("bash").arg(script).args(&logs).env(RLMS_VISUALIZER_DIR, visualizer).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the visualizer failed on our logs:\n{stderr}");
    let shown: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(shown.len(), 6);
    let answer = |i: usize| shown[i]["final_answer"].as_str().unwrap_or_default().to_owned();
    assert_eq!(answer(0), r#"{"fox": 1, "n": 18446744073709551617}"#);
    assert_eq!(answer(1), r#"["fox", "dog"]"#, "the whole list, not its second element");
    assert_eq!(answer(2), "42");
    assert_eq!(answer(3), "a fox");
    assert_eq!(answer(4), "a plain reply");
    assert_eq!(answer(5), "a plain reply");
    let lines = std::fs::read_to_string(&logs[5]).unwrap();
    let first: Value = serde_json::from_str(lines.lines().nth(1).unwrap()).unwrap();
    let child = &first["code_blocks"][0]["result"]["rlm_calls"][0]["metadata"];
    let grandchild = &child["iterations"][0]["code_blocks"][0]["result"]["rlm_calls"][0]["metadata"];
    assert_eq!(grandchild["run_metadata"]["depth"], 2, "two levels of sub-RLMs, nested as rlms nests them");
    assert_eq!(shown[4]["sub_calls"], 2);
    for s in &shown {
        assert_eq!(s["errors"], serde_json::json!([]), "{s}");
    }
}
