//! rlm-sandbox patch: learning which pages of its linear memories a store
//! writes, to fault them in writable at once in a fresh pool slot.

use crate::prelude::*;
use crate::runtime::vm::{MemoryImage, PageKind};
use crate::store::{AsContext, AsContextMut};
use alloc::sync::Arc;
use core::ops::Range;

/// The runs of pages each copy-on-write linear memory of a store had
/// written when [`WrittenPages::of`] looked, keyed by the memory's image.
///
/// Recorded from a store that ran a typical workload, it lets
/// [`WrittenPages::prefault`] make those pages private and writable in a
/// later store whose pool slot was just mapped: one `madvise` per run
/// instead of a read fault and then a copy-on-write fault per page, which
/// on a multi-threaded host flushes the page from every core's TLB.
/// Nothing of what the pages held is kept, only where they are.
#[derive(Clone, Default)]
pub struct WrittenPages {
    memories: Vec<(Arc<MemoryImage>, Vec<Range<usize>>)>,
}

impl core::fmt::Debug for WrittenPages {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WrittenPages")
            .field("memories", &self.memories.len())
            .field("runs", &self.runs())
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl WrittenPages {
    /// The pages `store`'s memories have written so far (empty without
    /// Linux's `PAGEMAP_SCAN`, or for memories without an image).
    pub fn of(store: impl AsContext) -> WrittenPages {
        let store = store.as_context().0;
        let memories = store
            .memory_image_slots()
            .filter_map(|slot| Some((slot.image()?.clone(), slot.page_runs(PageKind::Written)?)))
            .collect();
        WrittenPages { memories }
    }

    /// The pages written here and not in `earlier` (for the same images).
    pub fn without(&self, earlier: &WrittenPages) -> WrittenPages {
        let memories = self
            .memories
            .iter()
            .map(|(image, runs)| {
                let before = earlier.runs_of(image).unwrap_or_default();
                (image.clone(), subtract(runs, before))
            })
            .collect();
        WrittenPages { memories }
    }

    /// The pages written both here and in `other` (for the same images).
    pub fn and(&self, other: &WrittenPages) -> WrittenPages {
        let memories = self
            .memories
            .iter()
            .filter_map(|(image, runs)| {
                Some((image.clone(), intersect(runs, other.runs_of(image)?)))
            })
            .collect();
        WrittenPages { memories }
    }

    /// The runs recorded for the memory holding `image`.
    fn runs_of(&self, image: &Arc<MemoryImage>) -> Option<&[Range<usize>]> {
        let (_, runs) = self
            .memories
            .iter()
            .find(|(other, _)| Arc::ptr_eq(image, other))?;
        Some(runs)
    }

    /// The bytes these runs cover.
    pub fn bytes(&self) -> usize {
        self.memories
            .iter()
            .flat_map(|(_, runs)| runs)
            .map(|run| run.len())
            .sum()
    }

    /// The number of runs (one `madvise` each in [`WrittenPages::prefault`]).
    pub fn runs(&self) -> usize {
        self.memories.iter().map(|(_, runs)| runs.len()).sum()
    }

    /// Faults these pages in writable in each memory of `store` that holds
    /// the same image and whose pool slot was mapped afresh for it; a slot
    /// that held this image before keeps the pages its last instance wrote,
    /// so it is left alone. Those of the pages already mapped read-only to
    /// the image (or, outside it, to the zero page) are unmapped first. The
    /// guest sees the same bytes before and after. Returns the bytes
    /// faulted in.
    pub fn prefault(&self, mut store: impl AsContextMut) -> usize {
        let store = store.as_context_mut().0;
        let mut bytes = 0;
        for slot in store.memory_image_slots() {
            let Some(image) = slot.image().filter(|_| slot.is_fresh()) else {
                continue;
            };
            if let Some(runs) = self.runs_of(image) {
                // SAFETY: the store is borrowed exclusively here, so no
                // guest code runs on this memory meanwhile.
                bytes += unsafe { slot.prefault(runs) };
            }
        }
        bytes
    }
}

/// The pages in both `a` and `b`; both sorted and disjoint.
pub(crate) fn intersect(a: &[Range<usize>], b: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(start..end);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// `runs` less `minus`; both sorted and disjoint.
pub(crate) fn subtract(runs: &[Range<usize>], minus: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut cut = minus.iter().peekable();
    for run in runs {
        let mut start = run.start;
        while start < run.end {
            // Skip what ends before this piece.
            while cut.peek().is_some_and(|c| c.end <= start) {
                cut.next();
            }
            match cut.peek() {
                Some(c) if c.start < run.end => {
                    if c.start > start {
                        out.push(start..c.start);
                    }
                    start = c.end.max(start);
                }
                _ => {
                    out.push(start..run.end);
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{intersect, subtract};

    #[test]
    fn subtract_runs() {
        assert_eq!(subtract(&[0..10], &[]), vec![0..10]);
        assert_eq!(subtract(&[0..10], &[0..10]), vec![]);
        assert_eq!(subtract(&[0..10], &[2..4, 6..8]), vec![0..2, 4..6, 8..10]);
        assert_eq!(subtract(&[0..4, 6..10], &[3..7]), vec![0..3, 7..10]);
        assert_eq!(subtract(&[5..6], &[0..2, 9..12]), vec![5..6]);
        assert_eq!(subtract(&[0..2, 4..6], &[1..5]), vec![0..1, 5..6]);
    }

    #[test]
    fn intersect_runs() {
        assert_eq!(intersect(&[0..10], &[]), vec![]);
        assert_eq!(intersect(&[0..10], &[2..4, 6..12]), vec![2..4, 6..10]);
        assert_eq!(intersect(&[0..4, 6..10], &[3..7]), vec![3..4, 6..7]);
        assert_eq!(intersect(&[0..2, 5..6], &[2..5]), vec![]);
    }
}
