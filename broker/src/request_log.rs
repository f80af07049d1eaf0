//! One log line per request, for the operator: method, route template, status, the calling
//! organisation (once authenticated), duration and a request id — and the same request counted
//! in the [`crate::metrics`].
//!
//! What is **not** logged, by construction: the path (it may carry a signal or consent id; the
//! route template is enough to find the handler), the query string (review filters), any header
//! (tokens), any body (pseudonyms). The request id is the broker's own (16 random bytes, hex),
//! sent back as `x-request-id` so a partner can quote it; an `x-request-id` a client sends is
//! ignored — a caller must not be able to write into the operator's log.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use ring::rand::{SecureRandom, SystemRandom};

use crate::state::AppState;

/// The response header carrying the broker's request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Where the [`crate::auth::Authenticated`] extractor leaves the calling organisation for the
/// log line: put into every request's extensions by [`log_request`], filled at most once.
#[derive(Clone, Default)]
pub struct CallerSlot(Arc<OnceLock<String>>);

impl CallerSlot {
    pub fn set(&self, org: &str) {
        let _ = self.0.set(org.to_owned());
    }

    fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

fn request_id() -> String {
    let mut bytes = [0u8; 16];
    // The system's random source failing is not a reason to refuse a request; the id is
    // only a handle for the log.
    let _ = SystemRandom::new().fill(&mut bytes);
    hex::encode(bytes)
}

/// The middleware: times the request, logs it and counts it.
pub async fn log_request(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id();
    let method = req.method().as_str().to_owned();
    // A route template from the router's own table, or `unmatched`: never the request's path.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let caller = CallerSlot::default();
    req.extensions_mut().insert(caller.clone());
    let mut resp = next.run(req).await;
    let took = started.elapsed();
    let status = resp.status().as_u16();
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    state.metrics.request(&method, &route, status, took);
    tracing::info!(
        target: "kruispunt::request",
        request_id = %id,
        method = %method,
        route = %route,
        status,
        partner = caller.get().unwrap_or("-"),
        duration_ms = took.as_secs_f64() * 1000.0,
        "request"
    );
    resp
}
