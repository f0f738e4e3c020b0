//! Host-side failures of the sandbox runtime.
//!
//! A Python exception, a timeout or any other limit is *not* an [`Error`]: it
//! is a normal [`CellOutcome`](rlm_core::CellOutcome) the caller shows the
//! model. `Err` means the host itself could not do what was asked.

use std::path::PathBuf;
use std::time::Duration;

use rlm_core::ReplError;

/// What went wrong on the host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting or limit is out of range, or not usable with this runtime.
    #[error("invalid sandbox setting `{setting}`: {reason}")]
    InvalidConfig {
        /// Which setting.
        setting: &'static str,
        /// Why.
        reason: String,
    },
    /// The wasmtime engine could not be created.
    #[error("cannot create the wasmtime engine")]
    Engine(#[source] anyhow::Error),
    /// The guest component could not be compiled or loaded.
    #[error("cannot compile the guest component")]
    Compile(#[source] anyhow::Error),
    /// The compiled-component cache could not be read or written.
    #[error("cannot use the compiled-component cache at `{path}`")]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// No sandbox could start in time: every slot of the runtime's pool, or
    /// of the run's quota, stayed taken for the whole wait.
    #[error("no sandbox became free within {waited:?} ({what})")]
    Capacity {
        /// Which limit was full.
        what: &'static str,
        /// How long the new sandbox waited.
        waited: Duration,
    },
    /// A fresh instance of the guest could not be created.
    #[error("cannot instantiate a sandbox")]
    Instantiate(#[source] anyhow::Error),
    /// A call into the guest failed outside any cell (loading a context,
    /// reading variables) and the instance had to be given up.
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

impl From<Error> for ReplError {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidConfig { setting, reason } => ReplError::InvalidLimits { limit: setting, reason },
            Error::Capacity { waited, what } => ReplError::Capacity { waited, what },
            Error::Guest { action, source } => ReplError::Host { action, source: source.into() },
            other => ReplError::Host { action: "starting a sandbox", source: Box::new(other) },
        }
    }
}
