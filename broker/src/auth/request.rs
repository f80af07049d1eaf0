//! Authenticating a request and charging its rate limit — with an audit entry for every
//! refusal, as the broker issue requires (no token, bad signature, wrong audience, …).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum_server::tls::TlsInfo;

use crate::audit::entry::Operation;
use crate::audit::{action, entry};
use crate::auth::{AuthError, Principal};
use crate::civil::now_secs;
use crate::problem::Problem;
use crate::state::AppState;

tokio::task_local! {
    /// The TLS facts of the connection the current request came on (set by
    /// [`with_peer_certificate`]; absent in-process, where there is no TLS).
    static TLS_INFO: Option<Arc<TlsInfo>>;
}

/// Middleware: makes the connection's TLS information (inserted into the request by the TLS
/// acceptor, never taken from anything the client sends) available to [`authenticate`] for
/// the duration of the request, so every authenticated route applies the per-partner mTLS
/// rule without passing it along by hand.
pub async fn with_peer_certificate(req: Request, next: Next) -> Response {
    let info = req.extensions().get::<Arc<TlsInfo>>().cloned();
    TLS_INFO.scope(info, next.run(req)).await
}

/// The client's leaf certificate (DER), if it presented one that the TLS layer verified.
fn peer_certificate() -> Option<Arc<TlsInfo>> {
    TLS_INFO
        .try_with(|info| info.clone())
        .ok()
        .flatten()
        .filter(|i| !i.peer_certificates.is_empty())
}

/// Tokens this broker has verified, by SHA-256 of the `Authorization` header value, so that a
/// partner's repeated requests with one token cost a hash instead of a signature check
/// (≈ 50 µs for Ed25519, more for ES256) and a JSON parse.
///
/// Sound because everything [`crate::auth::Verifier::verify`] checks is fixed by the token's
/// bytes and the broker's static registry — except time. An entry is therefore used only while
/// `now` is before the token's `exp` and its scope's `not_after` (without the leeway: past that
/// point the full check decides, exactly as before). `nbf`/`iat` were already in the past when
/// the entry was made. The mTLS rule and the rate limit are applied on every request.
pub struct TokenCache {
    entries: std::sync::Mutex<std::collections::HashMap<[u8; 32], (Principal, i64)>>,
}

/// Entries before the cache is emptied (a simple bound; partners reuse few tokens at a time).
const TOKEN_CACHE_ENTRIES: usize = 4096;

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache {
            entries: std::sync::Mutex::new(std::collections::HashMap::new()),
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
    fn verify(
        &self,
        verifier: &crate::auth::Verifier,
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

/// Verifies the bearer token (and mTLS where the partner requires it), then takes a rate-limit
/// token. Returns the principal and the number of requests it made in the last minute.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    endpoint: &str,
) -> Result<(Principal, u64), Problem> {
    let header_value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let peer = peer_certificate();
    let leaf = peer
        .as_ref()
        .and_then(|i| i.peer_certificates.first())
        .map(Vec::as_slice);
    let principal = match state
        .tokens
        .verify(&state.verifier, header_value, now_secs())
    {
        Ok(p) => p,
        Err(e) => return Err(refuse(state, None, e, endpoint).await),
    };
    // The token is valid, so the mTLS refusal can name who was refused.
    let mtls = match state.policy.registry().partner(&principal.org) {
        Some(partner) => crate::auth::check_mtls(partner, leaf),
        None => Ok(()),
    };
    if let Err(e) = mtls {
        return Err(refuse(state, Some(&principal), e, endpoint).await);
    }
    match state.limiter.check(&principal.org) {
        Ok(per_minute) => Ok((principal, per_minute)),
        Err(wait) => {
            let mut p = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!(
                    "organisation {} exceeded its request rate; retry after {wait} s",
                    principal.org
                ),
            );
            p.retry_after = Some(wait);
            Err(p)
        }
    }
}

async fn refuse(
    state: &AppState,
    principal: Option<&Principal>,
    e: AuthError,
    endpoint: &str,
) -> Problem {
    let mut entry = entry::by(principal, Operation::Refuse, action::AUTH_REFUSED);
    entry.decision = Some("deny".into());
    entry.reasons = vec![e.slug().to_string()];
    entry.detail = serde_json::json!({ "endpoint": endpoint });
    if let Err(se) = state
        .store
        .audit()
        .append_audit(std::slice::from_ref(&entry))
        .await
    {
        return Problem::from(se);
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    Problem::new(status, e.slug(), e.title(), e.to_string())
}

/// Parses a JSON body strictly (unknown fields refused), naming the field and position.
pub fn strict_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request("invalid-json", format!("request body: {e}")))
}
