//! A scripted policy: for each item, a Python program that computes the
//! answer from `context` with code, for end-to-end tests with a mock model.
//!
//! The programs read only the context and what the query asks (the item's
//! [`QuerySpec`]), never the gold. OOLONG's labels are not in the context,
//! so the OOLONG programs classify each distinct question by calling
//! `llm_query_batched` with numbered lists of questions, which
//! [`mock_classify`](crate::mock_classify) (or a real sub-model) answers.
//!
//! [`scripted_program_wrong`] makes a deliberately wrong variant of each
//! program (off by one, the wrong label, a flipped yes/no, a third of the
//! pairs missing), so tests can check that the scorer gives it less than
//! full marks.
//!
//! The programs use only the standard library and syntax common to
//! CPython 3.11 and 3.14 (no nested same-quote f-strings).

use crate::tasks::pair_predicate;
use crate::{Item, OolongQuestion, QuerySpec, Relation};

/// How many questions the OOLONG programs put in one classification prompt.
pub const CLASSIFY_BATCH: usize = 100;

/// The instructions that start each classification prompt of the scripted
/// OOLONG programs; numbered questions follow, one per line (`1. ...`).
pub const CLASSIFY_PROMPT_HEADER: &str = "Label each question below with exactly one of these \
categories: abbreviation, description and abstract concept, entity, human being, location, \
numeric value.\nReply with one line per question in the form `<number>: <category>`, and \
nothing else.\n\n";

/// A Python string literal for `s` (JSON string syntax is valid Python).
fn py(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// The ```` ```repl ```` block that solves `item`: the reply a scripted
/// model sends.
pub fn scripted_program(item: &Item) -> String {
    fence(&scripted_code(item, false))
}

/// Like [`scripted_program`], but the answer is deliberately wrong in a
/// way the scorer should catch: off by one for counts, the next label for
/// labels, flipped for yes/no, the other user, the next day, a third of the
/// pairs dropped and a bogus pair added, one department's average off by
/// one, the second-to-last entity of a chain, a different needle value.
pub fn scripted_program_wrong(item: &Item) -> String {
    fence(&scripted_code(item, true))
}

fn fence(code: &str) -> String {
    format!("```repl\n{}\n```", code.trim_end())
}

/// The bare Python code of [`scripted_program`] (or of
/// [`scripted_program_wrong`] if `wrong`), without the fence.
pub fn scripted_code(item: &Item, wrong: bool) -> String {
    let (body, perturb) = match &item.spec {
        QuerySpec::SNiah { key, .. } => (
            format!(
                "import re\nKEY = {}\n\
                 m = re.search(r\"special magic (?:numbers|uuids) for \" + re.escape(KEY) + r\" is: ([0-9A-Za-z-]+)\", context)\n\
                 answer = m.group(1) if m else \"not found\"\n",
                py(key)
            ),
            "answer = str(int(answer) + 1) if answer.isdigit() else answer[::-1]\n".to_owned(),
        ),
        QuerySpec::Needle => (
            "import re\n\
             m = re.search(r\"the secret number is (\\d+)\", context)\n\
             answer = m.group(1) if m else \"not found\"\n"
                .to_owned(),
            "answer = str(int(answer) + 1)\n".to_owned(),
        ),
        QuerySpec::Oolong(q) => {
            let (family, perturb) = oolong_family(q);
            (format!("{}{family}", oolong_prelude()), perturb)
        }
        QuerySpec::OolongPairs { predicate } => {
            let p = pair_predicate(*predicate);
            (
                format!(
                    "{}{PAIR_HELPERS}\
                     SYMMETRIC = {}\n\
                     def holds(a, b):\n    return {}\n\
                     users = sorted(stats)\n\
                     answer = [[a, b] for a in users for b in users if (a < b if SYMMETRIC else a != b) and holds(a, b)]\n",
                    oolong_prelude(),
                    if p.symmetric { "True" } else { "False" },
                    p.python
                ),
                // Users are numbered from 100, so [1, 2] is never right.
                "answer = [p for k, p in enumerate(answer) if k % 3 != 0] + [[1, 2]]\n".to_owned(),
            )
        }
        QuerySpec::MultiHop { start, relations } => {
            let rels: Vec<String> = relations.iter().map(|r| py(relation_name(*r))).collect();
            (
                format!(
                    "{MULTIHOP}START = {}\nRELATIONS = [{}]\n\
                     chain = [START]\n\
                     for rel in RELATIONS:\n    chain.append(follow(chain[-1], rel))\n\
                     answer = chain[-1]\n",
                    py(start),
                    rels.join(", ")
                ),
                "answer = chain[-2]\n".to_owned(),
            )
        }
        QuerySpec::Salary => (
            "from collections import defaultdict\n\
             tot = defaultdict(int)\n\
             n = defaultdict(int)\n\
             for r in context:\n    tot[r[\"department\"]] += r[\"salary\"]\n    n[r[\"department\"]] += 1\n\
             answer = {d: round(tot[d] / n[d], 2) for d in sorted(tot)}\n"
                .to_owned(),
            "first = sorted(answer)[0]\nanswer[first] = answer[first] + 1.0\n".to_owned(),
        ),
    };
    if wrong { format!("{body}{perturb}FINAL(answer)\n") } else { format!("{body}FINAL(answer)\n") }
}

fn relation_name(r: Relation) -> &'static str {
    match r {
        Relation::MadeBy => "made-by",
        Relation::FoundedBy => "founded-by",
        Relation::BornIn => "born-in",
        Relation::InProvince => "in-province",
    }
}

/// Parses the records and labels every distinct question with
/// `llm_query_batched`; leaves `recs` = [(date tuple, user, label)] and
/// `counts` = Counter of labels.
fn oolong_prelude() -> String {
    format!(
        r#"import re
from collections import Counter, defaultdict
LABELS = ["abbreviation", "description and abstract concept", "entity", "human being", "location", "numeric value"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
rows = []
for line in context.splitlines():
    m = re.match(r"Date: (\w+) (\d+), (\d+) \|\| User: (\d+) \|\| Instance: (.*)$", line)
    if m:
        rows.append(((int(m.group(3)), MONTHS.index(m.group(1)) + 1, int(m.group(2))), int(m.group(4)), m.group(5).strip()))
questions = sorted(set(r[2] for r in rows))
HEADER = {header}
chunks = [questions[i:i + {batch}] for i in range(0, len(questions), {batch})]
prompts = [HEADER + "\n".join(str(k + 1) + ". " + q for k, q in enumerate(ch)) for ch in chunks]
replies = llm_query_batched(prompts)
label_of = {{}}
for ch, reply in zip(chunks, replies):
    got = {{}}
    for line in reply.splitlines():
        m = re.match(r"\s*(\d+)\s*[:.)]\s*(.+?)\s*$", line)
        if m:
            got[int(m.group(1))] = m.group(2).strip().strip("'\"`*").lower()
    for k, q in enumerate(ch):
        label_of[q] = got.get(k + 1, "unknown")
recs = [(d, u, label_of[q]) for d, u, q in rows]
counts = Counter(l for _, _, l in recs)
def fmt_date(d):
    return MONTHS[d[1] - 1] + " " + ("%02d" % d[2]) + ", " + str(d[0])
"#,
        header = py(CLASSIFY_PROMPT_HEADER),
        batch = CLASSIFY_BATCH,
    )
}

/// The family-specific code (sets `answer`) and its wrong perturbation.
fn oolong_family(q: &OolongQuestion) -> (String, String) {
    let next_label = "answer = LABELS[(LABELS.index(answer) + 1) % len(LABELS)]\n".to_owned();
    let plus_one = "answer = answer + 1\n".to_owned();
    match q {
        OolongQuestion::MostFrequent => ("answer = sorted(LABELS, key=lambda l: -counts[l])[0]\n".into(), next_label),
        OolongQuestion::LeastFrequent => ("answer = sorted(LABELS, key=lambda l: counts[l])[0]\n".into(), next_label),
        OolongQuestion::SecondMostFrequent => {
            ("answer = sorted(LABELS, key=lambda l: -counts[l])[1]\n".into(), next_label)
        }
        OolongQuestion::Count { label } => (format!("answer = counts[{}]\n", py(label.name())), plus_one),
        OolongQuestion::MoreCommon { a, b } => (
            format!("answer = \"yes\" if counts[{}] > counts[{}] else \"no\"\n", py(a.name()), py(b.name())),
            "answer = \"no\" if answer == \"yes\" else \"yes\"\n".into(),
        ),
        OolongQuestion::LabelWithCount { count } => (
            format!(
                "hits = [l for l in LABELS if counts[l] == {count}]\n\
                 answer = hits[0] if hits else \"none\"\n"
            ),
            next_label,
        ),
        OolongQuestion::MonthCount { label, month } => (
            format!("answer = sum(1 for d, u, l in recs if l == {} and d[1] == {month})\n", py(label.name())),
            plus_one,
        ),
        OolongQuestion::UserMore { label, a, b } => (
            format!(
                "A, B, L = {a}, {b}, {}\n\
                 ca = sum(1 for d, u, l in recs if u == A and l == L)\n\
                 cb = sum(1 for d, u, l in recs if u == B and l == L)\n\
                 answer = A if ca > cb else B\n",
                py(label.name())
            ),
            "answer = B if answer == A else A\n".into(),
        ),
        OolongQuestion::FirstDate { label } => (
            format!(
                "first = min(d for d, u, l in recs if l == {})\n\
                 answer = fmt_date(first)\n",
                py(label.name())
            ),
            "import datetime\n\
             nd = datetime.date(*first) + datetime.timedelta(days=1)\n\
             answer = fmt_date((nd.year, nd.month, nd.day))\n"
                .into(),
        ),
    }
}

/// Per-user statistics and the helpers the pair predicates' Python
/// expressions use (see `PairPredicate::python`).
const PAIR_HELPERS: &str = r#"ABBR, DESC, ENTY, HUM, LOC, NUM = LABELS
stats = {}
for d, u, l in recs:
    s = stats.setdefault(u, {"c": Counter(), "dates": defaultdict(list), "first": d, "last": d, "total": 0})
    s["c"][l] += 1
    s["dates"][l].append(d)
    s["total"] += 1
    s["first"] = min(s["first"], d)
    s["last"] = max(s["last"], d)
def c(u, l):
    return stats[u]["c"][l]
def total(u):
    return stats[u]["total"]
def first(u):
    return stats[u]["first"]
def last(u):
    return stats[u]["last"]
def distinct(u):
    return sum(1 for l in LABELS if stats[u]["c"][l] > 0)
def after(u, l, d):
    return any(x > d for x in stats[u]["dates"][l])
def before(u, l, d):
    return any(x < d for x in stats[u]["dates"][l])
def within(u, l, d1, d2):
    return any(d1 <= x <= d2 for x in stats[u]["dates"][l])
"#;

/// Follows one relation by reading the document titled with the current
/// entity, falling back to a scan of every document.
const MULTIHOP: &str = r#"import re
PATTERNS = {
    "made-by": r"\bThe {} is manufactured by ([^.]+)\.",
    "founded-by": r"\b{} was founded by ([^.]+?) in \d+\.",
    "born-in": r"\b{} was born in ([^.]+)\.",
    "in-province": r"\b{} is a town in the province of ([^.]+)\.",
}
def follow(name, rel):
    rx = re.compile(PATTERNS[rel].replace("{}", re.escape(name)))
    for d in context:
        if d["title"] == name:
            m = rx.search(d["text"])
            if m:
                return m.group(1).strip()
    for d in context:
        m = rx.search(d["text"])
        if m:
            return m.group(1).strip()
    return None
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Task, generate};

    #[test]
    fn programs_are_fenced_and_end_with_final() {
        let items = generate(&Task::ALL, &crate::parse_lengths("1k").unwrap(), 2, 5);
        for item in &items {
            let p = scripted_program(item);
            assert!(p.starts_with("```repl\n") && p.ends_with("\nFINAL(answer)\n```"), "{p}");
            assert_ne!(p, scripted_program_wrong(item));
            // The program must not carry the gold. (OOLONG programs list
            // every label, so a label answer is in them by necessity.)
            if let crate::Gold::Text(g) = &item.gold
                && matches!(item.task, Task::SNiah | Task::Needle | Task::MultiHop)
            {
                assert!(!p.contains(g.as_str()), "{}", item.key());
            }
        }
    }
}
