//! Integration tests of rlm-eval, one binary split by concern.

/// The runner: concurrency, resuming from an output directory, reports.
mod runner;
/// The scripted policy run under the local `python3`, scored end to end.
mod scripted;
