//! `host.fill-context`: the text of a context, written straight into the
//! `str` the guest made for it.
//!
//! Passing the text as a WIT `string` cost two copies and a decode: the
//! canonical ABI copied it into a guest buffer, then CPython decoded that
//! buffer, in wasm, into a second one. Instead the host measures the text
//! ([`TextShape`]), the guest makes a `str` of that length and width and
//! passes its address, and the host writes the characters there in CPython's
//! own layout (one, two or four bytes each). The address is the guest's word,
//! so it only ever picks where in the guest's own memory the host writes:
//! the range is bounds-checked against that memory, and a wrong address can
//! hurt nothing but the guest that gave it.

use rlm_core::Context;
use wasmtime::StoreContextMut;
use wasmtime::component::LinkerInstance;

use super::HostState;
use super::write::{GuestWrite, WriteGuest};

/// Length and widest character of a text, which decide the CPython `str`
/// it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TextShape {
    /// Code points.
    pub(crate) length: usize,
    /// The largest code point (0 for the empty text).
    pub(crate) max_char: u32,
}

impl TextShape {
    pub(crate) fn of(text: &str) -> TextShape {
        // One pass over the bytes (it vectorises) settles the common case: a
        // largest byte under 0x80 means ASCII, one code point per byte.
        let max_byte = text.bytes().fold(0, u8::max);
        if max_byte < 0x80 {
            return TextShape { length: text.len(), max_char: max_byte.into() };
        }
        let (length, max_char) = text.chars().fold((0, 0), |(n, max), c| (n + 1, max.max(c as u32)));
        TextShape { length, max_char }
    }

    /// Bytes per character in CPython's compact layout: 1 up to U+00FF, 2 up
    /// to U+FFFF, else 4.
    fn width(self) -> usize {
        match self.max_char {
            0..=0xFF => 1,
            0x100..=0xFFFF => 2,
            _ => 4,
        }
    }

    /// Bytes the characters take in the guest.
    pub(crate) fn bytes(self) -> usize {
        self.length * self.width()
    }
}

/// A context the host is loading, waiting for the guest's `fill-context`.
pub(crate) struct PendingText {
    pub(crate) context: Context,
    pub(crate) shape: TextShape,
}

pub(super) fn add_to_linker(instance: &mut LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    instance.func_wrap("fill-context", |mut store: StoreContextMut<'_, HostState>, (address,): (u32,)| {
        // Taken: a second call in the same load finds nothing to write.
        let pending = store.data_mut().pending_text.take();
        Ok((GuestWrite(Fill { address, pending }),))
    })
}

/// What `fill-context` writes.
struct Fill {
    address: u32,
    pending: Option<PendingText>,
}

impl WriteGuest for Fill {
    fn target(&self) -> Result<(u32, usize), String> {
        match &self.pending {
            Some(PendingText { shape, .. }) => Ok((self.address, shape.bytes())),
            None => Err("no context is being loaded, or it was already written".into()),
        }
    }

    fn fill(&self, dst: &mut [u8]) {
        let Some(PendingText { context, shape }) = &self.pending else { return };
        let text = context.as_prompt();
        match shape.width() {
            1 if shape.length == text.len() => dst.copy_from_slice(text.as_bytes()),
            1 => text.chars().zip(dst).for_each(|(c, d)| *d = c as u8),
            2 => text
                .chars()
                .zip(dst.chunks_exact_mut(2))
                .for_each(|(c, d)| d.copy_from_slice(&(c as u16).to_le_bytes())),
            _ => text
                .chars()
                .zip(dst.chunks_exact_mut(4))
                .for_each(|(c, d)| d.copy_from_slice(&(c as u32).to_le_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(text: &str, room: usize, address: u32) -> (Option<String>, Vec<u8>) {
        let shape = TextShape::of(text);
        let fill = GuestWrite(Fill { address, pending: Some(PendingText { context: Context::from(text), shape }) });
        let mut memory = vec![0xAA; room];
        (fill.write(&mut memory), memory)
    }

    #[test]
    fn shapes_pick_the_narrowest_width() {
        assert_eq!(TextShape::of(""), TextShape { length: 0, max_char: 0 });
        assert_eq!(TextShape::of("abc"), TextShape { length: 3, max_char: 'c' as u32 });
        assert_eq!(TextShape::of("aé").bytes(), 2);
        assert_eq!(TextShape::of("aĀ").bytes(), 4);
        assert_eq!(TextShape::of("a😀").bytes(), 8);
        assert_eq!(TextShape::of("a😀").length, 2);
    }

    #[test]
    fn the_text_is_written_in_cpythons_layout_and_nowhere_else() {
        let (refused, memory) = written("hi", 6, 2);
        assert_eq!((refused, memory), (None, vec![0xAA, 0xAA, b'h', b'i', 0xAA, 0xAA]));
        let (_, memory) = written("é!", 3, 1);
        assert_eq!(memory, [0xAA, 0xE9, b'!']);
        let (_, memory) = written("Ā.", 4, 0);
        assert_eq!(memory, [0x00, 0x01, b'.', 0]);
        let (_, memory) = written("😀", 4, 0);
        assert_eq!(memory, 0x1F600u32.to_le_bytes());
    }

    #[test]
    fn an_address_outside_guest_memory_is_refused_without_a_write() {
        for address in [5, 6, u32::MAX] {
            let (refused, memory) = written("hi", 6, address);
            assert!(refused.unwrap().contains("outside the guest's memory"));
            assert!(memory.iter().all(|&b| b == 0xAA));
        }
        let fill = GuestWrite(Fill { address: 0, pending: None });
        assert!(fill.write(&mut [0; 8]).unwrap().contains("no context is being loaded"));
    }
}
