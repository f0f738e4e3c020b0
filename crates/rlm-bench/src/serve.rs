//! Figure 8: `rlm-sandbox serve` under a burst of concurrent completions
//! from many tenants, over loopback HTTP, with the mock model behind it.
//!
//! The service runs in this process on 127.0.0.1:0, on a fresh SQLite store
//! in a temporary directory (or the store `--database-url` names). Every
//! request is a native completion whose query carries its number; the mock
//! scripts each conversation from that number, so every run takes exactly
//! the asked number of root iterations and its answer names its request.
//! After the burst the service is shut down and the usage ledger is read
//! back from the store and compared, tenant by tenant, with the sum of the
//! `usage` the responses reported.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rlm_sandbox::Runtime;
use rlm_server::{Overrides, ServeConfig, Server, generate_key, key_hash};
use rlm_test_support::{MockLlm, MockReply, RecordedRequest};
use serde_json::{Value, json};

use crate::stats::{Row, Samples, ms};

/// Marks the request number in a query, for the mock's script.
const REQUEST_TOKEN: &str = "BENCH-REQUEST-";

/// The issue's shape: completions, tenants, iterations, mock latency (ms).
const DEFAULTS: (usize, usize, usize, u64) = (1000, 100, 3, 50);

/// The benchmark's shape; the defaults are the issue's.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct ServeArgs {
    /// Completions fired at once.
    #[arg(long, default_value_t = DEFAULTS.0)]
    pub requests: usize,
    /// Tenants, each with its own key; requests go to them round robin.
    #[arg(long, default_value_t = DEFAULTS.1)]
    pub tenants: usize,
    /// Root iterations of every run (code steps, then `FINAL`).
    #[arg(long, default_value_t = DEFAULTS.2)]
    pub iterations: usize,
    /// Latency of every mock model call, in milliseconds.
    #[arg(long, default_value_t = DEFAULTS.3)]
    pub latency_ms: u64,
    /// The service's store; by default a fresh SQLite file in a temporary
    /// directory. A shared store (`postgres://...`) is fine: the ledger is
    /// compared by what this run added to it.
    #[arg(long)]
    pub database_url: Option<String>,
}

impl Default for ServeArgs {
    fn default() -> Self {
        let (requests, tenants, iterations, latency_ms) = DEFAULTS;
        ServeArgs { requests, tenants, iterations, latency_ms, database_url: None }
    }
}

/// Calls, tokens and dollars: of one tenant's responses or ledger rows.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    calls: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost: f64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.calls += other.calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost += other.cost;
    }

    fn minus(self, other: Tally) -> Tally {
        Tally {
            calls: self.calls.saturating_sub(other.calls),
            input_tokens: self.input_tokens.saturating_sub(other.input_tokens),
            output_tokens: self.output_tokens.saturating_sub(other.output_tokens),
            cost: self.cost - other.cost,
        }
    }

    /// Equal counts, and dollars equal up to rounding in the sums.
    fn matches(&self, other: &Tally) -> bool {
        (self.calls, self.input_tokens, self.output_tokens) == (other.calls, other.input_tokens, other.output_tokens)
            && (self.cost - other.cost).abs() <= 1e-9 * self.cost.abs().max(1.0)
    }

    /// The `usage.total` of a native response (its dollars: `known_cost`).
    fn of_response(body: &Value) -> Option<Tally> {
        let total = body.get("usage")?.get("total")?;
        let count = |k: &str| total.get(k).and_then(Value::as_u64);
        Some(Tally {
            calls: count("calls")?,
            input_tokens: count("input_tokens")?,
            output_tokens: count("output_tokens")?,
            cost: body.get("usage")?.get("known_cost")?.as_f64()?,
        })
    }
}

/// The request number a conversation is about.
fn request_number(r: &RecordedRequest) -> Option<usize> {
    r.messages().iter().find_map(|(_, c)| {
        let rest = c.split(REQUEST_TOKEN).nth(1)?;
        rest[..rest.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(rest.len())].parse().ok()
    })
}

/// The answer request `n` must get after `iterations` iterations: the
/// sum the code steps built up in the REPL.
fn expected_answer(n: usize, iterations: usize) -> String {
    format!("request {n}: {}", n * iterations.saturating_sub(1))
}

/// The mock's script: request `n`'s run adds `n` to a REPL variable in each
/// of its first `iterations - 1` replies, then answers with `FINAL`. Tokens
/// are about a quarter of the characters, so usage differs between requests.
fn responder(iterations: usize, calls: Calls) -> impl Fn(&RecordedRequest) -> MockReply + Send + Sync + 'static {
    move |r| {
        let turn = r.messages().iter().filter(|(role, _)| role == "assistant").count();
        if let Some(n) = request_number(r) {
            calls.lock().unwrap().push((n, Instant::now()));
        }
        let code = match request_number(r) {
            Some(n) if turn + 1 < iterations => format!("acc = globals().get('acc', 0) + {n}\nprint(acc)"),
            Some(n) => format!("FINAL(f'request {n}: {{globals().get(\"acc\", 0)}}')"),
            None => "FINAL('no request number in the query')".to_owned(),
        };
        let text = format!("```repl\n{code}\n```");
        let input_tokens = r.messages().iter().map(|(_, c)| c.len() as u64).sum::<u64>() / 4;
        let output_tokens = (text.len() / 4) as u64;
        MockReply::Text { text, input_tokens, output_tokens }
    }
}

/// When each model call of each request arrived at the mock.
type Calls = Arc<std::sync::Mutex<Vec<(usize, Instant)>>>;

/// The service's configuration: one profile on the mock, and `tenants`
/// tenants whose runs in flight (and the service's) are high enough that
/// the whole burst is admitted at once.
fn config_toml(args: &ServeArgs, mock_url: &str, key_hashes: &[String]) -> String {
    let per_tenant = args.requests.div_ceil(args.tenants);
    let mut toml = format!(
        r#"max_runs_in_flight = {global}
default_profile = "bench"

[profiles.bench]
model = "mock-root"
base_url = "{mock_url}"
prices = {{ "mock-root" = [1.0, 2.0] }}
max_iterations = {max_iterations}
max_retries = 0
"#,
        global = args.requests.max(1),
        max_iterations = args.iterations + 2,
    );
    for (t, hash) in key_hashes.iter().enumerate() {
        toml.push_str(&format!(
            "\n[[tenants]]\nname = \"{}\"\nkey_sha256 = [\"{hash}\"]\nmax_runs_in_flight = {per_tenant}\n",
            tenant_name(t)
        ));
    }
    toml
}

fn tenant_name(t: usize) -> String {
    format!("bench-{t:04}")
}

/// The ledger's totals per tenant, of this benchmark's tenants.
async fn ledger(database_url: &str, tenants: usize) -> anyhow::Result<BTreeMap<String, Tally>> {
    let store = rlm_store::open(database_url).await?;
    let mut out: BTreeMap<String, Tally> = (0..tenants).map(|t| (tenant_name(t), Tally::default())).collect();
    for row in store.usage_rows(None).await? {
        if let Some(tally) = out.get_mut(&row.tenant) {
            tally.add(Tally {
                calls: row.calls,
                input_tokens: row.input_tokens,
                output_tokens: row.output_tokens,
                cost: row.cost,
            });
        }
    }
    Ok(out)
}

/// Resident memory, in bytes: `(now, peak)` from `VmRSS` and `VmHWM`.
fn rss_bytes() -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .with_context(|| format!("no {name} in /proc/self/status"))?;
        Ok(kb * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1 << 20) as f64)
}

/// One request's outcome, as the client saw it.
#[derive(Debug)]
struct Outcome {
    number: usize,
    sent: Instant,
    tenant: usize,
    latency: Duration,
    status: u16,
    body: Value,
}

/// Sends request `number` as tenant `tenant` and reads the whole response.
async fn complete(
    client: reqwest::Client,
    url: String,
    key: String,
    number: usize,
    tenant: usize,
) -> anyhow::Result<Outcome> {
    let body =
        json!({"context": "bench context", "query": format!("{REQUEST_TOKEN}{number}: add it up"), "profile": "bench"});
    let started = Instant::now();
    let response = client.post(url).bearer_auth(key).json(&body).send().await?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await?;
    let latency = started.elapsed();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Ok(Outcome { number, sent: started, tenant, latency, status, body })
}

/// The figures of a burst, and what went wrong (empty when nothing did).
#[derive(Debug)]
pub struct Report {
    /// The table's rows.
    pub rows: Vec<Row>,
    /// Lost, failed, wrong or unaccounted-for requests.
    pub problems: Vec<String>,
}

/// Figure 8: starts the service and the mock, sends one warm-up completion,
/// then `requests` completions at once, and checks every response and the
/// ledger.
pub async fn burst(runtime: &Runtime, args: &ServeArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(args.requests > 0 && args.tenants > 0 && args.iterations > 0, "nothing to run");
    let latency = Duration::from_millis(args.latency_ms);
    let calls: Calls = Arc::default();
    let mock = MockLlm::builder().latency(latency).responder(responder(args.iterations, calls.clone())).start();
    let dir = tempfile::tempdir()?;
    let database_url =
        args.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", dir.path().join("serve.db").display()));
    let keys: Vec<String> = (0..args.tenants).map(|_| generate_key()).collect();
    let hashes: Vec<String> = keys.iter().map(|k| key_hash(k)).collect();
    let path = dir.path().join("serve.toml");
    std::fs::write(&path, config_toml(args, &mock.openai_base_url(), &hashes))?;
    let mut overrides = Overrides::default();
    overrides.listen = Some("127.0.0.1:0".parse()?);
    overrides.database_url = Some(database_url.clone());
    let config = ServeConfig::load(Some(&path), overrides)?;
    let server = Server::bind(config, Arc::new(runtime.clone())).await?;
    let url = format!("http://{}/v1/rlm/completions", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let before = ledger(&database_url, args.tenants).await?;

    let client = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    // Not timed: the first run sets up what every later one reuses.
    let warm_up = complete(client.clone(), url.clone(), keys[0].clone(), args.requests, 0).await?;
    let rss_before = rss_bytes()?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.requests)
        .map(|n| {
            let t = n % args.tenants;
            tokio::spawn(complete(client.clone(), url.clone(), keys[t].clone(), n, t))
        })
        .collect();
    let results = futures::future::join_all(tasks).await;
    let wall = started.elapsed();
    let rss_after = rss_bytes()?;
    let _ = stop.send(());
    service.await?.context("the service did not shut down cleanly")?;
    let after = ledger(&database_url, args.tenants).await?;

    let mut problems = Vec::new();
    let mut outcomes = Vec::with_capacity(args.requests);
    for result in results {
        match result? {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => problems.push(format!("a request got no response: {e:#}")),
        }
    }
    // Every request: a 200, with its own answer after the asked iterations.
    let mut ok = 0;
    let mut responses: BTreeMap<String, Tally> = BTreeMap::new();
    for outcome in std::iter::once(&warm_up).chain(&outcomes) {
        let body = &outcome.body;
        if outcome.status != 200 {
            problems.push(format!("request {} got {}: {body}", outcome.number, outcome.status));
            continue;
        }
        let answer = body.get("answer").and_then(Value::as_str);
        let iterations = body.get("iterations").and_then(Value::as_u64);
        if answer != Some(expected_answer(outcome.number, args.iterations).as_str())
            || iterations != Some(args.iterations as u64)
        {
            problems.push(format!("request {} got a wrong answer or iteration count: {body}", outcome.number));
        } else if outcome.number < args.requests {
            ok += 1;
        }
        match Tally::of_response(body) {
            Some(tally) => responses.entry(tenant_name(outcome.tenant)).or_default().add(tally),
            None => problems.push(format!("request {} has no usage: {body}", outcome.number)),
        }
    }
    if ok != args.requests {
        problems.push(format!("{ok} of {} requests got a 200 with their answer", args.requests));
    }
    // What the ledger gained, tenant by tenant, against what the responses said.
    let mut sent = Tally::default();
    let mut recorded = Tally::default();
    for (tenant, after) in &after {
        let gained = after.minus(before.get(tenant).copied().unwrap_or_default());
        let reported = responses.get(tenant).copied().unwrap_or_default();
        if !gained.matches(&reported) {
            problems.push(format!("tenant {tenant}: the ledger has {gained:?}, the responses reported {reported:?}"));
        }
        sent.add(reported);
        recorded.add(gained);
    }
    let model_calls = mock.requests().len();
    let expected_calls = (args.requests + 1) * args.iterations;
    if model_calls != expected_calls {
        problems.push(format!("the mock got {model_calls} calls, not {expected_calls}"));
    }

    // Where a request's time goes outside its model calls: from sending it
    // to its first model call (admission, sandbox start, first prompt), and
    // from its last model reply to the response (last cell, ledger, HTTP).
    let spans = {
        let calls = calls.lock().unwrap();
        let mut first = vec![None; args.requests + 1];
        let mut last = vec![None; args.requests + 1];
        for &(n, t) in calls.iter() {
            if n <= args.requests {
                first[n] = Some(first[n].map_or(t, |f: Instant| f.min(t)));
                last[n] = Some(last[n].map_or(t, |f: Instant| f.max(t)));
            }
        }
        let mut before = Vec::new();
        let mut after = Vec::new();
        for o in &outcomes {
            if let (Some(f), Some(l)) = (first[o.number], last[o.number]) {
                before.push(f.duration_since(o.sent));
                after.push((o.sent + o.latency).duration_since(l).saturating_sub(latency));
            }
        }
        (!before.is_empty()).then(|| (Samples::from_durations(&before), Samples::from_durations(&after)))
    };
    let floor = latency.as_secs_f64() * 1000.0 * args.iterations as f64;
    let shape = format!(
        "{} completions x {} iterations, {} ms mock, {} tenants",
        args.requests, args.iterations, args.latency_ms, args.tenants
    );
    let mut rows = Vec::new();
    if !outcomes.is_empty() {
        let latencies = Samples::from_durations(&outcomes.iter().map(|o| o.latency).collect::<Vec<_>>());
        let p99 = latencies.quantile(0.99);
        rows.push(
            Row::new(
                "8",
                format!("serve: {shape}: latency"),
                format!(
                    "p50 {} / p99 {} / max {}; p99 = {:.2}x floor",
                    ms(latencies.median()),
                    ms(p99),
                    ms(latencies.quantile(1.0)),
                    p99 / floor
                ),
            )
            .target(format!("p99 < 2x floor ({})", ms(2.0 * floor)))
            .note(format!(
                "floor = {} iterations x {} ms = {}; client-side, request sent to body read; {} of {}",
                args.iterations,
                args.latency_ms,
                ms(floor),
                latencies.len(),
                args.requests
            )),
        );
        let elapsed: Vec<f64> = outcomes.iter().filter_map(|o| o.body.get("elapsed_ms")?.as_f64()).collect();
        if !elapsed.is_empty() {
            let elapsed = Samples::from_values(elapsed);
            rows.push(
                Row::new(
                    "8",
                    "... run time inside the service",
                    format!("p50 {} / p99 {}", ms(elapsed.median()), ms(elapsed.quantile(0.99))),
                )
                .note("the responses' `elapsed_ms`: the engine's run, without admission, HTTP and the ledger write"),
            );
        }
    }
    if let Some((before_first, after_last)) = &spans {
        let spread = |s: &Samples| format!("p50 {} / p99 {}", ms(s.median()), ms(s.quantile(0.99)));
        rows.push(
            Row::new("8", "... request sent to its first model call", spread(before_first))
                .note("admission, sandbox start and the first prompt, while the burst competes for the CPU"),
        );
        rows.push(
            Row::new("8", "... last model reply to the response", spread(after_last))
                .note("the last cell, the trajectory and ledger writes, and HTTP"),
        );
    }
    rows.push(
        Row::new("8", "... throughput", format!("{:.0} completions/s", args.requests as f64 / wall.as_secs_f64()))
            .note(format!(
                "{} in {} wall; the mock had {} calls in flight at most",
                args.requests,
                ms(wall.as_secs_f64() * 1000.0),
                mock.max_in_flight()
            )),
    );
    rows.push(Row::new("8", "... peak RSS of the process", mib(rss_after.1)).note(format!(
        "VmHWM: service, sandboxes, mock and client in one process; {} resident before the burst",
        mib(rss_before.0)
    )));
    rows.push(
        Row::new(
            "8",
            "... responses and ledger",
            format!(
                "{ok} / {} answered with a 200; ledger {} calls, {} tokens, ${:.4}: {}",
                args.requests,
                recorded.calls,
                recorded.input_tokens + recorded.output_tokens,
                recorded.cost,
                if sent.matches(&recorded) { "= responses" } else { "!= responses" }
            ),
        )
        .target("nothing lost; ledger = sum of usage")
        .note(format!(
            "per tenant, after shutdown; includes 1 warm-up completion; runs in flight allowed: {} per tenant, {} in all",
            args.requests.div_ceil(args.tenants),
            args.requests
        )),
    );
    Ok(Report { rows, problems })
}
