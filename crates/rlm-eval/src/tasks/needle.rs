//! Needle: one line `the secret number is NNNNNN` among lines of random
//! words.
//!
//! The simplest retrieval task, a smoke test for the whole loop: the
//! context is lines of 4 to 10 random words (adjectives, nouns, verbs), as
//! many as fit the length bucket, and one line at a random position holds a
//! 6-digit secret number.

use serde_json::json;

use crate::rng::Rng;
use crate::words::{ADJECTIVES, NOUNS, VERBS};
use crate::{Context, Gold, Item, LengthBucket, QuerySpec, Rule, Task};

fn random_line(rng: &mut Rng, out: &mut String) {
    let n = rng.range(4, 10);
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        let list = match rng.below(3) {
            0 => ADJECTIVES,
            1 => NOUNS,
            _ => VERBS,
        };
        out.push_str(rng.pick::<&str>(list));
    }
    out.push('\n');
}

pub(super) fn generate(rng: &mut Rng, length: LengthBucket, id: u32) -> Item {
    let secret = rng.range(100_000, 999_999);
    let needle = format!("the secret number is {secret}\n");
    let target = length.chars();
    let mut text = String::with_capacity(target + 128);
    let mut line_starts = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        random_line(rng, &mut line);
        if text.len() + line.len() + needle.len() > target {
            break;
        }
        line_starts.push(text.len());
        text.push_str(&line);
    }
    // Insert before a random line, so the needle is never the last line.
    let line = rng.index(line_starts.len());
    text.insert_str(line_starts[line], &needle);
    Item {
        task: Task::Needle,
        length,
        id,
        context: Context::Text(text),
        query: "One line of the text in `context` says what the secret number is. \
                What is the secret number? Answer with the number only."
            .to_owned(),
        spec: QuerySpec::Needle,
        gold: Gold::Text(secret.to_string()),
        rule: Rule::Contains,
        meta: json!({ "lines": line_starts.len() + 1, "needle_line": line }),
    }
}
