//! Environment variables the sandbox runtime reads.

/// Overrides the directory that caches compiled guests.
pub const CACHE_DIR: &str = "RLM_SANDBOX_CACHE_DIR";
