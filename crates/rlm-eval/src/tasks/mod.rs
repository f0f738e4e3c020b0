//! Seeded item generators, one module per task.
//!
//! Every item is a pure function of (seed, task, length, id): its random
//! stream is seeded from those four values through [`Rng::from_parts`], so
//! an item can be regenerated alone (a resumed run does not depend on how
//! many items the first run asked for) and the same seed gives the same
//! items on every machine. Nothing iterates a `HashMap` into an output.

mod multihop;
mod needle;
mod niah;
mod oolong;
mod salary;

use crate::rng::{Rng, fnv1a};
use crate::{Item, LengthBucket, Task};

pub(crate) use oolong::pair_predicate;
pub use oolong::{PairPredicate, pair_predicates};

/// Generates `count` items for each task and length, in the order task,
/// length, id.
///
/// ```
/// use rlm_eval::{Task, generate, parse_lengths};
///
/// let items = generate(&[Task::Needle], &parse_lengths("8k").unwrap(), 2, 42);
/// assert_eq!(items.len(), 2);
/// assert!(items[0].query.contains("secret number"));
/// ```
pub fn generate(tasks: &[Task], lengths: &[LengthBucket], count: u32, seed: u64) -> Vec<Item> {
    let mut out = Vec::with_capacity(tasks.len() * lengths.len() * count as usize);
    for &task in tasks {
        for &length in lengths {
            for id in 0..count {
                out.push(generate_item(task, length, id, seed));
            }
        }
    }
    out
}

/// Generates one item. The same arguments give the same item everywhere.
pub fn generate_item(task: Task, length: LengthBucket, id: u32, seed: u64) -> Item {
    let mut rng = Rng::from_parts(&[seed, fnv1a(task.name().as_bytes()), length.tokens(), u64::from(id)]);
    match task {
        Task::SNiah => niah::generate(&mut rng, length, id),
        Task::Oolong => oolong::generate(&mut rng, length, id),
        Task::OolongPairs => oolong::generate_pairs(&mut rng, length, id),
        Task::MultiHop => multihop::generate(&mut rng, length, id),
        Task::Salary => salary::generate(&mut rng, length, id),
        Task::Needle => needle::generate(&mut rng, length, id),
    }
}

/// The `i`th element of the base-2 van der Corput sequence (0, 1/2, 1/4,
/// 3/4, 1/8, ...): every prefix of it is spread evenly over `[0, 1)`, so
/// needle depths are even across items however many items a run asks for.
/// Returned in millionths to keep the arithmetic in integers.
pub(crate) fn van_der_corput_ppm(mut i: u32) -> u64 {
    let mut num: u64 = 0;
    let mut den: u64 = 1;
    while i > 0 {
        den *= 2;
        num = num * 2 + u64::from(i & 1);
        i >>= 1;
    }
    // `num` holds the bits of `i` reversed; scale num/den to millionths.
    num * 1_000_000 / den
}

/// A random word-pair key, e.g. `quiet-harbor`.
pub(crate) fn word_pair(rng: &mut Rng) -> String {
    format!("{}-{}", rng.pick(crate::words::ADJECTIVES), rng.pick(crate::words::NOUNS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context;

    /// Fingerprints of `generate(&Task::ALL, 8k, 2, seed 2024)`.
    const PINNED: &[(&str, &str)] = &[
        ("s-niah-8k-0", "5307dbc82db72657"),
        ("s-niah-8k-1", "e2f0f13fd6aa9e9f"),
        ("oolong-8k-0", "d6a6c855807d2e29"),
        ("oolong-8k-1", "7877be9a654612df"),
        ("oolong-pairs-8k-0", "19cb326f5b300db2"),
        ("oolong-pairs-8k-1", "0875f26e96844671"),
        ("multi-hop-8k-0", "510248c24faaeea9"),
        ("multi-hop-8k-1", "6d0c3120bd204936"),
        ("salary-8k-0", "f74872ab389f1cb2"),
        ("salary-8k-1", "86873ccca6818615"),
        ("needle-8k-0", "5250692ac76286a4"),
        ("needle-8k-1", "6a75718999eaf6d0"),
    ];
    const PINNED_NEEDLE: &str = "152122";
    const PINNED_UUID_NIAH_KEY: &str = "nimble-spider";
    const PINNED_UUID_NIAH_GOLD: &str = "3d1189a8-31be-4e3c-b170-96ebf6c481b1";

    #[test]
    fn van_der_corput_starts_as_documented() {
        let got: Vec<u64> = (0..6).map(van_der_corput_ppm).collect();
        assert_eq!(got, [0, 500_000, 250_000, 750_000, 125_000, 625_000]);
    }

    /// JSON text with object keys sorted, so that the fingerprint does not
    /// depend on whether serde_json keeps insertion order (its
    /// `preserve_order` feature, which another crate could switch on).
    fn canonical(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    canonical(&m[k], out);
                }
                out.push('}');
            }
            serde_json::Value::Array(xs) => {
                out.push('[');
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    /// A stable fingerprint of an item: FNV-1a of its canonical JSON form.
    fn fingerprint(item: &Item) -> u64 {
        let mut s = String::new();
        canonical(&serde_json::to_value(item).unwrap(), &mut s);
        fnv1a(s.as_bytes())
    }

    /// Pins the generated items, so that a change of platform, compiler or
    /// dependency that alters any item fails here. A deliberate change to a
    /// generator or word list updates these numbers in the same commit.
    #[test]
    fn generated_items_are_pinned() {
        let lengths = crate::parse_lengths("8k").unwrap();
        let got: Vec<(String, String)> = generate(&Task::ALL, &lengths, 2, 2024)
            .iter()
            .map(|i| (i.key().to_string(), format!("{:016x}", fingerprint(i))))
            .collect();
        let want: Vec<(String, String)> = PINNED.iter().map(|(k, h)| ((*k).to_owned(), (*h).to_owned())).collect();
        assert_eq!(got, want);
        // And a few values in the clear.
        let needle = generate_item(Task::Needle, lengths[0], 0, 2024);
        assert_eq!(needle.gold, crate::Gold::Text(PINNED_NEEDLE.into()));
        let niah = generate_item(Task::SNiah, lengths[0], 2, 2024);
        let crate::QuerySpec::SNiah { key, .. } = &niah.spec else { panic!() };
        assert_eq!(key, PINNED_UUID_NIAH_KEY);
        assert_eq!(niah.gold, crate::Gold::Text(PINNED_UUID_NIAH_GOLD.into()));
    }

    #[test]
    fn items_are_deterministic_and_independent_of_count() {
        let lengths = crate::parse_lengths("8k").unwrap();
        let a = generate(&Task::ALL, &lengths, 3, 7);
        let b = generate(&Task::ALL, &lengths, 4, 7);
        for item in &a {
            let twin = b.iter().find(|x| x.key() == item.key()).unwrap();
            assert_eq!(fingerprint(item), fingerprint(twin), "{}", item.key());
        }
        let other_seed = generate(&Task::ALL, &lengths, 3, 8);
        assert!(a.iter().zip(&other_seed).all(|(x, y)| x.context != y.context));
    }

    #[test]
    fn contexts_hit_their_length_bucket() {
        for len in ["8k", "32k"] {
            let length: LengthBucket = len.parse().unwrap();
            for item in generate(&Task::ALL, &[length], 3, 1) {
                let n = item.context.char_len() as f64;
                let target = length.chars() as f64;
                assert!((0.95..=1.0).contains(&(n / target)), "{}: {n} chars for a {target}-char bucket", item.key());
                match (&item.context, item.task) {
                    (Context::Json(_), Task::MultiHop | Task::Salary) => {}
                    (Context::Text(_), Task::MultiHop | Task::Salary) => panic!("want JSON"),
                    (Context::Text(_), _) => {}
                    (Context::Json(_), _) => panic!("want text"),
                }
            }
        }
    }
}
