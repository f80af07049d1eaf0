//! Per-partner request rate limits (a token bucket per organisation), answered with 429 and
//! `Retry-After`. They protect the broker and bound how fast a partner can probe pseudonyms;
//! the policy's daily identifier budget is the slower, auditable limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
    /// Requests in the current minute window (fed to the policy's sweep guard).
    minute_start: Instant,
    minute_count: u64,
}

impl RateLimiter {
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `org`: Ok(requests in the last minute) or Err(seconds to wait).
    pub fn check(&self, org: &str) -> Result<u64, u64> {
        let now = Instant::now();
        let mut g = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = g.entry(org.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
            minute_start: now,
            minute_count: 0,
        });
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_second).min(self.burst);
        b.last = now;
        if now.duration_since(b.minute_start).as_secs() >= 60 {
            b.minute_start = now;
            b.minute_count = 0;
        }
        if b.tokens < 1.0 {
            let wait = ((1.0 - b.tokens) / self.per_second).ceil().max(1.0);
            return Err(wait as u64);
        }
        b.tokens -= 1.0;
        b.minute_count += 1;
        Ok(b.minute_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_burst_and_per_org() {
        let l = RateLimiter::new(1.0, 3.0);
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        assert_eq!(l.check("a"), Ok(3));
        assert!(l.check("a").unwrap_err() >= 1);
        assert!(l.check("b").is_ok(), "another partner has its own bucket");
    }
}
