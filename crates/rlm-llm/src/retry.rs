//! How failed calls are retried.

use std::time::Duration;

/// Default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 4;
/// Default delay before the first retry; it doubles with each retry.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Default cap on any single delay, including one asked for by `Retry-After`.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Exponential backoff with jitter, bounded in tries and in delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt. By default, [`DEFAULT_MAX_RETRIES`].
    pub max_retries: u32,
    /// Delay before the first retry. By default, [`DEFAULT_INITIAL_BACKOFF`].
    pub initial_backoff: Duration,
    /// Cap on any one delay. By default, [`DEFAULT_MAX_BACKOFF`].
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: DEFAULT_MAX_RETRIES,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

impl RetryPolicy {
    /// `max_retries` retries, the first after `initial_backoff`, none more
    /// than `max_backoff` apart.
    pub fn new(max_retries: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        RetryPolicy { max_retries, initial_backoff, max_backoff }
    }

    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy { max_retries: 0, ..Self::default() }
    }

    /// The delay before retry number `retry` (1-based): the provider's
    /// `Retry-After` when it gave one, otherwise exponential backoff with
    /// "equal jitter" (between half and all of the step). Never above
    /// `max_backoff`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let delay = retry_after.unwrap_or_else(|| {
            let step = self.initial_backoff.saturating_mul(1u32 << (retry.saturating_sub(1)).min(20));
            let step = step.min(self.max_backoff);
            step / 2 + step.mul_f64(fastrand::f64() / 2.0)
        });
        delay.min(self.max_backoff)
    }
}

/// Reads a `Retry-After` header given in seconds. (The HTTP-date form is not
/// used by model providers; it falls back to backoff.)
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            max_retries: 9,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let first = policy.delay(1, None);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100), "{first:?}");
            let third = policy.delay(3, None);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400), "{third:?}");
            assert!(policy.delay(9, None) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let policy = RetryPolicy { max_backoff: Duration::from_secs(5), ..RetryPolicy::default() };
        assert_eq!(policy.delay(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(60))), Duration::from_secs(5));
    }

    #[test]
    fn retry_after_parses_seconds() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
