//! Prints generated items, shortened, with how long each took to generate.
//!
//! Run with
//! `cargo run --release -p rlm-eval --example sample -- [LENGTH] [SEED] [TASKS] [COUNT]`,
//! e.g. `... -- 128k 0 oolong-pairs 20`. By default: `8k`, seed 0, every
//! task, one item each.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use rlm_eval::{generate_item, parse_tasks};

fn main() -> Result<(), rlm_eval::Error> {
    let mut args = std::env::args().skip(1);
    let length = args.next().unwrap_or_else(|| "8k".into()).parse()?;
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let tasks = parse_tasks(&args.next().unwrap_or_else(|| "all".into()))?;
    let count: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    for task in tasks {
        for id in 0..count {
            let t = Instant::now();
            let item = generate_item(task, length, id, seed);
            let took = t.elapsed();
            let text = item.context.to_text();
            let head: String = text.chars().take(300).collect();
            let gold = serde_json::to_string(&item.gold).unwrap_or_default();
            println!("== {} ({} chars, generated in {took:.2?})", item.key(), text.chars().count());
            println!("query: {}", item.query);
            println!("gold:  {}", gold.chars().take(200).collect::<String>());
            println!("meta:  {}", item.meta);
            println!("head:  {head}\n");
        }
    }
    Ok(())
}
