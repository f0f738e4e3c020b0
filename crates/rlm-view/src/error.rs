//! What can go wrong when rendering a log.

/// Why a log could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log has no lines (or only blank ones).
    #[error("the log is empty")]
    EmptyLog,
    /// A line of the log is not valid JSON.
    #[error("line {line} of the log is not valid JSON")]
    Json {
        /// The line's number, counting from 1.
        line: usize,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A line of the log is JSON but not an object, so the file is not a trajectory log.
    #[error("line {line} of the log is not a JSON object")]
    NotAnObject {
        /// The line's number, counting from 1.
        line: usize,
    },
}
