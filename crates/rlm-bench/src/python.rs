//! Running the same Python natively and in the sandbox, timed the same way:
//! the snippet reports its own `perf_counter` time, so neither side pays for
//! interpreter start-up or process creation.

use std::process::Command;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use rlm_sandbox::{Limits, NoBackend, Runtime};

/// Wraps `body` so that it prints the seconds it took as its last line.
pub fn timed(setup: &str, body: &str) -> String {
    let body: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "import time\n{setup}\ndef __bench():\n{body}\n__t = time.perf_counter()\n__bench()\nprint(time.perf_counter() - __t)\n"
    )
}

fn last_number(stdout: &str) -> anyhow::Result<f64> {
    stdout.lines().last().and_then(|l| l.trim().parse().ok()).with_context(|| format!("no timing in output {stdout:?}"))
}

/// Seconds the snippet took in native `python3`.
pub fn native(code: &str) -> anyhow::Result<f64> {
    let out = Command::new("python3").arg("-c").arg(code).output().context("cannot run python3")?;
    if !out.status.success() {
        bail!("native python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    last_number(&String::from_utf8_lossy(&out.stdout))
}

/// The native interpreter's version.
pub fn native_version() -> String {
    Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "python3 not found".into())
}

/// Seconds the snippet took in a fresh sandbox of `runtime`.
pub async fn sandboxed(runtime: &Runtime, limits: Limits, code: &str) -> anyhow::Result<f64> {
    let mut sandbox = runtime.sandbox(limits, Arc::new(NoBackend)).await?;
    let out = sandbox.run_cell(code).await?;
    if let Some(e) = &out.error {
        bail!("the sandboxed snippet failed ({}): {}", e.kind.as_str(), out.stderr);
    }
    last_number(&out.stdout)
}
