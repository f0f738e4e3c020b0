//! Turns a trajectory log (JSON Lines, see `docs/log-format.md`) into one
//! self-contained HTML page that shows the run as people want to see it: the
//! recursion tree of sub-RLMs, model calls and tool calls with their
//! models, tokens, cost and latency; each iteration's prompt, reply, code,
//! output, errors and limit stops; the final answer; a timeline of
//! concurrent sub-calls; and a search over all of it.
//!
//! [`render`] builds the page; [`serve`] serves it on a loopback address
//! for `rlm-sandbox view LOG.jsonl` without `-o`. Logs written by the
//! official Python `rlms` logger (0.1.3) open too.
//!
//! The page needs no network: its script and style are inline, and the log
//! is embedded once as JSON that the script draws lazily (the tree is a
//! virtual list, the timeline a canvas), so a run with ten thousand sub-calls
//! stays responsive. Log text is untrusted (model replies, guest output): it
//! is escaped where it is embedded and only ever shown as text.
//!
//! ```
//! let log = r#"{"type": "metadata", "root_model": "gpt-4o-mini", "max_depth": 1}
//! {"type": "iteration", "iteration": 1, "response": "FINAL(42)", "code_blocks": [], "final_answer": "42"}"#;
//! let html = rlm_view::render(log, "my run")?;
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! assert!(html.contains("<title>my run</title>"));
//! # Ok::<(), rlm_view::Error>(())
//! ```
//!
//! Serving it until the process is stopped:
//!
//! ```no_run
//! # async fn demo(html: String) -> Result<(), rlm_view::Error> {
//! let server = rlm_view::serve(html, "127.0.0.1:0".parse().unwrap()).await?;
//! println!("{}", server.url());
//! server.wait().await
//! # }
//! ```
#![deny(missing_docs)]

mod error;
mod page;
mod serve;

pub use error::Error;
pub use page::render;
pub use serve::{Server, serve};
