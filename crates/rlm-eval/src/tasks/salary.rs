//! Salary aggregation: the average salary per department over a JSON list
//! of employee records `{"name", "department", "salary"}`.
//!
//! A pure code task: no record needs reading by a model, but the list is
//! far too long to add up in one's head. Each item uses 4 to 10
//! departments with different sizes; salaries are whole numbers from 30,000
//! to 250,000.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::rng::Rng;
use crate::words::{DEPARTMENTS, FIRST_NAMES, LAST_NAMES};
use crate::{Context, Gold, Item, LengthBucket, QuerySpec, Rule, Task};

/// The tolerance of the scoring rule: answers within a cent count.
pub(crate) const TOLERANCE: f64 = 0.01;

/// `sum / n` rounded half-up to cents, in exact integer arithmetic.
fn average_cents(sum: u64, n: u64) -> u64 {
    (sum * 100 * 2 + n) / (2 * n)
}

pub(super) fn generate(rng: &mut Rng, length: LengthBucket, id: u32) -> Item {
    let mut depts: Vec<&str> = DEPARTMENTS.to_vec();
    rng.shuffle(&mut depts);
    depts.truncate(rng.range(4, 10) as usize);
    let weights: Vec<u64> = depts.iter().map(|_| rng.range(1, 10)).collect();
    // Each department gets its own salary band, so averages differ.
    let bands: Vec<(u64, u64)> = depts
        .iter()
        .map(|_| {
            let lo = rng.range(30, 120) * 1000;
            (lo, lo + rng.range(20, 130) * 1000)
        })
        .collect();

    let target = length.chars();
    let mut size = 2usize;
    let mut records = Vec::new();
    let mut totals: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    loop {
        let d = rng.weighted(&weights);
        let name = format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
        let salary = rng.range(bands[d].0, bands[d].1);
        // {"department":"…","name":"…","salary":N} and a comma.
        let rec_size = depts[d].len() + name.len() + salary.to_string().len() + 38;
        if size + rec_size > target && !records.is_empty() {
            break;
        }
        size += rec_size;
        let t = totals.entry(depts[d]).or_default();
        t.0 += salary;
        t.1 += 1;
        records.push(json!({ "name": name, "department": depts[d], "salary": salary }));
    }
    let averages: BTreeMap<String, f64> =
        totals.iter().map(|(d, &(sum, n))| (d.to_string(), average_cents(sum, n) as f64 / 100.0)).collect();
    Item {
        task: Task::Salary,
        length,
        id,
        meta: json!({ "records": records.len(), "departments": averages.len() }),
        context: Context::Json(Value::Array(records)),
        query: "The context is a list of employee records, each a JSON object with \"name\", \
                \"department\" and \"salary\". What is the average salary in each department, \
                rounded to 2 decimal places? Answer with a JSON object that maps each \
                department name to its average salary, e.g. {\"Sales\": 61234.57}."
            .to_owned(),
        spec: QuerySpec::Salary,
        gold: Gold::Averages(averages),
        rule: Rule::WithinTolerance { tolerance: TOLERANCE },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_half_up() {
        assert_eq!(average_cents(1, 3), 33);
        assert_eq!(average_cents(2, 3), 67);
        assert_eq!(average_cents(1, 8), 13); // 12.5 cents rounds up
        assert_eq!(average_cents(150_000, 2), 7_500_000);
    }
}
