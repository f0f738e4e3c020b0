//! Run-wide caps on sandboxes: how many may be alive at once and how much
//! linear memory they may hold together.
//!
//! A sandbox's own [`Limits`](crate::Limits) bound one instance; a fan-out of
//! sub-RLMs multiplies them. A [`SandboxQuota`] bounds the product: each new
//! sandbox takes a live slot (waiting, bounded, when none is free) and every
//! growth of its memory is charged against the shared memory budget, refused
//! (a `MemoryError` in the guest) when the budget is spent. Clone it to share
//! it between runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::repl::ReplError;

/// Default live sandboxes per run.
pub const DEFAULT_MAX_LIVE_SANDBOXES: usize = 256;
/// Default wait for a free slot before a new sandbox fails.
pub const DEFAULT_QUOTA_WAIT: Duration = Duration::from_secs(60);

/// Caps shared by every sandbox that counts against it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SandboxQuota {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    live: Arc<Semaphore>,
    max_live: usize,
    max_memory: usize,
    memory: AtomicUsize,
    wait_ms: AtomicU64,
    /// Woken whenever memory is given back here or below (every release
    /// reaches the top quota), for [`SandboxQuota::reserve`].
    freed: Notify,
    /// A quota this one counts against too (a service's, above a tenant's).
    parent: Option<SandboxQuota>,
}

impl SandboxQuota {
    /// At most `max_live` sandboxes alive at once, holding at most
    /// `max_memory_bytes` of linear memory together.
    pub fn new(max_live: usize, max_memory_bytes: usize) -> Self {
        SandboxQuota {
            inner: Arc::new(Inner {
                live: Arc::new(Semaphore::new(max_live.max(1))),
                max_live: max_live.max(1),
                max_memory: max_memory_bytes,
                memory: AtomicUsize::new(0),
                wait_ms: AtomicU64::new(DEFAULT_QUOTA_WAIT.as_millis() as u64),
                freed: Notify::new(),
                parent: None,
            }),
        }
    }

    /// At most `max_live` sandboxes holding at most `max_memory_bytes`, and
    /// every one of them also counted against `parent`: a tenant's quota
    /// inside a service's, so that tenants together cannot pass the
    /// service's caps.
    pub fn within(parent: &SandboxQuota, max_live: usize, max_memory_bytes: usize) -> Self {
        let quota = SandboxQuota::new(max_live, max_memory_bytes);
        let mut inner = Arc::into_inner(quota.inner).expect("just made");
        inner.parent = Some(parent.clone());
        SandboxQuota { inner: Arc::new(inner) }
    }

    /// The defaults: [`DEFAULT_MAX_LIVE_SANDBOXES`] and half of the machine's
    /// physical memory, or of the process's cgroup limit where that is lower
    /// (8 GiB where neither can be read).
    pub fn for_machine() -> Self {
        SandboxQuota::new(DEFAULT_MAX_LIVE_SANDBOXES, default_memory_budget())
    }

    /// How long a new sandbox waits for a live slot. By default,
    /// [`DEFAULT_QUOTA_WAIT`]. Applies to every clone.
    pub fn with_wait(self, wait: Duration) -> Self {
        self.inner.wait_ms.store(wait.as_millis().try_into().unwrap_or(u64::MAX), Ordering::Relaxed);
        self
    }

    /// The cap on live sandboxes.
    pub fn max_live(&self) -> usize {
        self.inner.max_live
    }

    /// The cap on their memory, in bytes.
    pub fn max_memory(&self) -> usize {
        self.inner.max_memory
    }

    /// Sandboxes alive now.
    pub fn live(&self) -> usize {
        self.inner.max_live - self.inner.live.available_permits()
    }

    /// Bytes of linear memory held now.
    pub fn memory_used(&self) -> usize {
        self.inner.memory.load(Ordering::Relaxed)
    }

    /// Takes a live slot (and one of the parent's), waiting for them up to
    /// this quota's wait, in all.
    pub async fn acquire(&self) -> Result<LivePermit, ReplError> {
        let wait = Duration::from_millis(self.inner.wait_ms.load(Ordering::Relaxed));
        self.acquire_until(tokio::time::Instant::now() + wait, wait).await
    }

    async fn acquire_until(&self, deadline: tokio::time::Instant, wait: Duration) -> Result<LivePermit, ReplError> {
        let own = match tokio::time::timeout_at(deadline, self.inner.live.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(ReplError::Capacity { waited: wait, what: "the cap on live sandboxes" }),
        };
        let parent = match &self.inner.parent {
            Some(parent) => Some(Box::new(Box::pin(parent.acquire_until(deadline, wait)).await?)),
            None => None,
        };
        Ok(LivePermit { _permit: own, _parent: parent })
    }

    /// Charges `bytes` of memory (to the parent too), waiting up to the
    /// quota's wait for other sandboxes to give memory back: what a new
    /// sandbox needs to start, so that a full quota delays a start instead
    /// of failing it.
    pub async fn reserve(&self, bytes: usize) -> Result<(), ReplError> {
        let wait = Duration::from_millis(self.inner.wait_ms.load(Ordering::Relaxed));
        let deadline = tokio::time::Instant::now() + wait;
        let mut top = self;
        while let Some(parent) = &top.inner.parent {
            top = parent;
        }
        loop {
            let freed = top.inner.freed.notified();
            tokio::pin!(freed);
            // Registered before the attempt, so a release between the two
            // is not missed.
            freed.as_mut().enable();
            if self.try_grow(bytes) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(ReplError::Capacity { waited: wait, what: "the cap on sandbox memory" });
            }
        }
    }

    /// Charges `bytes` more memory (to the parent too); `false` (and
    /// nothing charged) when that would pass either budget.
    pub fn try_grow(&self, bytes: usize) -> bool {
        let max = self.inner.max_memory;
        let charged = self
            .inner
            .memory
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| used.checked_add(bytes).filter(|&n| n <= max))
            .is_ok();
        if charged
            && let Some(parent) = &self.inner.parent
            && !parent.try_grow(bytes)
        {
            self.inner.memory.fetch_sub(bytes, Ordering::AcqRel);
            return false;
        }
        charged
    }

    /// Gives back `bytes` of memory (to the parent too).
    pub fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.inner.memory.fetch_sub(bytes, Ordering::AcqRel);
        match &self.inner.parent {
            Some(parent) => parent.release(bytes),
            None => self.inner.freed.notify_waiters(),
        }
    }
}

/// A live sandbox's slot (and its parent quota's); freed when dropped.
#[derive(Debug)]
pub struct LivePermit {
    _permit: OwnedSemaphorePermit,
    _parent: Option<Box<LivePermit>>,
}

fn default_memory_budget() -> usize {
    const FALLBACK: usize = 8 << 30;
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    });
    // In a container, the cgroup's limit is the machine that matters.
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| cgroup_memory_limit(&text, |path| std::fs::read_to_string(path).ok()));
    let usable = match (total, cgroup) {
        (Some(t), Some(c)) => Some(t.min(c)),
        (t, c) => t.or(c),
    };
    usable.map_or(FALLBACK, |bytes| bytes / 2)
}

/// The memory limit of the cgroup that `proc_self_cgroup` (the text of
/// `/proc/self/cgroup`) names, v2 or v1, read with `read`; `None` when
/// there is none (`max`, or v1's "unlimited" near `i64::MAX`).
fn cgroup_memory_limit(proc_self_cgroup: &str, read: impl Fn(&str) -> Option<String>) -> Option<usize> {
    let mut files = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        // A limit set on any ancestor (a slice, a pod) binds too.
        let (root, file) = if controllers.is_empty() {
            ("/sys/fs/cgroup", "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")
        } else {
            continue;
        };
        let mut dir = path.trim_end_matches('/');
        loop {
            files.push(format!("{root}{dir}/{file}"));
            match dir.rfind('/') {
                Some(cut) => dir = &dir[..cut],
                None => break,
            }
        }
    }
    files
        .iter()
        .filter_map(|f| read(f)?.trim().parse::<u64>().ok())
        .filter(|&bytes| bytes < 1 << 60)
        .min()
        .and_then(|bytes| usize::try_from(bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup_memory_limit_is_read_for_v2_and_v1() {
        let files = |path: &str| match path {
            "/sys/fs/cgroup/app/memory.max" => Some("2147483648\n".to_owned()),
            "/sys/fs/cgroup/memory/job/memory.limit_in_bytes" => Some("1073741824\n".to_owned()),
            "/sys/fs/cgroup/memory/memory.limit_in_bytes" => Some("9223372036854771712\n".to_owned()),
            "/sys/fs/cgroup/memory.max" => Some("max\n".to_owned()),
            _ => None,
        };
        assert_eq!(cgroup_memory_limit("0::/app\n", files), Some(2 << 30));
        assert_eq!(cgroup_memory_limit("0::/app/worker/task\n", files), Some(2 << 30), "an ancestor's limit");
        assert_eq!(cgroup_memory_limit("4:memory:/job\n3:cpu:/\n", files), Some(1 << 30));
        assert_eq!(cgroup_memory_limit("4:memory:/\n", files), None, "v1 unlimited");
        assert_eq!(cgroup_memory_limit("0::/\n", files), None, "v2 max");
    }

    #[tokio::test]
    async fn a_quota_within_another_counts_against_both() {
        let service = SandboxQuota::new(2, 100).with_wait(Duration::from_millis(10));
        let a = SandboxQuota::within(&service, 2, 80).with_wait(Duration::from_millis(10));
        let b = SandboxQuota::within(&service, 2, 80).with_wait(Duration::from_millis(10));
        let _one = a.acquire().await.unwrap();
        let _two = b.acquire().await.unwrap();
        assert!(b.acquire().await.is_err(), "the service has no third slot");
        assert_eq!((service.live(), a.live(), b.live()), (2, 1, 1));
        assert!(a.try_grow(70));
        assert!(!b.try_grow(40), "the service's memory is spent");
        assert_eq!(b.memory_used(), 0, "nothing charged on refusal");
        assert!(b.try_grow(30));
        a.release(70);
        assert_eq!(service.memory_used(), 30);
        drop(_one);
        assert_eq!(service.live(), 1);
    }

    #[tokio::test]
    async fn a_reservation_waits_for_memory_given_back_anywhere_below_the_top() {
        let service = SandboxQuota::new(4, 100).with_wait(Duration::from_secs(5));
        let a = SandboxQuota::within(&service, 4, 100).with_wait(Duration::from_secs(5));
        let b = SandboxQuota::within(&service, 4, 100).with_wait(Duration::from_millis(50));
        a.reserve(80).await.unwrap();
        assert!(matches!(b.reserve(40).await, Err(ReplError::Capacity { .. })), "times out");
        let b = b.with_wait(Duration::from_secs(5));
        let waiting = tokio::spawn({
            let b = b.clone();
            async move { b.reserve(40).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        a.release(80);
        waiting.await.unwrap().unwrap();
        assert_eq!((service.memory_used(), b.memory_used()), (40, 40));
    }

    #[tokio::test]
    async fn slots_and_memory_are_bounded() {
        let quota = SandboxQuota::new(1, 100).with_wait(Duration::from_millis(20));
        let first = quota.acquire().await.unwrap();
        assert_eq!(quota.live(), 1);
        assert!(matches!(quota.acquire().await, Err(ReplError::Capacity { .. })));
        drop(first);
        let _again = quota.acquire().await.unwrap();
        assert!(quota.try_grow(60));
        assert!(!quota.try_grow(50));
        assert_eq!(quota.memory_used(), 60);
        quota.release(60);
        assert!(quota.try_grow(100));
    }
}
