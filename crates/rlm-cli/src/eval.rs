//! `rlm-sandbox eval`: answer generated items of the RLM paper's tasks with
//! the engine (and, with `--base`, with one plain model call) and report
//! the scores.

use std::process::ExitCode;
use std::sync::Arc;

use futures::future::BoxFuture;
use rlm_core::{Message, Model, ModelRequest};
use rlm_engine::{Completion, Rlm};
use rlm_eval::{Item, Mode, OutDir, SolveOutcome, Solver, Usage};

use crate::args::{EvalArgs, UsageError};

pub(crate) async fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let usage = |e: rlm_eval::Error| UsageError(e.to_string());
    let tasks = rlm_eval::parse_tasks(&args.task).map_err(usage)?;
    let lengths = rlm_eval::parse_lengths(&args.lengths).map_err(usage)?;
    if args.items == 0 {
        return Err(UsageError("--items must be at least 1".into()).into());
    }
    let out = match &args.out {
        Some(dir) => Some(OutDir::create(dir).map_err(|e| UsageError(format!("--out: {e}")))?),
        None => None,
    };
    let mcp = crate::mcp::McpTools::connect(&args.engine).await?;
    let rlm = crate::run::build(&args.engine, &mcp.tools)?;
    let items = rlm_eval::generate(&tasks, &lengths, args.items, args.data_seed);
    let concurrency = args.concurrency.max(1);

    let mut solvers: Vec<Arc<dyn Solver>> = vec![Arc::new(RlmSolver { rlm: rlm.clone() })];
    if args.base {
        let root = rlm.models().get(&args.engine.model).map_err(|e| UsageError(e.to_string()))?;
        solvers.push(Arc::new(BaseSolver {
            model: root.model.clone(),
            price: root.price,
            sampling: root.sampling.clone(),
            window: args.base_window,
        }));
    }
    let mut results = Vec::new();
    for solver in solvers {
        let report = rlm_eval::run_eval(items.clone(), solver, concurrency, out.as_ref()).await?;
        results.extend(report.results);
    }
    let report = rlm_eval::Report::new(results);
    if let Some(out) = &out {
        out.write_report(&report)?;
    }
    print!("{}", report.table());
    if let Some(out) = &out {
        println!("results, trajectories and report.txt/.json/.csv in {}", out.root().display());
    }
    mcp.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Items answered by the RLM.
struct RlmSolver {
    rlm: Rlm,
}

impl Solver for RlmSolver {
    fn solve<'a>(&'a self, item: &'a Item) -> BoxFuture<'a, SolveOutcome> {
        Box::pin(async move {
            let context = match &item.context {
                rlm_eval::Context::Text(text) => rlm_core::Context::from(text.clone()),
                rlm_eval::Context::Json(value) => rlm_core::Context::from(value.clone()),
            };
            match self.rlm.request(context, &item.query).send().await {
                Ok(done) => {
                    outcome(&done, done.answer.as_ref().map(|a| a.to_value()).ok_or_else(|| "no answer".into()))
                }
                Err(e) => {
                    let message = format!("{}: {}", e.kind, e.message);
                    outcome(&e.completion, Err(message))
                }
            }
        })
    }
}

fn outcome(done: &Completion, answer: Result<serde_json::Value, String>) -> SolveOutcome {
    let total = &done.usage.total;
    let mut outcome = match answer {
        Ok(answer) => SolveOutcome::answer(answer),
        Err(message) => SolveOutcome::error(message),
    };
    outcome.usage = Usage { input_tokens: total.input_tokens, output_tokens: total.output_tokens };
    outcome.cost = total.cost;
    outcome.iterations = done.iterations;
    outcome.sub_calls = u32::try_from(done.sub_calls).unwrap_or(u32::MAX);
    outcome.elapsed = Some(done.elapsed);
    outcome.trajectory = Some(done.trajectory.to_jsonl());
    outcome
}

/// Items answered by one plain call to the root model, the context in the
/// prompt (cut to the window).
struct BaseSolver {
    model: Arc<dyn Model>,
    price: Option<rlm_engine::Price>,
    sampling: rlm_core::SamplingOptions,
    window: usize,
}

impl Solver for BaseSolver {
    fn mode(&self) -> Mode {
        Mode::Base
    }

    fn solve<'a>(&'a self, item: &'a Item) -> BoxFuture<'a, SolveOutcome> {
        Box::pin(async move {
            let prompt = rlm_eval::base_prompt(item, self.window);
            let started = std::time::Instant::now();
            let request = ModelRequest::new(vec![Message::user(prompt)]).sampling(self.sampling.clone());
            match self.model.complete(request).await {
                Ok(reply) => {
                    let mut outcome = SolveOutcome::answer(serde_json::Value::String(reply.text));
                    outcome.usage =
                        Usage { input_tokens: reply.usage.input_tokens, output_tokens: reply.usage.output_tokens };
                    outcome.cost = reply.cost.or_else(|| self.price.map(|p| p.cost(reply.usage)));
                    outcome.iterations = 1;
                    outcome.elapsed = Some(started.elapsed());
                    outcome
                }
                Err(e) => SolveOutcome::error(e.to_string()),
            }
        })
    }
}
