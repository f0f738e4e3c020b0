//! Candidate search, after the SRLM paper: the root runs K times,
//! independently (fresh sandboxes, nothing mutable shared), under the
//! completion's one budget and concurrency limit, and one answer is picked.
//!
//! The pick: (1) self-consistency — answers that agree form clusters
//! (normalised text, one containing the other at word boundaries, so "42"
//! and "The answer is 42" vote together; lists and objects compared as
//! JSON), the largest cluster wins, and clusters tied for largest are
//! pooled; (2) within the pool, each trace is scored VC(p) x Len(p), where
//! VC is the sum of the logs of its steps' stated confidences (a step that
//! stated none counts as the trace's mean) and Len the output tokens of its
//! root calls; the score closest to zero wins. Without confidences, the
//! shortest trace wins. Once a strict majority of all K agree, the
//! candidates still running are cancelled (unless turned off).

use std::sync::Arc;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use rlm_core::JsonText;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::completion::{CandidateInfo, CandidateReport};
use crate::error::ErrorKind;
use crate::run;
use crate::shared::{RunOutput, RunSpec, Shared, Stop};

/// The floor of a stated confidence, so that a `0` does not make VC
/// infinite.
const MIN_CONFIDENCE: f64 = 1e-6;

/// Runs the candidates and returns the winner's output (its trajectory
/// keeping every candidate) and how it was picked.
pub(crate) async fn run(shared: Arc<Shared>, mut spec: RunSpec) -> (RunOutput, CandidateReport) {
    let search = shared.config.candidates.clone();
    let k = search.count as usize;
    let log = spec.log.take();
    let parallel = Arc::new(Semaphore::new(search.parallel.unwrap_or(k).clamp(1, k)));
    let root_id = spec.emitter.run_id().clone();
    let mut tokens = Vec::with_capacity(k);
    let mut running = FuturesUnordered::new();
    for i in 0..k {
        let cancel = shared.cancel.child_token();
        tokens.push(cancel.clone());
        let fork = Arc::new(shared.fork(cancel.clone()));
        let mut sampling = shared.config.sampling.clone();
        if let Some(t) = search.temperature {
            sampling.temperature = Some(t);
        }
        let candidate = RunSpec {
            depth: 0,
            contexts: spec.contexts.clone(),
            query: spec.query.clone(),
            model: spec.model.clone(),
            max_iterations: spec.max_iterations,
            system_prompt: spec.system_prompt.clone(),
            helpers: spec.helpers.clone(),
            emitter: spec.emitter.child(Arc::from(format!("{root_id}.c{i}")), 0),
            parent: Some(root_id.clone()),
            log: None,
            notes: Vec::new(),
            compact_at: None,
            sampling: Some(sampling),
        };
        let parallel = parallel.clone();
        running.push(async move {
            let permit = tokio::select! {
                permit = parallel.acquire_owned() => permit.ok(),
                () = cancel.cancelled() => None,
            };
            let out = match permit {
                Some(_permit) => Some(run::run(fork, candidate).await),
                None => None,
            };
            (i, out)
        });
    }
    let mut outputs: Vec<Option<RunOutput>> = (0..k).map(|_| None).collect();
    let mut stopped_early = false;
    while let Some((i, out)) = running.next().await {
        outputs[i] = out;
        if search.early_stop && !stopped_early {
            let largest = clusters(&answers(&outputs)).first().map_or(0, Vec::len);
            if largest * 2 > k {
                stopped_early = !running.is_empty();
                for token in &tokens {
                    token.cancel();
                }
            }
        }
    }
    let report = pick(&outputs, search.confidence, stopped_early, &root_id);
    let winner = outputs.get_mut(report.winner).and_then(Option::take);
    let mut out = match winner {
        Some(out) if out.result.is_ok() => out,
        _ => failed(&mut outputs, &report),
    };
    if let Value::Object(metadata) = &mut out.trajectory.run_metadata {
        metadata.insert("run_id".into(), json!(root_id.as_ref()));
        metadata.insert("candidates".into(), serde_json::to_value(&report).unwrap_or_default());
        let runs: Vec<Value> = outputs.iter().map(|o| o.as_ref().map_or(Value::Null, kept_run)).collect();
        metadata.insert("candidate_runs".into(), Value::Array(runs));
    }
    if let Some(mut log) = log {
        let written = log
            .metadata(&out.trajectory.run_metadata)
            .and_then(|()| out.trajectory.iterations.iter().try_for_each(|i| log.iteration(i)));
        if let Err(e) = written {
            tracing::warn!(path = %log.path().display(), error = %e, "cannot write the trajectory log");
        }
    }
    (out, report)
}

/// A candidate's run as the log keeps it: `{run_metadata, iterations}`,
/// or, past [`MAX_KEPT_TREE_BYTES`] of JSON, that JSON as a string: as a
/// tree, a run holding big answers or sub-call contexts would cost the host
/// up to ~200x its size.
fn kept_run(out: &RunOutput) -> Value {
    #[derive(serde::Serialize)]
    struct Run<'a> {
        run_metadata: &'a Value,
        iterations: &'a [crate::trajectory::Iteration],
    }
    let run = Run { run_metadata: &out.trajectory.run_metadata, iterations: &out.trajectory.iterations };
    let text = serde_json::to_string(&run).unwrap_or_default();
    if text.len() > MAX_KEPT_TREE_BYTES {
        return Value::String(text);
    }
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// The largest candidate run kept in the log as a tree.
const MAX_KEPT_TREE_BYTES: usize = 1 << 20;

/// The output when no candidate has an answer: the first one's trajectory,
/// and every candidate's error in the message.
fn failed(outputs: &mut [Option<RunOutput>], report: &CandidateReport) -> RunOutput {
    let why: Vec<String> = report
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| format!("candidate {i}: {}", c.error.as_deref().unwrap_or("no answer")))
        .collect();
    let kind =
        outputs.iter().flatten().find_map(|o| o.result.as_ref().err().map(|s| s.kind)).unwrap_or(ErrorKind::Cancelled);
    let first = outputs.iter_mut().find_map(Option::take);
    let stop = Stop::new(kind, format!("every candidate failed ({})", why.join("; ")));
    match first {
        Some(mut out) => {
            out.result = Err(stop);
            out
        }
        None => RunOutput {
            result: Err(stop),
            iterations: 0,
            trajectory: crate::trajectory::Trajectory { run_metadata: json!({}), iterations: Vec::new(), answer: None },
            last_reply: None,
        },
    }
}

/// The candidates' answers so far, by index.
fn answers(outputs: &[Option<RunOutput>]) -> Vec<(usize, &JsonText)> {
    outputs
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.as_ref().and_then(|o| o.result.as_ref().ok()).map(|a| (i, a)))
        .collect()
}

/// How an answer is compared with others.
#[derive(Debug, PartialEq)]
enum Key {
    /// A string or scalar, normalised: lower case, words only, single spaces.
    Text(String),
    /// A list or object, as canonical JSON (keys sorted).
    Json(String),
}

/// Lists and objects larger than this are compared as their exact text:
/// sorting their keys would parse them into a tree, which costs the host up
/// to ~200x the text.
const MAX_CANONICAL_BYTES: usize = 1 << 20;

fn key(answer: &JsonText) -> Key {
    let text = answer.as_str();
    if text.len() > MAX_CANONICAL_BYTES && (text.starts_with('[') || text.starts_with('{')) {
        return Key::Json(text.to_owned());
    }
    let mut value = answer.to_value();
    match &mut value {
        Value::Array(_) | Value::Object(_) => {
            sort_keys(&mut value);
            Key::Json(value.to_string())
        }
        Value::String(s) => Key::Text(normalise(s)),
        other => Key::Text(normalise(&other.to_string())),
    }
}

fn normalise(text: &str) -> String {
    let words: String = text
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '.' || c == '-' { c.to_lowercase().next().unwrap_or(c) } else { ' ' })
        .collect();
    words
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '.' || c == '-'))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sorts every object's keys, in place, so that key order does not split a
/// vote.
fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Whether two answers vote together.
fn agree(a: &Key, b: &Key) -> bool {
    match (a, b) {
        (Key::Json(a), Key::Json(b)) => a == b,
        (Key::Text(a), Key::Text(b)) => {
            if a.is_empty() || b.is_empty() {
                return a == b;
            }
            let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
            format!(" {long} ").contains(&format!(" {short} "))
        }
        _ => false,
    }
}

/// Clusters of agreeing answers (candidate indexes), largest first, ties in
/// order of their first member.
fn clusters(answers: &[(usize, &JsonText)]) -> Vec<Vec<usize>> {
    let keyed: Vec<(usize, Key)> = answers.iter().map(|(i, a)| (*i, key(a))).collect();
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    let mut keys: Vec<Vec<&Key>> = Vec::new();
    for (i, k) in &keyed {
        match keys.iter().position(|members| members.iter().any(|m| agree(m, k))) {
            Some(c) => {
                clusters[c].push(*i);
                keys[c].push(k);
            }
            None => {
                clusters.push(vec![*i]);
                keys.push(vec![k]);
            }
        }
    }
    clusters.sort_by_key(|c| std::cmp::Reverse(c.len()));
    clusters
}

/// Scores every candidate and picks the winner.
fn pick(outputs: &[Option<RunOutput>], confidence: bool, stopped_early: bool, root_id: &str) -> CandidateReport {
    let mut infos: Vec<CandidateInfo> = outputs
        .iter()
        .enumerate()
        .map(|(i, out)| {
            let mut info = CandidateInfo { run_id: format!("{root_id}.c{i}"), ..CandidateInfo::default() };
            match out {
                None => info.error = Some("cancelled: a majority of the candidates already agreed".into()),
                Some(out) => {
                    info.iterations = out.iterations;
                    info.output_tokens = out.trajectory.iterations.iter().map(|it| it.usage.output_tokens).sum();
                    info.confidences = out.trajectory.iterations.iter().map(|it| it.confidence).collect();
                    match &out.result {
                        Ok(answer) => info.answer = Some(answer.clone()),
                        Err(stop) if stop.kind == ErrorKind::Cancelled && stopped_early => {
                            info.error = Some("cancelled: a majority of the candidates already agreed".into());
                        }
                        Err(stop) => info.error = Some(format!("{}: {}", stop.kind, stop.message)),
                    }
                }
            }
            info
        })
        .collect();
    let clusters = clusters(&answers(outputs));
    let largest = clusters.first().map_or(0, Vec::len);
    let mut pooled: Vec<usize> = clusters.iter().filter(|c| c.len() == largest).flatten().copied().collect();
    pooled.sort_unstable();

    // VC for every candidate that stated a confidence at least once.
    if confidence {
        for info in &mut infos {
            let stated: Vec<f64> = info.confidences.iter().flatten().copied().collect();
            if stated.is_empty() || info.confidences.is_empty() {
                continue;
            }
            let mean = stated.iter().sum::<f64>() / stated.len() as f64;
            let vc: f64 = info.confidences.iter().map(|c| c.unwrap_or(mean).max(MIN_CONFIDENCE).ln()).sum();
            info.vc = Some(vc);
            info.score = Some(vc * info.output_tokens as f64);
        }
    }
    let scored = confidence && pooled.iter().all(|&i| infos[i].score.is_some());
    let winner = if scored {
        // Closest to zero (scores are at most zero); then the shorter trace.
        pooled.iter().copied().max_by(|&a, &b| {
            let (sa, sb) = (infos[a].score.unwrap_or(f64::MIN), infos[b].score.unwrap_or(f64::MIN));
            sa.total_cmp(&sb).then(infos[b].output_tokens.cmp(&infos[a].output_tokens)).then(b.cmp(&a))
        })
    } else {
        pooled.iter().copied().min_by_key(|&i| (infos[i].output_tokens, i))
    };
    CandidateReport {
        winner: winner.unwrap_or(0),
        clusters,
        pooled,
        rule: if scored { "vc_x_len" } else { "shortest" },
        stopped_early,
        candidates: infos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> JsonText {
        JsonText::string(s)
    }

    fn json(s: &str) -> JsonText {
        JsonText::parse(s, usize::MAX).unwrap()
    }

    #[test]
    fn answers_vote_together_by_words_and_by_json() {
        let answers = [
            text("42"),
            text("The answer is 42."),
            json("42"),
            text("420"),
            json(r#"{"a": 1, "b": [1, 2]}"#),
            json(r#"{"b": [1, 2], "a": 1}"#),
            json(r#"{"a": 2}"#),
        ];
        let indexed: Vec<(usize, &JsonText)> = answers.iter().enumerate().collect();
        assert_eq!(clusters(&indexed), vec![vec![0, 1, 2], vec![4, 5], vec![3], vec![6]]);
    }

    #[test]
    fn large_lists_are_compared_as_text_without_a_tree() {
        let big = format!("[{}{{}}]", "{}, ".repeat(MAX_CANONICAL_BYTES / 4));
        assert_eq!(key(&json(&big)), Key::Json(big.clone()), "compared as given, not parsed");
        assert_eq!(key(&json(r#"{"b": 1, "a": 2}"#)), Key::Json(r#"{"a":2,"b":1}"#.into()), "small: keys sorted");
    }

    #[test]
    fn empty_and_different_answers_do_not_merge() {
        let answers = [text(""), text("yes"), text("no"), text("")];
        let indexed: Vec<(usize, &JsonText)> = answers.iter().enumerate().collect();
        assert_eq!(clusters(&indexed), vec![vec![0, 3], vec![1], vec![2]]);
    }
}
