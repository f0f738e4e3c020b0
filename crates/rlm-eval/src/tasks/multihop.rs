//! Multi-hop retrieval, in the spirit of BrowseComp-Plus: a chain of two to
//! four facts spread over many documents.
//!
//! Every entity is generated (fictional names from syllables), so world
//! knowledge cannot help. A chain links five entities by four relations,
//!
//! ```text
//! product --made by--> company --founded by--> person --born in--> town --in--> province
//! ```
//!
//! and each entity except the province has one document that states its
//! outgoing fact, plus a distracting sentence that names another entity of
//! the same kind with a different relation ("later lived in", "its current
//! director is"). Provinces get a document without facts. The context is as
//! many such chains as fit the length bucket, all documents shuffled. The
//! query follows 2, 3 or 4 relations (cycling with the item id) of the
//! first chain, from a random starting point.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::rng::Rng;
use crate::words::{ADJECTIVES, NAME_CODAS, NAME_ONSETS, NAME_VOWELS, NOUNS, VERBS};
use crate::{Context, Gold, Item, LengthBucket, QuerySpec, Relation, Rule, Task};

const PRODUCT_KINDS: &[&str] = &[
    "lamp",
    "kettle",
    "bicycle",
    "radio",
    "loom",
    "typewriter",
    "compass",
    "stove",
    "camera",
    "clock",
    "telescope",
    "sewing machine",
];
const COMPANY_SUFFIXES: &[&str] =
    &["Works", "Industries", "Foundry", "Mills", "Instruments", "Manufacturing", "Company", "Brothers"];
const TOWN_SUFFIXES: &[&str] = &["ford", "haven", "mere", "wick", "holt", "by", "stead", "ton"];

/// The relations of a chain, in order.
const RELATIONS: [Relation; 4] = [Relation::MadeBy, Relation::FoundedBy, Relation::BornIn, Relation::InProvince];

/// Entities of one chain: product, company, person, town, province.
struct Chain {
    names: [String; 5],
}

struct Names {
    used: BTreeSet<String>,
}

impl Names {
    fn word(rng: &mut Rng) -> String {
        let syllables = rng.range(2, 3);
        let mut w = String::new();
        for _ in 0..syllables {
            w.push_str(rng.pick::<&str>(NAME_ONSETS));
            w.push_str(rng.pick::<&str>(NAME_VOWELS));
        }
        w.push_str(rng.pick::<&str>(NAME_CODAS));
        let mut c = w.chars();
        let first = c.next().expect("non-empty").to_ascii_uppercase();
        std::iter::once(first).chain(c).collect()
    }

    /// A fresh name made by `make`, distinct from every name so far, and
    /// whose words are distinct from every earlier word, so that no name
    /// occurs inside another.
    fn fresh(&mut self, rng: &mut Rng, make: impl Fn(&mut Rng) -> String) -> String {
        loop {
            let n = make(rng);
            if n.split(' ').all(|w| !self.used.contains(w)) && !self.used.contains(&n) {
                for w in n.split(' ') {
                    // Kinds and suffixes repeat on purpose; only the
                    // generated words must be unique.
                    if w.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && !COMPANY_SUFFIXES.contains(&w) {
                        self.used.insert(w.to_owned());
                    }
                }
                self.used.insert(n.clone());
                return n;
            }
        }
    }

    fn chain(&mut self, rng: &mut Rng) -> Chain {
        let product = self.fresh(rng, |r| format!("{} {}", Names::word(r), r.pick(PRODUCT_KINDS)));
        let company = self.fresh(rng, |r| format!("{} {}", Names::word(r), r.pick(COMPANY_SUFFIXES)));
        let person = self.fresh(rng, |r| format!("{} {}", Names::word(r), Names::word(r)));
        let town = self.fresh(rng, |r| format!("{}{}", Names::word(r), r.pick(TOWN_SUFFIXES)));
        let province = self.fresh(rng, Names::word);
        Chain { names: [product, company, person, town, province] }
    }
}

fn filler(rng: &mut Rng, out: &mut String) {
    let s = match rng.below(6) {
        0 => "Records from that period are incomplete.".to_owned(),
        1 => "Local historians have written about it at length.".to_owned(),
        2 => format!(
            "A {} {} {} near the old {} every spring.",
            rng.pick(ADJECTIVES),
            rng.pick(NOUNS),
            rng.pick(VERBS),
            rng.pick(NOUNS)
        ),
        3 => format!(
            "Visitors often mention the {} {} and the {} {}.",
            rng.pick(ADJECTIVES),
            rng.pick(NOUNS),
            rng.pick(ADJECTIVES),
            rng.pick(NOUNS)
        ),
        4 => format!("It was described in a {} report in {}.", rng.pick(ADJECTIVES), rng.range(1850, 1990)),
        _ => format!("Some say a {} {} still {} there.", rng.pick(ADJECTIVES), rng.pick(NOUNS), rng.pick(VERBS)),
    };
    out.push(' ');
    out.push_str(&s);
}

/// The documents of one chain, as (title, text). `other` is another chain
/// whose entities the distracting sentences name.
fn chain_docs(rng: &mut Rng, c: &Chain, other: &Chain) -> Vec<(String, String)> {
    let [product, company, person, town, province] = &c.names;
    let [_, o_company, o_person, o_town, o_province] = &other.names;
    let year = rng.range(1820, 1960);
    let mut docs = vec![
        (
            product.clone(),
            format!(
                "The {product} is a {} device first sold in {}. The {product} is manufactured by \
                 {company}. A rival model is made by {o_company}.",
                rng.pick(ADJECTIVES),
                year + rng.range(5, 40)
            ),
        ),
        (
            company.clone(),
            format!(
                "{company} was founded by {person} in {year}. Its current director is \
                 {o_person}, and it keeps a warehouse in {o_town}."
            ),
        ),
        (
            person.clone(),
            format!(
                "{person} was born in {town}. {person} later lived in {o_town} for many years \
                 and wrote letters about {} {}s.",
                rng.pick(ADJECTIVES),
                rng.pick(NOUNS)
            ),
        ),
        (
            town.clone(),
            format!(
                "{town} is a town in the province of {province}. It trades mostly with merchants \
                 from {o_province}."
            ),
        ),
        (
            province.clone(),
            format!("{province} is a province known for its {} {}s.", rng.pick(ADJECTIVES), rng.pick(NOUNS)),
        ),
    ];
    for (_, text) in &mut docs {
        for _ in 0..rng.range(2, 6) {
            filler(rng, text);
        }
    }
    docs
}

/// How a relation wraps the description of its subject in the query.
fn describe(r: Relation, subject: &str) -> String {
    match r {
        Relation::MadeBy => format!("the company that manufactures {subject}"),
        Relation::FoundedBy => format!("the person who founded {subject}"),
        Relation::BornIn => format!("the town where {subject} was born"),
        Relation::InProvince => format!("the province that {subject} is in"),
    }
}

pub(super) fn generate(rng: &mut Rng, length: LengthBucket, id: u32) -> Item {
    let hops = 2 + (id % 3) as usize;
    let start = rng.index(RELATIONS.len() - hops + 1);
    let relations = RELATIONS[start..start + hops].to_vec();

    let mut names = Names { used: BTreeSet::new() };
    let target = length.chars();
    let mut chains = vec![names.chain(rng), names.chain(rng)];
    let mut docs: Vec<(String, String)> = Vec::new();
    // Serialised size so far: `[` `]`, commas, and each object.
    let mut size = 2usize;
    let doc_size = |id_len: usize, title: &str, text: &str| {
        // {"id":"…","text":"…","title":"…"} plus a comma.
        id_len + title.len() + text.len() + 32
    };
    let mut i = 0;
    loop {
        if i + 1 >= chains.len() {
            chains.push(names.chain(rng));
        }
        let new = chain_docs(rng, &chains[i], &chains[i + 1]);
        let add: usize = new.iter().map(|(t, x)| doc_size(9, t, x)).sum();
        // The first chain (the gold one) always goes in.
        if i > 0 && size + add > target {
            break;
        }
        size += add;
        docs.extend(new);
        i += 1;
    }
    let n_chains = i;
    rng.shuffle(&mut docs);
    let width = docs.len().to_string().len().max(4);
    let list: Vec<Value> = docs
        .into_iter()
        .enumerate()
        .map(|(k, (title, text))| json!({ "id": format!("doc-{:0width$}", k + 1), "title": title, "text": text }))
        .collect();

    let gold_chain = &chains[0];
    let start_name = gold_chain.names[start].clone();
    let answer = gold_chain.names[start + hops].clone();
    let mut desc = if start == 0 { format!("the {start_name}") } else { start_name.clone() };
    for &r in &relations {
        desc = describe(r, &desc);
    }
    let query = format!(
        "The context is a list of documents, each a JSON object with \"id\", \"title\" and \
         \"text\". Every name in them is fictional: use only facts stated in the documents. \
         What is the name of {desc}? Answer with the name only."
    );
    Item {
        task: Task::MultiHop,
        length,
        id,
        context: Context::Json(Value::Array(list)),
        query,
        spec: QuerySpec::MultiHop { start: start_name, relations },
        gold: Gold::Text(answer),
        rule: Rule::ExactMatch,
        meta: json!({ "hops": hops, "chains": n_chains, "documents": n_chains * 5 }),
    }
}
