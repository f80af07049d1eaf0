//! Tokens this broker has already verified, so that a partner's repeated requests with one
//! token cost a hash instead of a signature check (≈ 50 µs for Ed25519, more for ES256) and a
//! JSON parse.
//!
//! Sound because everything [`TokenVerifier::verify`] checks is fixed by the token's bytes and
//! the broker's static registry — except time. An entry is therefore used only while `now` is
//! before the token's `exp` and its scope's `not_after` (without the leeway: past that point the
//! full check decides, exactly as before). `nbf`/`iat` were already in the past when the entry
//! was made. The mTLS rule and the rate limit are not cached: the
//! [`extractor`](crate::auth::extractor) applies them on every request.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::auth::jwt::{AuthError, Principal, TokenVerifier};

/// Verified tokens by SHA-256 of the `Authorization` header value (see the module
/// documentation), each with the instant until which its verification stands.
pub struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], (Principal, i64)>>,
}

/// Entries before the cache is emptied (a simple bound; partners reuse few tokens at a time).
const TOKEN_CACHE_ENTRIES: usize = 4096;

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl TokenCache {
    fn key(header: &str) -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, header.as_bytes());
        let mut k = [0u8; 32];
        k.copy_from_slice(d.as_ref());
        k
    }

    fn get(&self, header: &str, now: i64) -> Option<Principal> {
        let g = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match g.get(&Self::key(header)) {
            Some((p, until)) if now < *until => Some(p.clone()),
            _ => None,
        }
    }

    fn put(&self, header: &str, p: &Principal) {
        let until = p
            .scope
            .as_ref()
            .and_then(|s| s.not_after)
            .map_or(p.expires_at, |n| n.min(p.expires_at));
        let mut g = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= TOKEN_CACHE_ENTRIES {
            g.clear();
        }
        g.insert(Self::key(header), (p.clone(), until));
    }

    /// Verifies `header` with `verifier`, or answers from the cache.
    pub(crate) fn verify(
        &self,
        verifier: &TokenVerifier,
        header: Option<&str>,
        now: i64,
    ) -> Result<Principal, AuthError> {
        if let Some(h) = header
            && let Some(p) = self.get(h, now)
        {
            return Ok(p);
        }
        let p = verifier.verify(header, now)?;
        if let Some(h) = header {
            self.put(h, &p);
        }
        Ok(p)
    }
}
