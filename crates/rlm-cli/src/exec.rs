//! `rlm-sandbox exec`: run cells in one sandbox with no model behind it.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rlm_core::{CellOutcome, Context, JsonText, NoBackend};
use rlm_sandbox::Runtime;

use crate::args::{ExecArgs, UsageError};
use crate::output::{Style, answer_text, guest_text};

/// Runs the cells and returns the exit status the help text promises.
pub async fn run(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let mut cells = args.code.clone();
    if let Some(file) = &args.file {
        cells.push(read_cell(file)?);
    }
    if cells.is_empty() {
        return Err(UsageError("nothing to run: give a FILE or at least one `-c CODE`".into()).into());
    }
    let contexts = args.context_files.iter().map(|p| read_context(p)).collect::<Result<Vec<_>, _>>()?;
    let limits = args.sandbox.checked_limits(Duration::from_millis(args.timeout_ms))?;
    // One sandbox: learning which pages sandboxes write would cost more
    // than it could save.
    let runtime = crate::start_runtime(args.sandbox.runtime_config().prefault(false))?;
    let mut sandbox = sandbox(&runtime, limits).await?;
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

async fn sandbox(runtime: &Runtime, limits: rlm_core::Limits) -> anyhow::Result<rlm_sandbox::Sandbox> {
    match runtime.sandbox(limits, Arc::new(NoBackend)).await {
        Err(e @ rlm_sandbox::Error::InvalidConfig { .. }) => Err(UsageError(e.to_string()).into()),
        other => other.context("cannot create a sandbox"),
    }
}

fn read_cell(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut code = String::new();
        std::io::stdin().read_to_string(&mut code).context("cannot read the cell from stdin")?;
        return Ok(code);
    }
    std::fs::read_to_string(path).map_err(|e| UsageError(format!("cannot read `{}`: {e}", path.display())).into())
}

/// Reads a context file: `*.json` as JSON (key order and big integers
/// kept), anything else as UTF-8 text. A missing or invalid file is a usage
/// error.
pub fn read_context(path: &Path) -> Result<Context, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read context file `{}`: {e}", path.display())))?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        let json = JsonText::parse(&text, usize::MAX)
            .map_err(|e| UsageError(format!("`{}` is not valid JSON: {e}", path.display())))?;
        Ok(Context::from(json))
    } else {
        Ok(Context::from(text))
    }
}

fn print_json(outcome: &CellOutcome) -> anyhow::Result<()> {
    let line = serde_json::to_string(outcome)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

fn print_plain(outcome: &CellOutcome) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let tty = stdout.is_terminal();
    let style = Style::for_stream(&stdout);
    stdout.write_all(guest_text(&outcome.stdout, tty).as_bytes())?;
    if let Some(display) = &outcome.display {
        writeln!(stdout, "{}", guest_text(display, tty))?;
    }
    if let Some(answer) = &outcome.final_value {
        writeln!(stdout, "{} {}", style.host("FINAL:"), guest_text(&answer_text(answer), tty))?;
    }
    stdout.flush()?;
    let mut stderr = std::io::stderr().lock();
    let tty = stderr.is_terminal();
    let style = Style::for_stream(&stderr);
    stderr.write_all(guest_text(&outcome.stderr, tty).as_bytes())?;
    if let Some(e) = outcome.error.as_ref().filter(|e| e.kind.is_limit()) {
        writeln!(stderr, "{} {}: {}", style.host("rlm-sandbox:"), e.kind, e.message)?;
    }
    for notice in &outcome.notices {
        writeln!(stderr, "{} {notice}", style.host("rlm-sandbox:"))?;
    }
    stderr.flush()?;
    Ok(())
}
