//! Host bindings generated from `wasm/wit/sandbox.wit`.
//!
//! Imports and exports are async, so a guest waiting on a model call holds
//! no OS thread.

wasmtime::component::bindgen!({
    world: "sandbox",
    path: "../../wasm/wit",
    imports: { default: async },
    exports: { default: async },
});

pub(crate) use exports::rlm::sandbox::repl;
pub(crate) use rlm::sandbox::{control, subcalls};
