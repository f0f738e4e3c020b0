//! How a cell ended: its error kind, decided from what the host saw.
//!
//! The guest only says whether model code raised. Every limit kind comes from
//! a host fact: a trap, the deadline cutting a sleep or a call, output or
//! calls refused, memory refused, a value refused. So raising the driver's
//! own `CellTimeout` from model code is an exception, and catching a refused
//! call's error does not hide the limit.

use rlm_core::{CellError, CellErrorKind, Limits};
use wasmtime::Trap;

use crate::bindings::repl::CellStatus;
use crate::host::Facts;

/// How the call into the guest returned.
pub(crate) enum Returned {
    /// The guest returned this status.
    Status(CellStatus),
    /// The guest trapped.
    Trapped(anyhow::Error),
    /// The host gave up waiting (blocked outside wasm past every grace).
    Abandoned,
}

/// What the host saw of one cell.
pub(crate) struct Seen<'a> {
    pub(crate) returned: Returned,
    pub(crate) facts: &'a Facts,
    pub(crate) memory_denied: bool,
    pub(crate) quota_denied: bool,
    pub(crate) output_cut: bool,
    pub(crate) traceback: Option<&'a str>,
    pub(crate) driver_message: Option<&'a str>,
}

/// The cell's error, and whether its instance must be replaced.
pub(crate) fn classify(seen: &Seen<'_>, limits: &Limits) -> (Option<CellError>, bool) {
    let limit = |kind| Some(limit_error(kind, seen, limits));
    match &seen.returned {
        Returned::Abandoned => (limit(CellErrorKind::Timeout), true),
        Returned::Trapped(err) => (Some(trap_error(err, seen, limits)), true),
        Returned::Status(CellStatus::DriverFailed) => {
            let message = seen.driver_message.unwrap_or("the REPL driver failed").to_owned();
            (Some(CellError::new(CellErrorKind::Trap, message)), true)
        }
        Returned::Status(status) => {
            let error = if seen.facts.deadline_hit {
                limit(CellErrorKind::Timeout)
            } else if seen.memory_denied {
                limit(CellErrorKind::MemoryLimit)
            } else if seen.output_cut {
                limit(CellErrorKind::OutputLimit)
            } else if seen.facts.calls_refused {
                limit(CellErrorKind::HostCallLimit)
            } else if seen.facts.size_refused.is_some() {
                limit(CellErrorKind::SizeLimit)
            } else if *status == CellStatus::Raised {
                let message = seen.traceback.unwrap_or("the cell raised an exception").to_owned();
                Some(CellError::new(CellErrorKind::Exception, message))
            } else {
                None
            };
            (error, false)
        }
    }
}

fn limit_error(kind: CellErrorKind, seen: &Seen<'_>, limits: &Limits) -> CellError {
    let message = match kind {
        CellErrorKind::Timeout => format!("the cell passed its wall-clock limit of {:?}", limits.timeout),
        CellErrorKind::OutputLimit => format!(
            "the cell's output passed the cap of {} bytes per stream; the rest was dropped",
            limits.max_output_bytes
        ),
        CellErrorKind::HostCallLimit => format!(
            "the cell asked for more than {} host calls (llm_query, rlm_query, tools); the rest were refused",
            limits.max_host_calls
        ),
        CellErrorKind::FuelExhausted => {
            format!("the cell used up its fuel of {} instructions", limits.fuel.unwrap_or_default())
        }
        CellErrorKind::MemoryLimit if seen.quota_denied => {
            "the run's budget for the memory of all its sandboxes is used up".to_owned()
        }
        CellErrorKind::MemoryLimit => format!("the cell passed the memory cap of {} MiB", limits.memory_bytes >> 20),
        CellErrorKind::SizeLimit => {
            format!("the host refused a value: {}", seen.facts.size_refused.as_deref().unwrap_or("over the size cap"))
        }
        _ => "the cell failed".to_owned(),
    };
    CellError::new(kind, message)
}

fn trap_error(err: &anyhow::Error, seen: &Seen<'_>, limits: &Limits) -> CellError {
    let limit = |kind| limit_error(kind, seen, limits);
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => limit(CellErrorKind::FuelExhausted),
        Some(Trap::Interrupt) => limit(CellErrorKind::Timeout),
        _ if seen.memory_denied => limit(CellErrorKind::MemoryLimit),
        Some(Trap::StackOverflow) => {
            CellError::new(CellErrorKind::Trap, "the guest overflowed its wasm stack (deep recursion in C code)")
        }
        _ => CellError::new(CellErrorKind::Trap, format!("the guest trapped: {err:#}")),
    }
}
