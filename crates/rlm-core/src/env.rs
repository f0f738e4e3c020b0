//! Every environment variable the project reads, in one place.

/// Overrides the directory that caches compiled guests.
pub const CACHE_DIR: &str = "RLM_SANDBOX_CACHE_DIR";
/// The XDG cache directory, used when [`CACHE_DIR`] is unset.
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
/// The XDG data directory (the service's default database lives under it).
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
/// The home directory, the last fallback for caches and data.
pub const HOME: &str = "HOME";
/// The root model of `rlm-sandbox run`, when `--model` is not given.
pub const MODEL: &str = "RLM_MODEL";
/// The key of OpenAI-compatible endpoints, when `--api-key` is not given.
pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
/// The key of the Anthropic API, when `--api-key` is not given.
pub const ANTHROPIC_API_KEY: &str = "ANTHROPIC_API_KEY";
/// The endpoint of the examples, when `--base-url` is not given.
pub const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
/// Where `rlm-bench` finds the build's target directory (set by cargo).
pub const CARGO_TARGET_DIR: &str = "CARGO_TARGET_DIR";
/// Log filter for `tracing` (overrides `-v`).
pub const RUST_LOG: &str = "RUST_LOG";
/// The Python used to build the guest (build time only).
pub const SANDBOX_PYTHON: &str = "RLM_SANDBOX_PYTHON";
/// Disables colour in terminal output (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// `rlm-sandbox serve --config`.
pub const SERVE_CONFIG: &str = "RLM_SERVE_CONFIG";
/// `rlm-sandbox serve --listen`.
pub const SERVE_LISTEN: &str = "RLM_SERVE_LISTEN";
/// `rlm-sandbox serve --database-url`.
pub const DATABASE_URL: &str = "RLM_DATABASE_URL";
/// `rlm-sandbox serve --replica`.
pub const SERVE_REPLICA: &str = "RLM_SERVE_REPLICA";
/// `rlm-sandbox serve --dev-key`.
pub const SERVE_DEV_KEY: &str = "RLM_SERVE_DEV_KEY";

// Read by tests only.

/// Set to `1` to skip the PostgreSQL tests, as on a machine without its
/// server binaries. Without it, missing binaries fail the tests.
pub const SKIP_POSTGRES_TESTS: &str = "RLM_SKIP_POSTGRES_TESTS";
/// Where the official `rlms` visualizer's source is, for the test that
/// loads our logs in it (default: `../shared/rlms-visualizer`).
pub const RLMS_VISUALIZER_DIR: &str = "RLMS_VISUALIZER_DIR";
/// Set to `1` to skip that test where the visualizer's source is missing.
pub const SKIP_VISUALIZER_TESTS: &str = "RLM_SKIP_VISUALIZER_TESTS";
