//! Why an eval step failed.

use std::path::PathBuf;

/// A failure of the eval library itself (bad arguments, unreadable output
/// directory). A model that answers wrongly or a solver that fails on one
/// item is not an error: it is a result with a low score or an `error` note.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A length bucket could not be parsed.
    #[error("invalid length `{value}`: {reason}")]
    InvalidLength {
        /// The text as given.
        value: String,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A task name is not one of [`Task::ALL`](crate::Task::ALL).
    #[error("unknown task `{name}` (known: {known})")]
    UnknownTask {
        /// The name as given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A result file name is not `<task>-<length>-<id>`.
    #[error("invalid item key `{value}`: expected `<task>-<length>-<id>`")]
    InvalidItemKey {
        /// The text as given.
        value: String,
    },
    /// Reading or writing a file in the output directory failed.
    #[error("cannot access `{}`", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A result file in the output directory is not valid JSON of the
    /// expected shape.
    #[error("cannot read result file `{}`", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
