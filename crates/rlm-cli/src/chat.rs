//! `rlm-sandbox chat`: one session, many queries, on a terminal or from a
//! script.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rlm_core::Context;
use rlm_engine::{Cancel, Session, Trajectory};

use crate::args::{ChatArgs, UsageError};
use crate::display::Display;
use crate::exec::read_context;
use crate::output::{answer_text, guest_text, neutralize_for};

const HELP: &str = "Type a query, or a command:
  /vars          the REPL's variables
  /context FILE  add a context (context_1, context_2, ...)
  /reset         forget the REPL, the conversation and the history
  /save FILE     write the session's trajectory (JSONL, the rlms log format)
  /help          this text
  /quit          end the session (or Ctrl-D)
Ctrl-C cancels the query that is running.";

/// Where the lines come from: a line editor on a terminal, else stdin.
enum Input {
    Editor(Box<rustyline::DefaultEditor>),
    Lines(std::io::StdinLock<'static>),
}

impl Input {
    /// The next line; `None` at the end of input.
    fn next(&mut self) -> anyhow::Result<Option<String>> {
        match self {
            Input::Editor(editor) => loop {
                // rustyline blocks this thread; the runtime has others.
                match tokio::task::block_in_place(|| editor.readline("rlm> ")) {
                    Ok(line) => {
                        if !line.trim().is_empty() {
                            let _ = editor.add_history_entry(line.as_str());
                        }
                        return Ok(Some(line));
                    }
                    // Ctrl-C at the prompt clears the line, as a shell does.
                    Err(rustyline::error::ReadlineError::Interrupted) => continue,
                    Err(rustyline::error::ReadlineError::Eof) => return Ok(None),
                    Err(e) => return Err(e).context("cannot read the terminal"),
                }
            },
            Input::Lines(stdin) => {
                let mut line = String::new();
                let read = tokio::task::block_in_place(|| stdin.read_line(&mut line)).context("cannot read stdin")?;
                Ok((read > 0).then_some(line))
            }
        }
    }
}

/// Runs the session until the input ends.
pub async fn run(args: ChatArgs, verbose: bool) -> anyhow::Result<ExitCode> {
    let context = match &args.context {
        Some(path) => read_context(path)?,
        None => Context::default(),
    };
    let mcp = crate::mcp::McpTools::connect(&args.engine).await?;
    let rlm = crate::run::build(&args.engine, &mcp.tools)?;
    if let Some(dir) = &args.engine.log_dir {
        crate::run::check_writable(dir)?;
    }
    let events_file = match &args.events {
        Some(path) => Some(Arc::new(Mutex::new(
            std::fs::File::create(path).map_err(|e| UsageError(format!("cannot write `{}`: {e}", path.display())))?,
        ))),
        None => None,
    };
    let interactive = std::io::stdin().is_terminal();
    let mut input = if interactive {
        let editor = rustyline::DefaultEditor::new().context("cannot start the line editor")?;
        eprintln!("rlm-sandbox chat: type a query, /help for commands, Ctrl-D to end.");
        Input::Editor(Box::new(editor))
    } else {
        Input::Lines(std::io::stdin().lock())
    };
    let mut session = rlm.session(context);
    let mut saved: Vec<Trajectory> = Vec::new();
    while let Some(line) = input.next()? {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(command) = line.strip_prefix('/') {
            if !command_(command, &mut session, &saved).await? {
                break;
            }
            continue;
        }
        let display = Display::new(verbose, false);
        let cancel = Cancel::new();
        let watcher = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    cancel.cancel();
                }
            })
        };
        let result = session.request(line).cancel(cancel).events(display.sink(events_file.clone())).send().await;
        watcher.abort();
        display.finish();
        let style = display.style();
        let completion = match &result {
            Ok(done) => done,
            Err(e) => &*e.completion,
        };
        saved.push(completion.trajectory.clone());
        let mut stdout = std::io::stdout().lock();
        match &result {
            Ok(done) => {
                let answer = done.answer.as_ref().map(answer_text).unwrap_or_default();
                writeln!(stdout, "{}", neutralize_for(&answer, stdout.is_terminal()))?;
            }
            Err(e) => {
                eprintln!("{} the query stopped: {e}", style.error("rlm-sandbox:"));
                if let Some(last) = &completion.last_reply {
                    eprintln!("the model's last reply was:\n{}", guest_text(last, std::io::stderr().is_terminal()));
                }
            }
        }
        stdout.flush()?;
        let summary = display.summary(completion.iterations, completion.sub_calls, &completion.usage, None);
        eprintln!("{} {}", style.dim("rlm-sandbox:"), style.dim(&summary));
    }
    drop(session);
    mcp.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Runs a `/command`; `false` ends the session.
async fn command_(command: &str, session: &mut Session, saved: &[Trajectory]) -> anyhow::Result<bool> {
    let (name, arg) = command.split_once(char::is_whitespace).unwrap_or((command, ""));
    let arg = arg.trim();
    let mut stdout = std::io::stdout().lock();
    match name {
        "quit" | "exit" => return Ok(false),
        "help" => writeln!(stdout, "{HELP}")?,
        "reset" => {
            session.reset();
            writeln!(stdout, "The session starts afresh.")?;
        }
        "vars" => match session.vars().await {
            Ok(vars) if vars.is_empty() => writeln!(stdout, "(no variables)")?,
            Ok(vars) => {
                for v in vars {
                    writeln!(stdout, "{}: {}", guest_text(&v.name, stdout.is_terminal()), v.type_name)?;
                }
            }
            Err(e) => eprintln!("rlm-sandbox: cannot list the variables: {e}"),
        },
        "context" if !arg.is_empty() => match read_context(Path::new(arg)) {
            Ok(context) => {
                let index = session.add_context(context);
                writeln!(stdout, "Added `context_{index}`; the next query sees it.")?;
            }
            Err(e) => eprintln!("rlm-sandbox: {e}"),
        },
        "save" if !arg.is_empty() => match save(Path::new(arg), saved) {
            Ok(()) => writeln!(stdout, "Wrote {} queries to {arg}.", saved.len())?,
            Err(e) => eprintln!("rlm-sandbox: cannot write `{arg}`: {e}"),
        },
        _ => eprintln!("rlm-sandbox: unknown command `/{command}`; /help lists them"),
    }
    Ok(true)
}

/// Writes every query's trajectory: its metadata line, then its iterations.
fn save(path: &Path, saved: &[Trajectory]) -> std::io::Result<()> {
    let text: String = saved.iter().map(Trajectory::to_jsonl).collect();
    std::fs::write(path, text)
}
