//! Why a run ended without an answer.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::trajectory::Trajectory;
use crate::usage::Usage;

/// What stopped the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The iterations ran out and the last call gave no final answer.
    MaxIterations,
    /// The token budget was spent.
    MaxTokens,
    /// The cost budget was spent.
    MaxCost,
    /// The wall-clock budget was spent.
    Timeout,
    /// Too many iterations in a row ended in errors.
    ErrorStreak,
    /// The model could not be called (after retries).
    Model,
    /// The sandbox host failed (not a Python error: those go to the model).
    Sandbox,
}

impl ErrorKind {
    /// The kind's name as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MaxIterations => "max_iterations",
            ErrorKind::MaxTokens => "max_tokens",
            ErrorKind::MaxCost => "max_cost",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ErrorStreak => "error_streak",
            ErrorKind::Model => "model",
            ErrorKind::Sandbox => "sandbox",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a run had done when it stopped.
#[derive(Clone, Debug, Default)]
pub struct Partial {
    /// The best answer available: the last reply of the root model.
    pub answer: Option<Value>,
    /// Root iterations completed.
    pub iterations: u32,
    /// Tokens and calls spent.
    pub usage: Usage,
    /// `llm_query`/`rlm_query` calls made.
    pub sub_calls: u64,
    /// Time spent.
    pub elapsed: Duration,
    /// Every iteration so far.
    pub trajectory: Trajectory,
}

/// A run that ended without an answer: a budget, the model or the host
/// stopped it. Carries everything the run did.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    /// What stopped the run.
    pub kind: ErrorKind,
    /// Details.
    pub message: String,
    /// The underlying failure, for `Model` and `Sandbox`.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// What the run had done.
    pub partial: Box<Partial>,
}

/// Why an [`Rlm`](crate::Rlm) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is missing or out of range.
    #[error("invalid RLM configuration: {0}")]
    Invalid(String),
    /// The sandbox runtime could not start.
    #[error("cannot start the sandbox runtime")]
    Sandbox(#[from] rlm_sandbox::Error),
}
