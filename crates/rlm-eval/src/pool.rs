//! The OOLONG question pool and the mock classifier that labels it.
//!
//! OOLONG's `trec_coarse` split draws its questions from the TREC question
//! classification data set, whose labels the model must infer. We cannot
//! ship that data, so the pool is generated: templates per TREC coarse
//! class, each with one slot filled from a word list. A template's wording
//! decides its class the way TREC's annotation guidelines would (`Who ...`
//! asks for a human being, `How many ...` for a numeric value), so a real
//! model can classify the questions, and [`mock_classify`] can too by
//! recognising the template.
//!
//! Every template has a distinct fixed prefix and suffix around its slot,
//! and no filled question matches a second template (a unit test checks
//! the whole pool).

use std::sync::OnceLock;

use crate::Label;

/// One question template: the text around the slot, the slot's fillers and
/// the class.
struct Template {
    prefix: &'static str,
    suffix: &'static str,
    fillers: &'static [&'static str],
    label: Label,
}

const fn t(prefix: &'static str, suffix: &'static str, fillers: &'static [&'static str], label: Label) -> Template {
    Template { prefix, suffix, fillers, label }
}

const ABBRS: &[&str] = &[
    "NASA", "UNESCO", "RADAR", "LASER", "SCUBA", "NATO", "HTML", "DNA", "ATM", "GPS", "CPU", "PIN", "ISBN", "UFO",
    "VIP", "FAQ", "RSVP", "AWOL", "BMI", "HVAC",
];
const ORGS: &[&str] = &[
    "World Health Organization",
    "International Space Station",
    "European Central Bank",
    "National Hockey League",
    "Royal Air Force",
    "Veldorian Railway Company",
    "Marenth Film Society",
    "Tirosk Mining Union",
    "Kestrel Bay Yacht Club",
    "Northern Weather Bureau",
    "Federal Bureau of Maps",
    "Grand Lodge of Stonemasons",
];
const LONG_WORDS: &[&str] = &[
    "television",
    "mathematics",
    "laboratory",
    "gymnasium",
    "refrigerator",
    "examination",
    "advertisement",
    "photograph",
    "microphone",
    "veterinarian",
    "influenza",
    "memorandum",
];
const CONCEPTS: &[&str] = &[
    "entropy",
    "irony",
    "inflation",
    "photosynthesis",
    "democracy",
    "nostalgia",
    "osmosis",
    "gravity",
    "metaphor",
    "justice",
    "erosion",
    "empathy",
    "recursion",
    "symbiosis",
];
const ACTIVITIES: &[&str] = &[
    "yawn",
    "dream",
    "blush",
    "get hiccups",
    "sneeze in bright light",
    "bite their nails",
    "cry when they are happy",
    "procrastinate",
    "sleepwalk",
    "whistle",
    "laugh when tickled",
    "feel homesick",
];
const DEVICES: &[&str] = &[
    "compass",
    "thermostat",
    "steam engine",
    "microwave oven",
    "barometer",
    "telescope",
    "refrigerator",
    "parachute",
    "lighthouse lamp",
    "sundial",
    "windmill",
    "hot-air balloon",
    "printing press",
    "pendulum clock",
];
const PHENOMENA: &[&str] = &[
    "thunder",
    "the northern lights",
    "rainbows",
    "tides",
    "earthquakes",
    "hiccups",
    "fog",
    "rust",
    "a solar eclipse",
    "ocean waves",
    "static electricity",
    "jet lag",
];
const CONTRASTS: &[&str] = &[
    "weather and climate",
    "a virus and a bacterium",
    "a lake and a pond",
    "a simile and a metaphor",
    "speed and velocity",
    "a frog and a toad",
    "an alligator and a crocodile",
    "baking soda and baking powder",
    "a comet and an asteroid",
    "a hurricane and a typhoon",
];
const HOWTOS: &[&str] = &[
    "tie a bowline knot",
    "bake sourdough bread",
    "whistle with two fingers",
    "read a tide table",
    "fold a paper crane",
    "start a campfire",
    "juggle three balls",
    "brew green tea",
    "sharpen a chisel",
    "plant a hedge",
];
const ANIMALS: &[&str] = &[
    "capybara", "axolotl", "pangolin", "narwhal", "okapi", "quokka", "tapir", "wombat", "gecko", "manatee", "lemur",
    "ibis",
];
const COUNTRIES: &[&str] = &[
    "Veldoria",
    "Marenth",
    "Ostrava Minor",
    "Kelvania",
    "Tirosk",
    "Zembla",
    "Quorvia",
    "Halmstead",
    "Brevonia",
    "Lusitar",
    "Nordvale",
    "Estrabon",
];
const CITIES: &[&str] = &[
    "Port Averil",
    "Grimsholt",
    "Lower Fenwick",
    "Santa Orsola",
    "Kestrel Bay",
    "New Halden",
    "Vaskaro",
    "Dunmere",
    "Alderwick",
    "Tolmera",
    "Brightwater",
    "Corvallo",
];
const INSTRUMENT_FEATURES: &[&str] = &[
    "six strings and frets",
    "keys and hammers",
    "a double reed",
    "a slide",
    "three valves",
    "a bow and four strings",
    "a bellows",
    "pedals and pipes",
    "a skin drumhead",
    "a single reed",
];
const BOOKS: &[&str] = &[
    "The Glass Orchard",
    "Winter in Marenth",
    "A House of Salt",
    "The Last Cartographer",
    "Seven Lanterns",
    "The Copper Heron",
    "Under the Tin Moon",
    "The Clockmaker's Daughter",
    "Salt and Ember",
    "The Silent Harbor",
];
const PAINTINGS: &[&str] = &[
    "The Blue Mill",
    "Girl with a Brass Kettle",
    "Storm over Dunmere",
    "The Night Ferry",
    "Orchard in Spring",
    "Portrait of a Lamplighter",
    "The Red Staircase",
    "Three Sailors Resting",
];
const DISCOVERIES: &[&str] = &[
    "the Halvorsen effect",
    "the Marek constant",
    "the Sondheim reaction",
    "the Ilves particle",
    "the Carrow equation",
    "the Tamsin nebula",
    "the Ostrovsky cycle",
    "the element veldorium",
];
const FEATS: &[&str] = &[
    "climb Mount Veskar",
    "sail around Zembla",
    "cross the Fenwick Strait on foot",
    "fly over the Tirosk desert",
    "map the Kestrel caves",
    "swim across Lake Dunmere",
    "walk to the South Pole alone",
    "photograph a snow leopard",
];
const LANDMARKS: &[&str] = &[
    "the Tower of Averil",
    "Grimsholt Castle",
    "the Vaskaro Falls",
    "the Temple of Orsola",
    "the Corvallo Bridge",
    "the Alderwick Observatory",
    "the Great Salt Arch",
    "the Dunmere Lighthouse",
    "the Halden Opera House",
    "the Brightwater Dam",
];
const EVENTS: &[&str] = &[
    "Battle of Kestrel Bay",
    "Treaty of Vaskaro",
    "first Tolmera Games",
    "Great Fire of Alderwick",
    "Corvallo Conference",
    "Siege of Grimsholt",
    "Dunmere Flood",
    "Veldorian Revolution",
    "Marenth Exhibition",
    "Harvest Riots",
];
const PEAKS: &[&str] = &[
    "Mount Veskar",
    "Ossen Peak",
    "the Grey Horn",
    "Mount Tallis",
    "Kor Summit",
    "the White Needle",
    "Mount Avend",
    "Drakefell",
];

use Label::{Abbreviation, Description, Entity, Human, Location, Numeric};

/// The templates, grouped by class. The order is part of the generated
/// output: changing it changes every OOLONG item.
const TEMPLATES: &[Template] = &[
    t("What does the abbreviation ", " stand for?", ABBRS, Abbreviation),
    t("What is the full form of ", "?", ABBRS, Abbreviation),
    t("What do the letters ", " stand for?", ABBRS, Abbreviation),
    t("What is the abbreviated name of the ", "?", ORGS, Abbreviation),
    t("What is the short form of the word ", "?", LONG_WORDS, Abbreviation),
    t("Which acronym is used for the ", "?", ORGS, Abbreviation),
    t("What is the definition of ", "?", CONCEPTS, Description),
    t("Why do people ", "?", ACTIVITIES, Description),
    t("How does a ", " work?", DEVICES, Description),
    t("What causes ", "?", PHENOMENA, Description),
    t("What is the difference between ", "?", CONTRASTS, Description),
    t("How do you ", "?", HOWTOS, Description),
    t("What kind of animal is a ", "?", ANIMALS, Entity),
    t("What language is spoken in ", "?", COUNTRIES, Entity),
    t("What currency is used in ", "?", COUNTRIES, Entity),
    t("What food is ", " famous for?", CITIES, Entity),
    t("What color is the flag of ", "?", COUNTRIES, Entity),
    t("Which musical instrument has ", "?", INSTRUMENT_FEATURES, Entity),
    t("What is the national flower of ", "?", COUNTRIES, Entity),
    t("Who invented the ", "?", DEVICES, Human),
    t("Who wrote the novel ", "?", BOOKS, Human),
    t("Who painted ", "?", PAINTINGS, Human),
    t("Which scientist discovered ", "?", DISCOVERIES, Human),
    t("Who founded the ", "?", ORGS, Human),
    t("Who was the first person to ", "?", FEATS, Human),
    t("Who is the mayor of ", "?", CITIES, Human),
    t("Where is ", " located?", LANDMARKS, Location),
    t("In which country is ", "?", CITIES, Location),
    t("What is the capital of ", "?", COUNTRIES, Location),
    t("Where did the ", " take place?", EVENTS, Location),
    t("Which river flows through ", "?", CITIES, Location),
    t("Where can you find the ", " in the wild?", ANIMALS, Location),
    t("Which mountain range includes ", "?", PEAKS, Location),
    t("How many legs does a ", " have?", ANIMALS, Numeric),
    t("When was the ", " invented?", DEVICES, Numeric),
    t("How tall is ", "?", LANDMARKS, Numeric),
    t("In what year did the ", " take place?", EVENTS, Numeric),
    t("How much does a ", " weigh?", ANIMALS, Numeric),
    t("What is the population of ", "?", CITIES, Numeric),
    t("How far is ", " from the coast?", CITIES, Numeric),
    t("How many people live in ", "?", COUNTRIES, Numeric),
    t("How old is ", "?", LANDMARKS, Numeric),
];

/// A question in the pool.
#[derive(Debug)]
pub(crate) struct Question {
    pub(crate) text: String,
    pub(crate) label: Label,
}

/// The question pool: every template filled with every filler, in template
/// order; and per label, the indices of its questions.
pub(crate) struct Pool {
    pub(crate) questions: Vec<Question>,
    pub(crate) by_label: [Vec<usize>; 6],
}

/// The pool, built once.
pub(crate) fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut questions = Vec::new();
        let mut by_label: [Vec<usize>; 6] = Default::default();
        for tpl in TEMPLATES {
            for f in tpl.fillers {
                by_label[tpl.label.index()].push(questions.len());
                questions.push(Question { text: format!("{}{}{}", tpl.prefix, f, tpl.suffix), label: tpl.label });
            }
        }
        Pool { questions, by_label }
    })
}

/// The label of a question text, if it comes from one of the templates.
fn classify_question(q: &str) -> Option<Label> {
    let q = q.trim().trim_matches(|c| c == '"' || c == '\'' || c == '`').trim();
    TEMPLATES
        .iter()
        .find(|tpl| {
            q.len() > tpl.prefix.len() + tpl.suffix.len() && q.starts_with(tpl.prefix) && q.ends_with(tpl.suffix)
        })
        .map(|tpl| tpl.label)
}

/// Splits a leading enumeration (`12.`, `12)`, `12:`) off a line.
fn split_number(line: &str) -> (Option<u64>, &str) {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return (None, line);
    }
    let rest = &line[digits..];
    match rest.chars().next() {
        Some('.' | ')' | ':') => (line[..digits].parse().ok(), &rest[1..]),
        _ => (None, line),
    }
}

/// Every question of the pool with its label, in a fixed order: each
/// template (grouped by label) filled with each of its fillers.
pub fn question_pool() -> impl Iterator<Item = (&'static str, Label)> {
    pool().questions.iter().map(|q| (q.text.as_str(), q.label))
}

/// Answers a classification sub-call the way a tiny deterministic sub-model
/// would, for tests with a mock model.
///
/// It looks at each line of `prompt` for a question made from one of the
/// pool's templates, after removing a leading enumeration (`12.`, `12)`,
/// `12:`), a `Question:`, `Q:` or `- ` marker, or everything up to an
/// OOLONG record's `Instance: `. It knows nothing of any generated item: it
/// only recognises the wording.
///
/// - If the matching lines are numbered, it answers one line per match,
///   `N: label` (the form the scripted policy asks for).
/// - Otherwise it answers the label of each match, one per line (a single
///   label for a single question).
/// - If no line holds a known question, it answers `unknown`.
pub fn mock_classify(prompt: &str) -> String {
    let mut out = Vec::new();
    for line in prompt.lines() {
        let line = line.trim();
        let line = match line.find("Instance: ") {
            Some(i) => &line[i + "Instance: ".len()..],
            None => line,
        };
        let (n, rest) = split_number(line);
        let rest = rest.trim_start();
        let rest = ["Question:", "Q:", "- "].iter().find_map(|m| rest.strip_prefix(m)).unwrap_or(rest);
        if let Some(label) = classify_question(rest) {
            out.push(match n {
                Some(n) => format!("{n}: {label}"),
                None => label.name().to_owned(),
            });
        }
    }
    if out.is_empty() { "unknown".to_owned() } else { out.join("\n") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_question_matches_exactly_its_own_template() {
        let p = pool();
        // docs/eval.md gives this number.
        assert_eq!(p.questions.len(), 502);
        for q in &p.questions {
            let matches: Vec<Label> = TEMPLATES
                .iter()
                .filter(|tpl| q.text.starts_with(tpl.prefix) && q.text.ends_with(tpl.suffix))
                .map(|tpl| tpl.label)
                .collect();
            assert_eq!(matches, [q.label], "{:?}", q.text);
        }
        for l in Label::ALL {
            assert!(p.by_label[l.index()].len() >= 60, "{l} has few questions");
        }
    }

    #[test]
    fn mock_classify_answers_the_prompt_shapes() {
        assert_eq!(mock_classify("Question: Who painted The Blue Mill?"), "human being");
        assert_eq!(
            mock_classify("Label these.\n1. What causes fog?\n2) How tall is Grimsholt Castle?\n"),
            "1: description and abstract concept\n2: numeric value"
        );
        assert_eq!(
            mock_classify("Date: Jan 02, 2024 || User: 7 || Instance: What is the capital of Zembla?"),
            "location"
        );
        assert_eq!(mock_classify("What is the meaning of life?"), "unknown");
    }
}
