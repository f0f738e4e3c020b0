//! Benchmarks that print figures; see `BENCHMARKS.md` for how to run them.
//!
//! ```console
//! $ cargo run --release -p rlm-bench -- spawn
//! ```

// Printing figures is this binary's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use rlm_sandbox::{Context, Limits, NoBackend, Runtime, RuntimeConfig};

#[derive(Debug, Parser)]
#[command(about = "Benchmarks for rlm-sandbox; every figure is a median or percentile over repeated runs")]
struct Args {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Time to a fresh sandbox ready to run a cell (compile cached), bare and
    /// with a 1 MB `context` loaded.
    Spawn {
        /// How many sandboxes to create for each figure.
        #[arg(long, default_value_t = 1000)]
        count: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        match args.bench {
            Bench::Spawn { count } => spawn(count).await,
        }
    })
}

async fn spawn(count: usize) -> anyhow::Result<()> {
    print_machine();
    let started = Instant::now();
    let runtime = Runtime::new(RuntimeConfig::default())?;
    println!("runtime start (engine + cached guest): {:.1} ms", ms(started.elapsed()));
    let context = "x".repeat(1 << 20);
    let handler: Arc<dyn rlm_sandbox::SubcallHandler> = Arc::new(NoBackend);

    // Warm up page cache and allocator.
    for _ in 0..20 {
        runtime.sandbox(Limits::default(), handler.clone()).await?;
    }
    let mut bare = Vec::with_capacity(count);
    let mut loaded = Vec::with_capacity(count);
    let mut first_cell = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        let sandbox = runtime.sandbox(Limits::default(), handler.clone()).await?;
        bare.push(t.elapsed());
        drop(sandbox);

        let t = Instant::now();
        let mut sandbox = runtime.sandbox(Limits::default(), handler.clone()).await?;
        sandbox.load_context(0, Context::Text(context.clone())).await?;
        loaded.push(t.elapsed());
        let t = Instant::now();
        let out = sandbox.run_cell("n = len(context)").await?;
        anyhow::ensure!(out.is_ok(), "the first cell failed: {}", out.stderr);
        first_cell.push(t.elapsed());
    }
    println!();
    println!("{:<44} {:>9} {:>9}   (n = {count})", "figure", "p50 ms", "p99 ms");
    row("fresh sandbox, no context", &mut bare);
    row("fresh sandbox + 1 MB context loaded", &mut loaded);
    row("first cell `n = len(context)`", &mut first_cell);
    Ok(())
}

fn row(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!("{name:<44} {:>9.3} {:>9.3}", ms(pick(0.5)), ms(pick(0.99)));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_machine() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned()))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or_else(|| "?".into(), |kb| format!("{:.1} GiB", kb as f64 / (1 << 20) as f64));
    println!("machine: {cores} cores, {mem} memory");
}
