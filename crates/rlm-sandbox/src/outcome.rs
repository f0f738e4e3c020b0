//! What running one cell produced.

use std::time::Duration;

use serde::{Serialize, Serializer};
use serde_json::Value;

/// Why a cell stopped early. Every limit has its own kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The cell raised a Python exception (including `RecursionError`).
    Exception,
    /// The cell used up its instruction fuel.
    FuelExhausted,
    /// The cell passed its wall-clock limit.
    Timeout,
    /// The cell hit the linear-memory cap.
    MemoryLimit,
    /// The cell wrote more than the stdout/stderr cap.
    OutputLimit,
    /// The cell made more host calls than allowed.
    HostCallLimit,
    /// The guest trapped for another reason (for example a stack overflow in
    /// C code).
    Trap,
}

impl ErrorKind {
    /// Whether this kind is a sandbox limit, as opposed to an exception.
    pub fn is_limit(self) -> bool {
        !matches!(self, ErrorKind::Exception)
    }

    /// The kind's name as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Exception => "exception",
            ErrorKind::FuelExhausted => "fuel_exhausted",
            ErrorKind::Timeout => "timeout",
            ErrorKind::MemoryLimit => "memory_limit",
            ErrorKind::OutputLimit => "output_limit",
            ErrorKind::HostCallLimit => "host_call_limit",
            ErrorKind::Trap => "trap",
        }
    }
}

/// An early stop of a cell.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellError {
    /// Why it stopped.
    pub kind: ErrorKind,
    /// A traceback (exceptions) or an explanation (limits).
    pub message: String,
}

/// The result of one cell.
#[derive(Clone, Debug, Serialize)]
pub struct CellOutcome {
    /// What the cell printed, cut at the cap with a visible marker.
    pub stdout: String,
    /// What the cell wrote to stderr, then the traceback of an exception.
    pub stderr: String,
    /// Set when the cell stopped early.
    pub error: Option<CellError>,
    /// The value passed to `FINAL`/`FINAL_VAR` in this cell, if any.
    #[serde(rename = "final")]
    pub final_value: Option<Value>,
    /// User variables the cell added or changed, in name order. Empty when
    /// the state was lost.
    pub changed_vars: Vec<String>,
    /// Fuel the cell used, when fuel is metered.
    pub fuel_used: Option<u64>,
    /// Wall-clock time of the cell.
    #[serde(rename = "elapsed_ms", serialize_with = "millis")]
    pub elapsed: Duration,
    /// `true` when the cell was stopped so hard that its instance had to be
    /// replaced: every variable is gone and the contexts were reloaded.
    pub state_lost: bool,
}

impl CellOutcome {
    /// Whether the cell ran to the end (or to `FINAL`) without an error.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}
