//! Command-line arguments, as clap sees them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run untrusted, model-written Python in a WebAssembly sandbox, and drive
/// Recursive Language Models on top of it.
#[derive(Debug, Parser)]
#[command(name = "rlm-sandbox", version, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). `RUST_LOG`
    /// overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Python cells in one fresh sandbox, with no model behind it.
    ///
    /// Cells given with `-c` run first, in order, then FILE as one more cell,
    /// all in the same sandbox, so variables persist from cell to cell. A cell
    /// that fails does not stop the ones after it. `llm_query` and `rlm_query`
    /// fail with a clear message here.
    ///
    /// Exit status: 0 when every cell ran without error, 1 when a cell raised
    /// an exception, 2 when a limit stopped a cell, 64 for bad usage.
    Exec(ExecArgs),
}

/// Arguments of `rlm-sandbox exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// A cell to run; repeatable, cells run in order in one sandbox.
    #[arg(short = 'c', long = "code", value_name = "CODE")]
    pub code: Vec<String>,

    /// A Python file run as one cell after the `-c` cells ('-' reads stdin).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Load `context` from a file: `*.json` is parsed as JSON, anything else
    /// is text. Repeat it for `context_1`, `context_2`, ...
    #[arg(long = "context-file", value_name = "PATH")]
    pub context_files: Vec<PathBuf>,

    /// Instruction fuel per cell, or `off` to run without fuel metering
    /// (about 30% faster; the wall-clock limit still applies).
    #[arg(long, value_name = "N|off", default_value_t = Fuel::Limit(rlm_sandbox::DEFAULT_FUEL))]
    pub fuel: Fuel,

    /// Cap on the sandbox's linear memory, in MiB (at least 64).
    #[arg(long, value_name = "N", default_value_t = (rlm_sandbox::DEFAULT_MEMORY_BYTES >> 20) as u64)]
    pub memory_mb: u64,

    /// Wall-clock limit per cell, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = rlm_sandbox::DEFAULT_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,

    /// Cap on each of stdout and stderr per cell, in bytes; output past it is
    /// dropped with a visible marker and the cell stops.
    #[arg(long, value_name = "N", default_value_t = rlm_sandbox::DEFAULT_MAX_OUTPUT_BYTES as u64)]
    pub max_output_bytes: u64,

    /// Cap on `llm_query`/`rlm_query` calls per cell (each prompt of a batch
    /// counts).
    #[arg(long, value_name = "N", default_value_t = rlm_sandbox::DEFAULT_MAX_HOST_CALLS)]
    pub max_host_calls: u32,

    /// Print one JSON object per cell (JSON Lines) instead of the cell's
    /// output.
    #[arg(long)]
    pub json: bool,
}

/// The `--fuel` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fuel {
    /// This much fuel per cell.
    Limit(u64),
    /// No metering.
    Off,
}

impl std::str::FromStr for Fuel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "off" {
            return Ok(Fuel::Off);
        }
        match s.replace('_', "").parse::<u64>() {
            Ok(0) => Err("fuel must be at least 1 (or `off`)".into()),
            Ok(n) => Ok(Fuel::Limit(n)),
            Err(_) => Err(format!("`{s}` is not a number or `off`")),
        }
    }
}

impl std::fmt::Display for Fuel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fuel::Limit(n) => write!(f, "{n}"),
            Fuel::Off => f.write_str("off"),
        }
    }
}

/// A usage error found after parsing; exits with status 64.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
