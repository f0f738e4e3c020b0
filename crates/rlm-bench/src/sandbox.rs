//! Figures 1, 2, 5 and 6: the sandbox alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rlm_sandbox::{CallHandler, Context, Limits, NoBackend, Runtime};

use crate::python::{native, native_version, sandboxed, timed};
use crate::stats::{Row, Samples, geomean, ms};

fn no_backend() -> Arc<dyn CallHandler> {
    Arc::new(NoBackend)
}

/// Figure 1: from nothing to a sandbox ready to run a cell with a 1 MB
/// context loaded.
pub async fn spawn(runtime: &Runtime, count: usize) -> anyhow::Result<Vec<Row>> {
    let context = Context::from("x".repeat(1 << 20));
    for _ in 0..20 {
        runtime.sandbox(Limits::default(), no_backend()).await?;
    }
    let (mut bare, mut loaded, mut first_cell) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..count {
        let t = Instant::now();
        let sandbox = runtime.sandbox(Limits::default(), no_backend()).await?;
        bare.push(t.elapsed());
        drop(sandbox);

        let t = Instant::now();
        let mut sandbox = runtime.sandbox(Limits::default(), no_backend()).await?;
        sandbox.load_context(0, context.clone()).await?;
        loaded.push(t.elapsed());
        let t = Instant::now();
        let out = sandbox.run_cell("n = len(context)").await?;
        anyhow::ensure!(out.is_ok(), "the first cell failed: {}", out.stderr);
        first_cell.push(t.elapsed());
    }
    let (bare, loaded, first_cell) =
        (Samples::from_durations(&bare), Samples::from_durations(&loaded), Samples::from_durations(&first_cell));
    let pct = |s: &Samples| format!("p50 {} / p99 {}", ms(s.median()), ms(s.quantile(0.99)));
    Ok(vec![
        Row::new("1", "spawn + 1 MB context loaded", pct(&loaded))
            .target("p50 <= 0.5 ms")
            .note(format!("{count} spawns, compiled guest cached")),
        Row::new("1", "spawn, no context", pct(&bare)).note(format!("{count} spawns")),
        Row::new("1", "first cell `n = len(context)`", pct(&first_cell)).note(format!("{count} cells")),
    ])
}

/// Resident memory of this process in bytes: `(pss, rss)`. PSS splits each
/// shared page among the mappings that use it, so the guest image that every
/// sandbox maps copy-on-write counts once; RSS counts it once per sandbox.
pub fn memory_bytes() -> anyhow::Result<(u64, u64)> {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup")?;
    let field = |name: &str| -> u64 {
        rollup
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Ok((field("Pss:"), field("Rss:")))
}

/// Figure 2: resident memory per live idle sandbox, with `count` alive.
pub async fn memory(runtime: &Runtime, count: usize) -> anyhow::Result<Vec<Row>> {
    // Warm up so allocator arenas and the code image are already resident.
    let mut warm = Vec::new();
    for _ in 0..10 {
        let mut s = runtime.sandbox(Limits::default(), no_backend()).await?;
        s.run_cell("x = 1").await?;
        warm.push(s);
    }
    let before = memory_bytes()?;
    let mut live = Vec::with_capacity(count);
    for _ in 0..count {
        let mut s = runtime.sandbox(Limits::default(), no_backend()).await?;
        s.load_context(0, Context::from("idle")).await?;
        live.push(s);
    }
    let after_spawn = memory_bytes()?;
    for s in &mut live {
        let out = s.run_cell("x = 1").await?;
        anyhow::ensure!(out.is_ok(), "{}", out.stderr);
    }
    let after_cell = memory_bytes()?;
    let per = |after: u64, before: u64| after.saturating_sub(before) as f64 / count as f64 / (1 << 20) as f64;
    let show =
        |after: (u64, u64)| format!("{:.2} MiB PSS ({:.2} MiB RSS)", per(after.0, before.0), per(after.1, before.1));
    Ok(vec![
        Row::new("2", "memory per live idle sandbox (context loaded)", show(after_spawn))
            .target("<= 3 MB")
            .note(format!("{count} live at once; delta / {count}; RSS counts the shared guest image once per sandbox")),
        Row::new("2", "... after each ran one cell", show(after_cell)).note(format!("{count} live")),
    ])
}

/// Figure 5: a 100 MB text context: load time, and a regex over it against
/// native python3 doing the same.
pub async fn large_context(runtime: &Runtime, no_fuel: &Runtime, runs: usize) -> anyhow::Result<Vec<Row>> {
    let line = "the quick brown fox jumps over the lazy dog 0123456789\n";
    let text = Context::from(line.repeat(100_000_000 / line.len()));
    let limits = Limits::default().timeout(Duration::from_secs(120));
    let regex = "import re\n__n = len(re.findall(r'fox \\w+', context))";
    let (mut loads, mut ours, mut ours_no_fuel, mut theirs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        for (rt, times, limits) in
            [(runtime, &mut ours, limits.clone()), (no_fuel, &mut ours_no_fuel, limits.clone().fuel(None))]
        {
            let mut sandbox = rt.sandbox(limits, no_backend()).await?;
            let t = Instant::now();
            sandbox.load_context(0, text.clone()).await?;
            loads.push(t.elapsed());
            let out = sandbox.run_cell(&timed("", regex)).await?;
            anyhow::ensure!(out.is_ok(), "{}", out.stderr);
            times.push(out.stdout.trim().parse::<f64>()? * 1000.0);
        }
        let native_code = timed(&format!("context = {:?} * {}", line, 100_000_000 / line.len()), regex);
        theirs.push(native(&native_code)? * 1000.0);
    }
    let (loads, ours, ours_no_fuel, theirs) = (
        Samples::from_durations(&loads),
        Samples::from_values(ours),
        Samples::from_values(ours_no_fuel),
        Samples::from_values(theirs),
    );
    Ok(vec![
        Row::new("5", "load a 100 MB text context", ms(loads.median()))
            .target("<= 120 ms")
            .note(format!("median of {}", loads.len())),
        Row::new(
            "5",
            "`re.findall` over 100 MB: sandbox / native",
            format!(
                "{:.2}x fuel on ({}), {:.2}x fuel off ({}); native {}",
                ours.median() / theirs.median(),
                ms(ours.median()),
                ours_no_fuel.median() / theirs.median(),
                ms(ours_no_fuel.median()),
                ms(theirs.median())
            ),
        )
        .target("<= 2x")
        .note(format!("median of {runs}; native {}", native_version())),
    ])
}

/// The interpreter suite: name and body (run inside a function).
const CASES: &[(&str, &str, &str)] = &[
    ("pure-Python loop", "", "s = 0\nfor i in range(3_000_000):\n    s += i * i"),
    (
        "string build + split",
        "",
        "parts = [str(i) for i in range(300_000)]\ns = ','.join(parts)\nn = len(s.split(','))",
    ),
    ("regex", "import re\ntext = 'abc123 def456 ' * 200_000", "n = len(re.findall(r'[a-z]+\\d+', text))"),
    (
        "json dumps + loads",
        "import json\nobj = [{'a': i, 'b': str(i), 'c': [i] * 5} for i in range(50_000)]",
        "o = json.loads(json.dumps(obj))",
    ),
    ("sort 500k floats", "import random\nrandom.seed(1)\nxs = [random.random() for _ in range(500_000)]", "sorted(xs)"),
    ("dict-heavy counting", "", "d = {}\nfor i in range(1_000_000):\n    k = i % 1000\n    d[k] = d.get(k, 0) + 1"),
];

/// Figure 6: the interpreter suite in the sandbox (fuel on and off) against
/// native python3.
pub async fn interpreter(runtime_fuel: &Runtime, no_fuel: &Runtime, runs: usize) -> anyhow::Result<Vec<Row>> {
    let fuel_limits = Limits::default().timeout(Duration::from_secs(120));
    let plain_limits = fuel_limits.clone().fuel(None);
    let mut rows = Vec::new();
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for (name, setup, body) in CASES {
        let code = timed(setup, body);
        let (mut a, mut b, mut n) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            n.push(native(&code)?);
            a.push(sandboxed(runtime_fuel, fuel_limits.clone(), &code).await?);
            b.push(sandboxed(no_fuel, plain_limits.clone(), &code).await?);
        }
        let (a, b, n) = (Samples::from_values(a), Samples::from_values(b), Samples::from_values(n));
        let (ra, rb) = (a.median() / n.median(), b.median() / n.median());
        on.push(ra);
        off.push(rb);
        rows.push(
            Row::new("6", format!("{name}: sandbox / native"), format!("{ra:.2}x fuel on, {rb:.2}x fuel off"))
                .note(format!("native {}, median of {runs}", ms(n.median() * 1000.0))),
        );
    }
    rows.push(
        Row::new(
            "6",
            "interpreter geomean: sandbox / native",
            format!("{:.2}x fuel on, {:.2}x fuel off", geomean(&on), geomean(&off)),
        )
        .target("<= 3x with fuel on")
        .note(format!("guest CPython 3.14 vs native {}", native_version())),
    );
    Ok(rows)
}
