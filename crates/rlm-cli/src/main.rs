//! The `rlm-sandbox` command-line tool.

// Printing results and errors is this binary's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

mod args;
mod chat;
mod display;
mod eval;
mod exec;
mod mcp;
mod models;
mod output;
mod run;
mod serve;
mod view;

/// Exit status for bad usage (sysexits `EX_USAGE`).
pub(crate) const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { ExitCode::from(EXIT_USAGE) } else { ExitCode::SUCCESS };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("rlm-sandbox: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("rlm-sandbox: {err:#}");
            ExitCode::from(if err.downcast_ref::<args::UsageError>().is_some() { EXIT_USAGE } else { 1 })
        }
    }
}

async fn run(cli: args::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        args::Command::Exec(exec) => {
            init_tracing(cli.verbose);
            exec::run(exec).await
        }
        args::Command::Run(args) => {
            // -v shows the run; logs start at -vv.
            init_tracing(cli.verbose.saturating_sub(1));
            run::run(*args, cli.verbose > 0).await
        }
        args::Command::Chat(args) => {
            init_tracing(cli.verbose.saturating_sub(1));
            chat::run(*args, cli.verbose > 0).await
        }
        args::Command::Eval(args) => {
            init_tracing(cli.verbose);
            eval::run(*args).await
        }
        args::Command::View(args) => {
            init_tracing(cli.verbose);
            view::run(args).await
        }
        args::Command::Serve(args) => {
            // A service logs what it does by default.
            init_tracing(cli.verbose.saturating_add(1));
            serve::run(*args).await
        }
    }
}

/// Starts the sandbox runtime, saying on stderr when it compiles the guest
/// (the first run on a machine) and how long that took.
pub(crate) fn start_runtime(config: rlm_sandbox::RuntimeConfig) -> anyhow::Result<rlm_sandbox::Runtime> {
    let config = config.on_start(|event| match event {
        rlm_sandbox::StartEvent::Compiling => {
            eprintln!("rlm-sandbox: compiling the sandbox guest (first run only; cached afterwards)...")
        }
        rlm_sandbox::StartEvent::Compiled(took) => {
            eprintln!("rlm-sandbox: compiled the sandbox guest in {:.1}s", took.as_secs_f64())
        }
        rlm_sandbox::StartEvent::CacheUnwritable => eprintln!(
            "rlm-sandbox: warning: cannot write the compiled-guest cache; running from memory (the next run compiles again)"
        ),
        _ => {}
    });
    rlm_sandbox::Runtime::new(config).context("cannot start the sandbox runtime")
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env(rlm_core::env::RUST_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
