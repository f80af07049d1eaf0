//! Authenticating a request and charging its rate limit — with an audit entry for every
//! refusal, as the broker issue requires (no token, bad signature, wrong audience, …).

use axum::http::{HeaderMap, StatusCode, header};

use crate::audit_entry::Operation;
use crate::audit_trail;
use crate::auth::{AuthError, Principal};
use crate::civil::now_secs;
use crate::problem::Problem;
use crate::state::AppState;

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
    let verified = state
        .verifier
        .verify(header_value, now_secs())
        .and_then(|p| {
            let registry = state.policy.registry();
            match registry.partner(&p.org) {
                Some(partner) => crate::auth::check_mtls(partner, None).map(|()| p),
                None => Ok(p),
            }
        });
    let principal = match verified {
        Ok(p) => p,
        Err(e) => return Err(refuse(state, e, endpoint).await),
    };
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

async fn refuse(state: &AppState, e: AuthError, endpoint: &str) -> Problem {
    let mut entry = audit_trail::by(None, Operation::Refuse, "auth.refused");
    entry.decision = Some("deny".into());
    entry.reasons = vec![e.slug().to_string()];
    entry.detail = serde_json::json!({ "endpoint": endpoint });
    if let Err(se) = state.store.append_audit(std::slice::from_ref(&entry)).await {
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
