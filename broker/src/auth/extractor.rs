//! Authenticating one HTTP request, as an axum extractor: a handler that takes an
//! [`Authenticated`] argument runs only for a caller whose token verifies, whose client
//! certificate (if any) is its own, and who is within its rate limit — and every refusal is an
//! audit entry, as the broker issue requires (no token, bad signature, wrong audience, …).
//!
//! The extractor names the endpoint in that audit entry itself, from the route that matched
//! (`POST /v1/matches`, `DELETE /v1/signals/{id}`), so no handler can misname it.

use std::sync::Arc;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum_server::tls::TlsInfo;

use crate::auth::jwt::{AuthError, Principal};
use crate::auth::mtls::check_mtls;
use crate::civil::now_secs;
use crate::problem::Problem;
use crate::state::AppState;

/// The caller of an authenticated endpoint. Extracting it verifies the bearer token (and mTLS
/// where the partner requires it), then takes a rate-limit token; a refusal is the problem
/// document of the [`AuthError`] (or `rate-limited`), after its audit entry.
///
/// Parts extractors run in argument order and before the body is read, so a handler lists it
/// after the extractors that cannot fail and before the body.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who is calling.
    pub principal: Principal,
    /// Requests the caller's organisation made in the last minute, this one included (the
    /// rate limiter's count; the policy's usage input).
    pub requests_last_minute: u64,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let endpoint = endpoint(parts);
        // Inserted by the TLS acceptor for the connection, never taken from anything the client
        // sends; absent in-process, where there is no TLS.
        let leaf = parts
            .extensions
            .get::<Arc<TlsInfo>>()
            .and_then(|i| i.peer_certificates.first())
            .map(Vec::as_slice);
        // The TCP peer, from the connection (absent only when the router is driven without a
        // server, as no deployment does).
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let (principal, requests_last_minute) =
            authenticate(state, &parts.headers, leaf, peer, &endpoint).await?;
        if let Some(slot) = parts.extensions.get::<crate::request_log::CallerSlot>() {
            slot.set(&principal.org);
        }
        Ok(Authenticated {
            principal,
            requests_last_minute,
        })
    }
}

/// The route that matched, as the audit entry names it: method and path template. A `HEAD`
/// request is served by the `GET` route and named after it.
fn endpoint(parts: &Parts) -> String {
    let method = if parts.method == Method::HEAD {
        &Method::GET
    } else {
        &parts.method
    };
    let path = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path(), MatchedPath::as_str);
    format!("{method} {path}")
}

/// Verifies the bearer token (and mTLS where the partner requires it), then takes a rate-limit
/// token. Returns the principal and the number of requests it made in the last minute.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    leaf: Option<&[u8]>,
    peer: Option<IpAddr>,
    endpoint: &str,
) -> Result<(Principal, u64), Problem> {
    // Before anything is verified: an address whose requests keep failing waits.
    if let Some(wait) = peer.and_then(|ip| state.address_limiter.check(ip).err()) {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("too many failed authentications from this address; retry after {wait} s"),
        );
        p.retry_after = Some(wait);
        return Err(record(state, None, p, endpoint).await);
    }
    let failed = || {
        if let Some(ip) = peer {
            state.address_limiter.spend(ip);
        }
    };
    let header_value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = match state
        .tokens
        .verify(&state.verifier, header_value, now_secs())
    {
        Ok(p) => p,
        Err(e) => {
            failed();
            return Err(refuse(state, None, e, endpoint).await);
        }
    };
    // The token is valid, so the mTLS refusal can name who was refused.
    let mtls = match state.policy.registry().partner(&principal.org) {
        Some(partner) => check_mtls(partner, leaf),
        None => Ok(()),
    };
    if let Err(e) = mtls {
        failed();
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
            // Audited like every refusal: a runaway client's flood is one entry per interval
            // with its count, not one per request.
            Err(record(state, Some(&principal), p, endpoint).await)
        }
    }
}

/// Records the refusal in the audit trail, then turns it into its problem document.
async fn refuse(
    state: &AppState,
    principal: Option<&Principal>,
    e: AuthError,
    endpoint: &str,
) -> Problem {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let p = Problem::new(status, e.slug(), e.title(), e.to_string());
    record(state, principal, p, endpoint).await
}

/// Records the refusal `p` (its type is the reason) — the first of its kind in an interval as
/// an entry of its own, repeats as one counted entry ([`crate::auth::refusals`]) — and answers
/// `p`, or the store's problem if the entry could not be written: no refusal goes unrecorded.
async fn record(
    state: &AppState,
    principal: Option<&Principal>,
    p: Problem,
    endpoint: &str,
) -> Problem {
    state.metrics.refused(p.slug);
    match state
        .refusals
        .record(&*state.store, principal, p.slug, endpoint)
        .await
    {
        Ok(()) => p,
        Err(se) => Problem::from(se),
    }
}
