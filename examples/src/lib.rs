//! Data generators and model set-up shared by the example binaries.
//!
//! Each example generates its data with a fixed seed, so the expected answer
//! is known and the model's answer can be checked.

use std::collections::BTreeMap;
use std::sync::Arc;

use rlm_core::Model;
use rlm_engine::{Rlm, RlmBuilder};
use rlm_llm::{ApiKey, Client, ClientConfig, Provider};
use rlm_sandbox::{Runtime, RuntimeConfig};
use serde_json::{Value, json};

/// Where the examples send their model calls.
#[derive(Debug, clap::Args)]
pub struct Endpoint {
    /// An OpenAI-compatible base URL (for example `http://localhost:8000/v1`
    /// for vLLM, `http://localhost:11434/v1` for Ollama).
    #[arg(long, env = rlm_core::env::OPENAI_BASE_URL, default_value = "https://api.openai.com/v1")]
    pub base_url: String,
    /// The model name.
    #[arg(long, env = rlm_core::env::MODEL)]
    pub model: String,
    /// The model for sub-calls; by default the same model.
    #[arg(long)]
    pub sub_model: Option<String>,
}

impl Endpoint {
    /// An RLM builder with the root and sub models and a sandbox runtime;
    /// the key comes from `$OPENAI_API_KEY` if set.
    pub fn rlm(&self) -> anyhow::Result<RlmBuilder> {
        let (root, sub) = self.models()?;
        let runtime = Runtime::new(RuntimeConfig::default())?;
        Ok(Rlm::builder().sandboxes(Arc::new(runtime)).root(root).sub(sub))
    }

    /// The root and sub models; the key comes from `$OPENAI_API_KEY` if set.
    pub fn models(&self) -> anyhow::Result<(Arc<dyn Model>, Arc<dyn Model>)> {
        let key = std::env::var(rlm_core::env::OPENAI_API_KEY).ok().filter(|k| !k.is_empty()).map(ApiKey::new);
        let client = |model: &str| -> anyhow::Result<Arc<dyn Model>> {
            let mut config = ClientConfig::new(Provider::OpenAi, model);
            config.base_url = self.base_url.clone();
            config.api_key = key.clone();
            Ok(Arc::new(Client::new(config)?))
        };
        let root = client(&self.model)?;
        let sub = match &self.sub_model {
            Some(name) => client(name)?,
            None => root.clone(),
        };
        Ok((root, sub))
    }
}

const WORDS: &[&str] = &[
    "amber", "basalt", "cedar", "delta", "ember", "fjord", "granite", "harbor", "indigo", "juniper", "kelp", "lagoon",
    "meadow", "nectar", "orchid", "pebble", "quartz", "river", "saffron", "tundra", "umber", "valley", "willow",
    "xylem", "yarrow", "zephyr",
];

/// About `lines` lines of random words with one line that states the magic
/// number; returns the text and the number.
pub fn haystack(lines: usize, seed: u64) -> (String, u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let needle = rng.u64(1_000_000..10_000_000);
    let at = rng.usize(lines / 10..lines - lines / 10);
    let mut text = String::with_capacity(lines * 40);
    for i in 0..lines {
        if i == at {
            text.push_str(&format!("The magic number is {needle}. Remember it.\n"));
            continue;
        }
        for w in 0..rng.usize(4..9) {
            if w > 0 {
                text.push(' ');
            }
            text.push_str(WORDS[rng.usize(..WORDS.len())]);
        }
        text.push('\n');
    }
    (text, needle)
}

const DEPARTMENTS: &[&str] = &["Engineering", "Sales", "Marketing", "Finance", "Support", "Legal"];
const FIRST: &[&str] = &["Ada", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"];
const LAST: &[&str] = &["Ito", "Jones", "Khan", "Lopez", "Meyer", "Nair", "Okafor", "Park", "Quinn", "Rossi"];

/// `n` employee records (name, department, title, salary, start year) and
/// the average salary of each department, rounded to the dollar.
pub fn employees(n: usize, seed: u64) -> (Value, BTreeMap<String, u64>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut sums: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let department = DEPARTMENTS[rng.usize(..DEPARTMENTS.len())];
            let base = match department {
                "Engineering" => 120_000,
                "Legal" => 110_000,
                "Finance" => 95_000,
                "Sales" => 80_000,
                "Marketing" => 75_000,
                _ => 60_000,
            };
            let salary = base + rng.u64(0..40_000);
            let entry = sums.entry(department.to_owned()).or_default();
            entry.0 += salary;
            entry.1 += 1;
            json!({
                "id": i + 1,
                "name": format!("{} {}", FIRST[rng.usize(..FIRST.len())], LAST[rng.usize(..LAST.len())]),
                "department": department,
                "title": if rng.bool() { "Senior" } else { "Associate" },
                "salary": salary,
                "start_year": rng.u32(2005..2025),
            })
        })
        .collect();
    let averages = sums.into_iter().map(|(d, (sum, count))| (d, (sum as f64 / count as f64).round() as u64)).collect();
    (Value::Array(records), averages)
}

/// Whether `answer` (a dict of department to average, as numbers or
/// strings) is within one dollar of `expected` for every department.
pub fn averages_match(answer: &Value, expected: &BTreeMap<String, u64>) -> bool {
    let Some(map) = answer.as_object() else { return false };
    map.len() == expected.len()
        && expected.iter().all(|(dept, want)| {
            let got =
                map.get(dept).and_then(|v| v.as_f64().or_else(|| v.as_str()?.replace([',', '$'], "").parse().ok()));
            got.is_some_and(|g| (g - *want as f64).abs() <= 1.0)
        })
}
