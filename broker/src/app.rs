//! The axum router, shared by `serve` and the in-process tests.

use axum::Router;
use axum::routing::get;

use crate::routes;

pub fn router() -> Router {
    Router::new().route("/healthz", get(routes::health::healthz))
}
