//! `/audit/`: the privacy officers' page — static HTML and a little JavaScript embedded in the
//! binary, no external resources, a strict Content-Security-Policy. It signs in through the
//! shared sign-in script (`/web/signin.js`, see [`super::web`]) and uses the audit API.

use axum::response::IntoResponse;

use super::web;

pub async fn page() -> impl IntoResponse {
    web::html(include_str!("../../web/audit/index.html"), true)
}

pub async fn script() -> impl IntoResponse {
    web::asset(
        "text/javascript; charset=utf-8",
        include_str!("../../web/audit/audit.js"),
    )
}
