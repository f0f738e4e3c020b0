//! `rlm-sandbox run`: answer a query about a context with an RLM.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rlm_core::{Context, HelperSource, JsonText};
use rlm_engine::{AnswerSchema, BuildError, Cancel, CandidateSearch, Completion, ErrorKind, Prompts, Rlm, RlmConfig};

use crate::args::{EngineArgs, RunArgs, UsageError};
use crate::display::Display;
use crate::exec::read_context;
use crate::output::{answer_text, guest_text};

/// Exit status of a run interrupted with Ctrl-C (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;

/// Runs the completion and prints the answer.
pub async fn run(args: RunArgs, verbose: bool) -> anyhow::Result<ExitCode> {
    let context = match &args.context {
        None => Context::default(),
        Some(path) if path == Path::new("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read the context from stdin")?;
            Context::from(text)
        }
        Some(path) => read_context(path)?,
    };
    let mcp = crate::mcp::McpTools::connect(&args.engine).await?;
    let rlm = build(&args.engine, &mcp.tools)?;
    if let Some(dir) = &args.engine.log_dir {
        check_writable(dir)?;
    }
    let events_file = match &args.events {
        Some(path) => Some(Arc::new(Mutex::new(
            std::fs::File::create(path).map_err(|e| UsageError(format!("cannot write `{}`: {e}", path.display())))?,
        ))),
        None => None,
    };

    let display = Display::new(verbose, args.json);
    let cancel = Cancel::new();
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (cancel, interrupted) = (cancel.clone(), interrupted.clone());
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                cancel.cancel();
            }
        })
    };
    let request = rlm.request(context, &args.query).cancel(cancel).events(display.sink(events_file));
    let result = request.send().await;
    watcher.abort();
    mcp.close().await;
    display.finish();
    let style = display.style();
    let (completion, error) = match &result {
        Ok(done) => (done, None),
        Err(e) => (&*e.completion, Some(e)),
    };
    if args.json {
        println!("{}", completion.to_json(error));
    } else if let Some(e) = error {
        eprintln!("{} the run stopped: {}", style.error("rlm-sandbox:"), chain(e));
        if let Some(last) = &completion.last_reply {
            eprintln!(
                "{} the model's last reply was:\n{}",
                style.host("rlm-sandbox:"),
                guest_text(last, std::io::stderr().is_terminal())
            );
        }
    } else {
        print_answer(completion)?;
    }
    if !args.json {
        let summary = display.summary(
            completion.iterations,
            completion.sub_calls,
            &completion.usage,
            completion.log_path.as_deref(),
        );
        eprintln!("{} {}", style.dim("rlm-sandbox:"), style.dim(&summary));
        if let Some(report) = &completion.candidates {
            eprintln!("{} {}", style.dim("rlm-sandbox:"), style.dim(&candidates_line(report)));
        }
    }
    Ok(match error {
        None => ExitCode::SUCCESS,
        Some(e) if e.kind == ErrorKind::Cancelled && interrupted.load(std::sync::atomic::Ordering::SeqCst) => {
            ExitCode::from(EXIT_INTERRUPTED)
        }
        Some(e) if matches!(e.kind, ErrorKind::Config | ErrorKind::Log) => ExitCode::from(crate::EXIT_USAGE),
        Some(_) => ExitCode::FAILURE,
    })
}

/// How a candidate search picked its answer, in one line.
fn candidates_line(report: &rlm_engine::CandidateReport) -> String {
    let answered = report.candidates.iter().filter(|c| c.answer.is_some()).count();
    let agreeing = report.clusters.first().map_or(0, Vec::len);
    let mut line = format!(
        "candidate {} of {} picked ({answered} answered, {agreeing} agreed, rule {})",
        report.winner + 1,
        report.candidates.len(),
        report.rule
    );
    if report.stopped_early {
        line.push_str("; the rest were cancelled once a majority agreed");
    }
    line
}

/// An engine error with its causes, each once.
fn chain(error: &rlm_engine::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// The RLM the engine flags describe, with `tools`, on a fresh sandbox
/// runtime.
pub fn build(args: &EngineArgs, tools: &[Arc<dyn rlm_engine::Tool>]) -> anyhow::Result<Rlm> {
    let registry = crate::models::registry(args)?;
    crate::models::check_prices(args, &registry)?;
    let prompts = Prompts::with_files(args.prompt_file.as_deref(), args.child_prompt_file.as_deref())
        .map_err(|e| UsageError(format!("cannot read a prompt file: {e}")))?;
    let mut helpers = Vec::new();
    for path in &args.helpers {
        let code = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read helper file `{}`: {e}", path.display())))?;
        let name = path.file_name().map_or_else(|| "helper".to_owned(), |n| n.to_string_lossy().into_owned());
        helpers.push(HelperSource::new(name, code));
    }
    let mut config = RlmConfig::default();
    config.root_model = args.model.clone();
    config.sub_model = args.sub_model.clone();
    config.max_iterations = args.max_iterations;
    config.child_max_iterations = args.child_max_iterations;
    config.max_depth = args.max_depth;
    config.max_concurrency = args.max_concurrency;
    config.max_tokens = args.max_tokens;
    config.max_cost = args.max_cost;
    config.max_wall_time = args.timeout_s.map(Duration::from_secs);
    config.max_error_streak = args.max_error_streak;
    config.max_output_chars = args.max_output_chars;
    config.sub_context_chars = Some(args.sub_context_chars);
    config.limits = args.sandbox.checked_limits(Duration::from_secs(args.cell_timeout_s))?;
    config.log_dir = args.log_dir.clone();
    config.prompts = prompts;
    config.helpers = helpers;
    config.max_live_sandboxes = args.max_live_sandboxes;
    config.max_sandbox_memory_bytes = args.max_total_memory_mb.map(|mb| (mb as usize).saturating_mul(1 << 20));
    config.candidates = candidate_search(args);
    config.direct_threshold = args.direct_threshold;
    config.answer_schema = args.answer_schema.as_deref().map(answer_schema).transpose()?;
    let runtime = crate::start_runtime(args.sandbox.runtime_config())?;
    let mut builder = Rlm::builder().sandboxes(Arc::new(runtime)).models(registry).config(config);
    for tool in tools {
        builder = builder.tool(tool.clone(), args.mcp_scope.into());
    }
    builder.build().map_err(|e: BuildError| UsageError(e.to_string()).into())
}

/// The candidate search the `--candidate*` flags ask for.
fn candidate_search(args: &EngineArgs) -> CandidateSearch {
    let mut search = CandidateSearch::new(args.candidates);
    search.parallel = args.candidate_parallel.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    search.temperature = args.candidate_temperature;
    search.confidence = args.confidence;
    search.early_stop = !args.no_early_stop;
    search
}

/// The JSON Schema in `path`, compiled.
fn answer_schema(path: &Path) -> Result<AnswerSchema, UsageError> {
    let bad = |why: String| UsageError(format!("--answer-schema `{}`: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let schema = JsonText::parse(&text, usize::MAX).map_err(|e| bad(format!("not JSON: {e}")))?;
    AnswerSchema::new(schema).map_err(|e| bad(e.to_string()))
}

/// Fails before any model call when the log directory cannot be written.
pub fn check_writable(dir: &Path) -> Result<(), UsageError> {
    let unwritable = |e: std::io::Error| UsageError(format!("--log-dir `{}` cannot be written: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    let probe = dir.join(format!(".rlm-sandbox-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(unwritable)?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

fn print_answer(done: &Completion) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let tty = stdout.is_terminal();
    if let Some(answer) = &done.answer {
        writeln!(stdout, "{}", crate::output::neutralize_for(&answer_text(answer), tty))?;
    }
    stdout.flush()?;
    Ok(())
}
