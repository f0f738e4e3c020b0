//! Figures 3 and 4: the RLM engine against the mock model server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture as BoxedFuture;
use rlm_core::{Model, ModelError, ModelReply, ModelRequest};
use rlm_engine::Rlm;
use rlm_llm::{ApiKey, Client, ClientConfig, Provider};
use rlm_sandbox::{DEFAULT_SLOT_KEEP_RESIDENT, Runtime};
use rlm_test_support::{MockLlm, MockReply, RecordedRequest};

use crate::sandbox::memory_bytes;
use crate::stats::{Row, Samples, ms};

/// An OpenAI client of the mock.
pub fn client(mock: &MockLlm) -> anyhow::Result<Client> {
    let mut config = ClientConfig::new(Provider::OpenAi, "mock-model");
    config.base_url = mock.openai_base_url();
    config.api_key = Some(ApiKey::new("bench"));
    Ok(Client::new(config)?)
}

/// Wraps a model and adds up the time spent inside its calls.
#[derive(Debug)]
struct Timed {
    inner: Client,
    spent: Mutex<Duration>,
}

impl Model for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn complete(&self, request: ModelRequest) -> BoxedFuture<'_, Result<ModelReply, ModelError>> {
        Box::pin(async move {
            let t = Instant::now();
            let reply = self.inner.complete(request).await;
            *self.spent.lock().unwrap() += t.elapsed();
            reply
        })
    }
}

fn repl(code: &str) -> MockReply {
    MockReply::text(format!("```repl\n{code}\n```"))
}

fn assistant_turns(r: &RecordedRequest) -> usize {
    r.messages().iter().filter(|(role, _)| role == "assistant").count()
}

/// Process CPU time so far (user + system, every thread), from
/// `/proc/self/stat`, in the kernel's fixed 100 ticks per second.
fn process_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name, in parentheses, may hold spaces: count from after it.
    let (_, rest) = stat.rsplit_once(')').ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12th and 13th after the name.
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 10))
}

/// One completion whose root cell fans out to `chunks` sub-RLMs that each
/// answer in one iteration; the mock answers every call after `latency`.
/// Returns the wall time of each of `runs` completions and the process CPU
/// time they took together.
async fn fan_out_runs(
    runtime: &Runtime,
    chunks: usize,
    latency: Duration,
    concurrency: usize,
    runs: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let mock = MockLlm::builder()
        .latency(latency)
        .responder(move |r| {
            if r.system().starts_with("You are a sub-RLM") {
                repl("FINAL(context)")
            } else {
                repl(&format!("rs = rlm_query_batched([f'chunk {{i}}' for i in range({chunks})])\nFINAL(len(rs))"))
            }
        })
        .start();
    let model: Arc<dyn Model> = Arc::new(client(&mock)?);
    let rlm = Rlm::builder().sandboxes(Arc::new(runtime.clone())).root(model).max_concurrency(concurrency).build()?;
    let mut times = Vec::new();
    let cpu = process_cpu()?;
    for _ in 0..runs {
        let done = rlm.completion("", "fan out").await?;
        anyhow::ensure!(done.answer == Some(serde_json::json!(chunks).into()), "unexpected answer {:?}", done.answer);
        times.push(done.elapsed);
    }
    Ok((times, process_cpu()? - cpu))
}

/// Figure 3: the fan-out at `latency` against its ideal; the CPU time per
/// sub-RLM with a 0 ms mock; and both again on tokio runtimes of 1 to N
/// worker threads, to show how the fan-out scales with cores.
pub async fn fan_out(
    runtime: &Runtime,
    chunks: usize,
    latency: Duration,
    concurrency: usize,
    runs: usize,
) -> anyhow::Result<Vec<Row>> {
    let rounds = 1 + chunks.div_ceil(concurrency);
    let ideal = latency.as_secs_f64() * 1000.0 * rounds as f64;
    let (times, _) = fan_out_runs(runtime, chunks, latency, concurrency, runs).await?;
    let wall = Samples::from_durations(&times);
    let (_, cpu) = fan_out_runs(runtime, chunks, Duration::ZERO, concurrency, runs).await?;
    let per_child = cpu.as_secs_f64() * 1000.0 / (chunks * runs) as f64;
    // Every child has ended; their pool slots stay warm, each keeping what
    // its last sandbox wrote resident, up to the budget.
    let (pss, _) = memory_bytes()?;
    let mut rows = vec![
        Row::new(
            "3",
            format!("fan-out: {chunks} sub-RLMs, {} ms latency, concurrency {concurrency}", latency.as_millis()),
            format!("{} = {:.2}x ideal", ms(wall.median()), wall.median() / ideal),
        )
        .target("<= 3x ideal")
        .note(format!(
            "ideal = latency x {rounds} rounds = {}; median of {runs} ({})",
            ms(ideal),
            // Every run, in order: the first pays for the pool slots' first
            // use, and the spread shows how far the median can be trusted.
            times.iter().map(|t| format!("{:.2}x", t.as_secs_f64() * 1000.0 / ideal)).collect::<Vec<_>>().join(", ")
        )),
        Row::new("3", "... CPU per sub-RLM, 0 ms mock", format!("{per_child:.2} ms")).target("<= 1.5 ms").note(
            format!(
                "process CPU time / {chunks} children over {runs} fan-outs (root, mock server and HTTP client included)"
            ),
        ),
        Row::new("3", "... process PSS after the fan-outs, every child ended", format!("{} MiB", pss >> 20)).note(
            format!(
                "the warm pool slots keep the pages their last sandbox wrote resident (up to {} MiB a slot)",
                DEFAULT_SLOT_KEEP_RESIDENT >> 20
            ),
        ),
    ];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in 1..=cores {
        let runtime = runtime.clone();
        // A runtime of its own, on a thread of its own: a tokio runtime cannot
        // be started from inside another.
        let (wall, cpu) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
            rt.block_on(async {
                let (times, _) = fan_out_runs(&runtime, chunks, latency, concurrency, 1).await?;
                let (_, cpu) = fan_out_runs(&runtime, chunks, Duration::ZERO, concurrency, 1).await?;
                anyhow::Ok((times[0], cpu))
            })
        })
        .await??;
        let wall = wall.as_secs_f64() * 1000.0;
        rows.push(
            Row::new(
                "3",
                format!("... on {threads} worker thread{}", if threads == 1 { "" } else { "s" }),
                format!(
                    "{} = {:.2}x ideal; {:.2} ms CPU per sub-RLM",
                    ms(wall),
                    wall / ideal,
                    cpu.as_secs_f64() * 1000.0 / chunks as f64
                ),
            )
            .note(format!("{} ms latency, then 0 ms for the CPU; one fan-out each", latency.as_millis())),
        );
    }
    Ok(rows)
}

/// Figure 4: a 10-iteration root run against a mock with no latency; the
/// time per iteration spent outside the model call.
pub async fn overhead(runtime: &Runtime, runs: usize) -> anyhow::Result<Vec<Row>> {
    let mock = MockLlm::builder()
        .responder(|r| {
            let n = assistant_turns(r);
            if n < 9 { repl(&format!("x{n} = {n} * 2\nprint(x{n})")) } else { repl("FINAL('done')") }
        })
        .start();
    let timed = Arc::new(Timed { inner: client(&mock)?, spent: Mutex::new(Duration::ZERO) });
    let model: Arc<dyn Model> = timed.clone();
    let rlm = Rlm::builder().sandboxes(Arc::new(runtime.clone())).root(model).build()?;
    rlm.completion("", "warm up").await?;
    // Runs with and without an event listener alternate, so that both see
    // the same machine.
    let events = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sink: rlm_engine::EventSink = {
        let events = events.clone();
        Arc::new(move |_: &rlm_engine::Event| {
            events.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let (mut outside, mut total, mut listened) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        for listen in [false, true] {
            *timed.spent.lock().unwrap() = Duration::ZERO;
            let request = rlm.request("", "ten iterations");
            let done = if listen { request.events(sink.clone()).send().await? } else { request.send().await? };
            anyhow::ensure!(done.iterations == 10, "ran {} iterations", done.iterations);
            let model_time = *timed.spent.lock().unwrap();
            if listen {
                listened.push((done.elapsed - model_time) / 10);
            } else {
                outside.push((done.elapsed - model_time) / 10);
                total.push(done.elapsed / 10);
            }
        }
    }
    let (outside, total) = (Samples::from_durations(&outside), Samples::from_durations(&total));
    let listened = Samples::from_durations(&listened);
    let per_run = events.load(std::sync::atomic::Ordering::Relaxed) / runs.max(1);
    Ok(vec![
        Row::new("4", "engine overhead per iteration (outside the model call)", ms(outside.median()))
            .target("<= 1 ms")
            .note(format!("10-iteration run, 0 ms mock; median of {runs}; includes sandbox creation and each cell")),
        Row::new("4", "... whole iteration including the loopback HTTP call", ms(total.median()))
            .note(format!("median of {runs}")),
        Row::new(
            "4",
            "... overhead with an event listener",
            format!("{} = {:.2}x without", ms(listened.median()), listened.median() / outside.median()),
        )
        .note(format!("{per_run} events per run; runs with and without alternate; median of {runs}")),
    ])
}

/// Figure 9: SRLM candidate search. A 3-iteration root run at `latency`,
/// once as a plain run (K = 1) and once with K = 4 candidates all running at
/// once (`--candidate-parallel 4`, early stop off, so every candidate runs
/// to its end): the wall-time ratio is what the search costs in latency.
pub async fn candidates(runtime: &Runtime, latency: Duration, runs: usize) -> anyhow::Result<Vec<Row>> {
    let mock = MockLlm::builder()
        .latency(latency)
        .responder(|r| match assistant_turns(r) {
            0 => repl("n = len(context)\nprint(n)"),
            1 => repl("words = context.split()\nprint(len(words))"),
            _ => repl("FINAL(len(words))"),
        })
        .start();
    let model: Arc<dyn Model> = Arc::new(client(&mock)?);
    let context = "one two three four";
    let mut rows = Vec::new();
    let mut medians = Vec::new();
    for k in [1u32, 4] {
        let mut search = rlm_engine::CandidateSearch::new(k);
        search.parallel = Some(k as usize);
        search.early_stop = false;
        let mut config = rlm_engine::RlmConfig::default();
        config.candidates = search;
        let rlm = Rlm::builder().sandboxes(Arc::new(runtime.clone())).root(model.clone()).config(config).build()?;
        rlm.completion(context, "warm up").await?;
        let mut times = Vec::new();
        for _ in 0..runs {
            let done = rlm.completion(context, "count the words").await?;
            anyhow::ensure!(done.answer == Some(serde_json::json!(4).into()), "unexpected answer {:?}", done.answer);
            let ran = done.candidates.as_ref().map_or(1, |c| c.candidates.len());
            anyhow::ensure!(ran == k as usize, "{ran} candidates ran, not {k}");
            times.push(done.elapsed);
        }
        medians.push(Samples::from_durations(&times).median());
    }
    let ratio = medians[1] / medians[0];
    rows.push(
        Row::new(
            "9",
            format!("candidates: K = 4 (parallel 4) vs K = 1, {} ms latency", latency.as_millis()),
            format!("{} vs {} = {ratio:.2}x", ms(medians[1]), ms(medians[0])),
        )
        .target("< 1.3x")
        .note(format!("3-iteration root run, no early stop; median of {runs}")),
    );
    Ok(rows)
}
