use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rlm_sandbox::{ErrorKind, Limits};
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
    assert_eq!(out.error.as_ref().map(|e| e.kind), Some(ErrorKind::Exception));
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
    let out = sb.run_cell("try:\n    llm_query('FAIL now')\nexcept RuntimeError as e:\n    print('caught', e)").await.unwrap();
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
async fn await_works_at_the_top_level() {
    let (mut sb, _) = recording(Duration::ZERO).await;
    let out = sb.run_cell("r = await llm_query('one')\nprint(r)").await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "echo:one\n");
    assert_eq!(sb.get_var("r").await.unwrap(), Some(json!("echo:one")));
}

#[tokio::test]
async fn gathered_calls_reach_the_host_as_one_concurrent_batch() {
    let (mut sb, handler) = recording(Duration::from_millis(200)).await;
    let started = Instant::now();
    let code = "import asyncio\nps = [f'q{i}' for i in range(10)]\nrs = await asyncio.gather(*[llm_query(p) for p in ps])\nprint(rs[0], rs[9], len(rs))";
    let out = sb.run_cell(code).await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "echo:q0 echo:q9 10\n");
    assert_eq!(*handler.batches.lock().unwrap(), vec![10], "one batch of ten");
    assert_eq!(handler.max_in_flight.load(Ordering::SeqCst), 10);
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
}

#[tokio::test]
async fn async_functions_and_asyncio_run_work() {
    let (mut sb, handler) = recording(Duration::from_millis(100)).await;
    let code = r#"
import asyncio
async def summarize(chunk):
    first = await llm_query('a:' + chunk)
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
async fn an_unawaited_call_in_async_code_still_behaves_like_its_value() {
    let (mut sb, _) = recording(Duration::ZERO).await;
    let code = "import asyncio\nawait asyncio.sleep(0)\nr = llm_query('plain')\nprint(r, r.upper(), len(r), r + '!')\nFINAL(r)";
    let out = sb.run_cell(code).await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "echo:plain ECHO:PLAIN 10 echo:plain!\n");
    assert_eq!(out.final_value, Some(json!("echo:plain")));
}

#[tokio::test]
async fn a_failing_gathered_call_raises_only_where_awaited() {
    let (mut sb, _) = recording(Duration::ZERO).await;
    let code = "import asyncio\nrs = await asyncio.gather(llm_query('ok'), llm_query('FAIL'), return_exceptions=True)\nprint(rs[0], type(rs[1]).__name__)";
    let out = sb.run_cell(code).await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "echo:ok RuntimeError\n");
}

#[tokio::test]
async fn an_awaited_reply_that_starts_with_error_is_still_a_reply() {
    let (mut sb, _) = recording(Duration::ZERO).await;
    let code = "import asyncio\na, b = await asyncio.gather(llm_query('RAW:Error: not really'), llm_query('FAIL'), return_exceptions=True)\nprint(repr(a), type(b).__name__)\nprint(llm_query_batched(['RAW:Error: also fine'])[0])";
    let out = sb.run_cell(code).await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "'Error: not really' RuntimeError\nError: also fine\n");
}
