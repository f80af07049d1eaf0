//! When and how long to wait before trying a request again.
//!
//! Only answers that say "not now" are retried: 429 (the partner's rate limit, with
//! `Retry-After`) and 503 (the broker cannot write its database — and so its audit trail — or
//! the request timed out), plus connection failures before anything was sent. Retrying an
//! upload never stores a signal twice: the broker recognises an observation by a digest of its
//! content (supplier, kind, key version, pseudonym, code, observed date, district, gemeente,
//! wijk), so items a lost first attempt already committed come back as `duplicate`, with the
//! first attempt's id, the second time. A retried match *is* a second question, with its own audit
//! entry and budget charge — which is why nothing is retried after the request reached the
//! broker unless the broker itself said 429 or 503 (then it did not answer the question).

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

/// Longest wait the client accepts from a `Retry-After` header.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The wait a response's `Retry-After` header asks for (in whole seconds; an HTTP date is not
/// understood and counts as none).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Exponential backoff with full jitter, bounded attempts.
///
/// ```
/// use std::time::Duration;
/// use kruispunt_sdk::client::RetryPolicy;
///
/// let p = RetryPolicy::default();
/// assert_eq!(p.max_attempts, 5);
/// // A Retry-After from the broker wins over the computed backoff.
/// assert_eq!(p.delay(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
/// assert!(p.delay(3, None) <= p.max_delay);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles per attempt.
    pub base_delay: Duration,
    /// Longest computed backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    ///
    /// ```
    /// # use kruispunt_sdk::client::RetryPolicy;
    /// assert_eq!(RetryPolicy::none().max_attempts, 1);
    /// ```
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait after failed attempt number `attempt` (1-based): `Retry-After` when the broker
    /// sent one (capped at [`MAX_RETRY_AFTER`]), else a random duration up to
    /// `min(max_delay, base_delay · 2^(attempt-1))` so that many clients do not retry in step.
    ///
    /// ```
    /// # use kruispunt_sdk::client::RetryPolicy;
    /// # use std::time::Duration;
    /// let p = RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(300) };
    /// assert!(p.delay(10, None) <= Duration::from_millis(300));
    /// ```
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(MAX_RETRY_AFTER);
        }
        let cap = self.backoff_cap(attempt);
        let mut b = [0u8; 4];
        let frac = if SystemRandom::new().fill(&mut b).is_ok() {
            f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
        } else {
            1.0
        };
        cap.mul_f64(frac.clamp(0.05, 1.0))
    }

    fn backoff_cap(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(20);
        self.base_delay
            .saturating_mul(1u32 << shift)
            .min(self.max_delay)
    }
}

/// Whether an HTTP status means "try again later" (and the request was not carried out).
pub(crate) fn retryable_status(status: u16) -> bool {
    status == 429 || status == 503
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        assert_eq!(p.backoff_cap(1), Duration::from_millis(100));
        assert_eq!(p.backoff_cap(2), Duration::from_millis(200));
        assert_eq!(p.backoff_cap(4), Duration::from_millis(800));
        assert_eq!(p.backoff_cap(5), Duration::from_millis(1000));
        assert_eq!(p.backoff_cap(99), Duration::from_millis(1000));
        for a in 1..8 {
            assert!(p.delay(a, None) <= p.backoff_cap(a));
        }
        assert_eq!(p.delay(1, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
        assert!(retryable_status(429) && retryable_status(503));
        assert!(!retryable_status(500) && !retryable_status(403));
    }
}
