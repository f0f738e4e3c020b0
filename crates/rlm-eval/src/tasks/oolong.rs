//! OOLONG-style aggregation and OOLONG-Pairs.
//!
//! The context holds one record per line,
//! `Date: Jan 02, 2024 || User: 7046 || Instance: <question>`, in random
//! order. Each question comes from the template pool in [`crate::pool`]
//! and has one of the six TREC coarse labels, which the context does not
//! show: answering needs a classification of every distinct question (an
//! LLM sub-call per chunk, in an RLM) and exact counting.
//!
//! Users differ on purpose, so that per-user and pair questions have
//! non-trivial answers at every length: each user asks questions of a random
//! subset of two to six labels with random integer weights, is more or less
//! active, and is active in one window of 2024 (at least 60 days long).

use std::collections::BTreeMap;

use serde_json::json;

use crate::date::MONTH_NAMES;
use crate::pool::pool;
use crate::rng::Rng;
use crate::{Context, Date, Gold, Item, Label, LengthBucket, OolongQuestion, QuerySpec, Rule, Task};

/// The year every record falls in.
pub(crate) const YEAR: i32 = 2024;

/// Describes the data to the model; starts every OOLONG and OOLONG-Pairs
/// query.
pub(crate) const PREAMBLE: &str = "The context is a list of general-knowledge questions, one \
per line, in the form `Date: <date> || User: <user ID> || Instance: <question>`. Each question \
belongs to exactly one of six categories (labels): abbreviation, description and abstract \
concept, entity, human being, location, numeric value. The labels are not written in the data: \
decide each question's label from its wording.";

/// Approximate characters per record line, to size the user pool.
const APPROX_LINE_CHARS: usize = 85;

/// Attempts at drawing data whose answer is unambiguous (no tie where the
/// question needs a strict order; a non-empty pair list) before accepting
/// the last draw. Ties are rare, so this is almost never reached.
const MAX_DRAWS: usize = 64;

/// One line of the context.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) date: Date,
    pub(crate) user: u64,
    pub(crate) label: Label,
}

struct Profile {
    id: u64,
    activity: u64,
    label_weights: [u64; 6],
    first_day: u32,
    last_day: u32,
}

/// Draws users and records until the text reaches `target` characters.
fn draw_data(rng: &mut Rng, target: usize) -> (String, Vec<Record>) {
    let est_records = target / APPROX_LINE_CHARS;
    let n_users = (est_records / 30).clamp(6, 50);
    let mut ids = std::collections::BTreeSet::new();
    while ids.len() < n_users {
        ids.insert(rng.range(100, 9999));
    }
    let days = Date::days_in_year(YEAR);
    let mut profiles: Vec<Profile> = ids
        .into_iter()
        .map(|id| {
            let mut label_weights = [0u64; 6];
            let mut order = Label::ALL;
            rng.shuffle(&mut order);
            let k = *rng.pick(&[2usize, 3, 3, 4, 4, 5, 6]);
            for l in &order[..k] {
                label_weights[l.index()] = rng.range(1, 9);
            }
            let first_day = rng.below(u64::from(days - 60)) as u32;
            let last_day = rng.range(u64::from(first_day + 59), u64::from(days - 1)) as u32;
            Profile { id, activity: rng.range(1, 12), label_weights, first_day, last_day }
        })
        .collect();
    rng.shuffle(&mut profiles);
    let activity: Vec<u64> = profiles.iter().map(|p| p.activity).collect();

    let pool = pool();
    let mut text = String::with_capacity(target + 256);
    let mut records = Vec::with_capacity(est_records + 16);
    loop {
        let p = &profiles[rng.weighted(&activity)];
        let label = Label::ALL[rng.weighted(&p.label_weights)];
        let qs = &pool.by_label[label.index()];
        let question = &pool.questions[qs[rng.index(qs.len())]];
        let day = rng.range(u64::from(p.first_day), u64::from(p.last_day)) as u32;
        let date = Date::from_day_of_year(YEAR, day);
        let line = format!("Date: {date} || User: {} || Instance: {}\n", p.id, question.text);
        if text.len() + line.len() > target {
            break;
        }
        text.push_str(&line);
        records.push(Record { date, user: p.id, label });
    }
    (text, records)
}

fn label_counts(records: &[Record]) -> [u64; 6] {
    let mut c = [0u64; 6];
    for r in records {
        c[r.label.index()] += 1;
    }
    c
}

/// Labels sorted by count, most frequent first; `None` if two labels that
/// are neighbours at rank `rank` (0-based) tie.
fn label_at_rank(counts: &[u64; 6], rank: usize, from_top: bool) -> Option<Label> {
    let mut order: Vec<Label> = Label::ALL.to_vec();
    order.sort_by_key(|l| std::cmp::Reverse(counts[l.index()]));
    if !from_top {
        order.reverse();
    }
    let c = |i: usize| counts[order[i].index()];
    let clear_before = rank == 0 || c(rank - 1) != c(rank);
    let clear_after = rank + 1 >= order.len() || c(rank + 1) != c(rank);
    (clear_before && clear_after).then_some(order[rank])
}

/// Picks the question for family `id % 9` and its gold; `None` if this draw
/// of the data would make it ambiguous.
fn pick_question(rng: &mut Rng, id: u32, records: &[Record]) -> Option<(OolongQuestion, Gold)> {
    let counts = label_counts(records);
    let present: Vec<Label> = Label::ALL.into_iter().filter(|l| counts[l.index()] > 0).collect();
    if present.is_empty() {
        return None;
    }
    let q = match id % 9 {
        0 => {
            let l = label_at_rank(&counts, 0, true)?;
            (OolongQuestion::MostFrequent, Gold::Text(l.name().into()))
        }
        1 => {
            // A label that never occurs would be "least common" only in a
            // sense the data cannot show; insist that all six occur.
            if present.len() < 6 {
                return None;
            }
            let l = label_at_rank(&counts, 0, false)?;
            (OolongQuestion::LeastFrequent, Gold::Text(l.name().into()))
        }
        2 => {
            let l = label_at_rank(&counts, 1, true)?;
            (OolongQuestion::SecondMostFrequent, Gold::Text(l.name().into()))
        }
        3 => {
            let label = *rng.pick(&present);
            (OolongQuestion::Count { label }, Gold::Count(counts[label.index()]))
        }
        4 => {
            let a = *rng.pick(&Label::ALL);
            let b = *rng.pick(&Label::ALL);
            if a == b || counts[a.index()] == counts[b.index()] {
                return None;
            }
            (OolongQuestion::MoreCommon { a, b }, Gold::YesNo(counts[a.index()] > counts[b.index()]))
        }
        5 => {
            let label = *rng.pick(&present);
            let count = counts[label.index()];
            if counts.iter().filter(|&&c| c == count).count() != 1 {
                return None;
            }
            (OolongQuestion::LabelWithCount { count }, Gold::Text(label.name().into()))
        }
        6 => {
            let label = *rng.pick(&present);
            let month = rng.range(1, 12) as u8;
            let n = records.iter().filter(|r| r.label == label && r.date.month == month).count() as u64;
            (OolongQuestion::MonthCount { label, month }, Gold::Count(n))
        }
        7 => {
            let label = *rng.pick(&present);
            let users: Vec<u64> = user_stats(records).into_keys().collect();
            let count = |u: u64| records.iter().filter(|r| r.user == u && r.label == label).count();
            let mut found = None;
            for _ in 0..20 {
                let a = *rng.pick(&users);
                let b = *rng.pick(&users);
                if a != b && count(a) != count(b) {
                    found = Some((a, b, if count(a) > count(b) { a } else { b }));
                    break;
                }
            }
            let (a, b, winner) = found?;
            (OolongQuestion::UserMore { label, a, b }, Gold::User(winner))
        }
        _ => {
            let label = *rng.pick(&present);
            let first = records.iter().filter(|r| r.label == label).map(|r| r.date).min()?;
            (OolongQuestion::FirstDate { label }, Gold::Date(first))
        }
    };
    Some(q)
}

/// The query text for a question.
pub(crate) fn question_text(q: &OolongQuestion) -> String {
    match q {
        OolongQuestion::MostFrequent => {
            "Which label is the most common among the questions? Answer with the label only.".into()
        }
        OolongQuestion::LeastFrequent => {
            "Which label is the least common among the questions? Answer with the label only.".into()
        }
        OolongQuestion::SecondMostFrequent => {
            "Which label is the second most common among the questions? Answer with the label only.".into()
        }
        OolongQuestion::Count { label } => {
            format!("How many questions have the label '{label}'? Answer with a number only.")
        }
        OolongQuestion::MoreCommon { a, b } => {
            format!("Is the label '{a}' more common than the label '{b}'? Answer yes or no.")
        }
        OolongQuestion::LabelWithCount { count } => {
            format!("Which label occurs exactly {count} times? Answer with the label only.")
        }
        OolongQuestion::MonthCount { label, month } => format!(
            "How many questions with the label '{label}' were asked in {} {YEAR}? \
             Answer with a number only.",
            MONTH_NAMES[usize::from(*month) - 1]
        ),
        OolongQuestion::UserMore { label, a, b } => format!(
            "Which of the users {a} and {b} asked more questions with the label '{label}'? \
             Answer with the user ID only."
        ),
        OolongQuestion::FirstDate { label } => format!(
            "On what date was the earliest question with the label '{label}' asked? \
             Answer with the date in the form `Jan 02, {YEAR}`."
        ),
    }
}

fn family_name(q: &OolongQuestion) -> &'static str {
    match q {
        OolongQuestion::MostFrequent => "most-frequent",
        OolongQuestion::LeastFrequent => "least-frequent",
        OolongQuestion::SecondMostFrequent => "second-most-frequent",
        OolongQuestion::Count { .. } => "count",
        OolongQuestion::MoreCommon { .. } => "more-common",
        OolongQuestion::LabelWithCount { .. } => "label-with-count",
        OolongQuestion::MonthCount { .. } => "month-count",
        OolongQuestion::UserMore { .. } => "user-more",
        OolongQuestion::FirstDate { .. } => "first-date",
    }
}

pub(super) fn generate(rng: &mut Rng, length: LengthBucket, id: u32) -> Item {
    let mut draws = 0;
    let (text, records, question, gold) = loop {
        draws += 1;
        let (text, records) = draw_data(rng, length.chars());
        match pick_question(rng, id, &records) {
            Some((q, g)) => break (text, records, q, g),
            None if draws >= MAX_DRAWS => {
                // Practically unreachable; fall back to a count, which is
                // never ambiguous.
                let label = records.first().map_or(Label::Entity, |r| r.label);
                let n = label_counts(&records)[label.index()];
                break (text, records, OolongQuestion::Count { label }, Gold::Count(n));
            }
            None => {}
        }
    };
    let rule = match &gold {
        Gold::Count(_) => Rule::NumericDecay,
        Gold::Date(_) => Rule::DateValue,
        _ => Rule::ExactMatch,
    };
    Item {
        task: Task::Oolong,
        length,
        id,
        context: Context::Text(text),
        query: format!("{PREAMBLE}\n\n{}", question_text(&question)),
        meta: json!({
            "family": family_name(&question),
            "records": records.len(),
            "users": user_stats(&records).len(),
            "draws": draws,
        }),
        spec: QuerySpec::Oolong(question),
        gold,
        rule,
    }
}

// --- OOLONG-Pairs ------------------------------------------------------------

/// What the pair predicates look at for one user.
#[derive(Debug, Default, Clone)]
pub(crate) struct UserStats {
    counts: [u64; 6],
    total: u64,
    first: Option<Date>,
    last: Option<Date>,
    dates: [Vec<Date>; 6],
}

impl UserStats {
    fn c(&self, l: Label) -> u64 {
        self.counts[l.index()]
    }
    fn any(&self, l: Label, f: impl Fn(Date) -> bool) -> bool {
        self.dates[l.index()].iter().any(|&d| f(d))
    }
    fn distinct(&self) -> usize {
        self.counts.iter().filter(|&&c| c > 0).count()
    }
}

/// Per-user statistics, keyed by user id (a `BTreeMap`, so that iteration
/// order, and so the order of gold pairs, is fixed).
pub(crate) fn user_stats(records: &[Record]) -> BTreeMap<u64, UserStats> {
    let mut m: BTreeMap<u64, UserStats> = BTreeMap::new();
    for r in records {
        let s = m.entry(r.user).or_default();
        s.counts[r.label.index()] += 1;
        s.total += 1;
        s.first = Some(s.first.map_or(r.date, |d| d.min(r.date)));
        s.last = Some(s.last.map_or(r.date, |d| d.max(r.date)));
        s.dates[r.label.index()].push(r.date);
    }
    m
}

/// One OOLONG-Pairs predicate, `T1` to `T20`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PairPredicate {
    /// 1 to 20.
    pub number: u8,
    /// Whether (a, b) and (b, a) are the same pair.
    pub symmetric: bool,
    /// The condition as worded in the query, over users `a` and `b`.
    pub text: &'static str,
    /// The same condition as a Python expression over `a` and `b`, using
    /// the helpers of the scripted policy (`c`, `total`, `first`, `last`,
    /// `distinct`, `after`, `before`, `within`).
    pub python: &'static str,
}

const fn p(number: u8, symmetric: bool, text: &'static str, python: &'static str) -> PairPredicate {
    PairPredicate { number, symmetric, text, python }
}

/// The twenty predicates. T1–T10 are symmetric, T11–T20 asymmetric; the
/// wording here is the definition (see also `docs/eval.md`).
const PREDICATES: [PairPredicate; 20] = [
    p(1, true, "both users asked at least one 'numeric value' question", "c(a, NUM) >= 1 and c(b, NUM) >= 1"),
    p(
        2,
        true,
        "each of the two users asked at least one 'location' question and at least one 'abbreviation' question",
        "c(a, LOC) >= 1 and c(a, ABBR) >= 1 and c(b, LOC) >= 1 and c(b, ABBR) >= 1",
    ),
    p(
        3,
        true,
        "each of the two users asked at least one 'human being' question and no 'abbreviation' question",
        "c(a, HUM) >= 1 and c(a, ABBR) == 0 and c(b, HUM) >= 1 and c(b, ABBR) == 0",
    ),
    p(
        4,
        true,
        "both users asked at least one 'entity' question dated after Mar 01, 2024 (strictly later than that day)",
        "after(a, ENTY, (2024, 3, 1)) and after(b, ENTY, (2024, 3, 1))",
    ),
    p(
        5,
        true,
        "the two users asked the same number of 'description and abstract concept' questions, and that number is at least one",
        "c(a, DESC) == c(b, DESC) and c(a, DESC) >= 1",
    ),
    p(
        6,
        true,
        "each of the two users asked more 'entity' questions than 'human being' questions",
        "c(a, ENTY) > c(a, HUM) and c(b, ENTY) > c(b, HUM)",
    ),
    p(
        7,
        true,
        "both users asked at least one 'numeric value' question dated between Jan 01, 2024 and Mar 31, 2024 (inclusive)",
        "within(a, NUM, (2024, 1, 1), (2024, 3, 31)) and within(b, NUM, (2024, 1, 1), (2024, 3, 31))",
    ),
    p(8, true, "neither user asked any 'abbreviation' question", "c(a, ABBR) == 0 and c(b, ABBR) == 0"),
    p(
        9,
        true,
        "each of the two users asked questions of at least four different labels",
        "distinct(a) >= 4 and distinct(b) >= 4",
    ),
    p(
        10,
        true,
        "one of the two users asked at least one 'location' question and the other asked at least one 'human being' question",
        "(c(a, LOC) >= 1 and c(b, HUM) >= 1) or (c(b, LOC) >= 1 and c(a, HUM) >= 1)",
    ),
    p(11, false, "user a asked more 'location' questions than user b", "c(a, LOC) > c(b, LOC)"),
    p(
        12,
        false,
        "user a asked at least one 'abbreviation' question and user b asked none",
        "c(a, ABBR) >= 1 and c(b, ABBR) == 0",
    ),
    p(
        13,
        false,
        "user a asked more 'numeric value' questions than user b, and user b asked more 'entity' questions than user a",
        "c(a, NUM) > c(b, NUM) and c(b, ENTY) > c(a, ENTY)",
    ),
    p(
        14,
        false,
        "the earliest question of user a is dated strictly before the earliest question of user b",
        "first(a) < first(b)",
    ),
    p(
        15,
        false,
        "user a asked at least one 'human being' question dated before Apr 01, 2024 (strictly earlier than that day) and user b asked no 'human being' question dated before Apr 01, 2024",
        "before(a, HUM, (2024, 4, 1)) and not before(b, HUM, (2024, 4, 1))",
    ),
    p(
        16,
        false,
        "user b asked at least one 'description and abstract concept' question and user a asked at least twice as many of them as user b",
        "c(b, DESC) >= 1 and c(a, DESC) >= 2 * c(b, DESC)",
    ),
    p(
        17,
        false,
        "user a asked more questions in total than user b, and both asked at least one 'entity' question",
        "total(a) > total(b) and c(a, ENTY) >= 1 and c(b, ENTY) >= 1",
    ),
    p(
        18,
        false,
        "user a asked at least one 'entity' question dated after Jun 30, 2024 (strictly later than that day) and user b asked no 'entity' question dated after Jun 30, 2024",
        "after(a, ENTY, (2024, 6, 30)) and not after(b, ENTY, (2024, 6, 30))",
    ),
    p(
        19,
        false,
        "the latest question of user a is dated strictly after the latest question of user b, and both asked at least one 'numeric value' question",
        "last(a) > last(b) and c(a, NUM) >= 1 and c(b, NUM) >= 1",
    ),
    p(
        20,
        false,
        "user a asked more 'human being' questions than 'location' questions, and user b asked more 'location' questions than 'human being' questions",
        "c(a, HUM) > c(a, LOC) and c(b, LOC) > c(b, HUM)",
    ),
];

/// The twenty OOLONG-Pairs predicates, `T1` first.
pub fn pair_predicates() -> &'static [PairPredicate] {
    &PREDICATES
}

/// Predicate `T{number}`, 1 to 20.
pub(crate) fn pair_predicate(number: u8) -> &'static PairPredicate {
    &PREDICATES[usize::from(number.clamp(1, 20)) - 1]
}

/// Whether predicate `T{n}` holds for users (a, b).
fn holds(n: u8, a: &UserStats, b: &UserStats) -> bool {
    use Label::{Abbreviation as ABBR, Description as DESC, Entity as ENTY, Human as HUM};
    use Label::{Location as LOC, Numeric as NUM};
    let d = |m, day| Date::new(YEAR, m, day).expect("valid constant date");
    match n {
        1 => a.c(NUM) >= 1 && b.c(NUM) >= 1,
        2 => a.c(LOC) >= 1 && a.c(ABBR) >= 1 && b.c(LOC) >= 1 && b.c(ABBR) >= 1,
        3 => a.c(HUM) >= 1 && a.c(ABBR) == 0 && b.c(HUM) >= 1 && b.c(ABBR) == 0,
        4 => a.any(ENTY, |x| x > d(3, 1)) && b.any(ENTY, |x| x > d(3, 1)),
        5 => a.c(DESC) == b.c(DESC) && a.c(DESC) >= 1,
        6 => a.c(ENTY) > a.c(HUM) && b.c(ENTY) > b.c(HUM),
        7 => {
            let q1 = |x| x >= d(1, 1) && x <= d(3, 31);
            a.any(NUM, q1) && b.any(NUM, q1)
        }
        8 => a.c(ABBR) == 0 && b.c(ABBR) == 0,
        9 => a.distinct() >= 4 && b.distinct() >= 4,
        10 => (a.c(LOC) >= 1 && b.c(HUM) >= 1) || (b.c(LOC) >= 1 && a.c(HUM) >= 1),
        11 => a.c(LOC) > b.c(LOC),
        12 => a.c(ABBR) >= 1 && b.c(ABBR) == 0,
        13 => a.c(NUM) > b.c(NUM) && b.c(ENTY) > a.c(ENTY),
        14 => a.first < b.first,
        15 => a.any(HUM, |x| x < d(4, 1)) && !b.any(HUM, |x| x < d(4, 1)),
        16 => b.c(DESC) >= 1 && a.c(DESC) >= 2 * b.c(DESC),
        17 => a.total > b.total && a.c(ENTY) >= 1 && b.c(ENTY) >= 1,
        18 => a.any(ENTY, |x| x > d(6, 30)) && !b.any(ENTY, |x| x > d(6, 30)),
        19 => a.last > b.last && a.c(NUM) >= 1 && b.c(NUM) >= 1,
        20 => a.c(HUM) > a.c(LOC) && b.c(LOC) > b.c(HUM),
        _ => false,
    }
}

/// The gold pairs of predicate `n` over the records: for a symmetric
/// predicate each unordered pair once as (lower, higher); for an asymmetric
/// one every ordered pair. Sorted.
pub(crate) fn gold_pairs(n: u8, records: &[Record]) -> Vec<(u64, u64)> {
    let stats = user_stats(records);
    let symmetric = pair_predicate(n).symmetric;
    let mut out = Vec::new();
    for (&ua, a) in &stats {
        for (&ub, b) in &stats {
            let wanted = if symmetric { ua < ub } else { ua != ub };
            if wanted && holds(n, a, b) {
                out.push((ua, ub));
            }
        }
    }
    out
}

pub(super) fn generate_pairs(rng: &mut Rng, length: LengthBucket, id: u32) -> Item {
    let number = (id % 20) as u8 + 1;
    let pred = pair_predicate(number);
    let mut draws = 0;
    let (text, records, pairs) = loop {
        draws += 1;
        let (text, records) = draw_data(rng, length.chars());
        let pairs = gold_pairs(number, &records);
        if !pairs.is_empty() || draws >= MAX_DRAWS {
            break (text, records, pairs);
        }
    };
    let format = if pred.symmetric {
        "The condition is symmetric: list each unordered pair once, with the lower user ID \
         first. Answer with a JSON list of pairs, e.g. [[104, 2381], [104, 5570]]."
    } else {
        "The order matters: (a, b) and (b, a) are different pairs, and a pair may qualify in \
         one order only. Answer with a JSON list of [a, b] pairs, e.g. [[104, 2381], [2381, 104]]."
    };
    let query = format!(
        "{PREAMBLE}\n\nList every pair of distinct user IDs (a, b) that appear in the data such \
         that {}. {format}",
        pred.text
    );
    let users = user_stats(&records).len();
    Item {
        task: Task::OolongPairs,
        length,
        id,
        context: Context::Text(text),
        query,
        spec: QuerySpec::OolongPairs { predicate: number },
        meta: json!({
            "predicate": format!("T{number}"),
            "symmetric": pred.symmetric,
            "records": records.len(),
            "users": users,
            "gold_pairs": pairs.len(),
            "draws": draws,
        }),
        gold: Gold::Pairs { pairs, symmetric: pred.symmetric },
        rule: Rule::PairF1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_back_and_match_the_gold_counts() {
        let mut rng = Rng::new(3);
        let (text, records) = draw_data(&mut rng, 32 * 1024);
        assert_eq!(text.lines().count(), records.len());
        let pool = pool();
        for (line, r) in text.lines().zip(&records) {
            let (head, q) = line.split_once(" || Instance: ").unwrap();
            assert_eq!(head, format!("Date: {} || User: {}", r.date, r.user));
            let label = pool.questions.iter().find(|x| x.text == q).unwrap().label;
            assert_eq!(label, r.label);
        }
    }

    #[test]
    fn every_family_and_predicate_gets_an_answer() {
        let length: LengthBucket = "8k".parse().unwrap();
        for id in 0..9 {
            let item = generate(&mut Rng::new(u64::from(id)), length, id);
            assert_ne!(item.meta["draws"], json!(MAX_DRAWS), "family {id}");
        }
        for id in 0..20 {
            let item = generate_pairs(&mut Rng::new(u64::from(id)), length, id);
            let Gold::Pairs { pairs, .. } = &item.gold else { panic!() };
            assert!(!pairs.is_empty(), "T{} has no pairs", id + 1);
        }
    }

    /// `docs/eval.md` is where users read the predicates; it must say
    /// exactly what the queries say.
    #[test]
    fn docs_define_every_predicate_as_the_query_words_it() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/eval.md");
        let doc = std::fs::read_to_string(path).unwrap();
        for p in &PREDICATES {
            let kind = if p.symmetric { "symmetric" } else { "ordered" };
            let row = format!("| T{} | {kind} | {} |", p.number, p.text);
            assert!(doc.contains(&row), "docs/eval.md lacks the row\n{row}");
        }
    }

    #[test]
    fn symmetric_predicates_are_symmetric() {
        let mut rng = Rng::new(11);
        let (_, records) = draw_data(&mut rng, 64 * 1024);
        let stats: Vec<UserStats> = user_stats(&records).into_values().collect();
        for pred in PREDICATES.iter().filter(|p| p.symmetric) {
            for a in &stats {
                for b in &stats {
                    assert_eq!(holds(pred.number, a, b), holds(pred.number, b, a));
                }
            }
        }
    }
}
