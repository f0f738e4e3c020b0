use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rlm_sandbox::{CellErrorKind, Limits};
use rlm_tests::{RecordingHandler, Shared, sandbox, sandbox_with};
use serde_json::json;

async fn recording(delay: Duration) -> (rlm_sandbox::Sandbox, Arc<RecordingHandler>) {
    let handler = RecordingHandler::with_delay(delay);
    let sb = sandbox_with(Limits::default(), Arc::new(Shared(handler.clone()))).await;
    (sb, handler)
}

#[tokio::test]
async fn without_a_backend_calls_fail_with_a_clear_message() {
    let mut sb = sandbox().await;
    let out = sb.run_cell("llm_query('hi')").await.unwrap();
    assert_eq!(out.error.as_ref().map(|e| e.kind), Some(CellErrorKind::Exception));
    assert!(out.stderr.contains("no model backend is configured"), "{}", out.stderr);
    let out = sb.run_cell("print(llm_query_batched(['a']))").await.unwrap();
    assert!(out.stdout.contains("Error: llm_query() is unavailable"), "{}", out.stdout);
    let out = sb.run_cell("rlm_query('sub task')").await.unwrap();
    assert!(out.stderr.contains("rlm_query() is unavailable"), "{}", out.stderr);
}

#[tokio::test]
async fn llm_query_returns_the_reply_as_str() {
    let (mut sb, handler) = recording(Duration::ZERO).await;
    let out = sb.run_cell("r = llm_query('hello', model='small')\nprint(type(r).__name__, r)").await.unwrap();
    assert_eq!(out.stdout, "str echo:hello\n");
    assert_eq!(*handler.calls.lock().unwrap(), vec!["hello"]);
}

#[tokio::test]
async fn a_failing_llm_query_raises_and_the_message_reaches_python() {
    let (mut sb, _) = recording(Duration::ZERO).await;
    let out = sb
        .run_cell("try:\n    llm_query('FAIL now')\nexcept RuntimeError as e:\n    print('caught', e)")
        .await
        .unwrap();
    assert_eq!(out.stdout, "caught model refused \"FAIL now\"\n");
}

#[tokio::test]
async fn batched_calls_keep_order_run_concurrently_and_fail_per_item() {
    let (mut sb, handler) = recording(Duration::from_millis(200)).await;
    let started = Instant::now();
    let out = sb
        .run_cell("rs = llm_query_batched([f'p{i}' for i in range(20)] + ['FAIL'])\nprint(rs[0], rs[19], rs[20][:6])")
        .await
        .unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "echo:p0 echo:p19 Error:\n");
    assert_eq!(handler.max_in_flight.load(Ordering::SeqCst), 21);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn rlm_query_returns_the_childs_final_value_as_an_object() {
    let (mut sb, handler) = recording(Duration::ZERO).await;
    let out = sb
        .run_cell("r = rlm_query({'chunk': [1, 2]})\nprint(type(r).__name__, r['child']['chunk'])\nrs = rlm_query_batched(['a', 'b'])\nprint(rs)")
        .await
        .unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "dict [1, 2]\n[{'child': 'a'}, {'child': 'b'}]\n");
    assert_eq!(handler.calls.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn await_works_at_the_top_level_with_the_async_forms() {
    let (mut sb, _) = recording(Duration::ZERO).await;
    let out = sb.run_cell("r = await llm_query_async('one')\nprint(r)").await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "echo:one\n");
    assert_eq!(sb.get_var("r").await.unwrap().unwrap(), json!("echo:one"));
}

#[tokio::test]
async fn gathered_calls_reach_the_host_as_one_concurrent_batch() {
    let (mut sb, handler) = recording(Duration::from_millis(200)).await;
    let started = Instant::now();
    let code = "import asyncio\nps = [f'q{i}' for i in range(10)]\nrs = await asyncio.gather(*[llm_query_async(p) for p in ps], rlm_query_async('ctx'), llm_query_batched_async(['b1', 'b2']))\nprint(rs[0], rs[9], rs[10], rs[11], len(rs))";
    let out = sb.run_cell(code).await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "echo:q0 echo:q9 {'child': 'ctx'} ['echo:b1', 'echo:b2'] 12\n");
    assert_eq!(*handler.batches.lock().unwrap(), vec![13], "one batch of everything gathered");
    assert_eq!(handler.max_in_flight.load(Ordering::SeqCst), 13);
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
}

#[tokio::test]
async fn async_functions_and_asyncio_run_work() {
    let (mut sb, handler) = recording(Duration::from_millis(100)).await;
    let code = r#"
import asyncio
async def summarize(chunk):
    first = await llm_query_async('a:' + chunk)
    return first.upper()
async def main():
    return await asyncio.gather(*(summarize(c) for c in 'xyz'))
print(asyncio.run(main()))
"#;
    let out = sb.run_cell(code).await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "['ECHO:A:X', 'ECHO:A:Y', 'ECHO:A:Z']\n");
    assert_eq!(*handler.batches.lock().unwrap(), vec![3]);
}

#[tokio::test]
async fn the_plain_functions_return_plain_values_even_in_async_code() {
    let (mut sb, _) = recording(Duration::ZERO).await;
    let code = "import asyncio\nawait asyncio.sleep(0)\nr = llm_query('RAW:yes')\nprint(r == 'yes', isinstance(r, str), hash(r) == hash('yes'), type(r).__name__)\nFINAL(r == 'yes')";
    let out = sb.run_cell(code).await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "True True True str\n");
    assert_eq!(out.final_value.unwrap(), json!(true));
}

#[tokio::test]
async fn misusing_the_contract_raises_a_clear_type_error() {
    let (mut sb, handler) = recording(Duration::ZERO).await;
    let out = sb.run_cell("r = await llm_query('x')").await.unwrap();
    assert_eq!(out.error.as_ref().map(|e| e.kind), Some(CellErrorKind::Exception));
    assert!(out.stderr.contains("TypeError"), "{}", out.stderr);
    assert!(out.stderr.contains("llm_query_async"), "the hint names the async form: {}", out.stderr);
    handler.calls.lock().unwrap().clear();
    let out = sb.run_cell("pending = llm_query_async('FAIL never sent')\nprint('end of cell')").await.unwrap();
    assert_eq!(out.error.as_ref().map(|e| e.kind), Some(CellErrorKind::Exception), "{out:?}");
    assert!(out.stderr.contains("never awaited, so they were not sent"), "{}", out.stderr);
    assert!(!out.stderr.contains("queries.py"), "no driver frames: {}", out.stderr);
    assert!(handler.calls.lock().unwrap().is_empty(), "an un-awaited call is not sent");
}

#[tokio::test]
async fn a_failing_gathered_call_raises_only_where_awaited() {
    let (mut sb, _) = recording(Duration::ZERO).await;
    let code = "import asyncio\nrs = await asyncio.gather(llm_query_async('ok'), llm_query_async('FAIL'), return_exceptions=True)\nprint(rs[0], type(rs[1]).__name__)";
    let out = sb.run_cell(code).await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "echo:ok RuntimeError\n");
}

#[tokio::test]
async fn an_awaited_reply_that_starts_with_error_is_still_a_reply() {
    let (mut sb, _) = recording(Duration::ZERO).await;
    let code = "import asyncio\na, b = await asyncio.gather(llm_query_async('RAW:Error: not really'), llm_query_async('FAIL'), return_exceptions=True)\nprint(repr(a), type(b).__name__)\nprint(llm_query_batched(['RAW:Error: also fine'])[0])";
    let out = sb.run_cell(code).await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "'Error: not really' RuntimeError\nError: also fine\n");
}

#[tokio::test]
async fn tools_are_python_functions_that_reach_the_host() {
    let (mut sb, handler) = recording(Duration::from_millis(50)).await;
    let spec = rlm_core::ToolSpec::new(
            "search",
            "Finds documents about a topic.",
            rlm_core::JsonText::parse(
            r#"{"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["query"]}"#,
            10_000,
        )
        .unwrap(),
        );
    let functions = sb.install(&[spec], &[]).await.unwrap().unwrap();
    assert_eq!(functions[0].name, "search");
    assert_eq!(functions[0].signature, "(query, limit=None, **kwargs)");
    let out = sb
        .run_cell("import inspect\nprint(search.__doc__)\nprint(search('rust'), search(query='wasm', limit=2))")
        .await
        .unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "Finds documents about a topic.\n{'query': 'rust'} {'query': 'wasm', 'limit': 2}\n");
    let out = sb
        .run_cell("import asyncio\nrs = await asyncio.gather(*[search_async(q) for q in 'abc'])\nprint(len(rs))")
        .await
        .unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(handler.batches.lock().unwrap().last(), Some(&3), "gathered tool calls are one batch");
    let out = sb.run_cell("search()").await.unwrap();
    assert!(out.stderr.contains("missing a required argument: 'query'"), "{}", out.stderr);
}
