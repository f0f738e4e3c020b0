//! Live counters of a run, for progress displays.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use rlm_llm::TokenUsage;

/// Counters a run updates as it goes; read them from another task to show
/// progress. All counts include sub-calls at every depth.
#[derive(Debug, Default)]
pub struct Progress {
    iteration: AtomicU32,
    in_flight: AtomicUsize,
    model_calls: AtomicU64,
    sub_calls: AtomicU64,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
}

/// A reading of [`Progress`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// The root's current iteration.
    pub iteration: u32,
    /// Model calls waiting for a reply right now.
    pub in_flight: usize,
    /// Model calls finished.
    pub model_calls: u64,
    /// `llm_query` and `rlm_query` calls started.
    pub sub_calls: u64,
    /// Input tokens so far.
    pub input_tokens: u64,
    /// Output tokens so far.
    pub output_tokens: u64,
}

impl Progress {
    /// The current counts.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            iteration: self.iteration.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            model_calls: self.model_calls.load(Ordering::Relaxed),
            sub_calls: self.sub_calls.load(Ordering::Relaxed),
            input_tokens: self.input_tokens.load(Ordering::Relaxed),
            output_tokens: self.output_tokens.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn iteration(&self, n: u32) {
        self.iteration.store(n, Ordering::Relaxed);
    }

    pub(crate) fn sub_call(&self) {
        self.sub_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn call_started(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub(crate) fn tokens(&self, usage: TokenUsage) {
        self.input_tokens.fetch_add(usage.input_tokens, Ordering::Relaxed);
        self.output_tokens.fetch_add(usage.output_tokens, Ordering::Relaxed);
    }
}

/// Counts a model call as in flight until dropped.
pub(crate) struct InFlight<'a>(&'a Progress);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.model_calls.fetch_add(1, Ordering::Relaxed);
    }
}
