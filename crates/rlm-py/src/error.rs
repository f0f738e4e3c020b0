//! What can go wrong in the bridge itself, and how it reaches Python.
//!
//! A run that stops (a budget, the model, the sandbox, Ctrl-C) is not an
//! [`Error`]: it is a result the Python side turns into its own exception
//! classes, with the partial answer and usage. These are the failures
//! before or around a run: a bad setting (`ValueError`) or a host failure
//! (`RuntimeError`).

use pyo3::PyErr;
use pyo3::exceptions::{PyRuntimeError, PyValueError};

/// A failure of the bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Error {
    /// A setting the Python side passed is malformed or out of range.
    #[error("{0}")]
    Config(String),
    /// The engine refused the settings.
    #[error(transparent)]
    Build(#[from] rlm_engine::BuildError),
    /// A model client could not be made.
    #[error("cannot create the client of model `{model}`")]
    Client {
        /// The model.
        model: String,
        /// Why.
        #[source]
        source: rlm_llm::Error,
    },
    /// The sandbox runtime or a sandbox failed on the host.
    #[error(transparent)]
    Sandbox(rlm_sandbox::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime")]
    Tokio(#[source] std::io::Error),
    /// The object was closed.
    #[error("{0} is closed")]
    Closed(&'static str),
}

impl Error {
    /// A malformed setting, with the JSON error that found it.
    pub(crate) fn json(what: &str, error: serde_json::Error) -> Self {
        Error::Config(format!("invalid {what}: {error}"))
    }

    /// The message with every cause, once each.
    fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let next = cause.to_string();
            if !text.ends_with(&next) {
                text.push_str(": ");
                text.push_str(&next);
            }
            source = cause.source();
        }
        text
    }
}

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        let message = error.chain();
        match error {
            Error::Config(_) | Error::Build(_) | Error::Client { .. } => PyValueError::new_err(message),
            Error::Sandbox(rlm_sandbox::Error::InvalidConfig { .. }) => PyValueError::new_err(message),
            Error::Sandbox(_) | Error::Tokio(_) | Error::Closed(_) => PyRuntimeError::new_err(message),
        }
    }
}
