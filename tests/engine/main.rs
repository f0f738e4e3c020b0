//! End-to-end tests of the RLM engine and model clients against the mock
//! model server on 127.0.0.1.

/// The embedder's API: request metadata, shared limits, budget().
mod api;
/// Budgets: iterations, error streak, tokens, cost, wall time.
mod budgets;
/// The runnable examples, driven by a mock model that writes good code.
mod examples;
/// Provider faults: each ends in a retry or a clear error.
mod faults;
/// The JSONL trajectory log.
mod log;
/// Replies shaped the way real models write them.
mod replies;
/// The root loop: code, output, FINAL forms.
mod rlm_loop;
/// Candidate search, routing by context length, typed answers.
mod srlm;
/// Sub-calls, batching, concurrency and recursion.
mod subcalls;
/// Host tools, helpers, sessions and run events.
mod tools;
/// The logs open in the official rlms visualizer.
mod visualizer;
