//! The official `openai` Python package (pinned in
//! `openai-requirements.txt`, installed from PyPI into a venv this test
//! makes once under the target directory) as the client.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::{ALPHA, Service, config, mock};

/// A venv with the pinned package, made on first use.
fn venv() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("server");
    let requirements = here.join("openai-requirements.txt");
    let pins = std::fs::read_to_string(&requirements).unwrap();
    let venv =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("openai-venv-{}", pins.trim().replace(['=', '\n'], "-")));
    let python = venv.join("bin").join("python");
    let done = venv.join(".installed");
    if done.exists() {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let status = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 runs");
    assert!(status.success(), "python3 -m venv failed: install python3-venv (.ci/run does)");
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .status()
        .unwrap();
    assert!(status.success(), "pip could not install {}", requirements.display());
    std::fs::write(done, pins).unwrap();
    python
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_openai_package_gets_plain_and_streamed_completions() {
    let python = tokio::task::spawn_blocking(venv).await.unwrap();
    let service = Service::start(&config("", "", ""), mock()).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("server").join("openai_client.py");
    let base = service.url("/v1");
    let out = tokio::process::Command::new(python).arg(script).arg(base).arg(ALPHA).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the client failed:\n{stderr}");
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["version"], "3.54.0");
    assert_eq!(got["plain"], "plain answer");
    assert_eq!(got["plain_finish"], "stop");
    assert_eq!(got["plain_tokens"], 15);
    assert_eq!(got["streamed"], "streamed answer");
    assert_eq!(got["streamed_finish"], "stop");
    assert_eq!(got["streamed_tokens"], 15);
    assert_eq!(got["error"]["status"], 404, "{got}");
    assert_eq!(got["models"], serde_json::json!(["fast", "other"]));
}
