//! The runner over a scripted solver: bounded concurrency, results on disk,
//! resuming without redoing finished items, and errors as results.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use rlm_eval::{Gold, Item, Mode, OutDir, SolveOutcome, Solver, Task, Usage, generate, parse_lengths, run_eval};
use serde_json::{Value, json};

/// Answers with the gold (as a model that is always right would), except
/// for ids listed in `fail`, and tracks how many solves run at once.
struct Oracle {
    mode: Mode,
    fail: Vec<u32>,
    running: AtomicUsize,
    peak: AtomicUsize,
    calls: AtomicUsize,
}

impl Oracle {
    fn new(mode: Mode, fail: Vec<u32>) -> Oracle {
        Oracle { mode, fail, running: AtomicUsize::new(0), peak: AtomicUsize::new(0), calls: AtomicUsize::new(0) }
    }
}

fn gold_answer(gold: &Gold) -> Value {
    match gold {
        Gold::Text(s) => json!(s),
        Gold::Count(n) | Gold::User(n) => json!(n),
        Gold::YesNo(b) => json!(if *b { "yes" } else { "no" }),
        Gold::Date(d) => json!(d.to_string()),
        Gold::Pairs { pairs, .. } => json!(pairs),
        Gold::Averages(m) => json!(m),
        _ => Value::Null,
    }
}

impl Solver for Oracle {
    fn mode(&self) -> Mode {
        self.mode
    }

    fn solve<'a>(&'a self, item: &'a Item) -> BoxFuture<'a, SolveOutcome> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if item.id == 99 {
                panic!("solver bug");
            }
            if self.fail.contains(&item.id) {
                return SolveOutcome::error("model unreachable");
            }
            SolveOutcome {
                usage: Usage { input_tokens: 100, output_tokens: 10 },
                cost: Some(0.001),
                iterations: 2,
                sub_calls: 1,
                trajectory: Some("{\"iteration\": 1}\n".into()),
                ..SolveOutcome::answer(gold_answer(&item.gold))
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_concurrently_records_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = OutDir::create(dir.path()).unwrap();
    let items = generate(&[Task::Oolong, Task::Needle], &parse_lengths("1k").unwrap(), 6, 3);

    let first = Arc::new(Oracle::new(Mode::Rlm, vec![2]));
    let report = run_eval(items.clone(), first.clone(), 3, Some(&out)).await.unwrap();
    assert_eq!(first.calls.load(Ordering::SeqCst), 12);
    assert!(first.peak.load(Ordering::SeqCst) <= 3);
    assert!(first.peak.load(Ordering::SeqCst) >= 2, "items should overlap");
    assert_eq!(report.results.len(), 12);
    assert_eq!(out.done(Mode::Rlm).unwrap().len(), 12);
    for g in &report.groups {
        // Item 2 of each task failed: 5 of 6 right.
        assert_eq!(g.errors, 1);
        assert!((g.mean_score - 5.0 / 6.0).abs() < 1e-9, "{g:?}");
    }
    let traj = report.results[0].trajectory.as_deref().unwrap();
    assert!(dir.path().join(traj).exists());

    // A second run finds everything done and calls the solver for nothing.
    let second = Arc::new(Oracle::new(Mode::Rlm, vec![]));
    let again = run_eval(items.clone(), second.clone(), 3, Some(&out)).await.unwrap();
    assert_eq!(second.calls.load(Ordering::SeqCst), 0);
    assert_eq!(again.groups, report.groups);

    // Deleting one result file re-runs that item only.
    let key = items[4].key();
    std::fs::remove_file(out.result_path(key, Mode::Rlm)).unwrap();
    let third = Arc::new(Oracle::new(Mode::Rlm, vec![]));
    run_eval(items.clone(), third.clone(), 3, Some(&out)).await.unwrap();
    assert_eq!(third.calls.load(Ordering::SeqCst), 1);

    // Base mode files its results apart and reports its own group.
    let base = Arc::new(Oracle::new(Mode::Base, vec![]));
    let b = run_eval(items, base, 2, Some(&out)).await.unwrap();
    assert!(b.groups.iter().all(|g| g.mode == Mode::Base && g.mean_score == 1.0));
    assert_eq!(out.done(Mode::Base).unwrap().len(), 12);

    let mut all = out.load_results(Mode::Rlm).unwrap();
    all.extend(out.load_results(Mode::Base).unwrap());
    let combined = rlm_eval::Report::new(all);
    out.write_report(&combined).unwrap();
    let table = std::fs::read_to_string(dir.path().join("report.txt")).unwrap();
    assert!(table.contains("rlm") && table.contains("base"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_solver_is_an_error_result() {
    let mut items = generate(&[Task::Needle], &parse_lengths("1k").unwrap(), 1, 3);
    items[0].id = 99;
    let report = run_eval(items, Arc::new(Oracle::new(Mode::Rlm, vec![])), 1, None).await.unwrap();
    let r = &report.results[0];
    assert_eq!(r.score, 0.0);
    assert!(r.error.as_deref().unwrap().contains("panicked"), "{r:?}");
}
