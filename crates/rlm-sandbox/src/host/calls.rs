//! `host.call`: a batch of `llm_query`, `rlm_query`, tool and `budget` calls.

use std::fmt::Write as _;
use std::sync::Arc;

use rlm_core::{Context, HostCall, JsonText};
use serde::Deserialize;
use serde_json::value::RawValue;
use wasmtime::StoreContextMut;
use wasmtime::component::{LinkerInstance, WasmList};

use super::HostState;
use crate::bindings::host::CallError;

pub(super) fn add_to_linker(instance: &mut LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    instance.func_wrap_async("call", |mut store: StoreContextMut<'_, HostState>, (batch,): (WasmList<u8>,)| {
        Box::new(async move {
            store.data().check_hard_deadline()?;
            let calls = match read_batch(&mut store, &batch) {
                Ok(calls) => calls,
                Err(e) => return Ok((Err(e),)),
            };
            Ok((run(store, calls).await,))
        })
    })
}

/// One call as the guest encodes it: an object with one key naming the
/// function. (Externally tagged, so no buffering: `RawValue` works.)
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum WireCall<'a> {
    LlmQuery {
        prompt: String,
        model: Option<String>,
    },
    RlmQuery {
        #[serde(borrow)]
        context: &'a RawValue,
        model: Option<String>,
        max_iterations: Option<u32>,
        system_prompt: Option<String>,
        #[serde(default)]
        helpers: Vec<String>,
    },
    Tool {
        name: String,
        #[serde(borrow)]
        args: &'a RawValue,
    },
    Budget {},
}

/// Checks the batch's size before reading it, then parses it.
fn read_batch(store: &mut StoreContextMut<'_, HostState>, batch: &WasmList<u8>) -> Result<Vec<HostCall>, CallError> {
    let limit = store.data().limits().max_value_bytes;
    let refuse = |store: &mut StoreContextMut<'_, HostState>, message: String| {
        store.data_mut().call.facts.size_refused = Some(message.clone());
        CallError::TooLarge(message)
    };
    if batch.len() > limit {
        let message = format!(
            "the call's arguments are {} bytes of JSON; the limit per call (a whole batch) is {limit} bytes",
            batch.len()
        );
        return Err(refuse(store, message));
    }
    let text = String::from_utf8_lossy(batch.as_le_slice(&*store)).into_owned();
    parse_batch(&text, limit).map_err(|message| refuse(store, message))
}

fn parse_batch(text: &str, limit: usize) -> Result<Vec<HostCall>, String> {
    let wire: Vec<WireCall<'_>> = serde_json::from_str(text).map_err(|e| format!("not a valid batch of calls: {e}"))?;
    wire.into_iter()
        .map(|call| {
            Ok(match call {
                WireCall::LlmQuery { prompt, model } => HostCall::Llm { prompt, model },
                WireCall::RlmQuery { context, model, max_iterations, system_prompt, helpers } => HostCall::Rlm {
                    context: context_of(context, limit)?,
                    model,
                    max_iterations,
                    system_prompt,
                    helpers,
                },
                WireCall::Tool { name, args } => {
                    if !args.get().trim_start().starts_with('{') {
                        return Err(format!("the arguments of tool {name} are not an object"));
                    }
                    let args = JsonText::parse(args.get(), limit).map_err(|e| format!("tool {name}: {e}"))?;
                    HostCall::Tool { name, args }
                }
                WireCall::Budget {} => HostCall::Budget,
            })
        })
        .collect()
}

/// A child's context: a JSON string becomes text; anything else is checked
/// JSON (nesting, repeated keys), kept as text.
fn context_of(raw: &RawValue, limit: usize) -> Result<Context, String> {
    let text = raw.get();
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|e| format!("rlm_query context: {e}"))?;
        return Ok(Context::Text(Arc::from(s)));
    }
    JsonText::parse(text, limit).map(Context::Json).map_err(|e| format!("rlm_query context: {e}"))
}

/// Counts the calls against the cell's cap and runs them under its deadline.
async fn run(mut store: StoreContextMut<'_, HostState>, calls: Vec<HostCall>) -> Result<Vec<u8>, CallError> {
    let state = store.data_mut();
    // An empty batch still costs a host call.
    let n = calls.len().max(1);
    let max = state.limits.max_host_calls as usize;
    let used = state.call.host_calls as usize;
    if used + n > max {
        state.call.facts.calls_refused = true;
        return Err(CallError::LimitReached(format!(
            "this cell may make at most {max} host calls; {used} were made and {n} more were asked for"
        )));
    }
    state.call.host_calls += n as u32;
    let deadline = state.call.deadline;
    if calls.is_empty() {
        return Ok(b"[]".to_vec());
    }
    let answers = state.handler.call(calls);
    match tokio::time::timeout_at(deadline.into(), answers).await {
        Ok(results) => Ok(encode_results(&results).into_bytes()),
        Err(_) => {
            store.data_mut().call.cut_at_deadline();
            Err(CallError::Deadline("the cell's wall-clock limit passed while waiting for a host call".into()))
        }
    }
}

/// `[{"ok": <value>}, {"error": "..."}]`, with each value's JSON text spliced
/// in as it is.
fn encode_results(results: &[Result<JsonText, String>]) -> String {
    let size: usize = results.iter().map(|r| r.as_ref().map_or_else(|e| e.len() + 16, |v| v.as_str().len() + 8)).sum();
    let mut out = String::with_capacity(size + 2);
    out.push('[');
    for (i, result) in results.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match result {
            Ok(value) => {
                let _ = write!(out, "{{\"ok\":{value}}}");
            }
            Err(message) => {
                let _ = write!(out, "{{\"error\":{}}}", serde_json::Value::String(message.clone()));
            }
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_call() {
        let text = r#"[{"llm_query": {"prompt": "p", "model": null}},
            {"rlm_query": {"context": {"b": 18446744073709551617, "a": [1]}, "model": "m", "max_iterations": 3, "system_prompt": null, "helpers": ["def f(): pass"]}},
            {"rlm_query": {"context": "text", "model": null, "max_iterations": null, "system_prompt": null}},
            {"tool": {"name": "search", "args": {"q": "x"}}}, {"budget": {}}]"#;
        let calls = parse_batch(text, 10_000).unwrap();
        assert_eq!(calls[0], HostCall::Llm { prompt: "p".into(), model: None });
        let HostCall::Rlm { context: Context::Json(json), max_iterations: Some(3), helpers, .. } = &calls[1] else {
            panic!("{:?}", calls[1]);
        };
        assert_eq!(json.as_str(), r#"{"b": 18446744073709551617, "a": [1]}"#);
        assert_eq!(helpers, &["def f(): pass"]);
        assert!(matches!(&calls[2], HostCall::Rlm { context: Context::Text(t), .. } if &**t == "text"));
        assert!(matches!(&calls[3], HostCall::Tool { name, .. } if name == "search"));
        assert_eq!(calls[4], HostCall::Budget);
    }

    #[test]
    fn refuses_bad_batches() {
        assert!(parse_batch("[{\"shell\": {}}]", 100).is_err());
        assert!(parse_batch(r#"[{"tool": {"name": "t", "args": [1]}}]"#, 100).unwrap_err().contains("not an object"));
        let dup = r#"[{"rlm_query": {"context": {"1": 1, "1": 2}, "model": null, "max_iterations": null, "system_prompt": null}}]"#;
        assert!(parse_batch(dup, 1000).unwrap_err().contains("appears twice"));
    }

    #[test]
    fn results_splice_values() {
        let out = encode_results(&[Ok(JsonText::parse("[1, 2]", 10).unwrap()), Err("no \"model\"".into())]);
        assert_eq!(out, r#"[{"ok":[1, 2]},{"error":"no \"model\""}]"#);
    }
}
