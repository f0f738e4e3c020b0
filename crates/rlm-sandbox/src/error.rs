//! Host-side failures of the sandbox runtime.
//!
//! A Python exception, a timeout or any other limit is *not* an [`Error`]: it
//! is a normal [`CellOutcome`](crate::CellOutcome) the caller shows the model.
//! `Err` means the host itself could not do what was asked.

use std::path::PathBuf;

/// What went wrong on the host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range.
    #[error("invalid sandbox configuration: {0}")]
    InvalidConfig(String),
    /// The wasmtime engine could not be created.
    #[error("cannot create the wasmtime engine")]
    Engine(#[source] anyhow::Error),
    /// The guest component could not be compiled or loaded.
    #[error("cannot compile the guest component")]
    Compile(#[source] anyhow::Error),
    /// The compiled-component cache could not be written.
    #[error("cannot write the compiled-component cache at `{path}`")]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A fresh instance of the guest could not be created.
    #[error("cannot instantiate a sandbox")]
    Instantiate(#[source] anyhow::Error),
    /// The guest refused a context (for example JSON it could not parse).
    #[error("cannot load context {index}: {message}")]
    Context {
        /// Which context (`context_{index}`).
        index: u32,
        /// The guest's explanation.
        message: String,
    },
    /// A call into the guest failed outside any cell (loading a context,
    /// reading variables).
    #[error("the sandbox failed while {action}")]
    Guest {
        /// What the host was doing.
        action: &'static str,
        /// The trap or host error.
        #[source]
        source: anyhow::Error,
    },
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
