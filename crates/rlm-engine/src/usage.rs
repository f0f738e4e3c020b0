//! Token and cost accounting, per model and per depth.

use std::collections::BTreeMap;

use rlm_core::TokenUsage;
use serde::{Deserialize, Serialize};

/// Prices of one model, in dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Price {
    /// Dollars per million input tokens.
    pub input_per_mtok: f64,
    /// Dollars per million output tokens.
    pub output_per_mtok: f64,
}

impl Price {
    /// Dollars per million input and output tokens.
    pub fn new(input_per_mtok: f64, output_per_mtok: f64) -> Self {
        Price { input_per_mtok, output_per_mtok }
    }

    /// The cost of `tokens` at this price.
    pub fn cost(&self, tokens: TokenUsage) -> f64 {
        (tokens.input_tokens as f64 * self.input_per_mtok + tokens.output_tokens as f64 * self.output_per_mtok) / 1e6
    }
}

/// Calls and tokens of one slice of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct UsageTotals {
    /// Model calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Dollars, when every call in the slice had a price or a reported cost.
    pub cost: Option<f64>,
}

impl UsageTotals {
    fn add(&mut self, tokens: TokenUsage, cost: Option<f64>) {
        let first = self.calls == 0;
        self.calls += 1;
        self.input_tokens += tokens.input_tokens;
        self.output_tokens += tokens.output_tokens;
        self.cost = match (first, self.cost, cost) {
            (true, _, c) => c,
            (false, Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }

    /// Input plus output tokens.
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// Usage of a whole run, including every sub-call and sub-RLM.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Usage {
    /// Everything together.
    pub total: UsageTotals,
    /// By model name (as the registry names it).
    pub by_model: BTreeMap<String, UsageTotals>,
    /// By depth: 0 is the root's own calls, 1 the calls its code made, ...
    pub by_depth: BTreeMap<u32, UsageTotals>,
    /// Dollars of the calls whose cost is known.
    pub known_cost: f64,
    /// By model and depth together (for ledgers keyed by both).
    #[serde(skip)]
    pub by_model_and_depth: BTreeMap<(String, u32), UsageTotals>,
}

impl Usage {
    /// Counts one call of `model` at `depth`.
    pub fn record(&mut self, model: &str, depth: u32, tokens: TokenUsage, cost: Option<f64>) {
        self.total.add(tokens, cost);
        self.by_model.entry(model.to_owned()).or_default().add(tokens, cost);
        self.by_depth.entry(depth).or_default().add(tokens, cost);
        self.by_model_and_depth.entry((model.to_owned(), depth)).or_default().add(tokens, cost);
        self.known_cost += cost.unwrap_or(0.0);
    }

    /// Adds another run's usage (a candidate, a session's earlier queries).
    pub fn merge(&mut self, other: &Usage) {
        fn add(into: &mut UsageTotals, from: &UsageTotals) {
            let first = into.calls == 0;
            into.calls += from.calls;
            into.input_tokens += from.input_tokens;
            into.output_tokens += from.output_tokens;
            into.cost = match (first, into.cost, from.cost) {
                (true, _, c) => c,
                (false, Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        if other.total.calls == 0 {
            return;
        }
        add(&mut self.total, &other.total);
        for (model, totals) in &other.by_model {
            add(self.by_model.entry(model.clone()).or_default(), totals);
        }
        for (depth, totals) in &other.by_depth {
            add(self.by_depth.entry(*depth).or_default(), totals);
        }
        for (key, totals) in &other.by_model_and_depth {
            add(self.by_model_and_depth.entry(key.clone()).or_default(), totals);
        }
        self.known_cost += other.known_cost;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_up_by_model_and_depth() {
        let mut usage = Usage::default();
        let price = Price { input_per_mtok: 1.0, output_per_mtok: 2.0 };
        let big = |i, o| TokenUsage::new(i, o);
        usage.record("big", 0, big(1_000_000, 0), Some(price.cost(big(1_000_000, 0))));
        usage.record("small", 1, big(10, 5), None);
        usage.record("big", 1, big(0, 500_000), Some(price.cost(big(0, 500_000))));
        assert_eq!(usage.total.calls, 3);
        assert_eq!(usage.total.tokens(), 1_500_015);
        assert_eq!(usage.total.cost, None, "one call had no price");
        assert_eq!(usage.by_model["big"].cost, Some(2.0));
        assert_eq!(usage.known_cost, 2.0);
        assert_eq!(usage.by_depth[&1].calls, 2);
        let mut twice = usage.clone();
        twice.merge(&usage);
        assert_eq!(twice.total.calls, 6);
        assert_eq!(twice.known_cost, 4.0);
    }
}
