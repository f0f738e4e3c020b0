//! What `run` shows on a terminal while it works: a progress line, or with
//! `-v` the whole run as it happens; and the summary at the end. All of it
//! goes to stderr, built from the engine's run events.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rlm_engine::{Event, EventKind, EventSink, Usage};

use crate::output::{Style, guest_text};

/// Lines of a model reply shown in verbose mode before it is cut.
const REPLY_LINES: usize = 40;
/// Characters of a block's output shown in verbose mode.
const OUTPUT_CHARS: usize = 2000;

/// Counters the progress line shows.
#[derive(Debug, Default)]
struct Counters {
    iteration: u32,
    max_iterations: u32,
    in_flight: i64,
    sub_calls: u64,
    usage: Usage,
}

/// The live display of one run.
#[derive(Clone)]
pub struct Display {
    counters: Arc<Mutex<Counters>>,
    verbose: bool,
    style: Style,
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
}

impl Display {
    /// A display for a run: verbose prints every event; otherwise a progress
    /// line when stderr is a terminal; nothing when `quiet`.
    pub fn new(verbose: bool, quiet: bool) -> Self {
        let stderr = std::io::stderr();
        let style = Style::for_stream(&stderr);
        let bar = (!verbose && !quiet && std::io::IsTerminal::is_terminal(&stderr)).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Display { counters: Arc::default(), verbose, style, bar, started: Instant::now() }
    }

    /// The event sink that feeds this display (and `--events`, if given).
    pub fn sink(&self, events_file: Option<Arc<Mutex<std::fs::File>>>) -> EventSink {
        let display = self.clone();
        Arc::new(move |event: &Event| {
            if let Some(file) = &events_file
                && let Ok(line) = serde_json::to_string(event)
            {
                let mut file = file.lock().unwrap();
                let _ = writeln!(file, "{line}");
            }
            display.update(event);
        })
    }

    fn update(&self, event: &Event) {
        let mut c = self.counters.lock().unwrap();
        match &event.kind {
            EventKind::IterationStarted { iteration, max_iterations } if event.depth == 0 => {
                c.iteration = *iteration;
                c.max_iterations = *max_iterations;
            }
            EventKind::SubCallStarted { .. } => {
                c.in_flight += 1;
                c.sub_calls += 1;
            }
            EventKind::SubCallFinished { .. } => c.in_flight -= 1,
            EventKind::Usage { usage } => c.usage = (**usage).clone(),
            _ => {}
        }
        if let Some(bar) = &self.bar {
            bar.set_message(self.progress_line(&c));
        }
        let so_far = format!("run so far: {} tokens, {}", c.usage.total.tokens(), cost(&c.usage));
        drop(c);
        if self.verbose {
            self.print(event, &so_far);
        }
    }

    fn progress_line(&self, c: &Counters) -> String {
        format!(
            "iteration {}/{} | {} sub-calls in flight | {} sub-calls | {} tokens | {} | {:.1}s",
            c.iteration,
            c.max_iterations,
            c.in_flight.max(0),
            c.sub_calls,
            c.usage.total.tokens(),
            cost(&c.usage),
            self.started.elapsed().as_secs_f64()
        )
    }

    /// Prints `event` as a verbose line; `so_far` is the run's usage and
    /// cost up to it.
    fn print(&self, event: &Event, so_far: &str) {
        let s = &self.style;
        let indent = "  ".repeat(event.depth as usize);
        let mut out = String::new();
        let mut line = |text: &str| {
            for l in text.lines() {
                out.push_str(&indent);
                out.push_str(l);
                out.push('\n');
            }
        };
        match &event.kind {
            EventKind::RunStarted { model, max_iterations, parent } => {
                let what = if parent.is_some() { "sub-RLM" } else { "run" };
                line(
                    &s.host(&format!("── {what} {} (model {model}, up to {max_iterations} iterations)", event.run_id)),
                );
            }
            EventKind::IterationStarted { iteration, max_iterations } => {
                line(&s.host(&format!("── iteration {iteration}/{max_iterations}")));
            }
            EventKind::ModelReply { text, reasoning, usage, finish_reason, .. } => {
                if let Some(r) = reasoning {
                    line(&s.dim(&format!("(reasoning, {} characters, not run)", r.chars().count())));
                }
                line(&cut_lines(&guest_text(text, true), REPLY_LINES));
                line(&s.dim(&format!(
                    "[{} in + {} out tokens, finish: {finish_reason}; {so_far}]",
                    usage.input_tokens, usage.output_tokens
                )));
            }
            EventKind::CodeStarted { block, .. } => line(&s.host(&format!("▶ block {block}"))),
            EventKind::CodeFinished { stdout, stderr, error, state_lost, seconds, .. } => {
                if !stdout.is_empty() {
                    line(&cut_chars(&guest_text(stdout, true), OUTPUT_CHARS));
                }
                if !stderr.is_empty() {
                    line(&s.error(&cut_chars(&guest_text(stderr, true), OUTPUT_CHARS)));
                }
                let status = match error {
                    Some(kind) => s.error(&format!("stopped: {kind}")),
                    None => s.good("ok"),
                };
                let lost = if *state_lost { ", sandbox restarted" } else { "" };
                line(&s.dim(&format!("[block {status} in {seconds:.2}s{lost}]")));
            }
            EventKind::SubCallFinished { kind, name, error, seconds, .. } => {
                let status = match error {
                    Some(e) => s.error(&format!("failed: {}", cut_chars(&guest_text(e, true), 200))),
                    None => s.good("ok"),
                };
                line(&format!("↳ {kind} {name} (depth {}) {status} in {seconds:.2}s", event.depth + 1));
            }
            EventKind::Note { text, .. } => line(&s.dim(&format!("note: {text}"))),
            EventKind::FinalAnswer { answer } if event.depth == 0 => {
                line(&s.good(&format!("FINAL: {}", cut_chars(&guest_text(&answer.as_text(), true), OUTPUT_CHARS))));
            }
            EventKind::Error { kind, message } => line(&s.error(&format!("stopped ({kind}): {message}"))),
            _ => {}
        }
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(out.as_bytes());
    }

    /// Clears the progress line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The one-line summary printed at the end.
    pub fn summary(&self, iterations: u32, sub_calls: u64, usage: &Usage, log: Option<&std::path::Path>) -> String {
        let log = log.map(|p| format!(" | log: {}", p.display())).unwrap_or_default();
        format!(
            "{} iteration(s) | {sub_calls} sub-calls | {} tokens | {} | {:.1}s{log}",
            iterations,
            usage.total.tokens(),
            cost(usage),
            self.started.elapsed().as_secs_f64()
        )
    }

    /// The style of stderr.
    pub fn style(&self) -> Style {
        self.style
    }
}

fn cost(usage: &Usage) -> String {
    match usage.total.cost {
        Some(c) => format!("${c:.4}"),
        None if usage.known_cost > 0.0 => format!("${:.4}+ (some models unpriced)", usage.known_cost),
        None => "cost unknown (no --price)".to_owned(),
    }
}

fn cut_lines(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max {
        return text.to_owned();
    }
    format!("{}\n[... {} more lines]", lines[..max].join("\n"), lines.len() - max)
}

fn cut_chars(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}\n[... {} more characters]", count - max)
}
