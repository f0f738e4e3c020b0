//! Token and cost accounting, per model and per depth.

use std::collections::BTreeMap;

use rlm_llm::TokenUsage;
use serde::Serialize;

/// Prices of one model, in dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Price {
    /// Dollars per million input tokens.
    pub input_per_mtok: f64,
    /// Dollars per million output tokens.
    pub output_per_mtok: f64,
}

impl Price {
    fn cost(&self, tokens: TokenUsage) -> f64 {
        (tokens.input_tokens as f64 * self.input_per_mtok + tokens.output_tokens as f64 * self.output_per_mtok) / 1e6
    }
}

/// Calls and tokens of one slice of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct UsageTotals {
    /// Model calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Dollars, when every call in the slice had a price.
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
pub struct Usage {
    /// Everything together.
    pub total: UsageTotals,
    /// By model name.
    pub by_model: BTreeMap<String, UsageTotals>,
    /// By depth: 0 is the root's own calls, 1 the calls its code made, ...
    pub by_depth: BTreeMap<u32, UsageTotals>,
}

impl Usage {
    pub(crate) fn record(&mut self, model: &str, depth: u32, tokens: TokenUsage, price: Option<&Price>) {
        let cost = price.map(|p| p.cost(tokens));
        self.total.add(tokens, cost);
        self.by_model.entry(model.to_owned()).or_default().add(tokens, cost);
        self.by_depth.entry(depth).or_default().add(tokens, cost);
    }

    /// Dollars spent on the calls that had a price.
    pub fn known_cost(&self) -> f64 {
        self.by_model.values().filter_map(|u| u.cost).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_up_by_model_and_depth() {
        let mut usage = Usage::default();
        let price = Price { input_per_mtok: 1.0, output_per_mtok: 2.0 };
        usage.record("big", 0, TokenUsage { input_tokens: 1_000_000, output_tokens: 0 }, Some(&price));
        usage.record("small", 1, TokenUsage { input_tokens: 10, output_tokens: 5 }, None);
        usage.record("big", 1, TokenUsage { input_tokens: 0, output_tokens: 500_000 }, Some(&price));
        assert_eq!(usage.total.calls, 3);
        assert_eq!(usage.total.tokens(), 1_500_015);
        assert_eq!(usage.total.cost, None, "one call had no price");
        assert_eq!(usage.by_model["big"].cost, Some(2.0));
        assert_eq!(usage.known_cost(), 2.0);
        assert_eq!(usage.by_depth[&1].calls, 2);
    }
}
