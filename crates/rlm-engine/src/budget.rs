//! A run's budgets (tokens, dollars, wall clock), with reservations.
//!
//! Before a model call is sent, an estimate of what it will cost is reserved;
//! a call is admitted only while what was spent plus what is reserved leaves
//! room for it (or, when nothing is in flight, while anything is left). So
//! concurrent sub-calls cannot overshoot a budget together: at most one call
//! can go past it, by the difference between its estimate and its real size.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rlm_core::{Message, TokenUsage};
use serde::Serialize;

use crate::error::ErrorKind;
use crate::shared::Stop;
use crate::usage::{Price, Usage};

/// Reply tokens assumed for a call that sets no cap, when reserving.
const OUTPUT_ESTIMATE: u64 = 1024;

/// A completion's budgets and what was spent of them.
#[derive(Debug)]
pub(crate) struct Budget {
    max_tokens: Option<u64>,
    max_cost: Option<f64>,
    started: Instant,
    deadline: Option<Instant>,
    state: Mutex<Spent>,
}

#[derive(Debug, Default)]
struct Spent {
    usage: Usage,
    reserved_tokens: u64,
    reserved_cost: f64,
    in_flight: u32,
}

/// What is left, as the model's `budget()` shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Remaining {
    pub(crate) tokens_used: u64,
    pub(crate) tokens_left: Option<u64>,
    pub(crate) cost_used: f64,
    pub(crate) cost_left: Option<f64>,
    pub(crate) seconds_left: Option<f64>,
}

/// An estimate held for a call in flight; released when dropped.
#[derive(Debug)]
pub(crate) struct Reservation<'a> {
    budget: &'a Budget,
    tokens: u64,
    cost: f64,
    /// The estimate of the call's input tokens.
    pub(crate) input: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut spent = self.budget.state.lock().unwrap();
        spent.reserved_tokens -= self.tokens;
        spent.reserved_cost -= self.cost;
        spent.in_flight -= 1;
    }
}

impl Budget {
    pub(crate) fn new(max_tokens: Option<u64>, max_cost: Option<f64>, max_wall_time: Option<Duration>) -> Self {
        let started = Instant::now();
        Budget {
            max_tokens,
            max_cost,
            started,
            deadline: max_wall_time.map(|t| started + t),
            state: Mutex::new(Spent::default()),
        }
    }

    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the wall-clock budget is spent.
    pub(crate) fn check_time(&self) -> Result<(), Stop> {
        if let Some(deadline) = self.deadline
            && Instant::now() >= deadline
        {
            let limit = deadline - self.started;
            return Err(Stop::new(ErrorKind::Timeout, format!("the run passed its wall-clock budget of {limit:?}")));
        }
        Ok(())
    }

    /// Reserves room for a call of `messages` (replying up to `max_output`
    /// tokens) at `price`, or says which budget is spent.
    pub(crate) fn reserve(
        &self,
        messages: &[Message],
        max_output: Option<u32>,
        price: Option<&Price>,
    ) -> Result<Reservation<'_>, Stop> {
        self.check_time()?;
        let input: u64 = messages.iter().map(|m| m.content.len() as u64 / 4 + 4).sum();
        let output = max_output.map_or(OUTPUT_ESTIMATE, u64::from);
        let tokens = input + output;
        let cost = price.map_or(0.0, |p| p.cost(TokenUsage::new(input, output)));
        let mut spent = self.state.lock().unwrap();
        let nothing_in_flight = spent.in_flight == 0;
        if let Some(max) = self.max_tokens {
            let used = spent.usage.total.tokens();
            let fits = used + spent.reserved_tokens + tokens <= max || (nothing_in_flight && used < max);
            if !fits {
                return Err(Stop::new(
                    ErrorKind::MaxTokens,
                    format!(
                        "the run's token budget of {max} is spent: {used} used and {} reserved by calls in flight",
                        spent.reserved_tokens
                    ),
                ));
            }
        }
        if let Some(max) = self.max_cost {
            let used = spent.usage.known_cost;
            let fits = used + spent.reserved_cost + cost <= max || (nothing_in_flight && used < max);
            if !fits {
                return Err(Stop::new(
                    ErrorKind::MaxCost,
                    format!(
                        "the run's cost budget of ${max:.4} is spent: ${used:.4} used and ${:.4} reserved by calls in flight",
                        spent.reserved_cost
                    ),
                ));
            }
        }
        spent.reserved_tokens += tokens;
        spent.reserved_cost += cost;
        spent.in_flight += 1;
        Ok(Reservation { budget: self, tokens, cost, input })
    }

    /// Records a finished call (its reservation is released separately).
    pub(crate) fn record(&self, model: &str, depth: u32, tokens: TokenUsage, cost: Option<f64>) {
        self.state.lock().unwrap().usage.record(model, depth, tokens, cost);
    }

    pub(crate) fn usage(&self) -> Usage {
        self.state.lock().unwrap().usage.clone()
    }

    pub(crate) fn remaining(&self) -> Remaining {
        let spent = self.state.lock().unwrap();
        let used = spent.usage.total.tokens();
        Remaining {
            tokens_used: used,
            tokens_left: self.max_tokens.map(|max| max.saturating_sub(used + spent.reserved_tokens)),
            cost_used: spent.usage.known_cost,
            cost_left: self.max_cost.map(|max| (max - spent.usage.known_cost - spent.reserved_cost).max(0.0)),
            seconds_left: self.deadline.map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_calls_cannot_overshoot_together() {
        let budget = Budget::new(Some(3100), None, None);
        let messages = vec![Message::user("x".repeat(4000))];
        let first = budget.reserve(&messages, Some(500), None).unwrap();
        // 1004 + 500 reserved; a second of the same size still fits, a third not.
        let second = budget.reserve(&messages, Some(500), None).unwrap();
        assert!(budget.reserve(&messages, Some(500), None).is_err());
        drop(first);
        budget.record("m", 0, TokenUsage::new(2000, 500), None);
        drop(second);
        assert_eq!(budget.remaining().tokens_left, Some(600));
        // Nothing in flight and something left: one more call may try.
        let last = budget.reserve(&messages, Some(500), None).unwrap();
        drop(last);
        budget.record("m", 0, TokenUsage::new(600, 0), None);
        assert!(budget.reserve(&messages, Some(500), None).is_err());
    }
}
