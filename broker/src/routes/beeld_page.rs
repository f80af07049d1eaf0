//! `/beeld/`: the ondermijningsbeeld's page — a heat map of areas × themes, a trend per theme
//! with the noise's uncertainty, the cross-sector view per district, the privacy budget left,
//! and a printable local picture of one gemeente. Static HTML, CSS and JavaScript embedded in
//! the binary (`broker/web/beeld/`), no external resources, no inline script or style; it signs
//! in through the shared sign-in script (`/web/signin.js`) and asks `POST /v1/aggregates`.
//! docs/BEELD-CLIENTS.md describes it.

use axum::response::IntoResponse;

use super::web;

pub async fn page() -> impl IntoResponse {
    web::html(include_str!("../../web/beeld/index.html"), false)
}

pub async fn script() -> impl IntoResponse {
    web::asset(
        "text/javascript; charset=utf-8",
        include_str!("../../web/beeld/beeld.js"),
    )
}

pub async fn style() -> impl IntoResponse {
    web::asset(
        "text/css; charset=utf-8",
        include_str!("../../web/beeld/beeld.css"),
    )
}
