//! The axum router, shared by `serve` and the in-process tests.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};

use crate::problem::Problem;
use crate::state::AppState;
use crate::{edge, routes};

/// Largest JSON body (a full batch of 10 000 signals is about 3 MB).
pub const JSON_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// The router; requests on the JSON routes that take longer than the request timeout are cut
/// off with `503 request-timeout`; the streamed bulk upload has a body idle timeout instead. Every error leaves as an
/// RFC 9457 problem ([`crate::edge`]).
pub fn router(state: AppState, connections: &crate::config::Connections) -> Router {
    let request_timeout = Duration::from_secs(connections.request_timeout_secs.max(1));
    let body_idle = Duration::from_secs(connections.bulk_body_idle_timeout_secs.max(1));
    let api = Router::new()
        .route("/v1/signals", post(routes::signals::upload))
        .route("/v1/signals/{id}", delete(routes::signals::withdraw))
        .route("/v1/matches", post(routes::matches::create))
        .route("/v1/aggregates", post(routes::aggregates::create))
        .route("/v1/registry", get(routes::registry::show))
        .route(
            "/v1/cases",
            post(routes::cases::open).get(routes::cases::list),
        )
        .route("/v1/cases/{reference}", get(routes::cases::get))
        .route("/v1/cases/{reference}/state", post(routes::cases::advance))
        .route("/v1/feedback", get(routes::cases::feedback))
        .route("/v1/consents", post(routes::consents::issue))
        .route("/v1/consents/{id}", delete(routes::consents::withdraw))
        .route(
            "/v1/mls/key-packages",
            post(routes::mls::publish_key_packages),
        )
        .route(
            "/v1/mls/key-packages/claim",
            post(routes::mls::claim_key_package),
        )
        .route("/v1/mls/groups", post(routes::mls::create_group))
        .route(
            "/v1/mls/groups/{id}",
            get(routes::mls::group).put(routes::mls::reinit_group),
        )
        .route(
            "/v1/mls/groups/{id}/messages",
            post(routes::mls::post_message).get(routes::mls::messages),
        )
        .route("/v1/mls/welcomes", get(routes::mls::welcomes))
        .route(
            "/v1/coalitions/{coalition}/key-version",
            put(routes::mls::announce_key_version).get(routes::mls::key_version),
        )
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ));
    let bulk = Router::new()
        .route("/v1/signals/bulk", post(routes::signals::bulk))
        .layer(DefaultBodyLimit::disable())
        // No overall timeout (a bulk load may take minutes), but a stalled body is cut off.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_idle));
    Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::ready::readyz))
        .route("/v1/openapi.json", get(routes::openapi::openapi))
        .route("/v1/audit/checkpoint", get(routes::audit::checkpoint))
        .route("/v1/audit/key", get(routes::audit::key))
        .route("/v1/audit/entries", get(routes::audit::entries))
        .route("/v1/audit/proof/inclusion", get(routes::audit::inclusion))
        .route(
            "/v1/audit/proof/consistency",
            get(routes::audit::consistency),
        )
        .route("/v1/audit/review", get(routes::audit_review::review))
        .route(
            "/v1/audit/cases/{reference}",
            get(routes::audit_review::case_history),
        )
        .route("/audit/", get(routes::audit_page::page))
        .route("/audit/audit.js", get(routes::audit_page::script))
        .route("/beeld/", get(routes::beeld_page::page))
        .route("/beeld/beeld.js", get(routes::beeld_page::script))
        .route("/beeld/beeld.css", get(routes::beeld_page::style))
        .route("/web/signin.js", get(routes::web::signin_script))
        .route(
            "/v1/audit/disclosures",
            get(routes::audit_review::disclosures),
        )
        .merge(api)
        .merge(bulk)
        .fallback(|| async { Problem::not_found("no such endpoint; see /v1/openapi.json") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            use axum::response::IntoResponse;
            tracing::error!("a handler panicked");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the broker hit an internal error; nothing was disclosed",
            )
            .into_response()
        }))
        .layer(axum::middleware::from_fn(edge::limit_request_head))
        .layer(axum::middleware::from_fn(edge::every_error_is_a_problem))
        .layer(axum::middleware::from_fn(edge::close_unless_body_read))
        // Outermost: the log line and the metrics see the final status, problems included.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::request_log::log_request,
        ))
        .with_state(state)
}
