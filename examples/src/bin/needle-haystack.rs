//! Needle in a haystack: a number hidden in about a million lines of random
//! words. The root model should find it with code (a regex), not by reading.
//!
//! Run it against any OpenAI-compatible endpoint, for example a local vLLM:
//!
//! ```console
//! $ cargo run --release -p rlm-examples --bin needle-haystack -- \
//!     --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct
//! ```

// Printing results is this example's job.
#![allow(clippy::print_stdout)]

use clap::Parser;
use rlm_examples::{Endpoint, haystack};
use serde_json::Value;

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Lines of haystack.
    #[arg(long, default_value_t = 1_000_000)]
    lines: usize,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (text, needle) = haystack(args.lines, args.seed);
    println!("haystack: {} lines, {} MB", args.lines, text.len() / 1_000_000);
    let rlm = args.endpoint.rlm()?.max_iterations(10).build()?;
    let done = rlm
        .completion(text.as_str(), "What is the magic number hidden in the context? Answer with the number only.")
        .await?;
    let answer = done.answer.as_ref().map(|a| a.to_value()).unwrap_or_default();
    let found = match &answer {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().trim_end_matches('.').parse().ok(),
        _ => None,
    };
    println!("answer: {answer} (expected {needle}) -> {}", if found == Some(needle) { "correct" } else { "WRONG" });
    println!(
        "{} iterations, {} sub-calls, {} tokens, {:.1} s",
        done.iterations,
        done.sub_calls,
        done.usage.total.tokens(),
        done.elapsed.as_secs_f64()
    );
    Ok(())
}
