//! The runner: solves items concurrently, scores them and records each
//! result as it finishes, skipping items already done. It knows nothing of
//! the engine: anything that implements [`Solver`] can be evaluated.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::{Error, Item, ItemResult, Mode, OutDir, Report};

/// Token counts of the model calls behind one item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input (prompt) tokens.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
}

/// What a solver reports for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct SolveOutcome {
    /// The answer (the value passed to `FINAL`, or the plain reply as a
    /// string), or why there is none.
    pub answer: Result<Value, String>,
    /// Tokens over all model calls.
    pub usage: Usage,
    /// Cost in US dollars, if known.
    pub cost: Option<f64>,
    /// Root-model turns.
    pub iterations: u32,
    /// Sub-calls.
    pub sub_calls: u32,
    /// Wall-clock time as the solver measured it; `None` lets the runner use
    /// its own measurement around [`Solver::solve`].
    pub elapsed: Option<Duration>,
    /// The trajectory as JSONL text, to be saved next to the result.
    pub trajectory: Option<String>,
}

impl SolveOutcome {
    /// An outcome with an answer and nothing else recorded.
    pub fn answer(answer: Value) -> SolveOutcome {
        SolveOutcome {
            answer: Ok(answer),
            usage: Usage::default(),
            cost: None,
            iterations: 0,
            sub_calls: 0,
            elapsed: None,
            trajectory: None,
        }
    }

    /// An outcome without an answer.
    pub fn error(message: impl Into<String>) -> SolveOutcome {
        SolveOutcome { answer: Err(message.into()), ..SolveOutcome::answer(Value::Null) }
    }
}

/// Something that answers items: the RLM engine, a plain model call, or a
/// scripted test double.
pub trait Solver: Send + Sync {
    /// How this solver runs the model; decides where results are filed.
    /// By default, [`Mode::Rlm`].
    fn mode(&self) -> Mode {
        Mode::Rlm
    }

    /// Solves one item. Failures are reported in the outcome, not by
    /// panicking; a panic is recorded as an error for that item.
    fn solve<'a>(&'a self, item: &'a Item) -> BoxFuture<'a, SolveOutcome>;
}

/// Runs `items` through `solver`, at most `concurrency` at a time (at least
/// one), and returns the report.
///
/// With an output directory, items that already have a result file for the
/// solver's mode are not run again (their saved results go into the
/// report), and each finished item's result (and trajectory, if any) is
/// written atomically as soon as it is scored, so a killed run resumes
/// where it stopped. A saved result that cannot be read is logged and the
/// item is run again. Errors are results too: an item whose solver failed
/// is done, with score 0; delete its file to retry it.
///
/// Each item runs in its own tokio task, so solvers that do blocking or
/// CPU-heavy work in `poll` still overlap; call this inside a multi-threaded
/// tokio runtime.
pub async fn run_eval(
    items: Vec<Item>,
    solver: Arc<dyn Solver>,
    concurrency: usize,
    out: Option<&OutDir>,
) -> Result<Report, Error> {
    let mode = solver.mode();
    let mut results = Vec::new();
    let mut todo = Vec::new();
    let done = match out {
        Some(o) => o.done(mode)?,
        None => Default::default(),
    };
    for item in items {
        let saved = match out {
            Some(o) if done.contains(&item.key()) => match o.read_result(item.key(), mode) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(item = %item.key(), error = %e, "cannot read the saved result; running the item again");
                    None
                }
            },
            _ => None,
        };
        match saved {
            Some(r) => results.push(r),
            None => todo.push(Arc::new(item)),
        }
    }
    tracing::info!(mode = mode.name(), skipped = results.len(), to_run = todo.len(), "starting eval");

    let mut stream = futures::stream::iter(todo)
        .map(|item| {
            let solver = Arc::clone(&solver);
            let task_item = Arc::clone(&item);
            let handle = tokio::spawn(async move {
                let start = Instant::now();
                let outcome = solver.solve(&task_item).await;
                (outcome, start.elapsed())
            });
            async move { (item, handle.await) }
        })
        .buffer_unordered(concurrency.max(1));

    while let Some((item, joined)) = stream.next().await {
        let (outcome, measured) = match joined {
            Ok(pair) => pair,
            Err(e) => (SolveOutcome::error(format!("the solver panicked: {e}")), Duration::ZERO),
        };
        let mut result = to_result(&item, mode, outcome.clone(), measured);
        if let (Some(o), Some(traj)) = (out, &outcome.trajectory) {
            result.trajectory = Some(o.write_trajectory(item.key(), mode, traj)?);
        }
        if let Some(o) = out {
            o.write_result(&result)?;
        }
        tracing::info!(item = %item.key(), mode = mode.name(), score = result.score, error = ?result.error, "item finished");
        results.push(result);
    }
    Ok(Report::new(results))
}

/// Scores an outcome and turns it into a result record.
fn to_result(item: &Item, mode: Mode, outcome: SolveOutcome, measured: Duration) -> ItemResult {
    let (answer, error, score) = match outcome.answer {
        Ok(a) => {
            let s = item.score(&a);
            (Some(a), None, s)
        }
        Err(e) => (None, Some(e), 0.0),
    };
    ItemResult {
        task: item.task,
        length: item.length,
        id: item.id,
        mode,
        score,
        answer,
        gold: item.gold.clone(),
        error,
        cost: outcome.cost,
        input_tokens: outcome.usage.input_tokens,
        output_tokens: outcome.usage.output_tokens,
        elapsed_secs: outcome.elapsed.unwrap_or(measured).as_secs_f64(),
        iterations: outcome.iterations,
        sub_calls: outcome.sub_calls,
        trajectory: None,
    }
}

/// The default `--base-window`: 120,000 characters, about 30k tokens, so
/// that the base prompt fits a 32k-token local model with room for the
/// reply.
pub const DEFAULT_BASE_WINDOW: usize = 120_000;

/// The prompt for `base` mode: one plain model call with the context in
/// the prompt, cut to its first `base_window` characters if longer, with a
/// note that says so.
pub fn base_prompt(item: &Item, base_window: usize) -> String {
    let full = item.context.to_text();
    let total = full.chars().count();
    let (shown, note) = if total > base_window {
        let cut = full.char_indices().nth(base_window).map_or(full.len(), |(i, _)| i);
        (
            &full[..cut],
            format!(
                "\n[Note: the context was truncated to its first {base_window} of {total} \
                 characters to fit the model's window; the rest is not shown.]\n"
            ),
        )
    } else {
        (full.as_str(), String::new())
    };
    format!(
        "Answer the question about the context below. In the question, `context` refers to \
         this text.\n\n<context>\n{shown}\n</context>\n{note}\nQuestion: {}\n\nReply with the \
         answer only.",
        item.query
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Task, generate, parse_lengths};

    #[test]
    fn base_prompt_truncates_and_says_so() {
        let item = &generate(&[Task::Needle], &parse_lengths("1k").unwrap(), 1, 1)[0];
        let p = base_prompt(item, 1000);
        assert!(p.contains("truncated to its first 1000 of"));
        assert!(p.contains(&item.query));
        let q = base_prompt(item, 1_000_000);
        assert!(!q.contains("truncated"));
        assert!(q.contains(&item.context.to_text()));
    }
}
