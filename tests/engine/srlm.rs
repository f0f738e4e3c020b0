//! Candidate search (SRLM), routing by context length, typed answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rlm_core::JsonText;
use rlm_engine::{AnswerSchema, CandidateSearch, ErrorKind};
use rlm_test_support::{MockLlm, MockReply, RecordedRequest};
use rlm_tests::{answer, repl, rlm_for};
use serde_json::{Value, json};

/// A reply with `output_tokens` tokens of output.
fn reply(text: String, output_tokens: u64) -> MockReply {
    MockReply::Text { text, input_tokens: 10, output_tokens }
}

/// One candidate's steps: (code, confidence, output tokens).
type Steps = Vec<(&'static str, Option<f64>, u64)>;

/// A mock where every candidate follows one script: the first call of a
/// conversation takes the next script from the queue; later calls find
/// their script from the marker in the candidate's own earlier reply.
fn candidates_mock(scripts: Vec<Steps>) -> MockLlm {
    let queue = Arc::new(Mutex::new((0..scripts.len()).collect::<VecDeque<usize>>()));
    let scripts = Arc::new(scripts);
    MockLlm::builder()
        .responder(move |request: &RecordedRequest| {
            let messages = request.messages();
            let mine: Vec<&String> = messages.iter().filter(|(r, _)| r == "assistant").map(|(_, c)| c).collect();
            let (script, step) = match mine.last() {
                None => (queue.lock().unwrap().pop_front().expect("one first call per candidate"), 0),
                Some(last) => {
                    let marker = last.split("# candidate ").nth(1).unwrap();
                    let (s, n) = marker.split_once(" step ").unwrap();
                    (s.parse().unwrap(), n.split_whitespace().next().unwrap().parse::<usize>().unwrap() + 1)
                }
            };
            let (code, confidence, tokens) = scripts[script][step];
            let mut text = repl(&format!("# candidate {script} step {step}\n{code}"));
            if let Some(c) = confidence {
                text.push_str(&format!("\nConfidence: {c}"));
            }
            reply(text, tokens)
        })
        .start()
}

/// The table of the pick test: A, B and C agree on 42 (as "42", "The answer
/// is 42" and 42), D and E on 17.
///
/// | cand | confidences  | Len | VC                  | VC x Len |
/// | A    | 0.9          | 100 | ln .9  = -0.10536   | -10.54   |
/// | B    | 0.5          | 8   | ln .5  = -0.69315   | -5.545   |
/// | C    | -, 0.8       | 10  | 2 ln .8 = -0.44629  | -4.463   |
/// | D    | 0.99         | 5   | -0.01005            | -0.050   |
/// | E    | 0.95         | 50  | -0.05129            | -2.565   |
///
/// The plurality is {A, B, C}; within it C is closest to zero. The shortest
/// trace of the plurality is B.
fn table() -> Vec<Steps> {
    vec![
        vec![("FINAL('42')", Some(0.9), 100)],
        vec![("FINAL('The answer is 42')", Some(0.5), 8)],
        vec![("x = 42", None, 4), ("FINAL(x)", Some(0.8), 6)],
        vec![("FINAL('17')", Some(0.99), 5)],
        vec![("FINAL('17')", Some(0.95), 50)],
    ]
}

fn search(count: u32, confidence: bool) -> CandidateSearch {
    let mut search = CandidateSearch::new(count);
    search.confidence = confidence;
    search.early_stop = false;
    search
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pick_follows_self_consistency_then_vc_times_len() {
    let mock = candidates_mock(table());
    let rlm = rlm_for(&mock).candidate_search(search(5, true)).build().unwrap();
    let done = rlm.request("ctx", "What is the number?").send().await.unwrap();
    let report = done.candidates.as_ref().expect("a candidate report");
    assert_eq!(report.rule, "vc_x_len");
    let sizes: Vec<usize> = report.clusters.iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 2]);
    let winner = &report.candidates[report.winner];
    assert_eq!(winner.answer.as_ref().map(JsonText::to_value), Some(json!(42)));
    assert_eq!(winner.output_tokens, 10);
    assert_eq!(winner.confidences, [None, Some(0.8)]);
    assert!((winner.vc.unwrap() - 2.0 * 0.8f64.ln()).abs() < 1e-9);
    assert!((winner.score.unwrap() - 20.0 * 0.8f64.ln()).abs() < 1e-9);
    assert_eq!(answer(&done), json!(42));
    // Every candidate ran and is scored; the minority's better score lost.
    let scores: Vec<f64> = report.candidates.iter().filter_map(|c| c.score).collect();
    assert_eq!(scores.len(), 5);
    // Usage covers every candidate; the log keeps them all.
    assert_eq!(done.usage.total.calls, 6);
    let runs = done.trajectory.run_metadata["candidate_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5);
    assert_eq!(done.trajectory.run_metadata["candidates"]["winner"], json!(report.winner));
}

#[tokio::test(flavor = "multi_thread")]
async fn big_candidate_runs_are_kept_as_text_and_big_answers_vote_by_text() {
    // Each answer is ~1.6 MB of JSON: as trees, two of them would cost the
    // host hundreds of megabytes; the losing run is kept as its text.
    let big = "FINAL([{'k': i} for i in range(160_000)])";
    let mock = candidates_mock(vec![vec![(big, None, 5)], vec![(big, None, 6)]]);
    let rlm = rlm_for(&mock).candidate_search(search(2, false)).build().unwrap();
    let done = rlm.request("ctx", "q").send().await.unwrap();
    let report = done.candidates.as_ref().unwrap();
    assert_eq!(report.clusters.len(), 1, "the two identical answers agree: {:?}", report.clusters);
    let runs = done.trajectory.run_metadata["candidate_runs"].as_array().unwrap();
    let loser = &runs[1 - report.winner];
    let text = loser.as_str().expect("the losing run, as JSON text");
    assert!(text.len() > 1 << 20);
    assert!(serde_json::from_str::<Value>(text).unwrap()["iterations"].is_array());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_confidences_the_shortest_trace_of_the_plurality_wins() {
    let mock = candidates_mock(table());
    let rlm = rlm_for(&mock).candidate_search(search(5, false)).build().unwrap();
    let done = rlm.request("ctx", "What is the number?").send().await.unwrap();
    let report = done.candidates.as_ref().unwrap();
    assert_eq!(report.rule, "shortest");
    assert_eq!(report.candidates[report.winner].output_tokens, 8);
    assert_eq!(answer(&done), json!("The answer is 42"));
    // Not asked for: no confidence prompt.
    assert!(!mock.requests()[0].system().contains("Confidence:"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_majority_cancels_the_candidates_still_running() {
    let queue = Arc::new(Mutex::new(VecDeque::from([true, true, false, true, false])));
    let mock = MockLlm::builder()
        .responder(move |_| {
            if queue.lock().unwrap().pop_front().unwrap_or(false) {
                MockReply::text(repl("FINAL(7)"))
            } else {
                MockReply::Hang(Duration::from_secs(60))
            }
        })
        .start();
    let mut search = CandidateSearch::new(5);
    search.early_stop = true;
    let rlm = rlm_for(&mock).candidate_search(search).build().unwrap();
    let started = Instant::now();
    let done = rlm.request("ctx", "q").send().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    let report = done.candidates.as_ref().unwrap();
    assert!(report.stopped_early);
    assert_eq!(report.clusters[0].len(), 3);
    let cancelled =
        report.candidates.iter().filter(|c| c.error.as_deref().is_some_and(|e| e.starts_with("cancelled"))).count();
    assert_eq!(cancelled, 2);
    assert_eq!(answer(&done), json!(7));
}

#[tokio::test(flavor = "multi_thread")]
async fn candidates_share_one_concurrency_limit_and_use_their_temperature() {
    let mock = MockLlm::builder()
        .responder(|_| MockReply::text(repl("FINAL('same')")))
        .latency(Duration::from_millis(200))
        .start();
    let mut search = CandidateSearch::new(4);
    search.parallel = Some(2);
    search.temperature = Some(0.9);
    let rlm = rlm_for(&mock).candidate_search(search).build().unwrap();
    let done = rlm.request("ctx", "q").send().await.unwrap();
    assert_eq!(answer(&done), json!("same"));
    assert!(mock.max_in_flight() <= 2, "{}", mock.max_in_flight());
    assert!(mock.requests().iter().all(|r| r.body["temperature"] == json!(0.9)));
}

#[tokio::test(flavor = "multi_thread")]
async fn when_every_candidate_fails_the_error_names_each() {
    let mock = MockLlm::builder().responder(|_| MockReply::status(400, "bad request")).start();
    let rlm = rlm_for(&mock).candidates(3).build().unwrap();
    let err = rlm.request("ctx", "q").send().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Model);
    for i in 0..3 {
        assert!(err.message.contains(&format!("candidate {i}: model")), "{}", err.message);
    }
    assert_eq!(err.completion.candidates.as_ref().unwrap().candidates.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_context_is_answered_by_one_plain_call() {
    let mock = MockLlm::builder().responder(|_| MockReply::text("  Paris  ")).start();
    let rlm = rlm_for(&mock).direct_threshold(1000).build().unwrap();
    let done = rlm.request("The capital of France is Paris.", "Which city?").send().await.unwrap();
    assert_eq!(done.route, "direct");
    assert_eq!(answer(&done), json!("Paris"));
    assert_eq!(done.iterations, 1);
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].last_user().contains("The capital of France is Paris."));
    assert!(requests[0].last_user().contains("Which city?"));
    assert_eq!(done.trajectory.run_metadata["route"], "direct");
    assert_eq!(done.trajectory.iterations[0].final_answer.as_deref(), Some("Paris"));

    // A longer context goes through the REPL.
    let mock = MockLlm::builder().responder(|_| MockReply::text(repl("FINAL(len(context))"))).start();
    let rlm = rlm_for(&mock).direct_threshold(1000).build().unwrap();
    let done = rlm.request("x".repeat(1000), "How long?").send().await.unwrap();
    assert_eq!(done.route, "rlm");
    assert_eq!(answer(&done), json!(1000));
}

fn schema() -> AnswerSchema {
    let text = r#"{"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}"#;
    AnswerSchema::new(JsonText::parse(text, usize::MAX).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_that_breaks_the_schema_is_sent_back_and_fixed() {
    let mock = MockLlm::builder()
        .script([MockReply::text(repl("FINAL({'n': 'three'})")), MockReply::text(repl("FINAL({'n': 3})"))])
        .start();
    let rlm = rlm_for(&mock).answer_schema(schema()).build().unwrap();
    let done = rlm.request("ctx", "Count.").send().await.unwrap();
    assert_eq!(answer(&done), json!({"n": 3}));
    assert_eq!(done.iterations, 2);
    let requests = mock.requests();
    assert!(requests[0].system().contains(r#""required": ["n"]"#), "the prompt shows the schema");
    let feedback = requests[1].last_user();
    assert!(feedback.contains("does not match the required JSON Schema") && feedback.contains("/n"), "{feedback}");
    let first = &done.trajectory.iterations[0];
    assert!(first.error.as_deref().is_some_and(|e| e.starts_with("answer_schema")), "{:?}", first.error);
    assert_eq!(first.final_answer, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_text_final_holding_matching_json_is_taken_as_that_json() {
    let mock = MockLlm::builder().script([MockReply::text("Done.\nFINAL({\"n\": 5})")]).start();
    let rlm = rlm_for(&mock).answer_schema(schema()).build().unwrap();
    let done = rlm.request("ctx", "Count.").send().await.unwrap();
    assert_eq!(answer(&done), json!({"n": 5}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_out_of_iterations_with_a_bad_answer_says_so() {
    let mock = MockLlm::builder().responder(|_| MockReply::text(repl("FINAL('not an object')"))).start();
    let rlm = rlm_for(&mock).answer_schema(schema()).max_iterations(2).build().unwrap();
    let err = rlm.request("ctx", "Count.").send().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::MaxIterations);
    assert!(err.message.contains("did not match the answer schema"), "{}", err.message);
    assert_eq!(err.completion.answer, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_direct_answer_is_checked_too_and_falls_back_to_the_repl() {
    let mock = MockLlm::builder().responder(|_| MockReply::text("```json\n{\"n\": 1}\n```")).start();
    let rlm = rlm_for(&mock).direct_threshold(100).answer_schema(schema()).build().unwrap();
    let done = rlm.request("short", "Count.").send().await.unwrap();
    assert_eq!((done.route, answer(&done)), ("direct", json!({"n": 1})));

    let mock = MockLlm::builder().script([MockReply::text("one"), MockReply::text(repl("FINAL({'n': 1})"))]).start();
    let rlm = rlm_for(&mock).direct_threshold(100).answer_schema(schema()).build().unwrap();
    let done = rlm.request("short", "Count.").send().await.unwrap();
    assert_eq!((done.route, answer(&done)), ("rlm", json!({"n": 1})));
    let attempt: &Value = &done.trajectory.run_metadata["direct_attempt"];
    assert_eq!(attempt["response"], "one");
    assert!(attempt["error"].as_str().unwrap().starts_with("answer_schema"));
}
