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

/// The budget of failed authentications per client address, checked **before** a request is
/// authenticated: an address whose requests keep failing (garbage tokens, wrong keys) is
/// refused with 429 without its token being verified, so it cannot spend the broker's CPU on
/// signature checks nor reach the audit trail at line rate (see [`crate::auth::refusals`]).
/// Requests that authenticate spend nothing here (the per-partner [`RateLimiter`] applies to
/// them), so a partner behind a shared address is limited only while requests from that
/// address fail.
///
/// The address is the TCP peer's: behind a proxy or load balancer that does not pass the
/// connection through, every client shares the proxy's budget (docs/OPERATIONS.md).
pub struct AddressLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<std::net::IpAddr, (f64, Instant)>>,
}

/// Addresses tracked before the full buckets (those that would be at their burst again) are
/// forgotten: bounds the memory an attacker with many addresses can take.
const MAX_ADDRESSES: usize = 65_536;

impl AddressLimiter {
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, tokens: f64, last: Instant, now: Instant) -> f64 {
        (tokens + now.duration_since(last).as_secs_f64() * self.per_second).min(self.burst)
    }

    /// Whether `addr` may try to authenticate: Ok, or Err(seconds to wait).
    pub fn check(&self, addr: std::net::IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let g = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        match g.get(&addr) {
            Some(&(tokens, last)) if self.refilled(tokens, last, now) < 1.0 => {
                let t = self.refilled(tokens, last, now);
                Err(((1.0 - t) / self.per_second).ceil().max(1.0) as u64)
            }
            _ => Ok(()),
        }
    }

    /// Charges one failed authentication to `addr`.
    pub fn spend(&self, addr: std::net::IpAddr) {
        let now = Instant::now();
        let mut g = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= MAX_ADDRESSES && !g.contains_key(&addr) {
            let (per_second, burst) = (self.per_second, self.burst);
            g.retain(|_, (t, l)| *t + now.duration_since(*l).as_secs_f64() * per_second < burst);
        }
        let (tokens, last) = g.get(&addr).copied().unwrap_or((self.burst, now));
        let t = self.refilled(tokens, last, now);
        g.insert(addr, ((t - 1.0).max(0.0), now));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_address_is_refused_after_its_failures_and_others_are_not() {
        let l = AddressLimiter::new(0.001, 3.0);
        let a = std::net::IpAddr::from([10, 0, 0, 1]);
        let b = std::net::IpAddr::from([10, 0, 0, 2]);
        for _ in 0..3 {
            assert_eq!(l.check(a), Ok(()));
            l.spend(a);
        }
        assert!(l.check(a).unwrap_err() >= 1);
        assert_eq!(l.check(b), Ok(()), "another address has its own budget");
    }

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
