//! S-NIAH, after RULER's single-needle tasks (`niah_single_1..3`).
//!
//! One needle, `One of the special magic numbers for {key} is: {value}.`
//! (`uuids` for the UUID variant, as RULER words it), sits at a sentence
//! boundary in a haystack. The item's id picks the variant, cycling:
//!
//! 1. id % 3 == 0: a haystack of RULER's repeated noise sentences, a 7-digit
//!    number;
//! 2. id % 3 == 1: a haystack of public-domain prose (see `data/prose.txt`),
//!    a 7-digit number;
//! 3. id % 3 == 2: the prose haystack, a UUID.
//!
//! RULER's variants 2 and 3 use Paul Graham's essays; we bundle public-domain
//! prose instead (`data/prose.txt`: Pride and Prejudice and Alice's Adventures
//! in Wonderland, in part). The needle's depth is the van der Corput sequence over the
//! item id, so any number of items spreads depths evenly over 0..100%.

use serde_json::json;

use super::{van_der_corput_ppm, word_pair};
use crate::rng::Rng;
use crate::{Context, Gold, Item, LengthBucket, NeedleKind, QuerySpec, Rule, Task};

/// RULER's noise haystack: these five sentences, repeated.
pub(crate) const NOISE: &str =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";

/// Public-domain prose for the haystack of variants 2 and 3, with the
/// file's `#` header (which says where the text comes from).
const PROSE_FILE: &str = include_str!("../../data/prose.txt");

/// The prose without its header.
pub(crate) fn prose() -> &'static str {
    let mut rest = PROSE_FILE;
    while rest.starts_with('#') {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest.trim_start()
}

/// Builds a haystack of about `target` characters by repeating `source`,
/// cut at the end of a sentence.
fn haystack(source: &str, target: usize) -> String {
    let mut out = String::with_capacity(target + source.len());
    while out.len() < target {
        let room = floor_char_boundary(source, target - out.len());
        if room >= source.len() {
            out.push_str(source);
            continue;
        }
        // Cut the last copy at the sentence end nearest the target.
        let cut = source[..room].rfind(". ").map(|i| i + 2).unwrap_or(room);
        out.push_str(&source[..cut]);
        break;
    }
    out
}

/// The largest char boundary at or below `i`.
pub(crate) fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The first sentence boundary (just after `. `, `? `, `! ` or a paragraph
/// break) at or after byte `at`, or the end of the text.
fn sentence_boundary_at(text: &str, at: usize) -> usize {
    let b = text.as_bytes();
    if at == 0 {
        return 0;
    }
    let mut i = floor_char_boundary(text, at);
    while i < b.len() {
        if i >= 2 && matches!(b[i - 2], b'.' | b'?' | b'!' | b'"') && b[i - 1].is_ascii_whitespace() {
            return i;
        }
        i += 1;
    }
    b.len()
}

fn uuid(rng: &mut Rng) -> String {
    let hi = rng.next_u64();
    let lo = rng.next_u64();
    // Version 4 and RFC 4122 variant bits, so it looks like any real UUID.
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & !(0xC000 << 48)) | (0x8000 << 48);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

pub(super) fn generate(rng: &mut Rng, length: LengthBucket, id: u32) -> Item {
    let variant = id % 3 + 1;
    let kind = if variant == 3 { NeedleKind::Uuid } else { NeedleKind::Number };
    let key = word_pair(rng);
    let value = match kind {
        NeedleKind::Number => rng.range(1_000_000, 9_999_999).to_string(),
        NeedleKind::Uuid => uuid(rng),
    };
    let noun = match kind {
        NeedleKind::Number => "numbers",
        NeedleKind::Uuid => "uuids",
    };
    let needle = format!("One of the special magic {noun} for {key} is: {value}.");
    let source = if variant == 1 { NOISE } else { prose() };
    let target = length.chars().saturating_sub(needle.len() + 2);
    let mut text = haystack(source, target);
    let depth_ppm = van_der_corput_ppm(id);
    let at = sentence_boundary_at(&text, (text.len() as u64 * depth_ppm / 1_000_000) as usize);
    let insert = if at == text.len() { format!(" {needle}") } else { format!("{needle} ") };
    text.insert_str(at, &insert);

    let singular = match kind {
        NeedleKind::Number => "number",
        NeedleKind::Uuid => "uuid",
    };
    let query = format!(
        "A special magic {singular} is hidden within the text in `context`. \
         What is the special magic {singular} for {key} mentioned in the provided text? \
         Answer with the {singular} only."
    );
    Item {
        task: Task::SNiah,
        length,
        id,
        context: Context::Text(text),
        query,
        spec: QuerySpec::SNiah { key, kind },
        gold: Gold::Text(value),
        rule: Rule::Contains,
        meta: json!({
            "variant": variant,
            "haystack": if variant == 1 { "noise" } else { "prose" },
            "depth_percent": depth_ppm as f64 / 10_000.0,
            "needle_offset": at,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needle_sits_at_its_depth_in_each_variant() {
        let length: LengthBucket = "8k".parse().unwrap();
        for id in 0..6 {
            let mut rng = Rng::new(u64::from(id));
            let item = generate(&mut rng, length, id);
            let Context::Text(text) = &item.context else { panic!() };
            let Gold::Text(value) = &item.gold else { panic!() };
            assert_eq!(text.matches("special magic").count(), 1);
            assert!(text.contains(&format!(" is: {value}.")));
            let offset = item.meta["needle_offset"].as_u64().unwrap() as f64;
            let depth = item.meta["depth_percent"].as_f64().unwrap() / 100.0;
            assert!((offset / text.len() as f64 - depth).abs() < 0.05, "id {id}");
            if id % 3 == 2 {
                assert_eq!(value.len(), 36);
                assert_eq!(&value[14..15], "4");
            } else {
                assert_eq!(value.len(), 7);
            }
        }
    }
}
