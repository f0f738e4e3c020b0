//! What one eval item is: a context, a query, and a typed gold answer with
//! the rule that scores it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Date, Error, LengthBucket};

/// A task family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Task {
    /// RULER-style single needle in a haystack (`s-niah`).
    SNiah,
    /// OOLONG-style aggregation over labelled questions (`oolong`).
    Oolong,
    /// OOLONG-Pairs: list the user pairs that satisfy a predicate
    /// (`oolong-pairs`).
    OolongPairs,
    /// A chain of facts spread over distractor documents (`multi-hop`).
    MultiHop,
    /// Average salary per department over employee records (`salary`).
    Salary,
    /// One secret number among lines of random words (`needle`).
    Needle,
}

impl Task {
    /// Every task, in report order.
    pub const ALL: [Task; 6] =
        [Task::SNiah, Task::Oolong, Task::OolongPairs, Task::MultiHop, Task::Salary, Task::Needle];

    /// The task's name as used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Task::SNiah => "s-niah",
            Task::Oolong => "oolong",
            Task::OolongPairs => "oolong-pairs",
            Task::MultiHop => "multi-hop",
            Task::Salary => "salary",
            Task::Needle => "needle",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Task {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        Task::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| Error::UnknownTask { name: s.clone(), known: Task::ALL.map(Task::name).join(", ") })
    }
}

/// Parses a comma-separated task list, as given to `--task`; `all` means
/// every task. Duplicates are dropped and the result is in report order.
pub fn parse_tasks(list: &str) -> Result<Vec<Task>, Error> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.eq_ignore_ascii_case("all") {
            out.extend(Task::ALL);
        } else {
            out.push(part.parse()?);
        }
    }
    if out.is_empty() {
        return Err(Error::UnknownTask { name: list.to_owned(), known: Task::ALL.map(Task::name).join(", ") });
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The six TREC coarse question classes that OOLONG's `trec_coarse` split
/// labels questions with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Label {
    /// Questions about an abbreviation (TREC `ABBR`).
    #[serde(rename = "abbreviation")]
    Abbreviation,
    /// Definitions, reasons and manners (TREC `DESC`).
    #[serde(rename = "description and abstract concept")]
    Description,
    /// Things: animals, colours, languages, foods, instruments (TREC `ENTY`).
    #[serde(rename = "entity")]
    Entity,
    /// People (TREC `HUM`).
    #[serde(rename = "human being")]
    Human,
    /// Places (TREC `LOC`).
    #[serde(rename = "location")]
    Location,
    /// Counts, dates, sizes, distances (TREC `NUM`).
    #[serde(rename = "numeric value")]
    Numeric,
}

impl Label {
    /// Every label, in a fixed order (the order of OOLONG's label list).
    pub const ALL: [Label; 6] =
        [Label::Abbreviation, Label::Description, Label::Entity, Label::Human, Label::Location, Label::Numeric];

    /// The label as written in queries and expected in answers.
    pub fn name(self) -> &'static str {
        match self {
            Label::Abbreviation => "abbreviation",
            Label::Description => "description and abstract concept",
            Label::Entity => "entity",
            Label::Human => "human being",
            Label::Location => "location",
            Label::Numeric => "numeric value",
        }
    }

    /// Position in [`Label::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The label whose [`name`](Label::name) this is (case-insensitive).
    pub fn from_name(name: &str) -> Option<Label> {
        let n = name.trim().to_ascii_lowercase();
        Label::ALL.into_iter().find(|l| l.name() == n)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The context of an item, as it will be bound to `context` in the REPL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Context {
    /// A `str`.
    Text(String),
    /// A `list` or `dict` (JSON).
    Json(serde_json::Value),
}

impl Context {
    /// The context as one text (JSON is serialised compactly), as a plain
    /// model would be shown it.
    pub fn to_text(&self) -> String {
        match self {
            Context::Text(s) => s.clone(),
            Context::Json(v) => v.to_string(),
        }
    }

    /// The length of [`to_text`](Context::to_text) in characters.
    pub fn char_len(&self) -> usize {
        match self {
            Context::Text(s) => s.chars().count(),
            Context::Json(v) => v.to_string().chars().count(),
        }
    }
}

/// The kind of value an S-NIAH needle carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NeedleKind {
    /// A 7-digit number.
    Number,
    /// A UUID (version-4 layout).
    Uuid,
}

/// One OOLONG question over the records; see `docs/eval.md` for the exact
/// wording of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OolongQuestion {
    /// Which label is the most frequent?
    MostFrequent,
    /// Which label is the least frequent?
    LeastFrequent,
    /// Which label is the second most frequent?
    SecondMostFrequent,
    /// How many questions have `label`?
    Count {
        /// The label to count.
        label: Label,
    },
    /// Is `a` more common than `b`? (yes/no)
    MoreCommon {
        /// The first label.
        a: Label,
        /// The second label.
        b: Label,
    },
    /// Which label occurs exactly `count` times?
    LabelWithCount {
        /// The count.
        count: u64,
    },
    /// How many `label` questions were asked in `month` (of 2024)?
    MonthCount {
        /// The label to count.
        label: Label,
        /// The month, 1 to 12.
        month: u8,
    },
    /// Which of users `a` and `b` asked more `label` questions?
    UserMore {
        /// The label to count.
        label: Label,
        /// One user id.
        a: u64,
        /// The other user id.
        b: u64,
    },
    /// On which date was the earliest `label` question asked?
    FirstDate {
        /// The label.
        label: Label,
    },
}

/// One multi-hop relation, from one entity to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    /// Product → the company that manufactures it.
    MadeBy,
    /// Company → the person who founded it.
    FoundedBy,
    /// Person → the town where they were born.
    BornIn,
    /// Town → the province it is in.
    InProvince,
}

/// What the query asks, in structured form.
///
/// It holds only what the query text itself says (the key to look for, the
/// label to count, the start of a chain), never the answer, so a scripted
/// policy may read it the way a model reads the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum QuerySpec {
    /// Find the value of the needle with this key.
    SNiah {
        /// The word-pair key, e.g. `quiet-harbor`.
        key: String,
        /// Numbers or UUIDs.
        kind: NeedleKind,
    },
    /// An aggregation question.
    Oolong(OolongQuestion),
    /// List the pairs satisfying predicate `T{predicate}` (1 to 20).
    OolongPairs {
        /// The predicate number, 1 to 20.
        predicate: u8,
    },
    /// Follow `relations` from `start`.
    MultiHop {
        /// The name of the first entity.
        start: String,
        /// The relations to follow, in order.
        relations: Vec<Relation>,
    },
    /// Average salary per department.
    Salary,
    /// Find the secret number.
    Needle,
}

/// The correct answer, typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Gold {
    /// A string (needle value, label, entity name).
    Text(String),
    /// A count.
    Count(u64),
    /// Yes or no.
    YesNo(bool),
    /// A user id.
    User(u64),
    /// A date.
    Date(Date),
    /// A set of user-id pairs.
    Pairs {
        /// The pairs; for symmetric predicates each as `(lower, higher)`.
        pairs: Vec<(u64, u64)>,
        /// Whether `(a, b)` and `(b, a)` are the same pair.
        symmetric: bool,
    },
    /// A number per name (average salary per department).
    Averages(BTreeMap<String, f64>),
}

/// How an answer is scored against the gold. See [`crate::score`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Rule {
    /// 1 if the gold text occurs in the answer, else 0.
    Contains,
    /// 1 if the normalised answer equals the normalised gold, else 0.
    ExactMatch,
    /// `0.75 ^ |gold - answer|` for a number in the answer, else 0.
    NumericDecay,
    /// 1 if the answer names the gold date in any supported format, else 0.
    DateValue,
    /// F1 over the set of pairs in the answer.
    PairF1,
    /// The fraction of gold entries the answer gives within `tolerance`.
    WithinTolerance {
        /// The largest accepted absolute difference.
        tolerance: f64,
    },
}

/// One eval item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The task family.
    pub task: Task,
    /// The length bucket the context was generated for.
    pub length: LengthBucket,
    /// The item's number within its task and length, from 0.
    pub id: u32,
    /// The context.
    pub context: Context,
    /// The query, as shown to the model.
    pub query: String,
    /// What the query asks, in structured form.
    pub spec: QuerySpec,
    /// The correct answer.
    pub gold: Gold,
    /// How answers are scored.
    pub rule: Rule,
    /// Generation details for diagnostics (needle depth, record counts,
    /// variant). Not an input to scoring or to the scripted policy.
    pub meta: serde_json::Value,
}

impl Item {
    /// The item's key: task, length and id.
    pub fn key(&self) -> ItemKey {
        ItemKey { task: self.task, length: self.length, id: self.id }
    }

    /// Scores an answer (the value passed to `FINAL`, or a plain model's
    /// reply as a JSON string) from 0.0 to 1.0.
    pub fn score(&self, answer: &serde_json::Value) -> f64 {
        crate::score::score(&self.gold, self.rule, answer)
    }
}

/// Names an item: `<task>-<length>-<id>`, as in result file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemKey {
    /// The task family.
    pub task: Task,
    /// The length bucket.
    pub length: LengthBucket,
    /// The id within task and length.
    pub id: u32,
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.task, self.length, self.id)
    }
}

impl FromStr for ItemKey {
    type Err = Error;

    /// Parses `<task>-<length>-<id>`; the task name may itself contain `-`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidItemKey { value: s.to_owned() };
        let (rest, id) = s.rsplit_once('-').ok_or_else(bad)?;
        let (task, length) = rest.rsplit_once('-').ok_or_else(bad)?;
        Ok(ItemKey {
            task: task.parse().map_err(|_| bad())?,
            length: length.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_names_round_trip() {
        for t in Task::ALL {
            assert_eq!(t.name().parse::<Task>().unwrap(), t);
        }
        assert_eq!(parse_tasks("oolong_pairs, s-niah").unwrap(), [Task::SNiah, Task::OolongPairs]);
        assert_eq!(parse_tasks("all").unwrap().len(), 6);
        assert!(parse_tasks("browsecomp").is_err());
    }

    #[test]
    fn item_keys_round_trip() {
        let k = ItemKey { task: Task::OolongPairs, length: "128k".parse().unwrap(), id: 17 };
        assert_eq!(k.to_string(), "oolong-pairs-128k-17");
        assert_eq!(k.to_string().parse::<ItemKey>().unwrap(), k);
        assert!("oolong-8k".parse::<ItemKey>().is_err());
    }

    #[test]
    fn labels_serialise_as_their_names() {
        for l in Label::ALL {
            assert_eq!(serde_json::to_value(l).unwrap(), l.name());
            assert_eq!(Label::from_name(&l.name().to_uppercase()), Some(l));
        }
    }
}
