//! Host bindings generated from `wasm/wit/sandbox.wit`.
//!
//! The `repl` export is called through these bindings. The `host` import is
//! not linked through them: its functions take guest data as `list<u8>`, and
//! the generated trait would copy such a list before the host could look at
//! its length. `host/` defines them on the linker by hand, reading each list
//! in place with [`wasmtime::component::WasmList`]; only the small types
//! (enums, the call-error variant) come from here.

wasmtime::component::bindgen!({
    world: "sandbox",
    path: "../../wasm/wit",
    imports: { default: async },
    exports: { default: async },
});

pub(crate) use exports::rlm::sandbox::repl;
pub(crate) use rlm::sandbox::host;

/// The name of the `host` interface instance in the linker.
pub(crate) const HOST_INTERFACE: &str = "rlm:sandbox/host@0.2.0";
