//! Integration tests of the sandbox runtime through its library API.
//!
//! Every test makes its own fresh sandbox from one shared runtime.

/// Cells that try to escape or subvert the sandbox.
mod hostile;
/// The vendored wasmtime's lazily applied element segments, on small modules.
mod lazy_tables;
/// Each limit, and that the next cell still runs after it.
mod limits;
/// The standard-library modules baked into the guest.
mod modules;
/// The vendored wasmtime's pages faulted in ahead, on a small module.
mod prefault;
/// REPL semantics: persistence, isolation, output, errors, contexts, FINAL.
mod repl;
/// `llm_query`, `rlm_query`, their batched and async forms, tools.
mod subcalls;
/// The guest is untrusted in everything it reports: one test per class of
/// the hostile-guest review.
mod untrusted;
