//! The models a run may use: a name, a client, and what a call costs.
//!
//! Model code can ask for a model by name (`llm_query(p, model="fast")`);
//! only names in the registry are accepted, so guest code cannot reach a
//! model the embedder did not allow, nor one it has no price for.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rlm_core::{Model, SamplingOptions};

use crate::error::BuildError;
use crate::usage::Price;

/// Default size of a sub-model's window, in characters, when the embedder
/// gives none: about 100k tokens.
pub const DEFAULT_CONTEXT_CHARS: usize = 400_000;

/// One model of the registry.
#[derive(Clone)]
#[non_exhaustive]
pub struct ModelEntry {
    /// The client.
    pub model: Arc<dyn Model>,
    /// Its price, for cost accounting and cost budgets.
    pub price: Option<Price>,
    /// Whether the provider reports each call's cost itself (then no price
    /// is needed for a cost budget).
    pub reports_cost: bool,
    /// How many characters of prompt it takes. By default,
    /// [`DEFAULT_CONTEXT_CHARS`].
    pub context_chars: usize,
    /// Sampling options for calls to this model.
    pub sampling: SamplingOptions,
}

impl ModelEntry {
    /// An entry for `model` with no price.
    pub fn new(model: Arc<dyn Model>) -> Self {
        ModelEntry {
            model,
            price: None,
            reports_cost: false,
            context_chars: DEFAULT_CONTEXT_CHARS,
            sampling: SamplingOptions::default(),
        }
    }

    /// Sets the price.
    pub fn price(mut self, price: Option<Price>) -> Self {
        self.price = price;
        self
    }

    /// Says the provider reports cost.
    pub fn reports_cost(mut self, yes: bool) -> Self {
        self.reports_cost = yes;
        self
    }

    /// Sets the window, in characters.
    pub fn context_chars(mut self, chars: usize) -> Self {
        self.context_chars = chars;
        self
    }

    /// Sets the sampling options.
    pub fn sampling(mut self, sampling: SamplingOptions) -> Self {
        self.sampling = sampling;
        self
    }
}

impl fmt::Debug for ModelEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelEntry")
            .field("model", &self.model.name())
            .field("price", &self.price)
            .field("context_chars", &self.context_chars)
            .finish_non_exhaustive()
    }
}

/// Name → model. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ModelRegistry {
    entries: BTreeMap<String, ModelEntry>,
}

impl ModelRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) `name`.
    pub fn insert(&mut self, name: impl Into<String>, entry: ModelEntry) {
        self.entries.insert(name.into(), entry);
    }

    /// Adds `name`, builder style.
    pub fn with(mut self, name: impl Into<String>, entry: ModelEntry) -> Self {
        self.insert(name, entry);
        self
    }

    /// The entry for `name`, or an error that lists what there is.
    pub fn get(&self, name: &str) -> Result<&ModelEntry, BuildError> {
        self.entries.get(name).ok_or_else(|| BuildError::UnknownModel { name: name.to_owned(), known: self.known() })
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The names, for messages.
    pub fn known(&self) -> String {
        let names: Vec<&str> = self.names().collect();
        if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
    }
}
