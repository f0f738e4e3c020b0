//! Why a run ended without an answer, and why an `Rlm` could not be built.

use std::fmt;

use crate::completion::Completion;

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
    /// Too many iterations in a row ended in errors, and the last request
    /// for an answer gave none.
    ErrorStreak,
    /// The model could not be called (after retries).
    Model,
    /// The sandbox host failed (not a Python error: those go to the model).
    Sandbox,
    /// The caller cancelled the run.
    Cancelled,
    /// The request's settings were invalid (an unknown model, a limit out of
    /// range); nothing ran.
    Config,
    /// The trajectory log could not be written; nothing ran.
    Log,
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
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Config => "config",
            ErrorKind::Log => "log",
        }
    }

    /// Whether a budget (rather than a failure) ended the run.
    pub fn is_budget(self) -> bool {
        matches!(
            self,
            ErrorKind::MaxIterations
                | ErrorKind::MaxTokens
                | ErrorKind::MaxCost
                | ErrorKind::Timeout
                | ErrorKind::ErrorStreak
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run that ended without an answer: a budget, the model, the host or the
/// caller stopped it. Carries everything the run did, as a [`Completion`]
/// whose `answer` is `None`.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
#[non_exhaustive]
pub struct Error {
    /// What stopped the run.
    pub kind: ErrorKind,
    /// Details, without the cause (which is the `source`).
    pub message: String,
    /// The underlying failure, for `Model` and `Sandbox`.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// What the run had done.
    pub completion: Box<Completion>,
}

/// Why an [`Rlm`](crate::Rlm) (or one request's options) is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A required part is missing.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A setting is out of range.
    #[error("invalid {setting}: {reason}")]
    Invalid {
        /// Which setting.
        setting: &'static str,
        /// Why.
        reason: String,
    },
    /// A model name is not in the registry.
    #[error("unknown model `{name}`; the registry has: {known}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The names it has.
        known: String,
    },
    /// A tool cannot be registered.
    #[error("cannot register tool `{name}`: {reason}")]
    Tool {
        /// The tool's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A cost budget needs prices (or provider-reported cost) for the models.
    #[error("a cost budget needs a price for model `{0}` (give one, or use a provider that reports cost)")]
    MissingPrice(String),
}

impl BuildError {
    pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        BuildError::Invalid { setting, reason: reason.into() }
    }
}
