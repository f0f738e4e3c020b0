//! Evaluation tasks for rlm-sandbox, modelled on the tasks of the
//! Recursive Language Models paper (Zhang, Kraska and Khattab).
//!
//! The crate has no dependency on the engine or the sandbox. It provides:
//!
//! - **Generators** ([`generate`], [`generate_item`]): seeded, deterministic
//!   [`Item`]s for six [`Task`]s (S-NIAH, OOLONG, OOLONG-Pairs, multi-hop
//!   retrieval, salary aggregation, needle) at any [`LengthBucket`]
//!   (`8k,32k,128k`: [`parse_lengths`]; one token is taken as four
//!   characters). The same seed gives the same items on every machine.
//! - **Scoring** ([`score`]): pure rules from a typed [`Gold`] and an answer
//!   to a score in `0.0..=1.0`; [`Item::score`] picks the item's rule.
//! - **A scripted policy** ([`scripted_program`], [`scripted_program_wrong`],
//!   [`mock_classify`]): Python programs that compute each answer from the
//!   context, and a deterministic stand-in for the sub-model that labels
//!   OOLONG questions, for end-to-end tests with a mock model.
//! - **A runner** ([`run_eval`]) over any [`Solver`], concurrent and
//!   resumable through an [`OutDir`], with a [`Report`] (table, JSON, CSV),
//!   and the plain-model prompt for `base` mode ([`base_prompt`]).
//!
//! `docs/eval.md` defines each task exactly and says how it differs from
//! the paper's data.
//!
//! ```
//! use rlm_eval::{Task, generate, parse_lengths, scripted_program};
//! use serde_json::json;
//!
//! let items = generate(&[Task::Needle], &parse_lengths("8k")?, 1, 42);
//! let item = &items[0];
//! assert!(item.context.char_len() <= 8 * 1024 * 4);
//! assert!(scripted_program(item).starts_with("```repl"));
//! assert_eq!(item.score(&json!("no idea")), 0.0);
//! # Ok::<(), rlm_eval::Error>(())
//! ```
#![deny(missing_docs)]

mod date;
mod error;
mod item;
mod length;
mod out;
mod pool;
mod report;
mod rng;
mod run;
pub mod score;
mod scripted;
mod tasks;
mod words;

pub use date::{Date, parse_date};
pub use error::Error;
pub use item::{
    Context, Gold, Item, ItemKey, Label, NeedleKind, OolongQuestion, QuerySpec, Relation, Rule, Task, parse_tasks,
};
pub use length::{CHARS_PER_TOKEN, LengthBucket, MAX_TOKENS, MIN_TOKENS, parse_lengths};
pub use out::{OutDir, write_atomic};
pub use pool::{mock_classify, question_pool};
pub use report::{GroupSummary, ItemResult, Mode, Report, percentile};
pub use run::{DEFAULT_BASE_WINDOW, SolveOutcome, Solver, Usage, base_prompt, run_eval};
pub use scripted::{CLASSIFY_BATCH, CLASSIFY_PROMPT_HEADER, scripted_code, scripted_program, scripted_program_wrong};
pub use tasks::{PairPredicate, generate, generate_item, pair_predicates};
