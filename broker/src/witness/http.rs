//! The witness's HTTP server: `POST /add-checkpoint` (C2SP `tlog-witness`), plain HTTP.
//!
//! Plain HTTP is enough because the protocol authenticates by signatures: the witness cosigns
//! only checkpoints the log signed, and whoever uses a cosignature verifies it with the
//! witness's key. TLS would hide the (public) checkpoints, not protect them. Put a TLS proxy in
//! front if the network requires it.
//!
//! Bounded as the broker's edge is, by the same code and the same `[connections]` settings
//! ([`crate::conn_limit::hygienic`]; `kruispunt witness serve --max-connections
//! --header-read-timeout-secs --request-timeout-secs`): the number of connections served at
//! once (beyond it a connection is closed as soon as it is accepted), the time to send a request
//! head (and to wait idle between requests), the time for a whole request — its body included,
//! so a body trickling in is cut off with `503` — and the body size. The checks run in a task
//! of their own, so that neither a client hanging up nor a timeout cancels them between the
//! durable write and the update of the record in memory.
//!
//! Statuses are the specification's; the 409 of a stale old size carries the latest size as
//! `text/x.tlog.size`, every other refusal is an RFC 9457 problem naming what is wrong (but
//! the `503` of a request over its time, which has an empty body).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum_server::Handle;
use axum_server::accept::DefaultAcceptor;

use super::witness::{AddError, Witness};
use crate::config::Connections;
use crate::problem::Problem;

/// Largest request body: a checkpoint with up to 100 signatures (about 10 KiB) and 63 proof
/// lines (about 3 KiB) fit with room to spare.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Content type of the 409 answer that tells the client the latest cosigned size.
pub const TLOG_SIZE: &str = "text/x.tlog.size";

/// The witness's routes; a request (head and body read, checks done) that takes longer than
/// `request_timeout` is answered `503`.
pub fn router(witness: Arc<Witness>, request_timeout: Duration) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        // The broker's limits on the request target and headers (414, 431).
        .layer(axum::middleware::from_fn(crate::edge::limit_request_head))
        .with_state(witness)
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    // In a task of its own: a client that hangs up must not cancel the check-and-record half
    // way (the durable record written, the memory not yet updated).
    let answer = tokio::spawn(async move { witness.add_checkpoint(&body).await }).await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => Err(AddError::Persist(std::io::Error::other(e))),
    };
    match answer {
        Ok(lines) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            lines,
        )
            .into_response(),
        Err(AddError::SizeConflict { latest, .. }) => (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, TLOG_SIZE)],
            format!("{latest}\n"),
        )
            .into_response(),
        Err(e) => problem(e).into_response(),
    }
}

/// The specification's status for each refusal, as a problem.
fn problem(e: AddError) -> Problem {
    let detail = e.to_string();
    match e {
        AddError::Malformed(_) | AddError::OldBeyondSize { .. } => Problem::new(
            StatusCode::BAD_REQUEST,
            "witness-bad-request",
            "Not an add-checkpoint request this witness can use",
            detail,
        ),
        AddError::UnknownOrigin(_) => Problem::new(
            StatusCode::NOT_FOUND,
            "witness-unknown-log",
            "This witness does not witness that log",
            detail,
        ),
        AddError::NotSigned { .. } => Problem::new(
            StatusCode::FORBIDDEN,
            "witness-not-signed",
            "The checkpoint is not signed by the log",
            detail,
        ),
        AddError::SizeConflict { .. } | AddError::Fork { .. } => Problem::new(
            StatusCode::CONFLICT,
            "witness-fork",
            "The checkpoint conflicts with one already cosigned",
            detail,
        ),
        AddError::BadProof { .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "witness-bad-proof",
            "The consistency proof does not verify",
            detail,
        ),
        AddError::Persist(_) => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "witness-state",
            "The witness could not record the checkpoint; nothing was cosigned",
            detail,
        ),
    }
}

/// Serves `witness` on `listener` with the connection hygiene of `connections` (its
/// `max_connections`, `header_read_timeout_secs` and `request_timeout_secs`) until `shutdown`
/// resolves; requests under way then have 10 s to finish.
pub async fn serve(
    witness: Arc<Witness>,
    listener: tokio::net::TcpListener,
    connections: &Connections,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle: Handle<SocketAddr> = Handle::new();
    let stop = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let app = router(
        witness,
        Duration::from_secs(connections.request_timeout_secs.max(1)),
    );
    crate::conn_limit::hygienic(
        axum_server::Server::from_listener(listener),
        DefaultAcceptor::new(),
        connections,
    )
    .handle(handle)
    .serve(app.into_make_service_with_connect_info::<SocketAddr>())
    .await
}
