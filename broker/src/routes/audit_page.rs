//! `/audit/`: the privacy officers' page — static HTML and a little JavaScript embedded in the
//! binary, no external resources, a strict Content-Security-Policy. It signs in with the
//! officer's token (kept in sessionStorage, sent as a bearer token) and uses the audit API.

use axum::http::header;
use axum::response::IntoResponse;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; \
                   base-uri 'none'";

pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        include_str!("../../audit/index.html"),
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("../../audit/audit.js"),
    )
}
