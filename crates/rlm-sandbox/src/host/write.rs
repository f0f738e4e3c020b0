//! Host imports that write into the guest's own memory, at an address the
//! guest gives: the lowering of their result does the write.
//!
//! A host function may not hold guest memory while it runs; lowering its
//! result is the one step of a host call that writes guest memory, with the
//! memory as a bounds-checked slice. [`GuestWrite`] makes a write part of
//! lowering an `option<string>` result: nothing when written, else why not.
//! It checks the range against the guest's memory itself, so no import can
//! forget to.

use std::mem::MaybeUninit;

use wasmtime::Result as WasmResult;
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LowerContext};
use wasmtime::component::{ComponentType, Lower};

/// A write into guest memory that a host import performs.
pub(super) trait WriteGuest {
    /// The guest address and the number of bytes to write there, or why
    /// nothing is written.
    fn target(&self) -> Result<(u32, usize), String>;

    /// Fills `dst`: exactly the range `target` named, checked to lie inside
    /// the guest's memory.
    fn fill(&self, dst: &mut [u8]);
}

/// The result of a writing import: `option<string>` to the guest, written
/// as it is lowered.
pub(super) struct GuestWrite<W>(pub(super) W);

impl<W: WriteGuest> GuestWrite<W> {
    /// Writes into `memory` (all of the guest's linear memory); returns why
    /// it did not. A range not wholly inside `memory` is refused, not
    /// clipped, and nothing is written.
    pub(super) fn write(&self, memory: &mut [u8]) -> Option<String> {
        let (address, len) = match self.0.target() {
            Ok(target) => target,
            Err(why) => return Some(why),
        };
        let start = address as usize;
        let Some(dst) = start.checked_add(len).and_then(|end| memory.get_mut(start..end)) else {
            return Some(format!("{len} bytes at {start} are outside the guest's memory"));
        };
        self.0.fill(dst);
        None
    }
}

// The lowering traits are wasmtime's hidden API (what its derive macros
// implement); the vendored wasmtime pins it.
//
// SAFETY: the lowered representation, ABI and type check are those of
// `Option<String>`, whose implementation the methods below delegate to.
#[allow(unsafe_code)]
unsafe impl<W: WriteGuest + Send + Sync> ComponentType for GuestWrite<W> {
    type Lower = <Option<String> as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = <Option<String> as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> WasmResult<()> {
        <Option<String> as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: lowering writes through the bounds-checked memory slice, then
// lowers the outcome with `Option<String>`'s own implementation.
#[allow(unsafe_code)]
unsafe impl<W: WriteGuest + Send + Sync> Lower for GuestWrite<W> {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        dst: &mut MaybeUninit<Self::Lower>,
    ) -> WasmResult<()> {
        self.write(cx.as_slice_mut()).linear_lower_to_flat(cx, ty, dst)
    }

    fn linear_lower_to_memory<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        offset: usize,
    ) -> WasmResult<()> {
        self.write(cx.as_slice_mut()).linear_lower_to_memory(cx, ty, offset)
    }
}
