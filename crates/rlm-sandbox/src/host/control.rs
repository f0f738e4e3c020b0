//! `host.write-output`, `host.final`, `host.report` and `host.sleep`.

use std::time::{Duration, Instant};

use rlm_core::{FunctionInfo, JsonText};
use serde::de::DeserializeOwned;
use wasmtime::StoreContextMut;
use wasmtime::component::{LinkerInstance, WasmList};

use super::HostState;
use crate::bindings::host::{OutputStream, ReportKind};
use crate::output::cap_text;

/// Cap on the `repr` of a cell's trailing expression.
const MAX_DISPLAY_BYTES: usize = 16 << 10;
/// Cap on a `message` report (why loading, reading or installing failed).
const MAX_MESSAGE_BYTES: usize = 64 << 10;

pub(super) fn add_to_linker(instance: &mut LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    instance.func_wrap(
        "write-output",
        |mut store: StoreContextMut<'_, HostState>, (which, data): (OutputStream, WasmList<u8>)| {
            store.data().check_hard_deadline()?;
            let stderr = which == OutputStream::Stderr;
            let output = store.data().output.clone();
            // Only the bytes that fit are read out of guest memory.
            let room = output.room(stderr);
            let bytes = &data.as_le_slice(&store)[..data.len().min(room)];
            let kept = output.push(stderr, bytes, data.len());
            let _ = &mut store;
            Ok((kept,))
        },
    )?;
    instance.func_wrap("final", |mut store: StoreContextMut<'_, HostState>, (value,): (WasmList<u8>,)| {
        store.data().check_hard_deadline()?;
        Ok((take_final(&mut store, &value),))
    })?;
    instance.func_wrap(
        "report",
        |mut store: StoreContextMut<'_, HostState>, (kind, data): (ReportKind, WasmList<u8>)| {
            store.data().check_hard_deadline()?;
            take_report(&mut store, kind, &data);
            Ok(())
        },
    )?;
    instance.func_wrap_async("sleep", |mut store: StoreContextMut<'_, HostState>, (duration_ns,): (u64,)| {
        Box::new(async move {
            let deadline = store.data().call.deadline;
            let wanted = Instant::now() + Duration::from_nanos(duration_ns);
            let until = wanted.min(deadline);
            tokio::time::sleep_until(until.into()).await;
            let completed = until == wanted;
            if !completed {
                store.data_mut().call.cut_at_deadline();
            }
            Ok((completed,))
        })
    })
}

/// Records a final answer; returns why it was refused, if it was.
fn take_final(store: &mut StoreContextMut<'_, HostState>, value: &WasmList<u8>) -> Option<String> {
    let state = store.data();
    if !state.call.in_cell {
        return Some("FINAL can only be called from a cell".into());
    }
    let limit = state.limits.max_value_bytes;
    let parsed = if value.len() > limit {
        Err(format!("the answer is {} bytes of JSON; the limit is {limit} bytes", value.len()))
    } else {
        let text = String::from_utf8_lossy(value.as_le_slice(&*store));
        JsonText::parse(&text, limit).map_err(|e| format!("the answer cannot be returned faithfully: {e}"))
    };
    let state = store.data_mut();
    match parsed {
        Ok(json) => {
            state.call.final_value = Some(json);
            None
        }
        Err(message) => {
            state.call.facts.size_refused = Some(message.clone());
            Some(message)
        }
    }
}

fn take_report(store: &mut StoreContextMut<'_, HostState>, kind: ReportKind, data: &WasmList<u8>) {
    let limits = store.data().limits.clone();
    let cap = match kind {
        ReportKind::Traceback | ReportKind::ChangedVars | ReportKind::Vars | ReportKind::Functions => {
            limits.max_output_bytes
        }
        ReportKind::Display => MAX_DISPLAY_BYTES,
        ReportKind::Message => MAX_MESSAGE_BYTES,
        ReportKind::Value => limits.max_value_bytes,
    };
    if matches!(kind, ReportKind::ChangedVars | ReportKind::Vars) {
        let vars = var_lines(data.as_le_slice(&*store), cap);
        let reports = &mut store.data_mut().call.reports;
        if kind == ReportKind::ChangedVars {
            reports.changed_vars = Some(vars);
        } else {
            reports.vars = Some(vars.0);
        }
        return;
    }
    // Text reports keep their head; structured ones are refused whole.
    let text_report = matches!(kind, ReportKind::Traceback | ReportKind::Display | ReportKind::Message);
    if data.len() > cap && !text_report {
        let note = format!("the guest's {kind:?} report was {} bytes, over the cap of {cap} bytes", data.len());
        let state = store.data_mut();
        if kind == ReportKind::Value {
            state.call.facts.size_refused =
                Some(format!("the value is {} bytes of JSON; the limit is {cap} bytes", data.len()));
        }
        state.call.reports.refused.push(note);
        return;
    }
    let bytes = &data.as_le_slice(&*store)[..data.len().min(cap)];
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if data.len() > cap {
        text.push_str(&format!("\n[... {} more bytes cut ...]\n", data.len() - cap));
    }
    let state = store.data_mut();
    let reports = &mut state.call.reports;
    let malformed =
        |reports: &mut super::Reports, what: &str| reports.refused.push(format!("a malformed {what} report"));
    match kind {
        ReportKind::Traceback => reports.traceback = Some(cap_text(text, cap)),
        ReportKind::Display => reports.display = Some(text),
        ReportKind::Message => reports.message = Some(text),
        ReportKind::ChangedVars | ReportKind::Vars => unreachable!("handled above"),
        ReportKind::Functions => match parse::<Vec<FunctionInfoWire>>(&text) {
            Some(functions) => {
                reports.functions =
                    Some(functions.into_iter().map(|f| FunctionInfo::new(f.name, f.signature, f.doc)).collect())
            }
            None => malformed(reports, "functions"),
        },
        ReportKind::Value => match JsonText::parse(&text, cap) {
            Ok(value) => reports.value = Some(value),
            Err(e) => {
                let message = format!("the value cannot be returned faithfully: {e}");
                state.call.facts.size_refused = Some(message.clone());
                state.call.reports.message = Some(message);
            }
        },
    }
}

/// Reads a variables report: the guest's count of names left out, then
/// `name<TAB>type` lines. Only the first `cap` bytes are read; the lines
/// past them are counted, not kept.
fn var_lines(data: &[u8], cap: usize) -> (Vec<(String, String)>, u64) {
    let (kept, rest) = data.split_at(data.len().min(cap));
    let text = String::from_utf8_lossy(kept);
    let mut lines = text.split_inclusive('\n');
    let mut omitted: u64 = lines.next().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    let mut vars = Vec::new();
    for line in lines {
        // A line cut at the cap is skipped: its end, in `rest`, is counted below.
        if let Some((name, type_name)) = line.strip_suffix('\n').and_then(|l| l.split_once('\t')) {
            vars.push((name.to_owned(), type_name.to_owned()));
        }
    }
    omitted = omitted.saturating_add(rest.iter().filter(|&&b| b == b'\n').count() as u64);
    (vars, omitted)
}

#[derive(serde::Deserialize)]
struct FunctionInfoWire {
    name: String,
    signature: String,
    doc: String,
}

fn parse<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::var_lines;

    #[test]
    fn variable_reports_keep_what_fits_and_count_the_rest() {
        let report = b"2\na\tint\nbb\tlist\nccc\tstr\n";
        assert_eq!(
            var_lines(report, 1000),
            (vec![("a".into(), "int".into()), ("bb".into(), "list".into()), ("ccc".into(), "str".into())], 2)
        );
        // Cut inside the third line: it and nothing after it is kept.
        assert_eq!(var_lines(report, 20), (vec![("a".into(), "int".into()), ("bb".into(), "list".into())], 3));
        assert_eq!(var_lines(report, 19), (vec![("a".into(), "int".into()), ("bb".into(), "list".into())], 3));
        assert_eq!(var_lines(b"garbage", 100), (vec![], 0));
    }
}
