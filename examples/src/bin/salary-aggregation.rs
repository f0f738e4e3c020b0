//! Salary aggregation: the average salary per department over a few thousand
//! employee records given as a JSON list. Exact arithmetic belongs in code.
//!
//! Run it against any OpenAI-compatible endpoint, for example Ollama:
//!
//! ```console
//! $ cargo run --release -p rlm-examples --bin salary-aggregation -- \
//!     --base-url http://localhost:11434/v1 --model llama3.1
//! ```

// Printing results is this example's job.
#![allow(clippy::print_stdout)]

use clap::Parser;
use rlm_examples::{Endpoint, averages_match, employees};

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Number of employee records.
    #[arg(long, default_value_t = 4000)]
    records: usize,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (records, expected) = employees(args.records, args.seed);
    let rlm = args.endpoint.rlm()?.max_iterations(10).build()?;
    let query = "The context is a list of employee records. What is the average salary of each department? \
                 Answer with a dict from department name to the average, rounded to the nearest dollar.";
    let done = rlm.completion(records, query).await?;
    let answer = done.answer.as_ref().map(|a| a.to_value()).unwrap_or_default();
    let verdict = if averages_match(&answer, &expected) { "correct" } else { "WRONG" };
    println!("answer:   {answer}");
    println!("expected: {}", serde_json::to_string(&expected)?);
    println!("-> {verdict}");
    println!(
        "{} iterations, {} sub-calls, {} tokens, {:.1} s",
        done.iterations,
        done.sub_calls,
        done.usage.total.tokens(),
        done.elapsed.as_secs_f64()
    );
    Ok(())
}
