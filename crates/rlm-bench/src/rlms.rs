//! Figure 7: the same scripted trajectories through our engine and through
//! the official `rlms` package (its LocalREPL, unsandboxed), both against
//! one mock server, timed around the completion call on each side.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use rlm_core::Model;
use rlm_engine::Rlm;
use rlm_sandbox::Runtime;
use rlm_test_support::{MockLlm, MockReply, RecordedRequest};

use crate::engine::client;
use crate::stats::{Row, Samples, ms};

/// The `rlms` release compared against.
pub const RLMS_VERSION: &str = "0.1.3";

/// Marks the root query, so the mock can tell root calls from children.
const ROOT_TOKEN: &str = "ROOT-QUERY-TOKEN";

/// Runs `rlms` with the mock as its OpenAI endpoint and prints the seconds of
/// each completion as JSON.
const DRIVER: &str = r#"
import json, sys, time
from rlm import RLM

base_url, scenario, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = []
for _ in range(runs):
    rlm = RLM(
        backend="openai",
        backend_kwargs={"model_name": "mock-model", "base_url": base_url, "api_key": "bench"},
        environment="local",
        # rlms counts the root as a level: 2 means one level of sub-RLMs, our max_depth 1.
        max_depth=2,
        max_iterations=30,
        max_concurrent_subcalls=16,
    )
    t = time.perf_counter()
    out = rlm.completion("bench context", root_prompt=f"ROOT-QUERY-TOKEN {scenario}")
    times.append(time.perf_counter() - t)
    if "done" not in str(out.response):
        sys.exit(f"unexpected answer: {out.response!r}")
print(json.dumps(times))
"#;

/// The scenarios: name, description.
const SCENARIOS: &[(&str, &str)] = &[
    ("plain", "(a) 10 plain iterations"),
    ("batched", "(b) one llm_query_batched over 100 prompts"),
    ("children", "(c) 20 rlm_query children, one after another"),
];

fn is_rlms(r: &RecordedRequest) -> bool {
    r.system().contains("answer[\"ready\"]")
}

fn finish(rlms: bool, value: &str) -> MockReply {
    if rlms {
        MockReply::text(format!("```repl\nanswer[\"content\"] = {value:?}\nanswer[\"ready\"] = True\n```"))
    } else {
        MockReply::text(format!("```repl\nFINAL({value:?})\n```"))
    }
}

/// Scripted replies that work for both engines: each finishes its own way.
fn respond(r: &RecordedRequest) -> MockReply {
    let system = r.system();
    if system.is_empty() {
        return MockReply::text("a");
    }
    let rlms = is_rlms(r);
    let Some(scenario) = r.messages().iter().find_map(|(_, c)| c.split(ROOT_TOKEN).nth(1).map(|s| s.trim().to_owned()))
    else {
        return finish(rlms, "child done");
    };
    let turns = r.messages().iter().filter(|(role, _)| role == "assistant").count();
    let code = match (scenario.split_whitespace().next().unwrap_or(""), turns) {
        ("plain", n) if n < 9 => format!("x{n} = {n} * 2\nprint(x{n})"),
        ("batched", 0) => "rs = llm_query_batched([f'q{i}' for i in range(100)])\nprint(len(rs))".to_owned(),
        ("children", 0) => "rs = [rlm_query(f'child task {i}') for i in range(20)]\nprint(len(rs))".to_owned(),
        _ => return finish(rlms, "done"),
    };
    MockReply::text(format!("```repl\n{code}\n```"))
}

/// Makes (once) a venv with the pinned `rlms`; returns its python.
fn rlms_python() -> anyhow::Result<PathBuf> {
    let target = std::env::var_os(rlm_core::env::CARGO_TARGET_DIR)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let venv = target.join("bench-venv").join(format!("rlms-{RLMS_VERSION}"));
    let python = venv.join("bin").join("python");
    if python.exists() && Command::new(&python).args(["-c", "import rlm"]).status()?.success() {
        return Ok(python);
    }
    eprintln!("installing rlms=={RLMS_VERSION} into {}", venv.display());
    let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status()?.success()
        && Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", &format!("rlms=={RLMS_VERSION}")])
            .status()?
            .success();
    if !ok {
        bail!("cannot install rlms=={RLMS_VERSION} into {}", venv.display());
    }
    Ok(python)
}

/// Figure 7: ours / theirs for each scenario, at `latency` per model call.
pub async fn side_by_side(runtime: &Runtime, latency: Duration, runs: usize) -> anyhow::Result<Vec<Row>> {
    let python = rlms_python()?;
    let mock = MockLlm::builder().latency(latency).responder(respond).start();
    let model: Arc<dyn Model> = Arc::new(client(&mock)?);
    let rlm = Rlm::builder().sandboxes(Arc::new(runtime.clone())).root(model).max_iterations(30).build()?;
    let mut rows = Vec::new();
    for (scenario, title) in SCENARIOS {
        let before = mock.requests().len();
        let mut ours = Vec::new();
        for _ in 0..runs {
            let done = rlm.completion("bench context", &format!("{ROOT_TOKEN} {scenario}")).await?;
            anyhow::ensure!(
                done.answer == Some(serde_json::json!("done").into()),
                "unexpected answer {:?}",
                done.answer
            );
            ours.push(done.elapsed);
        }
        let calls_ours = (mock.requests().len() - before) / runs;
        let before = mock.requests().len();
        let out = Command::new(&python)
            .arg("-c")
            .arg(DRIVER)
            .arg(mock.openai_base_url())
            .arg(scenario)
            .arg(runs.to_string())
            .output()
            .context("cannot run the rlms driver")?;
        if !out.status.success() {
            bail!("rlms failed on {scenario}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let theirs: Vec<f64> = serde_json::from_slice(&out.stdout)?;
        let calls_theirs = (mock.requests().len() - before) / runs;
        let ours = Samples::from_durations(&ours);
        let theirs = Samples::from_values(theirs.into_iter().map(|s| s * 1000.0).collect());
        rows.push(
            Row::new(
                "7",
                format!("{title}: ours / rlms {RLMS_VERSION}"),
                format!("{} / {} = {:.2}x", ms(ours.median()), ms(theirs.median()), ours.median() / theirs.median()),
            )
            .target("< 1x")
            .note(format!(
                "{} ms mock latency; model calls per run {calls_ours} / {calls_theirs}; median of {runs}; ours sandboxed, theirs not",
                latency.as_millis()
            )),
        );
    }
    Ok(rows)
}
