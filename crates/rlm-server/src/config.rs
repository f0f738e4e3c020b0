//! The service's settings: from a TOML file (`--config serve.toml`), with
//! every top-level key also settable by a flag or an environment variable
//! (the CLI maps those onto [`Overrides`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;

/// Default address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default cap on a request body: 64 MiB (a large context fits).
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 64 << 20;
/// Default time to read a request's headers (and an idle keep-alive
/// connection's next request).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time to read a request's body.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(120);
/// Default time runs in flight get to finish after `SIGTERM`.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Default idle time after which a session is evicted.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(30 * 60);
/// Default runs in flight across every tenant.
pub const DEFAULT_MAX_RUNS_IN_FLIGHT: usize = 256;
/// Default wall-clock budget of a run that sets none (and the most any
/// may ask for).
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// Default sandboxes alive at once across every tenant.
pub const DEFAULT_MAX_SANDBOXES: usize = 1024;
/// Default open connections at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default interval of keep-alive comments on a streamed response.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The whole configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The store: `sqlite://PATH` (the default, in the user's data
    /// directory) or `postgres://...`.
    pub database_url: String,
    /// This replica's name (sessions live in one replica's memory).
    pub replica: String,
    /// Cap on a request body, in bytes.
    pub body_limit_bytes: usize,
    /// Time to read a request's headers.
    pub header_timeout: Duration,
    /// Time to read a request's body.
    pub body_timeout: Duration,
    /// Time runs in flight get to finish after `SIGTERM`.
    pub shutdown_grace: Duration,
    /// Idle time after which a session is evicted.
    pub session_ttl: Duration,
    /// Runs in flight across every tenant.
    pub max_runs_in_flight: usize,
    /// Interval of keep-alive comments on streamed responses.
    pub keep_alive: Duration,
    /// Wall-clock budget of every run: a request or profile may set less.
    pub run_timeout: Duration,
    /// Sandboxes alive at once across every tenant.
    pub max_sandboxes: usize,
    /// Linear memory of every tenant's sandboxes together, in MiB (by
    /// default half of the machine's memory).
    pub max_sandbox_memory_mb: Option<usize>,
    /// Open connections at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// The profile of a request that names none (by default the only
    /// profile, or the one named `default`).
    pub default_profile: Option<String>,
    /// The model profiles, by name.
    pub profiles: BTreeMap<String, Profile>,
    /// The tenants.
    pub tenants: Vec<Tenant>,
    /// The key generated for dev mode (no tenants configured), to print.
    pub dev_key: Option<String>,
}

/// A named profile: the models and limits a request gets by naming it as
/// its `model`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Profile {
    /// The profile's name (from the table key or `name`).
    #[serde(default)]
    pub name: String,
    /// The root model.
    pub model: String,
    /// The sub-model; by default the root model.
    pub sub_model: Option<String>,
    /// `openai` or `anthropic`.
    #[serde(default = "default_provider")]
    pub provider: String,
    /// The API's base URL; by default the provider's.
    pub base_url: Option<String>,
    /// The environment variable with the API key.
    pub api_key_env: Option<String>,
    /// The sub-model's API, when it differs.
    pub sub_provider: Option<String>,
    /// The sub-model's base URL, when it differs.
    pub sub_base_url: Option<String>,
    /// The environment variable with the sub-model's key, when it differs.
    pub sub_api_key_env: Option<String>,
    /// Prices, dollars per million tokens: `{ "model" = [input, output] }`.
    #[serde(default)]
    pub prices: BTreeMap<String, [f64; 2]>,
    /// Timeout of one model request, in seconds.
    pub request_timeout_s: Option<u64>,
    /// Retries of a model request.
    pub max_retries: Option<u32>,
    /// The sub-model's window in characters.
    pub sub_context_chars: Option<usize>,
    /// Run limits (per-request overrides are clamped to these).
    #[serde(flatten)]
    pub limits: RunLimits,
}

fn default_provider() -> String {
    "openai".into()
}

/// Limits of a run; in a profile they are its settings, in a tenant its
/// ceilings, and in a request what it asks for (clamped to both).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RunLimits {
    /// Root iterations.
    pub max_iterations: Option<u32>,
    /// Iterations of each sub-RLM.
    pub child_max_iterations: Option<u32>,
    /// Sub-RLM levels.
    pub max_depth: Option<u32>,
    /// Model calls in flight in one run.
    pub max_concurrency: Option<usize>,
    /// Token budget of one run.
    pub max_tokens: Option<u64>,
    /// Cost budget of one run, in dollars.
    pub max_cost: Option<f64>,
    /// Wall-clock budget of one run, in seconds.
    pub timeout_s: Option<u64>,
    /// Wall-clock limit of one cell, in seconds.
    pub cell_timeout_s: Option<u64>,
    /// Sandbox memory cap, in MiB.
    pub memory_mb: Option<u64>,
    /// Fuel per cell.
    pub fuel: Option<u64>,
    /// Output cap per stream per cell, in bytes.
    pub max_output_bytes: Option<usize>,
    /// Host calls per cell.
    pub max_host_calls: Option<u32>,
    /// Value size cap, in bytes.
    pub max_value_bytes: Option<usize>,
}

impl RunLimits {
    /// These limits, taking `defaults`' value for every field they leave
    /// unset.
    pub fn filled(&self, defaults: &RunLimits) -> RunLimits {
        RunLimits {
            max_iterations: self.max_iterations.or(defaults.max_iterations),
            child_max_iterations: self.child_max_iterations.or(defaults.child_max_iterations),
            max_depth: self.max_depth.or(defaults.max_depth),
            max_concurrency: self.max_concurrency.or(defaults.max_concurrency),
            max_tokens: self.max_tokens.or(defaults.max_tokens),
            max_cost: self.max_cost.or(defaults.max_cost),
            timeout_s: self.timeout_s.or(defaults.timeout_s),
            cell_timeout_s: self.cell_timeout_s.or(defaults.cell_timeout_s),
            memory_mb: self.memory_mb.or(defaults.memory_mb),
            fuel: self.fuel.or(defaults.fuel),
            max_output_bytes: self.max_output_bytes.or(defaults.max_output_bytes),
            max_host_calls: self.max_host_calls.or(defaults.max_host_calls),
            max_value_bytes: self.max_value_bytes.or(defaults.max_value_bytes),
        }
    }

    /// The limits an engine configuration runs with.
    pub fn of_config(config: &rlm_engine::RlmConfig) -> RunLimits {
        let l = &config.limits;
        RunLimits {
            max_iterations: Some(config.max_iterations),
            child_max_iterations: Some(config.child_max_iterations),
            max_depth: Some(config.max_depth),
            max_concurrency: Some(config.max_concurrency),
            max_tokens: config.max_tokens,
            max_cost: config.max_cost,
            timeout_s: config.max_wall_time.map(|t| t.as_secs().max(1)),
            cell_timeout_s: Some(l.timeout.as_secs().max(1)),
            memory_mb: Some((l.memory_bytes >> 20) as u64),
            fuel: l.fuel,
            max_output_bytes: Some(l.max_output_bytes),
            max_host_calls: Some(l.max_host_calls),
            max_value_bytes: Some(l.max_value_bytes),
        }
    }

    /// These limits with every field of `ceiling` as an upper bound (and
    /// taking the ceiling's value where this one has none).
    pub fn clamped(&self, ceiling: &RunLimits) -> RunLimits {
        fn min<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(if a < b { a } else { b }),
                (a, b) => a.or(b),
            }
        }
        RunLimits {
            max_iterations: min(self.max_iterations, ceiling.max_iterations),
            child_max_iterations: min(self.child_max_iterations, ceiling.child_max_iterations),
            max_depth: min(self.max_depth, ceiling.max_depth),
            max_concurrency: min(self.max_concurrency, ceiling.max_concurrency),
            max_tokens: min(self.max_tokens, ceiling.max_tokens),
            max_cost: min(self.max_cost, ceiling.max_cost),
            timeout_s: min(self.timeout_s, ceiling.timeout_s),
            cell_timeout_s: min(self.cell_timeout_s, ceiling.cell_timeout_s),
            memory_mb: min(self.memory_mb, ceiling.memory_mb),
            fuel: min(self.fuel, ceiling.fuel),
            max_output_bytes: min(self.max_output_bytes, ceiling.max_output_bytes),
            max_host_calls: min(self.max_host_calls, ceiling.max_host_calls),
            max_value_bytes: min(self.max_value_bytes, ceiling.max_value_bytes),
        }
    }
}

/// A tenant: its keys and ceilings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Tenant {
    /// Its name (in logs, metrics and the ledger).
    pub name: String,
    /// SHA-256 (hex) of each of its API keys: the keys themselves are never
    /// stored. `printf %s "$KEY" | sha256sum` makes one.
    pub key_sha256: Vec<String>,
    /// The profiles it may use; all when empty.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Runs in flight at once.
    pub max_runs_in_flight: Option<usize>,
    /// Live sessions at once.
    pub max_live_sessions: Option<usize>,
    /// Requests per minute.
    pub requests_per_minute: Option<u32>,
    /// Tokens per UTC day, every model and depth.
    pub tokens_per_day: Option<u64>,
    /// Dollars per UTC day.
    pub dollars_per_day: Option<f64>,
    /// Bytes of context in one request.
    pub max_context_bytes: Option<usize>,
    /// Sandboxes alive at once across its runs and sessions.
    pub max_sandboxes: Option<usize>,
    /// Linear memory of all its sandboxes together, in MiB.
    pub max_sandbox_memory_mb: Option<usize>,
    /// How long a run waits for a sandbox when the tenant has all it may
    /// have, in seconds (default 30), before the cell fails.
    pub sandbox_wait_s: Option<u64>,
    /// Ceilings on the run limits a request may ask for.
    #[serde(flatten)]
    pub ceilings: RunLimits,
}

/// What the flags and environment variables set, over the file.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Overrides {
    /// `--listen` / `$RLM_SERVE_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `--database-url` / `$RLM_DATABASE_URL`.
    pub database_url: Option<String>,
    /// `--replica` / `$RLM_SERVE_REPLICA`.
    pub replica: Option<String>,
    /// `--body-limit-bytes`.
    pub body_limit_bytes: Option<usize>,
    /// `--header-timeout-s`.
    pub header_timeout_s: Option<u64>,
    /// `--body-timeout-s`.
    pub body_timeout_s: Option<u64>,
    /// `--shutdown-grace-s`.
    pub shutdown_grace_s: Option<u64>,
    /// `--session-ttl-s`.
    pub session_ttl_s: Option<u64>,
    /// `--max-runs-in-flight`.
    pub max_runs_in_flight: Option<usize>,
    /// `--keep-alive-s`.
    pub keep_alive_s: Option<u64>,
    /// `--run-timeout-s`.
    pub run_timeout_s: Option<u64>,
    /// `--max-sandboxes`.
    pub max_sandboxes: Option<usize>,
    /// `--max-sandbox-memory-mb`.
    pub max_sandbox_memory_mb: Option<usize>,
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// Dev mode: the profile's model (`--model` / `$RLM_MODEL`).
    pub dev_model: Option<String>,
    /// Dev mode: its provider.
    pub dev_provider: Option<String>,
    /// Dev mode: its base URL.
    pub dev_base_url: Option<String>,
    /// Dev mode: the key to accept instead of a generated one
    /// (`--dev-key` / `$RLM_SERVE_DEV_KEY`).
    pub dev_key: Option<String>,
}

/// The file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    replica: Option<String>,
    body_limit_bytes: Option<usize>,
    header_timeout_s: Option<u64>,
    body_timeout_s: Option<u64>,
    shutdown_grace_s: Option<u64>,
    session_ttl_s: Option<u64>,
    max_runs_in_flight: Option<usize>,
    keep_alive_s: Option<u64>,
    run_timeout_s: Option<u64>,
    max_sandboxes: Option<usize>,
    max_sandbox_memory_mb: Option<usize>,
    max_connections: Option<usize>,
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
    #[serde(default)]
    tenants: Vec<Tenant>,
}

impl ServeConfig {
    /// Reads `path` (if given) and applies `overrides`. Without tenants, it
    /// is dev mode: one tenant `dev` with one key (generated unless given),
    /// and a `default` profile from the dev flags.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<ServeConfig, ConfigError> {
        let file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                toml::from_str::<File>(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source })?
            }
            None => File::default(),
        };
        let secs = Duration::from_secs;
        let o = overrides;
        let mut profiles = file.profiles;
        for (name, profile) in &mut profiles {
            profile.name.clone_from(name);
        }
        let mut tenants = file.tenants;
        let mut dev_key = None;
        if tenants.is_empty() {
            let key = o.dev_key.clone().unwrap_or_else(generate_key);
            tenants.push(Tenant {
                name: "dev".into(),
                key_sha256: vec![key_hash(&key)],
                profiles: Vec::new(),
                max_runs_in_flight: None,
                max_live_sessions: None,
                requests_per_minute: None,
                tokens_per_day: None,
                dollars_per_day: None,
                max_context_bytes: None,
                max_sandboxes: None,
                max_sandbox_memory_mb: None,
                sandbox_wait_s: None,
                ceilings: RunLimits::default(),
            });
            dev_key = Some(key);
        }
        if profiles.is_empty() || o.dev_model.is_some() {
            let model = o
                .dev_model
                .clone()
                .or_else(|| std::env::var(rlm_core::env::MODEL).ok().filter(|m| !m.is_empty()))
                .unwrap_or_else(|| "gpt-4o-mini".into());
            profiles.insert(
                "default".into(),
                Profile {
                    name: "default".into(),
                    model,
                    sub_model: None,
                    provider: o.dev_provider.clone().unwrap_or_else(default_provider),
                    base_url: o.dev_base_url.clone(),
                    api_key_env: None,
                    sub_provider: None,
                    sub_base_url: None,
                    sub_api_key_env: None,
                    prices: BTreeMap::new(),
                    request_timeout_s: None,
                    max_retries: None,
                    sub_context_chars: None,
                    limits: RunLimits::default(),
                },
            );
        }
        let config = ServeConfig {
            listen: o.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a valid address")),
            database_url: o.database_url.or(file.database_url).unwrap_or_else(default_database_url),
            replica: o.replica.or(file.replica).unwrap_or_else(|| "local".into()),
            body_limit_bytes: o.body_limit_bytes.or(file.body_limit_bytes).unwrap_or(DEFAULT_BODY_LIMIT_BYTES),
            header_timeout: o.header_timeout_s.or(file.header_timeout_s).map_or(DEFAULT_HEADER_TIMEOUT, secs),
            body_timeout: o.body_timeout_s.or(file.body_timeout_s).map_or(DEFAULT_BODY_TIMEOUT, secs),
            shutdown_grace: o.shutdown_grace_s.or(file.shutdown_grace_s).map_or(DEFAULT_SHUTDOWN_GRACE, secs),
            session_ttl: o.session_ttl_s.or(file.session_ttl_s).map_or(DEFAULT_SESSION_TTL, secs),
            max_runs_in_flight: o.max_runs_in_flight.or(file.max_runs_in_flight).unwrap_or(DEFAULT_MAX_RUNS_IN_FLIGHT),
            keep_alive: o.keep_alive_s.or(file.keep_alive_s).map_or(DEFAULT_KEEP_ALIVE, secs),
            run_timeout: o.run_timeout_s.or(file.run_timeout_s).map_or(DEFAULT_RUN_TIMEOUT, secs),
            max_sandboxes: o.max_sandboxes.or(file.max_sandboxes).unwrap_or(DEFAULT_MAX_SANDBOXES),
            max_sandbox_memory_mb: o.max_sandbox_memory_mb.or(file.max_sandbox_memory_mb),
            max_connections: o.max_connections.or(file.max_connections).unwrap_or(DEFAULT_MAX_CONNECTIONS),
            default_profile: file.default_profile,
            profiles,
            tenants,
            dev_key,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |what: String| Err(ConfigError::Invalid(what));
        if self.max_runs_in_flight == 0 {
            return bad("max_runs_in_flight must be at least 1".into());
        }
        for (name, value) in [
            ("header_timeout_s", self.header_timeout),
            ("body_timeout_s", self.body_timeout),
            ("keep_alive_s", self.keep_alive),
            ("run_timeout_s", self.run_timeout),
            ("session_ttl_s", self.session_ttl),
        ] {
            if value.is_zero() {
                return bad(format!("{name} must be at least 1"));
            }
        }
        if self.body_limit_bytes < 1024 {
            return bad("body_limit_bytes must be at least 1024".into());
        }
        if self.max_sandboxes == 0 || self.max_connections == 0 {
            return bad("max_sandboxes and max_connections must be at least 1".into());
        }
        if self.max_sandbox_memory_mb.is_some_and(|mb| mb < 64) {
            return bad("max_sandbox_memory_mb must be at least 64".into());
        }
        let mut hashes: Vec<String> =
            self.tenants.iter().flat_map(|t| t.key_sha256.iter().map(|h| h.to_ascii_lowercase())).collect();
        hashes.sort_unstable();
        if hashes.windows(2).any(|w| w[0] == w[1]) {
            return bad("one key_sha256 is listed twice (a key must name one tenant)".into());
        }
        if let Some(name) = self.default_profile.as_ref().filter(|p| !self.profiles.contains_key(*p)) {
            return bad(format!("default_profile `{name}` is not configured"));
        }
        for tenant in &self.tenants {
            if tenant.key_sha256.is_empty() {
                return bad(format!("tenant {} has no key_sha256", tenant.name));
            }
            if let Some(hash) =
                tenant.key_sha256.iter().find(|h| h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return bad(format!("tenant {}: `{hash}` is not a SHA-256 in hex", tenant.name));
            }
            if tenant.max_sandbox_memory_mb.is_some_and(|mb| mb < 64) {
                return bad(format!("tenant {}: max_sandbox_memory_mb must be at least 64", tenant.name));
            }
            if let Some(profile) = tenant.profiles.iter().find(|p| !self.profiles.contains_key(*p)) {
                return bad(format!("tenant {} names profile `{profile}`, which is not configured", tenant.name));
            }
            if tenant.dollars_per_day.is_some() {
                let usable =
                    self.profiles.values().filter(|p| tenant.profiles.is_empty() || tenant.profiles.contains(&p.name));
                for profile in usable {
                    let models = std::iter::once(&profile.model).chain(profile.sub_model.as_ref());
                    if let Some(model) = models.into_iter().find(|m| !profile.prices.contains_key(*m)) {
                        return bad(format!(
                            "tenant {} has dollars_per_day, but profile {} has no price for `{model}`: add it to `prices`",
                            tenant.name, profile.name
                        ));
                    }
                }
            }
        }
        let mut names: Vec<&str> = self.tenants.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return bad("two tenants share a name".into());
        }
        for profile in self.profiles.values() {
            if !matches!(profile.provider.as_str(), "openai" | "anthropic") {
                return bad(format!("profile {}: provider must be openai or anthropic", profile.name));
            }
        }
        Ok(())
    }
}

/// `sqlite://` under `$XDG_DATA_HOME/rlm-sandbox`, else `~/.local/share/rlm-sandbox`.
fn default_database_url() -> String {
    use rlm_core::env;
    let dir = std::env::var_os(env::XDG_DATA_HOME)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(env::HOME).map(|h| PathBuf::from(h).join(".local").join("share")))
        .unwrap_or_else(|| PathBuf::from("."));
    format!("sqlite://{}", dir.join("rlm-sandbox").join("serve.db").display())
}

/// A fresh random API key.
pub fn generate_key() -> String {
    format!("rlm-dev-{}", random_hex(16))
}

/// `bytes` random bytes from the OS, in hex: keys and ids must not be
/// guessable.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS gives random bytes");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hex SHA-256 of a key, as tenants list them.
pub fn key_hash(key: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ServeConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(&path, text).unwrap();
        ServeConfig::load(Some(&path), Overrides::default())
    }

    const KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn a_misspelt_key_is_an_error_everywhere() {
        let profile = "[profiles.p]\nmodel = \"m\"\nmax_iteration = 3\n";
        let err = parse(profile).unwrap_err();
        assert!(format!("{:?}", err).contains("max_iteration"), "{err:?}");
        let tenant =
            format!("[profiles.p]\nmodel = \"m\"\n[[tenants]]\nname = \"a\"\nkey_sha256 = [\"{KEY}\"]\nmax_runs = 3\n");
        let err = parse(&tenant).unwrap_err();
        assert!(format!("{:?}", err).contains("max_runs"), "{err:?}");
        let top = "listn = \"127.0.0.1:1\"\n";
        assert!(format!("{:?}", parse(top).unwrap_err()).contains("listn"));
    }

    #[test]
    fn limits_in_profiles_and_tenants_are_read() {
        let text = format!(
            "[profiles.p]\nmodel = \"m\"\nmax_iterations = 3\n[[tenants]]\nname = \"a\"\nkey_sha256 = [\"{KEY}\"]\nmax_depth = 2\nmax_runs_in_flight = 4\n"
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.profiles["p"].limits.max_iterations, Some(3));
        assert_eq!(config.tenants[0].ceilings.max_depth, Some(2));
        assert_eq!(config.tenants[0].max_runs_in_flight, Some(4));
        assert!(config.dev_key.is_none());
    }

    #[test]
    fn one_key_for_two_tenants_is_refused() {
        let lower = "ab".repeat(32);
        let upper = lower.to_ascii_uppercase();
        let text = format!(
            "[profiles.p]\nmodel = \"m\"\n[[tenants]]\nname = \"a\"\nkey_sha256 = [\"{lower}\"]\n[[tenants]]\nname = \"b\"\nkey_sha256 = [\"{upper}\"]\n"
        );
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }

    #[test]
    fn a_dollar_budget_needs_prices_for_every_model_it_may_use() {
        let text = format!(
            "[profiles.p]\nmodel = \"m\"\n[[tenants]]\nname = \"a\"\nkey_sha256 = [\"{KEY}\"]\ndollars_per_day = 1.0\n"
        );
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("no price for `m`"), "{err}");
        let priced = text.replace("model = \"m\"\n", "model = \"m\"\nprices = { m = [1.0, 2.0] }\n");
        parse(&priced).unwrap();
    }

    #[test]
    fn nested_limits_refuse_a_misspelt_key() {
        let err = serde_json::from_str::<RunLimits>(r#"{"max_iteration": 3}"#).unwrap_err();
        assert!(err.to_string().contains("max_iteration"), "{err}");
    }

    #[test]
    fn clamping_takes_the_lower_value_and_fills_gaps() {
        let asked = RunLimits { max_iterations: Some(50), max_depth: Some(1), ..Default::default() };
        let ceiling = RunLimits { max_iterations: Some(10), max_tokens: Some(1000), ..Default::default() };
        let got = asked.clamped(&ceiling);
        assert_eq!((got.max_iterations, got.max_depth, got.max_tokens), (Some(10), Some(1), Some(1000)));
    }
}
