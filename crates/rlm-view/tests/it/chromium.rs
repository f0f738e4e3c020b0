//! A headless Chromium driven over the DevTools protocol, through
//! `--remote-debugging-pipe`: commands go to the browser's fd 3 and replies
//! come from its fd 4, each a JSON message ended by a NUL byte. A pipe needs
//! no port, no WebSocket client and no crate beyond `serde_json`.
//!
//! Chromium comes from Debian's `chromium` package, installed by
//! `tests/browser/setup.sh`; the tests run that script themselves when no
//! Chromium is found, and skip (saying why) only when it cannot install one,
//! unless `RLM_VIEW_REQUIRE_BROWSER` is set.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tempfile::TempDir;

/// Names the Chromium binary to use instead of looking for one.
const CHROMIUM_ENV: &str = "RLM_VIEW_CHROMIUM";
/// When set, a missing Chromium fails the tests instead of skipping them.
const REQUIRE_ENV: &str = "RLM_VIEW_REQUIRE_BROWSER";
/// How long one protocol command may take. Generous: it bounds a hang, it is
/// not a performance check.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Browser::wait_for`] polls before it fails.
const WAIT_TIMEOUT: Duration = Duration::from_secs(60);
/// The viewport of every page, and so of every screenshot.
const VIEWPORT: (u32, u32) = (1400, 900);

/// Where test artefacts (pages and screenshots) go: under the target dir.
pub fn artefact_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rlm-view-browser");
    std::fs::create_dir_all(&dir).expect("create the artefact dir");
    dir
}

/// The Chromium binary, installing it with `setup.sh` if need be (once per
/// test run); `None` when there is none and it cannot be installed.
fn chromium() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(path) = std::env::var_os(CHROMIUM_ENV) {
                return Some(PathBuf::from(path));
            }
            find_chromium().or_else(|| {
                let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/setup.sh");
                let status = Command::new("bash").arg(&setup).stdout(Stdio::null()).status();
                match status {
                    Ok(status) if status.success() => find_chromium(),
                    _ => None,
                }
            })
        })
        .as_deref()
}

fn find_chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// One browser with one page, closed on drop.
pub struct Browser {
    child: Child,
    input: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
    session: String,
    /// Console errors, uncaught exceptions and dialogs seen so far.
    problems: Vec<String>,
    stderr_path: PathBuf,
    _profile: TempDir,
}

impl Browser {
    /// Starts Chromium, or returns `None` (after saying why) when there is
    /// none and it cannot be installed.
    #[allow(clippy::print_stderr, reason = "a skipped test says why")]
    pub fn launch() -> Option<Browser> {
        let Some(chromium) = chromium() else {
            let why = "rlm-view browser tests: no Chromium, and tests/browser/setup.sh could not install it";
            assert!(std::env::var_os(REQUIRE_ENV).is_none(), "{why}");
            eprintln!("SKIPPED: {why}");
            return None;
        };
        let profile = tempfile::tempdir().expect("temp profile dir");
        let stderr_path = profile.path().join("chromium.stderr");
        let stderr = std::fs::File::create(&stderr_path).expect("chromium stderr file");
        // The shell hands our stdin/stdout pipes to Chromium as fds 3 and 4,
        // which is where `--remote-debugging-pipe` talks; std's Command cannot
        // place fds itself without unsafe code.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2"#)
            .arg(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--mute-audio",
                "--remote-debugging-pipe",
                &format!("--window-size={},{}", VIEWPORT.0, VIEWPORT.1),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start chromium");
        let input = child.stdin.take().expect("chromium's command pipe");
        let mut output = child.stdout.take().expect("chromium's reply pipe");
        let (send, messages) = channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 64 * 1024];
            loop {
                let n = match output.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let message: Vec<u8> = buf.drain(..=end).collect();
                    let Ok(value) = serde_json::from_slice::<Value>(&message[..end]) else {
                        continue;
                    };
                    if send.send(value).is_err() {
                        return;
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            input,
            messages,
            next_id: 0,
            session: String::new(),
            problems: Vec::new(),
            stderr_path,
            _profile: profile,
        };
        let target = browser.browser_call("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("targetId").to_owned();
        let attached = browser.browser_call("Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }));
        browser.session = attached["sessionId"].as_str().expect("sessionId").to_owned();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({}));
        }
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": VIEWPORT.0, "height": VIEWPORT.1, "deviceScaleFactor": 1, "mobile": false }),
        );
        Some(browser)
    }

    /// Loads a page and waits until the viewer says it is ready.
    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_for(
            "document.readyState === 'complete' && document.body && document.body.dataset.ready === 'true'",
            "the page to be ready",
        );
    }

    /// Evaluates an expression in the page and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let reply = self
            .call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }));
        if let Some(details) = reply.get("exceptionDetails") {
            panic!("evaluating `{expression}` threw: {details:#}");
        }
        reply["result"].get("value").cloned().unwrap_or(Value::Null)
    }

    /// Polls `expression` until it is true.
    pub fn wait_for(&mut self, expression: &str, what: &str) {
        let start = Instant::now();
        loop {
            if self.eval(&format!("!!({expression})")) == Value::Bool(true) {
                return;
            }
            assert!(
                start.elapsed() < WAIT_TIMEOUT,
                "timed out waiting for {what} (`{expression}`); problems: {:?}",
                self.problems
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the middle of the first element matching a CSS selector, with
    /// real mouse events.
    pub fn click(&mut self, selector: &str) {
        let selector_json = serde_json::to_string(selector).unwrap();
        let point = self.eval(&format!(
            "(() => {{ const el = document.querySelector({selector_json}); if (!el) return null; \
             el.scrollIntoView({{block: 'nearest'}}); const r = el.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        ));
        let (Some(x), Some(y)) = (point[0].as_f64(), point[1].as_f64()) else {
            panic!("nothing to click: no element matches `{selector}`");
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// Types text into the focused element, as a person would.
    pub fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({ "text": text }));
    }

    /// Presses a key (like `Enter`) in the focused element.
    pub fn press(&mut self, key: &str) {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({ "type": kind, "key": key, "code": key, "windowsVirtualKeyCode": key_code(key) }),
            );
        }
    }

    /// Saves a PNG of the viewport as a test artefact.
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let data = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot base64");
        assert!(data.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, data).expect("write screenshot");
    }

    /// Fails with every console error, uncaught exception and dialog seen.
    pub fn assert_no_problems(&mut self) {
        // Let queued events (a late exception) arrive.
        self.eval("0");
        self.drain();
        assert!(self.problems.is_empty(), "the page reported problems:\n{}", self.problems.join("\n"));
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, false)
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, true)
    }

    fn send(&mut self, method: &str, params: Value, in_session: bool) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if in_session {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.input.write_all(&bytes).unwrap_or_else(|e| panic!("send {method}: {e}\n{}", self.stderr()));
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(reply) if reply["id"] == id => {
                    if let Some(error) = reply.get("error") {
                        panic!("{method} failed: {error}");
                    }
                    return reply["result"].clone();
                }
                Ok(event) => self.note(event),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{method}: no reply in {COMMAND_TIMEOUT:?}\n{}", self.stderr())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{method}: chromium exited\n{}", self.stderr())
                }
            }
        }
    }

    fn drain(&mut self) {
        while let Ok(event) = self.messages.try_recv() {
            self.note(event);
        }
    }

    /// Keeps what an event says went wrong in the page.
    fn note(&mut self, event: Value) {
        let params = &event["params"];
        match event["method"].as_str().unwrap_or_default() {
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let text = details["exception"]["description"].as_str().or(details["text"].as_str()).unwrap_or("?");
                self.problems.push(format!("uncaught exception: {text}"));
            }
            "Runtime.consoleAPICalled" if matches!(params["type"].as_str(), Some("error" | "assert")) => {
                let args: Vec<String> = params["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| a["value"].as_str().map(str::to_owned).unwrap_or_else(|| a["description"].to_string()))
                    .collect();
                self.problems.push(format!("console.{}: {}", params["type"].as_str().unwrap_or("?"), args.join(" ")));
            }
            "Log.entryAdded" if params["entry"]["level"] == "error" => {
                self.problems.push(format!("log error: {}", params["entry"]["text"]));
            }
            "Page.javascriptDialogOpening" => {
                self.problems.push(format!("a dialog opened: {}", params["message"]));
                // Close it, or the page stays blocked and every later command hangs.
                self.next_id += 1;
                let message = json!({ "id": self.next_id, "sessionId": self.session,
                    "method": "Page.handleJavaScriptDialog", "params": { "accept": false } });
                let mut bytes = serde_json::to_vec(&message).unwrap();
                bytes.push(0);
                let _ = self.input.write_all(&bytes);
            }
            _ => {}
        }
    }

    fn stderr(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        format!("chromium stderr:\n{text}")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let mut bytes = serde_json::to_vec(&json!({ "id": 0, "method": "Browser.close" })).unwrap();
        bytes.push(0);
        let _ = self.input.write_all(&bytes);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn key_code(key: &str) -> u32 {
    match key {
        "Enter" => 13,
        "Escape" => 27,
        "ArrowDown" => 40,
        "ArrowUp" => 38,
        _ => 0,
    }
}
