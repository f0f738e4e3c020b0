//! Benchmarks that print figures as a Markdown table. See `BENCHMARKS.md`.
//!
//! ```console
//! $ cargo run --release -p rlm-bench -- all
//! ```

// Printing figures is this binary's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use rlm_sandbox::{Runtime, RuntimeConfig};

mod engine;
mod python;
mod rlms;
mod sandbox;
mod serve;
mod stats;

use stats::{Row, print_table};

#[derive(Debug, Parser)]
#[command(about = "Benchmarks for rlm-sandbox; prints medians and ratios measured side by side in one run")]
struct Args {
    #[command(subcommand)]
    bench: Bench,
    /// Repetitions of each measurement (the spawn, memory and serve figures
    /// use their own counts).
    #[arg(long, global = true, default_value_t = 5)]
    runs: usize,
    /// Start the runtimes without learning which pages to fault in ahead
    /// (`RuntimeConfig::prefault(false)`), to measure what that does.
    #[arg(long, global = true)]
    no_prefault: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
enum Bench {
    /// Every figure below, in order.
    All,
    /// 1: fresh sandbox spawn with a 1 MB context, p50 and p99 over 1,000.
    Spawn,
    /// 2: resident memory per idle sandbox with 1,000 live.
    Memory,
    /// 3: a fan-out of 1,000 sub-RLMs at 50 ms latency, concurrency 256; the CPU per
    /// sub-RLM with a 0 ms mock; both again on 1 to N worker threads.
    Fanout,
    /// 4: engine overhead per iteration with a 0 ms mock.
    Overhead,
    /// 5: a 100 MB context: load time and a regex against native python3.
    Context,
    /// 6: interpreter suite against native python3, fuel on and off.
    Interp,
    /// 7: side by side with the official `rlms` package.
    Rlms,
    /// 8: the service: 1,000 concurrent completions from 100 tenants over
    /// loopback HTTP; latency, throughput, peak RSS, and a check that nothing
    /// is lost and the ledger adds up (exits non-zero if it does not).
    Serve(serve::ServeArgs),
    /// 9: SRLM candidate search, K = 4 against K = 1 at 50 ms latency.
    Candidates,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // `RUST_LOG=warn` shows what the engine and the service log (the
    // figures stay on stdout).
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    print_machine();
    let started = Instant::now();
    let prefault = !args.no_prefault;
    let runtime = Runtime::new(RuntimeConfig::new().prefault(prefault))?;
    let no_fuel = Runtime::new(RuntimeConfig::new().fuel_metering(false).prefault(prefault))?;
    let learnt = match runtime.prefault_bytes() {
        Some((start, first_cell)) => {
            format!(
                "learnt pages faulted in ahead: {} KiB at a start, {} KiB before a first cell",
                start >> 10,
                first_cell >> 10
            )
        }
        None => "no learnt pages faulted in ahead".to_owned(),
    };
    println!(
        "runtime start (engine + cached compiled guest + learning): {:.1} ms; {learnt}\n",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let all = args.bench == Bench::All;
    let runs = args.runs.max(1);
    let mut rows: Vec<Row> = Vec::new();
    if all || args.bench == Bench::Spawn {
        rows.extend(sandbox::spawn(&runtime, 1000).await?);
    }
    if all || args.bench == Bench::Memory {
        rows.extend(sandbox::memory(&runtime, 1000).await?);
    }
    if all || args.bench == Bench::Fanout {
        rows.extend(engine::fan_out(&runtime, 1000, Duration::from_millis(50), 256, runs).await?);
    }
    if all || args.bench == Bench::Overhead {
        rows.extend(engine::overhead(&runtime, runs.max(10)).await?);
    }
    if all || args.bench == Bench::Context {
        rows.extend(sandbox::large_context(&runtime, &no_fuel, runs).await?);
    }
    if all || args.bench == Bench::Interp {
        rows.extend(sandbox::interpreter(&runtime, &no_fuel, runs).await?);
    }
    if all || args.bench == Bench::Rlms {
        rows.extend(rlms::side_by_side(&runtime, Duration::from_millis(10), runs).await?);
    }
    if all || args.bench == Bench::Candidates {
        rows.extend(engine::candidates(&runtime, Duration::from_millis(50), runs).await?);
    }
    let mut problems = Vec::new();
    let serve_args = match &args.bench {
        Bench::Serve(serve_args) => Some(serve_args.clone()),
        Bench::All => Some(serve::ServeArgs::default()),
        _ => None,
    };
    if let Some(serve_args) = serve_args {
        let report = serve::burst(&runtime, &serve_args).await?;
        rows.extend(report.rows);
        problems = report.problems;
    }
    print_table(&rows);
    if !problems.is_empty() {
        for problem in problems.iter().take(20) {
            eprintln!("{problem}");
        }
        anyhow::bail!("the service lost or miscounted requests: {} problems", problems.len());
    }
    Ok(())
}

fn print_machine() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or_else(|| "?".into(), |kb| format!("{:.1} GiB", kb as f64 / (1 << 20) as f64));
    println!("machine: {cores} cores, {mem} memory; {}", python::native_version());
}
