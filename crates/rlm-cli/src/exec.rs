//! `rlm-sandbox exec`: run cells in one sandbox with no model behind it.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rlm_sandbox::{CellOutcome, Context, NoBackend, Runtime};
use serde_json::json;

use crate::args::{ExecArgs, UsageError};
use crate::output::{answer_text, for_stream};

/// Runs the cells and returns the exit status the help text promises.
pub async fn run(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let mut cells = args.code.clone();
    if let Some(file) = &args.file {
        cells.push(read_cell(file)?);
    }
    if cells.is_empty() {
        return Err(UsageError("nothing to run: give a FILE or at least one `-c CODE`".into()).into());
    }
    let contexts = args.context_files.iter().map(|p| read_context(p)).collect::<anyhow::Result<Vec<_>>>()?;

    let limits = args.sandbox.limits(Duration::from_millis(args.timeout_ms));
    let runtime = Runtime::new(args.sandbox.runtime_config()).context("cannot start the sandbox runtime")?;
    let mut sandbox = match runtime.sandbox(limits, Arc::new(NoBackend)).await {
        Err(rlm_sandbox::Error::InvalidConfig(msg)) => return Err(UsageError(msg).into()),
        other => other.context("cannot create a sandbox")?,
    };
    for (index, context) in contexts.into_iter().enumerate() {
        sandbox.load_context(index as u32, context).await.context("cannot load the context")?;
    }

    let (mut raised, mut limited) = (false, false);
    for code in &cells {
        let outcome = sandbox.run_cell(code).await.context("the sandbox failed")?;
        match &outcome.error {
            Some(e) if e.kind.is_limit() => limited = true,
            Some(_) => raised = true,
            None => {}
        }
        if args.json {
            print_json(&outcome)?;
        } else {
            print_plain(&outcome)?;
        }
    }
    Ok(ExitCode::from(if limited { 2 } else { u8::from(raised) }))
}

fn read_cell(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut code = String::new();
        std::io::stdin().read_to_string(&mut code).context("cannot read the cell from stdin")?;
        return Ok(code);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

/// Reads a context file: `*.json` as JSON, anything else as UTF-8 text.
pub fn read_context(path: &Path) -> anyhow::Result<Context> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read context file `{}`", path.display()))?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        let value = serde_json::from_str(&text).with_context(|| format!("`{}` is not valid JSON", path.display()))?;
        Ok(Context::Json(value))
    } else {
        Ok(Context::Text(text))
    }
}

fn print_json(outcome: &CellOutcome) -> anyhow::Result<()> {
    let line = serde_json::to_string(&json!(outcome))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

fn print_plain(outcome: &CellOutcome) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let tty = stdout.is_terminal();
    stdout.write_all(for_stream(&outcome.stdout, tty).as_bytes())?;
    if let Some(answer) = &outcome.final_value {
        writeln!(stdout, "FINAL: {}", for_stream(&answer_text(answer), tty))?;
    }
    stdout.flush()?;
    let mut stderr = std::io::stderr().lock();
    let tty = stderr.is_terminal();
    stderr.write_all(for_stream(&outcome.stderr, tty).as_bytes())?;
    stderr.flush()?;
    Ok(())
}
