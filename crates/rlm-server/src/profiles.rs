//! Model profiles: an [`Rlm`] per profile, on one shared sandbox runtime.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rlm_core::{Model, ReplFactory};
use rlm_engine::{ModelEntry, ModelRegistry, Price, Rlm, RlmConfig, RunOptions};
use rlm_llm::{ApiKey, Client, ClientConfig, Provider, RetryPolicy};

use crate::config::{Profile, RunLimits};
use crate::error::ServeError;

/// A profile, ready to run requests.
#[derive(Debug)]
pub(crate) struct ProfileRuntime {
    pub(crate) name: String,
    pub(crate) rlm: Rlm,
    /// What a run of the profile runs with: its own limits, the engine's
    /// defaults where it sets none. A request may ask for less, never more.
    pub(crate) effective: RunLimits,
}

fn provider(name: &str) -> Provider {
    if name == "anthropic" { Provider::Anthropic } else { Provider::OpenAi }
}

fn client(
    profile: &Profile,
    provider: Provider,
    base_url: Option<&String>,
    key_env: Option<&String>,
    model: &str,
) -> Result<Arc<dyn Model>, rlm_llm::Error> {
    let mut config = ClientConfig::new(provider, model);
    if let Some(url) = base_url {
        config.base_url.clone_from(url);
    }
    let env = key_env.map(String::as_str).unwrap_or(provider.key_env());
    config.api_key = std::env::var(env).ok().filter(|k| !k.is_empty()).map(ApiKey::new);
    if let Some(secs) = profile.request_timeout_s {
        config.request_timeout = Duration::from_secs(secs);
    }
    if let Some(retries) = profile.max_retries {
        config.retry = RetryPolicy::new(retries, rlm_llm::DEFAULT_INITIAL_BACKOFF, rlm_llm::DEFAULT_MAX_BACKOFF);
    }
    Ok(Arc::new(Client::new(config)?))
}

/// Builds every profile's [`Rlm`].
pub(crate) fn build(
    profiles: &BTreeMap<String, Profile>,
    sandboxes: Arc<dyn ReplFactory>,
) -> Result<BTreeMap<String, Arc<ProfileRuntime>>, ServeError> {
    let mut out = BTreeMap::new();
    for (name, profile) in profiles {
        let wrap =
            |e: Box<dyn std::error::Error + Send + Sync>| ServeError::Profile { profile: name.clone(), source: e };
        let root_provider = provider(&profile.provider);
        let price = |m: &str| profile.prices.get(m).map(|[i, o]| Price::new(*i, *o));
        let window = profile.sub_context_chars.unwrap_or(rlm_engine::DEFAULT_CONTEXT_CHARS);
        let mut registry = ModelRegistry::new();
        let root =
            client(profile, root_provider, profile.base_url.as_ref(), profile.api_key_env.as_ref(), &profile.model)
                .map_err(|e| wrap(Box::new(e)))?;
        let reports_cost = |url: Option<&String>| url.is_some_and(|u| u.contains("openrouter.ai"));
        registry.insert(
            profile.model.clone(),
            ModelEntry::new(root)
                .price(price(&profile.model))
                .reports_cost(reports_cost(profile.base_url.as_ref()))
                .context_chars(window),
        );
        if let Some(sub) = profile.sub_model.as_ref().filter(|s| **s != profile.model) {
            let sub_provider = profile.sub_provider.as_deref().map_or(root_provider, provider);
            let base = profile.sub_base_url.as_ref().or(profile.base_url.as_ref());
            let key = profile.sub_api_key_env.as_ref().or(profile.api_key_env.as_ref());
            let model = client(profile, sub_provider, base, key, sub).map_err(|e| wrap(Box::new(e)))?;
            registry.insert(
                sub.clone(),
                ModelEntry::new(model).price(price(sub)).reports_cost(reports_cost(base)).context_chars(window),
            );
        }
        let mut config = RlmConfig::default();
        config.root_model = profile.model.clone();
        config.sub_model = profile.sub_model.clone();
        config.sub_context_chars = Some(window);
        let rlm = Rlm::builder()
            .sandboxes(sandboxes.clone())
            .models(registry)
            .config(config)
            .build()
            .map_err(|e| wrap(Box::new(e)))?;
        let effective = profile.limits.filled(&RunLimits::of_config(rlm.config()));
        out.insert(name.clone(), Arc::new(ProfileRuntime { name: name.clone(), rlm, effective }));
    }
    Ok(out)
}

/// Run options from limits (already clamped).
pub(crate) fn run_options(rlm: &Rlm, limits: &RunLimits) -> RunOptions {
    let mut options = RunOptions::default();
    options.max_iterations = limits.max_iterations;
    options.child_max_iterations = limits.child_max_iterations;
    options.max_depth = limits.max_depth;
    options.max_concurrency = limits.max_concurrency;
    options.max_tokens = limits.max_tokens;
    options.max_cost = limits.max_cost;
    options.max_wall_time = limits.timeout_s.map(Duration::from_secs);
    let mut sandbox = rlm.config().limits.clone();
    let mut changed = false;
    if let Some(secs) = limits.cell_timeout_s {
        sandbox = sandbox.timeout(Duration::from_secs(secs));
        changed = true;
    }
    if let Some(mb) = limits.memory_mb {
        sandbox = sandbox.memory_bytes((mb as usize).saturating_mul(1 << 20));
        changed = true;
    }
    if let Some(fuel) = limits.fuel {
        sandbox = sandbox.fuel(Some(fuel));
        changed = true;
    }
    if let Some(bytes) = limits.max_output_bytes {
        sandbox = sandbox.max_output_bytes(bytes);
        changed = true;
    }
    if let Some(calls) = limits.max_host_calls {
        sandbox = sandbox.max_host_calls(calls);
        changed = true;
    }
    if let Some(bytes) = limits.max_value_bytes {
        sandbox = sandbox.max_value_bytes(bytes);
        changed = true;
    }
    if changed {
        options.limits = Some(sandbox);
    }
    options
}
