//! Scoring rules: pure functions from a gold answer and a model's answer to
//! a score in `0.0..=1.0`.
//!
//! Answers arrive as JSON: whatever the RLM passed to `FINAL`, or a plain
//! model's reply as a string. Each rule first turns the answer into the
//! shape it needs (text, a number, a date, pairs, a map) and is lenient
//! about form (an `Answer:` prefix, quotes, a trailing period, a number
//! inside a sentence) but strict about content, as OOLONG's own scorer is.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::date::parse_date;
use crate::{Gold, Rule};

/// The decay base of [`numeric_decay`], as in OOLONG: each unit of error
/// multiplies the score by 0.75.
pub const NUMERIC_DECAY_BASE: f64 = 0.75;

/// Scores `answer` against `gold` under `rule`. A rule that does not fit the
/// gold's type (a date rule with a count) scores 0.
pub fn score(gold: &Gold, rule: Rule, answer: &Value) -> f64 {
    let text = answer_text(answer);
    match (rule, gold) {
        (Rule::Contains, Gold::Text(g)) => contains(g, &text),
        (Rule::ExactMatch, Gold::Text(g)) => exact_match(g, &text),
        (Rule::ExactMatch, Gold::YesNo(g)) => match answer {
            Value::Bool(b) => f64::from(u8::from(b == g)),
            _ => exact_match(if *g { "yes" } else { "no" }, &text),
        },
        (Rule::ExactMatch, Gold::User(g)) => user_match(*g, &text),
        (Rule::ExactMatch, Gold::Count(g)) => exact_match(&g.to_string(), &text),
        (Rule::NumericDecay, Gold::Count(g)) => numeric_decay(*g as f64, answer),
        (Rule::DateValue, Gold::Date(g)) => f64::from(u8::from(parse_date(&text) == Some(*g))),
        (Rule::PairF1, Gold::Pairs { pairs, symmetric }) => pairs_f1(pairs, &answer_pairs(answer), *symmetric),
        (Rule::WithinTolerance { tolerance }, Gold::Averages(g)) => within_tolerance(g, answer, tolerance),
        _ => 0.0,
    }
}

/// The answer as text: strings as they are, numbers without a needless
/// `.0`, anything else as compact JSON.
pub fn answer_text(answer: &Value) -> String {
    match answer {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// 1.0 if `gold` occurs in `answer` (case-insensitive), else 0.0: RULER's
/// `string_match_all` for one needle.
pub fn contains(gold: &str, answer: &str) -> f64 {
    let hit = answer.to_lowercase().contains(&gold.to_lowercase());
    f64::from(u8::from(hit))
}

/// Reduces an answer to its core for exact matching: the text after the
/// last `answer:` if any, then a leading `label:`/`user:`/`user id:`
/// removed, lowercased, with quotes, backticks, asterisks, brackets and a
/// trailing period trimmed and inner whitespace collapsed; a leading `the `
/// is dropped.
pub fn normalize(answer: &str) -> String {
    let lower = answer.to_lowercase();
    let mut s = match lower.rfind("answer:") {
        Some(i) => &lower[i + "answer:".len()..],
        None => lower.as_str(),
    }
    .trim();
    for prefix in ["label:", "user id:", "user:", "the label", "user "] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest.trim_start();
        }
    }
    let trim: &[char] = &['"', '\'', '`', '*', '.', ' ', '[', ']', '(', ')', '\n', '\t', ':'];
    let s = s.trim_matches(trim);
    let s = s.strip_prefix("the ").unwrap_or(s);
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// 1.0 if the normalised answer equals the normalised gold, else 0.0
/// (see [`normalize`]).
pub fn exact_match(gold: &str, answer: &str) -> f64 {
    f64::from(u8::from(normalize(gold) == normalize(answer)))
}

fn user_match(gold: u64, answer: &str) -> f64 {
    let n = normalize(answer);
    let hit = n.parse::<u64>().ok() == Some(gold);
    f64::from(u8::from(hit))
}

/// Every number in `text`, in order. Accepts a sign, thousands separators
/// (`1,234`) and a decimal part.
pub fn numbers_in(text: &str) -> Vec<f64> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let neg = i > 0 && b[i - 1] == b'-' && (i < 2 || !b[i - 2].is_ascii_alphanumeric());
        let mut digits = String::new();
        while i < b.len() {
            let c = b[i];
            // `1,234`: a comma followed by exactly three digits is a
            // thousands separator, not a list comma.
            let group_comma = c == b','
                && !digits.contains('.')
                && b.len() >= i + 4
                && b[i + 1..i + 4].iter().all(u8::is_ascii_digit)
                && b.get(i + 4).is_none_or(|x| !x.is_ascii_digit());
            if c.is_ascii_digit() {
                digits.push(c as char);
            } else if group_comma {
                // Skip the separator.
            } else if c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) && !digits.contains('.') {
                digits.push('.');
            } else {
                break;
            }
            i += 1;
        }
        if let Ok(v) = digits.parse::<f64>() {
            out.push(if neg { -v } else { v });
        }
    }
    out
}

/// OOLONG's numeric score, `0.75 ^ |gold - answer|`, for the first number
/// in the answer (after the last `answer:` if any); 0.0 if there is none.
pub fn numeric_decay(gold: f64, answer: &Value) -> f64 {
    let pred = match answer {
        Value::Number(n) => n.as_f64(),
        other => {
            let text = answer_text(other).to_lowercase();
            let tail = text.rfind("answer:").map_or(text.as_str(), |i| &text[i + 7..]);
            numbers_in(tail).first().copied()
        }
    };
    match pred {
        Some(p) if p.is_finite() => NUMERIC_DECAY_BASE.powf((gold - p).abs()),
        _ => 0.0,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
        }
        Value::String(s) => normalize(s).parse().ok(),
        _ => None,
    }
}

/// The user-id pairs in an answer: a JSON list of two-element lists (or
/// objects with two numbers), or text with pairs written as `(a, b)` or
/// `[a, b]`.
pub fn answer_pairs(answer: &Value) -> Vec<(u64, u64)> {
    match answer {
        Value::Array(items) => items
            .iter()
            .flat_map(|it| match it {
                Value::Array(xs) if xs.len() == 2 => match (as_u64(&xs[0]), as_u64(&xs[1])) {
                    (Some(a), Some(b)) => vec![(a, b)],
                    _ => vec![],
                },
                Value::Object(m) if m.len() == 2 => {
                    let v: Vec<u64> = m.values().filter_map(as_u64).collect();
                    if v.len() == 2 { vec![(v[0], v[1])] } else { vec![] }
                }
                Value::String(s) => text_pairs(s),
                _ => vec![],
            })
            .collect(),
        Value::String(s) => {
            // A reply may hold the JSON list as text.
            let t = s.trim();
            if let Some(start) = t.find("[[")
                && let Some(end) = t.rfind("]]")
                && let Ok(v) = serde_json::from_str::<Value>(&t[start..end + 2])
                && v.is_array()
            {
                return answer_pairs(&v);
            }
            text_pairs(s)
        }
        _ => vec![],
    }
}

/// Pairs written in text as `(a, b)` or `[a, b]`.
fn text_pairs(s: &str) -> Vec<(u64, u64)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        if c != b'(' && c != b'[' {
            continue;
        }
        let close = if c == b'(' { b')' } else { b']' };
        let Some(len) = b[i + 1..].iter().position(|&x| x == close) else {
            continue;
        };
        let inner = &s[i + 1..i + 1 + len];
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        if parts.len() == 2
            && let (Ok(x), Ok(y)) = (parts[0].parse(), parts[1].parse())
        {
            out.push((x, y));
        }
    }
    out
}

/// F1 of the predicted pairs against the gold pairs, as sets. For a
/// symmetric predicate `(a, b)` and `(b, a)` are one pair. Both empty
/// scores 1.0; one empty scores 0.0.
pub fn pairs_f1(gold: &[(u64, u64)], pred: &[(u64, u64)], symmetric: bool) -> f64 {
    let norm = |&(a, b): &(u64, u64)| {
        if symmetric && a > b { (b, a) } else { (a, b) }
    };
    let g: BTreeSet<(u64, u64)> = gold.iter().map(norm).collect();
    let p: BTreeSet<(u64, u64)> = pred.iter().map(norm).filter(|(a, b)| a != b).collect();
    if g.is_empty() && p.is_empty() {
        return 1.0;
    }
    let hits = g.intersection(&p).count() as f64;
    if hits == 0.0 {
        return 0.0;
    }
    let precision = hits / p.len() as f64;
    let recall = hits / g.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// The fraction of gold entries whose value the answer gives within
/// `tolerance` (plus a hair for float noise). The answer is a JSON object,
/// or text holding one; keys match case-insensitively and trimmed; extra
/// keys neither help nor hurt.
pub fn within_tolerance(gold: &BTreeMap<String, f64>, answer: &Value, tolerance: f64) -> f64 {
    if gold.is_empty() {
        return 1.0;
    }
    let parsed;
    let obj = match answer {
        Value::Object(m) => m,
        Value::String(s) => {
            let (Some(start), Some(end)) = (s.find('{'), s.rfind('}')) else {
                return 0.0;
            };
            parsed = serde_json::from_str::<Value>(&s[start..=end.max(start)]).ok();
            match &parsed {
                Some(Value::Object(m)) => m,
                _ => return 0.0,
            }
        }
        _ => return 0.0,
    };
    let pred: BTreeMap<String, f64> = obj
        .iter()
        .filter_map(|(k, v)| {
            let x = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => numbers_in(s).first().copied(),
                _ => None,
            }?;
            Some((k.trim().to_lowercase(), x))
        })
        .collect();
    let good = gold
        .iter()
        .filter(|(k, g)| pred.get(&k.trim().to_lowercase()).is_some_and(|p| (p - *g).abs() <= tolerance + 1e-6))
        .count();
    good as f64 / gold.len() as f64
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Date;

    #[test]
    fn contains_scores_all_or_nothing() {
        let g = Gold::Text("4821937".into());
        assert_eq!(score(&g, Rule::Contains, &json!("The number is 4821937.")), 1.0);
        assert_eq!(score(&g, Rule::Contains, &json!(4821937)), 1.0);
        assert_eq!(score(&g, Rule::Contains, &json!("4821936")), 0.0);
        assert_eq!(score(&g, Rule::Contains, &json!(null)), 0.0);
    }

    #[test]
    fn exact_match_is_lenient_on_form_only() {
        let g = Gold::Text("human being".into());
        for a in ["human being", " Human Being. ", "Label: human being", "Answer: 'human being'", "**human being**"] {
            assert_eq!(score(&g, Rule::ExactMatch, &json!(a)), 1.0, "{a:?}");
        }
        for a in ["human", "human beings", "entity", "I think it is human being or entity"] {
            assert_eq!(score(&g, Rule::ExactMatch, &json!(a)), 0.0, "{a:?}");
        }
        let yes = Gold::YesNo(true);
        assert_eq!(score(&yes, Rule::ExactMatch, &json!("Yes")), 1.0);
        assert_eq!(score(&yes, Rule::ExactMatch, &json!(true)), 1.0);
        assert_eq!(score(&yes, Rule::ExactMatch, &json!("no")), 0.0);
        let user = Gold::User(4412);
        for a in [json!(4412), json!("4412"), json!("User 4412"), json!("user: 4412")] {
            assert_eq!(score(&user, Rule::ExactMatch, &a), 1.0, "{a}");
        }
        assert_eq!(score(&user, Rule::ExactMatch, &json!(4413)), 0.0);
        let entity = Gold::Text("Velmar Works".into());
        assert_eq!(score(&entity, Rule::ExactMatch, &json!("velmar works.")), 1.0);
        assert_eq!(score(&entity, Rule::ExactMatch, &json!("Velmar")), 0.0);
    }

    #[test]
    fn numeric_decay_gives_partial_marks() {
        let g = Gold::Count(40);
        assert_eq!(score(&g, Rule::NumericDecay, &json!(40)), 1.0);
        assert_eq!(score(&g, Rule::NumericDecay, &json!("40")), 1.0);
        assert_eq!(score(&g, Rule::NumericDecay, &json!(41)), 0.75);
        assert_eq!(score(&g, Rule::NumericDecay, &json!("Answer: 38")), 0.5625);
        assert!(score(&g, Rule::NumericDecay, &json!(10)) < 0.001);
        assert_eq!(score(&g, Rule::NumericDecay, &json!("forty")), 0.0);
        assert_eq!(numbers_in("1,234 and 5, 6 or -7.5"), [1234.0, 5.0, 6.0, -7.5]);
    }

    #[test]
    fn dates_match_by_value() {
        let g = Gold::Date(Date::new(2024, 7, 4).unwrap());
        for a in ["Jul 04, 2024", "2024-07-04", "July 4, 2024", "4 July 2024"] {
            assert_eq!(score(&g, Rule::DateValue, &json!(a)), 1.0, "{a:?}");
        }
        assert_eq!(score(&g, Rule::DateValue, &json!("Jul 05, 2024")), 0.0);
        assert_eq!(score(&g, Rule::DateValue, &json!("soon")), 0.0);
    }

    #[test]
    fn pair_f1_counts_sets() {
        let gold = vec![(1, 2), (1, 3), (2, 3), (3, 4)];
        let g = Gold::Pairs { pairs: gold.clone(), symmetric: true };
        assert_eq!(score(&g, Rule::PairF1, &json!([[2, 1], [1, 3], [3, 2], [4, 3]])), 1.0);
        assert_eq!(score(&g, Rule::PairF1, &json!("(1, 2), (1, 3), (2, 3), (3, 4)")), 1.0);
        assert_eq!(score(&g, Rule::PairF1, &json!("[[1, 2], [1, 3], [2, 3], [3, 4]]")), 1.0);
        // Two right, one wrong: precision 2/3, recall 1/2.
        let partial = score(&g, Rule::PairF1, &json!([[1, 2], [1, 3], [1, 4]]));
        assert!((partial - 4.0 / 7.0).abs() < 1e-12, "{partial}");
        assert_eq!(score(&g, Rule::PairF1, &json!([])), 0.0);
        // Order matters when the predicate is asymmetric.
        let asym = Gold::Pairs { pairs: vec![(1, 2)], symmetric: false };
        assert_eq!(score(&asym, Rule::PairF1, &json!([[2, 1]])), 0.0);
        assert_eq!(pairs_f1(&[], &[], true), 1.0);
    }

    #[test]
    fn within_tolerance_scores_each_department() {
        let g = Gold::Averages(BTreeMap::from([("Sales".to_owned(), 61234.57), ("Legal".to_owned(), 90000.0)]));
        let rule = Rule::WithinTolerance { tolerance: 0.01 };
        assert_eq!(score(&g, rule, &json!({"Sales": 61234.57, "Legal": 90000})), 1.0);
        assert_eq!(score(&g, rule, &json!({"sales ": 61234.575, "Legal": 90000.01})), 1.0);
        assert_eq!(score(&g, rule, &json!({"Sales": 61234.6, "Legal": 90000})), 0.5);
        assert_eq!(score(&g, rule, &json!("Here: {\"Sales\": 61234.57, \"Legal\": 1}")), 0.5);
        assert_eq!(score(&g, rule, &json!("no idea")), 0.0);
    }

    #[test]
    fn mismatched_rule_and_gold_score_zero() {
        assert_eq!(score(&Gold::Count(3), Rule::DateValue, &json!(3)), 0.0);
    }
}
