//! `rlm-sandbox run`: answer a query about a context with an RLM.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rlm_engine::{Completion, ContextInput, Progress, Prompts, Rlm, RlmConfig};
use rlm_llm::{ApiKey, Client, ClientConfig, Model, Provider, RetryPolicy};
use rlm_sandbox::Runtime;
use serde_json::{Value, json};

use crate::args::{ProviderArg, RunArgs, UsageError};
use crate::exec::read_context;
use crate::output::{answer_text, for_stream, neutralize};

/// Runs the completion and prints the answer.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let context = match &args.context {
        None => ContextInput::Text(String::new()),
        Some(path) if path == Path::new("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read the context from stdin")?;
            ContextInput::Text(text)
        }
        Some(path) => match read_context(path)? {
            rlm_sandbox::Context::Text(s) => ContextInput::Text(s),
            rlm_sandbox::Context::Json(v) => ContextInput::Json(v),
        },
    };
    let (root, sub) = models(&args)?;
    let prompts = Prompts::with_files(args.prompt_file.as_deref(), args.child_prompt_file.as_deref())
        .context("cannot read a prompt file")?;
    let config = RlmConfig {
        max_iterations: args.max_iterations,
        child_max_iterations: args.child_max_iterations,
        max_depth: args.max_depth,
        max_concurrency: args.max_concurrency,
        max_tokens: args.max_tokens,
        max_cost: args.max_cost,
        max_wall_time: args.timeout_s.map(Duration::from_secs),
        max_error_streak: args.max_error_streak,
        max_output_chars: args.max_output_chars,
        limits: args.sandbox.limits(Duration::from_secs(args.cell_timeout_s)),
        prices: args.price.iter().cloned().collect(),
        log_dir: args.log_dir.clone(),
        prompts,
    };
    let runtime = Runtime::new(args.sandbox.runtime_config()).context("cannot start the sandbox runtime")?;
    let rlm = Rlm::builder().runtime(runtime).root(root).sub(sub).config(config).build().map_err(|e| match e {
        rlm_engine::BuildError::Invalid(msg) => anyhow::Error::new(UsageError(msg)),
        other => anyhow::Error::new(other),
    })?;

    let progress = Arc::new(Progress::default());
    let bar = show_progress(!args.json && std::io::stderr().is_terminal(), progress.clone());
    let result = rlm.completion_with_progress(context, &args.query, progress).await;
    if let Some((bar, ticker)) = bar {
        ticker.abort();
        bar.finish_and_clear();
    }
    match result {
        Ok(done) => {
            print_answer(&args, &done)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            if args.json {
                let line = json!({
                    "answer": err.partial.answer,
                    "iterations": err.partial.iterations,
                    "sub_calls": err.partial.sub_calls,
                    "usage": err.partial.usage,
                    "elapsed_ms": err.partial.elapsed.as_secs_f64() * 1000.0,
                    "error": { "kind": err.kind, "message": ErrorChain(&err).to_string() },
                });
                println!("{line}");
            } else {
                eprintln!("rlm-sandbox: the run stopped: {}", ErrorChain(&err));
                if let Some(Value::String(last)) = &err.partial.answer {
                    eprintln!("the model's last reply was:\n{}", neutralize(last));
                }
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Formats an engine error with its source chain, without taking it.
#[derive(Debug)]
struct ErrorChain<'a>(&'a rlm_engine::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

fn models(args: &RunArgs) -> anyhow::Result<(Arc<dyn Model>, Arc<dyn Model>)> {
    let provider = match args.provider {
        ProviderArg::Openai => Provider::OpenAi,
        ProviderArg::Anthropic => Provider::Anthropic,
    };
    let key = args.api_key.clone().or_else(|| std::env::var(provider.key_env()).ok().filter(|k| !k.is_empty()));
    let config = |model: &str| {
        let mut config = ClientConfig::new(provider, model);
        if let Some(url) = &args.base_url {
            config.base_url = url.clone();
        }
        config.api_key = key.clone().map(ApiKey::new);
        config.request_timeout = Duration::from_secs(args.request_timeout_s);
        config.retry = RetryPolicy { max_retries: args.max_retries, ..RetryPolicy::default() };
        config
    };
    let client = |model: &str| Client::new(config(model)).map_err(|e| anyhow::Error::new(UsageError(e.to_string())));
    let root: Arc<dyn Model> = Arc::new(client(&args.model)?);
    let sub: Arc<dyn Model> = match &args.sub_model {
        Some(name) if name != &args.model => Arc::new(client(name)?),
        _ => root.clone(),
    };
    Ok((root, sub))
}

fn print_answer(args: &RunArgs, done: &Completion) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let line = json!({
            "answer": done.answer,
            "iterations": done.iterations,
            "sub_calls": done.sub_calls,
            "usage": done.usage,
            "elapsed_ms": done.elapsed.as_secs_f64() * 1000.0,
            "error": null,
        });
        writeln!(stdout, "{line}")?;
    } else {
        let tty = stdout.is_terminal();
        writeln!(stdout, "{}", for_stream(&answer_text(&done.answer), tty))?;
    }
    stdout.flush()?;
    Ok(())
}

/// On a terminal: a spinner on stderr with the iteration, calls in flight and
/// tokens, refreshed ten times a second.
fn show_progress(
    enabled: bool,
    progress: Arc<Progress>,
) -> Option<(indicatif::ProgressBar, tokio::task::JoinHandle<()>)> {
    if !enabled {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(100));
    let shown = bar.clone();
    let ticker = tokio::spawn(async move {
        loop {
            let p = progress.snapshot();
            shown.set_message(format!(
                "iteration {} | {} model calls in flight | {} sub-calls | {} tokens",
                p.iteration,
                p.in_flight,
                p.sub_calls,
                p.input_tokens + p.output_tokens
            ));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Some((bar, ticker))
}
