//! Model clients and the registry, from `run`'s flags.

use std::sync::Arc;
use std::time::Duration;

use rlm_core::{Model, SamplingOptions};
use rlm_engine::{ModelEntry, ModelRegistry, Price};
use rlm_llm::{ApiKey, Client, ClientConfig, Provider, RetryPolicy};

use crate::args::{EngineArgs, ProviderArg, UsageError};

fn provider(arg: ProviderArg) -> Provider {
    match arg {
        ProviderArg::Openai => Provider::OpenAi,
        ProviderArg::Anthropic => Provider::Anthropic,
    }
}

fn env_key(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|k| !k.is_empty())
}

/// The sampling options the flags ask for.
pub fn sampling(args: &EngineArgs) -> SamplingOptions {
    let s = &args.sampling;
    let mut sampling = SamplingOptions::default();
    sampling.temperature = s.temperature;
    sampling.top_p = s.top_p;
    sampling.seed = s.seed;
    sampling.max_completion_tokens = s.max_completion_tokens;
    sampling.reasoning_effort = s.reasoning_effort.clone();
    sampling.response_format = s.response_format.clone().map(serde_json::Value::Object);
    if let Some(extra) = &s.extra_body {
        sampling.extra_body = extra.clone().into_iter().collect();
    }
    sampling
}

/// The root model and the sub-model, registered under the names the flags
/// give them, with their prices.
pub fn registry(args: &EngineArgs) -> Result<ModelRegistry, UsageError> {
    let root_provider = provider(args.provider);
    let root_key = args.api_key.clone().or_else(|| env_key(root_provider.key_env()));
    let sampling = sampling(args);
    let client = |provider: Provider, base_url: Option<&String>, key: Option<String>, model: &str| {
        let mut config = ClientConfig::new(provider, model);
        if let Some(url) = base_url {
            config.base_url = url.clone();
        }
        config.api_key = key.map(ApiKey::new);
        config.request_timeout = Duration::from_secs(args.request_timeout_s);
        config.retry =
            RetryPolicy::new(args.max_retries, rlm_llm::DEFAULT_INITIAL_BACKOFF, rlm_llm::DEFAULT_MAX_BACKOFF);
        config.sampling = sampling.clone();
        // OpenRouter reports each call's cost itself.
        let reports_cost = config.base_url.contains("openrouter.ai");
        Client::new(config)
            .map(|c| (Arc::new(c) as Arc<dyn Model>, reports_cost))
            .map_err(|e| UsageError(e.to_string()))
    };
    let price = |name: &str| args.price.iter().find(|(m, _)| m == name).map(|(_, p)| *p);
    let entry = |(model, reports_cost): (Arc<dyn Model>, bool), name: &str| {
        ModelEntry::new(model).price(price(name)).reports_cost(reports_cost).context_chars(args.sub_context_chars)
    };
    let mut registry = ModelRegistry::new();
    let root = client(root_provider, args.base_url.as_ref(), root_key.clone(), &args.model)?;
    registry.insert(args.model.clone(), entry(root, &args.model));
    if let Some(sub) = args.sub_model.as_ref().filter(|s| **s != args.model) {
        let sub_provider = args.sub_provider.map_or(root_provider, provider);
        let base_url =
            args.sub_base_url.as_ref().or(if args.sub_provider.is_some() { None } else { args.base_url.as_ref() });
        let key = match &args.sub_api_key_env {
            Some(var) => env_key(var),
            None if args.sub_provider.is_some() => env_key(sub_provider.key_env()),
            None => root_key,
        };
        let sub_client = client(sub_provider, base_url, key, sub)?;
        registry.insert(sub.clone(), entry(sub_client, sub));
    }
    Ok(registry)
}

/// Prices given for models the run does not use are probably typos.
pub fn check_prices(args: &EngineArgs, registry: &ModelRegistry) -> Result<(), UsageError> {
    for (model, _) in &args.price {
        if !registry.contains(model) {
            return Err(UsageError(format!(
                "--price names model `{model}`, which this run does not use (models: {})",
                registry.known()
            )));
        }
    }
    Ok(())
}

/// Parses `MODEL=INPUT/OUTPUT`.
pub fn parse_price(s: &str) -> Result<(String, Price), String> {
    let (model, prices) = s.rsplit_once('=').ok_or("expected MODEL=INPUT/OUTPUT")?;
    let (input, output) = prices.split_once('/').ok_or("expected MODEL=INPUT/OUTPUT")?;
    let number = |v: &str| match v.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("`{v}` is not a price")),
    };
    Ok((model.to_owned(), Price::new(number(input)?, number(output)?)))
}
