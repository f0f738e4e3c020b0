//! Per-item results and the summary report: a table per task and length,
//! and the same figures as JSON and CSV.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Gold, ItemKey, LengthBucket, Task};

/// How the model was run on an item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The recursive language model: REPL, sub-calls, `FINAL`.
    #[default]
    Rlm,
    /// One plain model call with the context (truncated to a window) in the
    /// prompt; see [`base_prompt`](crate::base_prompt).
    Base,
}

impl Mode {
    /// `rlm` or `base`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Rlm => "rlm",
            Mode::Base => "base",
        }
    }
}

/// The outcome of one item, as written to `items/<task>-<length>-<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    /// The task family.
    pub task: Task,
    /// The length bucket.
    pub length: LengthBucket,
    /// The item id.
    pub id: u32,
    /// How the model was run.
    pub mode: Mode,
    /// The score, 0.0 to 1.0 (0.0 when the solver failed).
    pub score: f64,
    /// The answer, if the solver produced one.
    pub answer: Option<Value>,
    /// The correct answer, for reading results without regenerating items.
    pub gold: Gold,
    /// Why the solver produced no answer, if it did not.
    pub error: Option<String>,
    /// The cost in US dollars, if the model's price is known.
    pub cost: Option<f64>,
    /// Input (prompt) tokens over all model calls.
    pub input_tokens: u64,
    /// Output (completion) tokens over all model calls.
    pub output_tokens: u64,
    /// Wall-clock seconds.
    pub elapsed_secs: f64,
    /// Root-model turns (1 for a base call).
    pub iterations: u32,
    /// Sub-calls (`llm_query`, `rlm_query` and their batched forms, per
    /// prompt).
    pub sub_calls: u32,
    /// The trajectory file, relative to the output directory, if one was
    /// written.
    pub trajectory: Option<String>,
}

impl ItemResult {
    /// The item's key.
    pub fn key(&self) -> ItemKey {
        ItemKey { task: self.task, length: self.length, id: self.id }
    }
}

/// Summary figures for one task, length and mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// The task family.
    pub task: Task,
    /// The length bucket.
    pub length: LengthBucket,
    /// The mode.
    pub mode: Mode,
    /// Items in the group.
    pub items: usize,
    /// Items whose solver failed (they score 0 and count in the mean).
    pub errors: usize,
    /// Mean score, 0.0 to 1.0.
    pub mean_score: f64,
    /// Mean cost over the items whose cost is known.
    pub mean_cost: Option<f64>,
    /// 90th-percentile cost (nearest rank) over the items whose cost is
    /// known.
    pub p90_cost: Option<f64>,
    /// Mean input tokens.
    pub mean_input_tokens: f64,
    /// Mean output tokens.
    pub mean_output_tokens: f64,
    /// Mean wall-clock seconds.
    pub mean_elapsed_secs: f64,
    /// Mean root-model turns.
    pub mean_iterations: f64,
    /// Mean sub-calls.
    pub mean_sub_calls: f64,
}

/// The results of a run and their summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// One summary per task, length and mode, in task, length, mode order.
    pub groups: Vec<GroupSummary>,
    /// Every item result, in key and mode order.
    pub results: Vec<ItemResult>,
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The nearest-rank percentile `p` (0 to 100) of `xs`.
pub fn percentile(xs: &[f64], p: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank.min(v.len()) - 1])
}

impl Report {
    /// Summarises results. Results are sorted by task, length, id and mode.
    pub fn new(mut results: Vec<ItemResult>) -> Report {
        results.sort_by_key(|r| (r.key(), r.mode));
        let mut by_group: BTreeMap<(Task, LengthBucket, Mode), Vec<&ItemResult>> = BTreeMap::new();
        for r in &results {
            by_group.entry((r.task, r.length, r.mode)).or_default().push(r);
        }
        let groups = by_group
            .into_iter()
            .map(|((task, length, mode), rs)| {
                let costs: Vec<f64> = rs.iter().filter_map(|r| r.cost).collect();
                let m = |f: fn(&ItemResult) -> f64| mean(rs.iter().map(|r| f(r))).unwrap_or(0.0);
                GroupSummary {
                    task,
                    length,
                    mode,
                    items: rs.len(),
                    errors: rs.iter().filter(|r| r.error.is_some()).count(),
                    mean_score: m(|r| r.score),
                    mean_cost: mean(costs.iter().copied()),
                    p90_cost: percentile(&costs, 90.0),
                    mean_input_tokens: m(|r| r.input_tokens as f64),
                    mean_output_tokens: m(|r| r.output_tokens as f64),
                    mean_elapsed_secs: m(|r| r.elapsed_secs),
                    mean_iterations: m(|r| f64::from(r.iterations)),
                    mean_sub_calls: m(|r| f64::from(r.sub_calls)),
                }
            })
            .collect();
        Report { groups, results }
    }

    /// The summary as JSON: `{"groups": [...]}`, without the per-item
    /// results (those are in the item files).
    pub fn summary_json(&self) -> Value {
        serde_json::json!({ "groups": self.groups })
    }

    /// The summary as CSV, one line per task, length and mode, with a header
    /// line. Missing costs are empty fields.
    pub fn summary_csv(&self) -> String {
        let mut out = String::from(
            "task,length,mode,items,errors,mean_score,mean_cost,p90_cost,mean_input_tokens,\
             mean_output_tokens,mean_elapsed_secs,mean_iterations,mean_sub_calls\n",
        );
        let opt = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.6}"));
        for g in &self.groups {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{:.4},{},{},{:.1},{:.1},{:.3},{:.2},{:.2}",
                g.task,
                g.length,
                g.mode.name(),
                g.items,
                g.errors,
                g.mean_score,
                opt(g.mean_cost),
                opt(g.p90_cost),
                g.mean_input_tokens,
                g.mean_output_tokens,
                g.mean_elapsed_secs,
                g.mean_iterations,
                g.mean_sub_calls
            );
        }
        out
    }

    /// A plain-text table, one row per task and length. Each mode present
    /// gets its own set of columns (`rlm`, then `base`): items, mean score
    /// (%), mean and p90 cost, mean input/output tokens, mean seconds,
    /// iterations and sub-calls.
    pub fn table(&self) -> String {
        let modes: Vec<Mode> = {
            let mut m: Vec<Mode> = self.groups.iter().map(|g| g.mode).collect();
            m.sort();
            m.dedup();
            m
        };
        let mut rows: BTreeMap<(Task, LengthBucket), BTreeMap<Mode, &GroupSummary>> = BTreeMap::new();
        for g in &self.groups {
            rows.entry((g.task, g.length)).or_default().insert(g.mode, g);
        }
        const COLS: [&str; 9] = ["n", "score%", "cost", "p90$", "in tok", "out tok", "secs", "iters", "subs"];
        let mut head1 = vec![String::new(), String::new()];
        let mut head2 = vec!["task".to_owned(), "length".to_owned()];
        for m in &modes {
            for (i, c) in COLS.iter().enumerate() {
                head1.push(if i == 0 { m.name().to_owned() } else { String::new() });
                head2.push((*c).to_owned());
            }
        }
        let cost = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("${v:.4}"));
        let mut table = vec![head1, head2];
        for ((task, length), by_mode) in &rows {
            let mut row = vec![task.to_string(), length.to_string()];
            for m in &modes {
                match by_mode.get(m) {
                    Some(g) => row.extend([
                        g.items.to_string(),
                        format!("{:.1}", g.mean_score * 100.0),
                        cost(g.mean_cost),
                        cost(g.p90_cost),
                        tokens(g.mean_input_tokens),
                        tokens(g.mean_output_tokens),
                        format!("{:.1}", g.mean_elapsed_secs),
                        format!("{:.1}", g.mean_iterations),
                        format!("{:.1}", g.mean_sub_calls),
                    ]),
                    None => row.extend(std::iter::repeat_n("-".to_owned(), COLS.len())),
                }
            }
            table.push(row);
        }
        let ncols = table[1].len();
        let widths: Vec<usize> = (0..ncols).map(|c| table.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for row in &table {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                // A bar before each mode's column set.
                if c >= 2 && (c - 2) % COLS.len() == 0 {
                    line.push_str(" |");
                }
                if c < 2 {
                    let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
                } else {
                    let _ = write!(line, " {cell:>w$}", w = widths[c]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Token counts in a short form: `950`, `12.3k`, `1.20M`.
fn tokens(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(task: Task, length: &str, id: u32, mode: Mode, score: f64, cost: Option<f64>) -> ItemResult {
        ItemResult {
            task,
            length: length.parse().unwrap(),
            id,
            mode,
            score,
            answer: Some(Value::from("x")),
            gold: Gold::Text("x".into()),
            error: None,
            cost,
            input_tokens: 1000,
            output_tokens: 100,
            elapsed_secs: 2.0,
            iterations: 3,
            sub_calls: 4,
            trajectory: None,
        }
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let xs: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&xs, 90.0), Some(9.0));
        assert_eq!(percentile(&xs, 100.0), Some(10.0));
        assert_eq!(percentile(&[5.0], 90.0), Some(5.0));
        assert_eq!(percentile(&[], 90.0), None);
    }

    #[test]
    fn groups_and_renders() {
        let rs = vec![
            result(Task::Oolong, "8k", 1, Mode::Rlm, 1.0, Some(0.02)),
            result(Task::Oolong, "8k", 0, Mode::Rlm, 0.5, None),
            result(Task::Oolong, "8k", 0, Mode::Base, 0.0, Some(0.01)),
            result(Task::SNiah, "32k", 0, Mode::Rlm, 1.0, Some(0.03)),
        ];
        let report = Report::new(rs);
        assert_eq!(report.groups.len(), 3);
        let g = &report.groups[1];
        assert_eq!((g.task, g.mode, g.items), (Task::Oolong, Mode::Rlm, 2));
        assert_eq!(g.mean_score, 0.75);
        assert_eq!(g.mean_cost, Some(0.02));
        let table = report.table();
        assert!(table.contains("rlm") && table.contains("base"), "{table}");
        assert!(table.lines().any(|l| l.starts_with("oolong") && l.contains("75.0")), "{table}");
        assert!(table.lines().any(|l| l.starts_with("s-niah") && l.trim_end().ends_with('-')), "{table}");
        let csv = report.summary_csv();
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.contains("s-niah,32k,rlm,1,0,1.0000,0.030000,0.030000,1000.0,100.0,2.000,3.00,4.00"), "{csv}");
        assert_eq!(report.summary_json()["groups"].as_array().unwrap().len(), 3);
    }
}
