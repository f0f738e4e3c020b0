//! Caps a sandbox's linear memory, and charges its growth to the run-wide
//! [`SandboxQuota`] when there is one.

use rlm_core::SandboxQuota;
use wasmtime::ResourceLimiter;

/// How many table elements one table may grow to.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// Refuses growth past the sandbox's cap or the quota's budget, and
/// remembers that it did, so the cell's error kind comes from this fact.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    cap: usize,
    quota: Option<SandboxQuota>,
    /// Memory charged to the quota, in use.
    charged: usize,
    /// Memory reserved in the quota before the sandbox started, for its
    /// first growths.
    prepaid: usize,
    /// A growth was refused during the current guest call.
    pub(crate) denied: bool,
    /// It was refused by the quota rather than by the sandbox's own cap.
    pub(crate) quota_denied: bool,
}

impl MemoryLimiter {
    /// A limiter at `cap`, charging `quota`, where `prepaid` bytes are
    /// already reserved.
    pub(crate) fn new(cap: usize, quota: Option<SandboxQuota>, prepaid: usize) -> Self {
        MemoryLimiter { cap, quota, charged: 0, prepaid, denied: false, quota_denied: false }
    }

    /// Memory charged to the quota so far.
    pub(crate) fn charged(&self) -> usize {
        self.charged
    }

    pub(crate) fn reset_facts(&mut self) {
        self.denied = false;
        self.quota_denied = false;
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.cap || maximum.is_some_and(|max| desired > max) {
            self.denied = true;
            return Ok(false);
        }
        let delta = desired.saturating_sub(current);
        if let Some(quota) = &self.quota {
            let prepaid = delta.min(self.prepaid);
            if !quota.try_grow(delta - prepaid) {
                self.denied = true;
                self.quota_denied = true;
                return Ok(false);
            }
            self.prepaid -= prepaid;
            self.charged += delta;
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        if let Some(quota) = &self.quota {
            quota.release(self.charged + self.prepaid);
        }
    }
}
