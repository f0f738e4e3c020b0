//! End-to-end tests of `rlm-sandbox serve`: the service on a free port of
//! 127.0.0.1, in this process, with the mock model behind its profiles.

/// Every endpoint, streaming, sessions, idempotency.
mod api;
/// Disconnects, shutdown, bad input, timeouts, traps.
mod lifecycle;
/// The official `openai` Python package as the client.
mod openai_sdk;
/// The same service on a real PostgreSQL server.
mod postgres;
/// Tenant isolation, every quota, fair admission.
mod tenancy;

use std::sync::Arc;
use std::time::Duration;

use rlm_server::{Overrides, ServeConfig, Server, key_hash};
use rlm_test_support::{MockLlm, MockReply, RecordedRequest};
use serde_json::{Value, json};

/// Tenant `alpha`'s key.
pub const ALPHA: &str = "key-alpha";
/// Tenant `beta`'s key.
pub const BETA: &str = "key-beta";

/// A mock model that runs the program in the query. A query holding
/// `<<step 1 | step 2 | ...>>` gets step N as its N-th reply (a ```repl
/// block), and the last step again after that; a sub-RLM first prints its
/// `context` (which holds its program); a call with no program (a sub-call
/// from `llm_query`) is answered `sub:<prompt>`.
pub fn program(request: &RecordedRequest) -> MockReply {
    let messages = request.messages();
    let spec = |text: &str| -> Option<String> {
        let start = text.find("<<")? + 2;
        let end = start + text[start..].find(">>")?;
        Some(text[start..end].to_owned())
    };
    let Some(current) = messages.iter().rev().find(|(role, _)| role == "user").and_then(|(_, c)| spec(c)) else {
        // A sub-RLM's program is in its `context`: print it first.
        let sub_rlm = messages.first().is_some_and(|(role, c)| role == "system" && c.starts_with("You are a sub-RLM"));
        if sub_rlm && messages.iter().all(|(role, _)| role != "assistant") {
            return MockReply::text("```repl\nprint(context)\n```");
        }
        return MockReply::text(format!("sub:{}", request.last_user()));
    };
    // The query is repeated in later turns: count replies since its first.
    let first = messages.iter().position(|(role, c)| role == "user" && spec(c).as_deref() == Some(&current)).unwrap();
    let replies = messages[first..].iter().filter(|(role, _)| role == "assistant").count();
    let steps: Vec<&str> = current.split(" | ").collect();
    let step = steps.get(replies).or(steps.last()).unwrap();
    MockReply::text(format!("```repl\n{step}\n```"))
}

/// A running service and what it runs on.
#[allow(missing_debug_implementations)]
pub struct Service {
    pub base: String,
    pub database_url: String,
    pub mock: MockLlm,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), rlm_server::ServeError>>>,
    _dir: tempfile::TempDir,
}

/// The configuration most tests use: profile `fast` (and `other`) on the
/// mock, tenants `alpha` and `beta`; `extra` is appended (more tenant keys
/// go in `[[tenants]]` tables there, top-level keys before the tables).
pub fn config(top: &str, alpha: &str, beta: &str) -> String {
    format!(
        r#"default_profile = "fast"
{top}
[profiles.fast]
model = "mock-root"
sub_model = "mock-sub"
base_url = "{{BASE}}"
prices = {{ "mock-root" = [1000.0, 2000.0], "mock-sub" = [500.0, 1000.0] }}
max_iterations = 6
max_retries = 0

[profiles.other]
model = "mock-other"
base_url = "{{BASE}}"
prices = {{ "mock-other" = [1000.0, 2000.0] }}
max_retries = 0

[[tenants]]
name = "alpha"
key_sha256 = ["{alpha_hash}"]
{alpha}

[[tenants]]
name = "beta"
key_sha256 = ["{beta_hash}"]
{beta}
"#,
        alpha_hash = key_hash(ALPHA),
        beta_hash = key_hash(BETA),
    )
}

impl Service {
    /// The service with `toml` (where `{BASE}` is the mock's URL), on a
    /// fresh SQLite database.
    pub async fn start(toml: &str, mock: MockLlm) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("serve.db").display());
        Service::start_on(toml, mock, url, dir).await
    }

    /// The service on the store at `database_url`.
    pub async fn start_on(toml: &str, mock: MockLlm, database_url: String, dir: tempfile::TempDir) -> Service {
        let path = dir.path().join("serve.toml");
        std::fs::write(&path, toml.replace("{BASE}", &mock.openai_base_url())).unwrap();
        let mut overrides = Overrides::default();
        overrides.listen = Some("127.0.0.1:0".parse().unwrap());
        overrides.database_url = Some(database_url.clone());
        let config = ServeConfig::load(Some(&path), overrides).expect("a valid configuration");
        let server = Server::bind(config, Arc::new(rlm_tests::runtime().clone())).await.expect("the service starts");
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Service { base, database_url, mock, stop: Some(stop), task: Some(task), _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A `POST` of JSON with `key`.
    pub async fn post(&self, key: &str, path: &str, body: Value) -> reqwest::Response {
        client().post(self.url(path)).bearer_auth(key).json(&body).send().await.unwrap()
    }

    /// A `GET` with `key`.
    pub async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        client().get(self.url(path)).bearer_auth(key).send().await.unwrap()
    }

    /// A native completion of `query` about `context` on profile `fast`.
    pub async fn complete(&self, key: &str, context: Value, query: &str) -> (u16, Value) {
        let body = json!({"context": context, "query": query, "profile": "fast"});
        let response = self.post(key, "/v1/rlm/completions", body).await;
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// Asks the service to stop (as SIGTERM does) and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("the service stops")
                .unwrap()
                .expect("a clean shutdown");
        }
    }

    /// The store the service writes, opened beside it.
    pub async fn store(&self) -> Arc<dyn rlm_store::Store> {
        rlm_store::open(&self.database_url).await.unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An HTTP client with no connection reuse surprises.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap()
}

/// The mock with [`program`] as its responder.
pub fn mock() -> MockLlm {
    MockLlm::builder().responder(program).start()
}

/// The `data:` payloads of a Server-Sent Events body, with their event
/// names (`message` when unnamed).
pub fn sse(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in body.split("\n\n") {
        let mut name = "message".to_owned();
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event:") {
                name = n.trim().to_owned();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push(d.strip_prefix(' ').unwrap_or(d).to_owned());
            }
        }
        if !data.is_empty() {
            out.push((name, data.join("\n")));
        }
    }
    out
}
