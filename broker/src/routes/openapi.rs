//! The OpenAPI document, checked in under `docs/openapi.json` and served as is.

use axum::http::header;
use axum::response::IntoResponse;

pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
