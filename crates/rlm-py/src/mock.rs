//! The mock model server of `rlm-test-support` for Python tests: it speaks
//! the OpenAI Chat Completions and Anthropic Messages protocols on
//! `127.0.0.1`, answers from a script and then from a Python responder, and
//! records every request.

use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rlm_test_support::{MockLlm, MockReply, RecordedRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::engine::seconds_to_duration;
use crate::error::Error;

/// One reply, as JSON from the Python side: exactly one of its fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplySpec {
    text: Option<String>,
    #[serde(default = "ten")]
    input_tokens: u64,
    #[serde(default = "five")]
    output_tokens: u64,
    /// An HTTP error status, with `message` and `retry_after`.
    status: Option<u16>,
    message: Option<String>,
    retry_after: Option<String>,
    /// A 200 with this body as it is.
    body: Option<Value>,
    /// Seconds to wait before an empty reply.
    hang: Option<f64>,
    /// A 200 whose body is not JSON.
    #[serde(default)]
    malformed: bool,
    /// Headers, then a dropped connection.
    #[serde(default)]
    drop: bool,
}

fn ten() -> u64 {
    10
}

fn five() -> u64 {
    5
}

impl ReplySpec {
    fn reply(self) -> Result<MockReply, Error> {
        Ok(if let Some(text) = self.text {
            MockReply::Text { text, input_tokens: self.input_tokens, output_tokens: self.output_tokens }
        } else if let Some(status) = self.status {
            MockReply::Status {
                status,
                message: self.message.unwrap_or_else(|| "mock error".into()),
                retry_after: self.retry_after,
            }
        } else if let Some(body) = self.body {
            MockReply::Body(body)
        } else if let Some(seconds) = self.hang {
            MockReply::Hang(seconds_to_duration("hang", seconds)?)
        } else if self.malformed {
            MockReply::Malformed
        } else if self.drop {
            MockReply::Drop
        } else {
            return Err(Error::Config(
                "a mock reply needs `text`, `status`, `body`, `hang`, `malformed` or `drop`".into(),
            ));
        })
    }
}

fn parse_reply(json: &str) -> Result<MockReply, Error> {
    serde_json::from_str::<ReplySpec>(json).map_err(|e| Error::json("mock reply", e))?.reply()
}

fn request_json(request: &RecordedRequest) -> String {
    let headers: serde_json::Map<String, Value> = request
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), json!(String::from_utf8_lossy(value.as_bytes()))))
        .collect();
    json!({"path": request.path, "headers": headers, "body": request.body}).to_string()
}

/// Asks the Python responder for a reply; its failures become a 500 that
/// says what went wrong, so that a test sees them.
fn ask(responder: &Py<PyAny>, request: &RecordedRequest) -> MockReply {
    let answer = Python::attach(|py| -> PyResult<String> {
        responder.bind(py).call1((request_json(request),))?.extract::<String>()
    });
    match answer.map_err(|e| e.to_string()).and_then(|json| parse_reply(&json).map_err(|e| e.to_string())) {
        Ok(reply) => reply,
        Err(message) => MockReply::status(500, format!("the mock's responder failed: {message}")),
    }
}

/// A mock model server on a free port of 127.0.0.1, stopped by `close`.
#[pyclass(module = "rlm_sandbox._native", frozen)]
pub(crate) struct MockServer {
    mock: Mutex<Option<MockLlm>>,
    openai_base_url: String,
    anthropic_base_url: String,
}

#[pymethods]
impl MockServer {
    /// Starts a server answering with `script` (replies as JSON) in order,
    /// then with `responder(request_json) -> reply_json`, after `latency`
    /// seconds each.
    #[new]
    #[pyo3(signature = (script, responder = None, latency = 0.0))]
    fn new(py: Python<'_>, script: Vec<String>, responder: Option<Py<PyAny>>, latency: f64) -> PyResult<Self> {
        let script = script.iter().map(|s| parse_reply(s)).collect::<Result<Vec<_>, _>>()?;
        if !(latency.is_finite() && latency >= 0.0) {
            return Err(PyValueError::new_err("latency must be a non-negative number of seconds"));
        }
        let mut builder = MockLlm::builder().script(script).latency(Duration::from_secs_f64(latency));
        if let Some(responder) = responder {
            builder = builder.responder(move |request| ask(&responder, request));
        }
        let mock = py.detach(|| builder.start());
        Ok(MockServer {
            openai_base_url: mock.openai_base_url(),
            anthropic_base_url: mock.anthropic_base_url(),
            mock: Mutex::new(Some(mock)),
        })
    }

    /// The base URL for OpenAI-compatible clients (`http://127.0.0.1:PORT/v1`).
    #[getter]
    fn openai_base_url(&self) -> &str {
        &self.openai_base_url
    }

    /// The base URL for Anthropic clients (`http://127.0.0.1:PORT`).
    #[getter]
    fn anthropic_base_url(&self) -> &str {
        &self.anthropic_base_url
    }

    /// Every request so far, in arrival order, as JSON
    /// `{path, headers, body}`.
    fn requests(&self) -> Vec<String> {
        let mock = self.mock.lock().unwrap_or_else(|e| e.into_inner());
        mock.as_ref().map(|m| m.requests().iter().map(request_json).collect()).unwrap_or_default()
    }

    /// The most requests that were in flight at once.
    fn max_in_flight(&self) -> usize {
        let mock = self.mock.lock().unwrap_or_else(|e| e.into_inner());
        mock.as_ref().map_or(0, MockLlm::max_in_flight)
    }

    /// Stops the server (waiting for it with the GIL released, since its
    /// responder may need the GIL to finish a request).
    fn close(&self, py: Python<'_>) {
        let mock = self.mock.lock().unwrap_or_else(|e| e.into_inner()).take();
        py.detach(|| drop(mock));
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let mock = self.mock.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if mock.is_some() {
            // Dropped by the garbage collector, with the GIL held: release it
            // while the server's thread finishes.
            Python::attach(|py| py.detach(|| drop(mock)));
        }
    }
}
