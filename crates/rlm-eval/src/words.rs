//! Word lists the generators draw from. They are part of the generated
//! output, so changing any of them changes every item: the determinism
//! tests in `gen` pin hashes that will then need updating.

/// Adjectives for S-NIAH keys and random-word lines.
pub(crate) const ADJECTIVES: &[&str] = &[
    "able", "acid", "agile", "amber", "ancient", "angry", "bitter", "bold", "brave", "brief", "bright", "broad",
    "busy", "calm", "cheap", "chilly", "clever", "cloudy", "coarse", "cold", "crisp", "curious", "damp", "dark",
    "deep", "dense", "dizzy", "dry", "dull", "eager", "early", "easy", "empty", "faint", "fair", "fancy", "fast",
    "fierce", "flat", "fluffy", "fond", "fragile", "fresh", "gentle", "giant", "glad", "golden", "grand", "green",
    "grim", "happy", "hard", "harsh", "heavy", "hollow", "honest", "huge", "humble", "icy", "idle", "jolly", "keen",
    "kind", "large", "late", "lazy", "light", "little", "lively", "loud", "lucky", "mellow", "merry", "mild", "misty",
    "modern", "narrow", "neat", "nimble", "noble", "odd", "old", "pale", "plain", "polite", "proud", "quick", "quiet",
    "rapid", "rare", "rich", "rough", "round", "royal", "rusty", "sharp", "shiny", "short", "silent", "simple",
    "sleepy", "slow", "small", "smooth", "soft", "solid", "sour", "spare", "steady", "steep", "stiff", "strong",
    "sturdy", "subtle", "sunny", "sweet", "swift", "tall", "tame", "tender", "thick", "thin", "tidy", "tiny", "tough",
    "vast", "vivid", "warm", "wary", "weak", "wide", "wild", "windy", "wise", "witty", "young", "zealous",
];

/// Nouns for S-NIAH keys and random-word lines.
pub(crate) const NOUNS: &[&str] = &[
    "acorn", "anchor", "apple", "arrow", "badge", "bakery", "ballad", "banner", "barrel", "basket", "beacon", "bell",
    "bench", "blanket", "bottle", "bridge", "bucket", "cabin", "candle", "canoe", "canyon", "carpet", "castle",
    "cellar", "chapel", "cherry", "circle", "cloud", "clover", "comet", "copper", "cottage", "crayon", "crystal",
    "curtain", "desert", "dragon", "drum", "engine", "falcon", "feather", "fiddle", "forest", "fountain", "galaxy",
    "garden", "glacier", "goblet", "granite", "hammer", "harbor", "helmet", "hill", "island", "jacket", "jungle",
    "kettle", "ladder", "lantern", "lemon", "letter", "meadow", "mirror", "mitten", "monkey", "mountain", "needle",
    "night", "oasis", "ocean", "orchard", "otter", "paddle", "palace", "parrot", "pebble", "pepper", "pillow",
    "planet", "pocket", "pond", "pumpkin", "puzzle", "quartz", "rabbit", "raven", "ribbon", "river", "rocket",
    "saddle", "sailor", "salmon", "shadow", "shelter", "signal", "silver", "spider", "spoon", "stable", "statue",
    "stone", "storm", "stream", "summit", "sunset", "teapot", "thistle", "thunder", "ticket", "timber", "tower",
    "trumpet", "tunnel", "valley", "velvet", "violin", "wagon", "walnut", "window", "winter", "wizard", "wolf", "yarn",
    "zebra",
];

/// Verbs for random-word lines.
pub(crate) const VERBS: &[&str] = &[
    "bakes", "bends", "blinks", "borrows", "builds", "carries", "chases", "climbs", "counts", "dances", "drifts",
    "drops", "finds", "folds", "follows", "gathers", "glows", "hides", "holds", "hums", "jumps", "keeps", "knits",
    "lifts", "listens", "marches", "mends", "moves", "opens", "paints", "plants", "pours", "pulls", "reads", "rests",
    "rides", "rings", "rolls", "sails", "shakes", "sings", "sleeps", "sorts", "spins", "stacks", "swims", "throws",
    "tumbles", "turns", "waits", "walks", "washes", "whistles", "writes",
];

/// First names for employee records.
pub(crate) const FIRST_NAMES: &[&str] = &[
    "Ada", "Alan", "Alice", "Amir", "Anna", "Ben", "Bianca", "Carl", "Chen", "Clara", "Dana", "David", "Elena", "Emil",
    "Eva", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jade", "Jonas", "Julia", "Kai", "Karin", "Leo",
    "Lina", "Luca", "Maya", "Marco", "Mei", "Nadia", "Nils", "Noah", "Olga", "Omar", "Paula", "Pedro", "Priya",
    "Quinn", "Rosa", "Ravi", "Sara", "Sven", "Tara", "Tomas", "Uma", "Victor", "Wanda", "Yusuf", "Zara", "Zoe",
];

/// Surnames for employee records.
pub(crate) const LAST_NAMES: &[&str] = &[
    "Abbott", "Alvarez", "Bauer", "Becker", "Brooks", "Castillo", "Chang", "Costa", "Dahl", "Diaz", "Engel", "Evans",
    "Fischer", "Foster", "Garcia", "Gupta", "Hansen", "Hayes", "Ibrahim", "Ito", "Jansen", "Jones", "Kato", "Keller",
    "Khan", "Larsen", "Lopez", "Meyer", "Moreau", "Nakamura", "Novak", "Olsen", "Ortiz", "Park", "Patel", "Quinn",
    "Rossi", "Ruiz", "Sato", "Schmidt", "Silva", "Singh", "Tanaka", "Torres", "Varga", "Vogel", "Wagner", "Walsh",
    "Weber", "Young", "Zhou", "Zimmer",
];

/// Department names for employee records.
pub(crate) const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Legal",
    "Operations",
    "Support",
    "Research",
    "Design",
    "Logistics",
    "Security",
    "Facilities",
];

/// Syllables for fictional names in the multi-hop task: onsets and codas
/// that make pronounceable, non-English words.
pub(crate) const NAME_ONSETS: &[&str] = &[
    "b", "br", "d", "dr", "f", "g", "gl", "h", "k", "kr", "l", "m", "n", "p", "qu", "r", "s", "sk", "t", "th", "v",
    "w", "z", "zh",
];

/// Vowel nuclei for fictional names.
pub(crate) const NAME_VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ae", "ei", "ou", "y"];

/// Codas for fictional names.
pub(crate) const NAME_CODAS: &[&str] = &["", "", "", "n", "r", "l", "s", "th", "x", "m", "nd", "sk", "v", "rn"];
