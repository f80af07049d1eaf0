//! The audit trail's verification API. The checkpoint and the verifier key are public: anyone
//! may check the log's head. Entries and proofs need a partner token, and reading them is
//! itself an audit entry. Every partner gets every entry's leaf (the hashes are public to all
//! partners, so each can check that the log is complete and append-only); the salt and the
//! entry itself only go to a privacy officer of an organisation the entry concerns — see
//! [`crate::audit::access`].

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::access::{Viewer, record_read};
use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::state::AppState;

/// Most entries one request returns.
pub const MAX_ENTRIES: u64 = 1000;

/// A query string that does not parse is a problem naming the parameter, like a bad body.
pub(super) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    q.map(|Query(t)| t)
        .map_err(|e| Problem::bad_request("invalid-query", e.body_text()))
}

/// The latest checkpoint. With several brokers on the database (PostgreSQL), another broker
/// may already have served a checkpoint of a larger tree; a verifier holding that one must get
/// one at least as large here (a smaller one would look like a rollback), so this broker first
/// signs the stored tree if it grew ([`crate::audit::log::AuditLog::sync`] signs only then, one
/// at a time). Checkpoints served one after another, by any brokers, therefore never shrink.
pub async fn checkpoint(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    let none = state.audit_log.checkpoint().await.is_none();
    if none || state.feed.following() {
        let synced = state.audit_log.sync(&*state.store, &state.keys).await;
        match synced {
            Ok(_) => {}
            Err(e) if none => return Err(Problem::unavailable(e.to_string())),
            Err(e) => tracing::warn!(error = %e, "serving the last checkpoint signed"),
        }
    }
    let (_, note) = state
        .audit_log
        .checkpoint()
        .await
        .ok_or_else(|| Problem::unavailable("no checkpoint yet"))?;
    // With witnesses: the latest checkpoint published with its cosignatures (a just-signed
    // checkpoint is published once its quorum cosigned it or every witness answered).
    let note = match &state.witnesses {
        Some(w) => w.published().await.map_or(note, |(_, cosigned)| cosigned),
        None => note,
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note))
}

pub async fn key(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", state.audit_log.verifier_key()),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    start: u64,
    end: u64,
}

/// `GET /v1/audit/entries?start=&end=`: the tree's lines `start <= index < end`
/// (see [`kruispunt_sdk::transparency::LogLine`]).
pub async fn entries(
    State(state): State<AppState>,
    q: Result<Query<Range>, QueryRejection>,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Json<Value>, Problem> {
    let r = query(q)?;
    if r.end <= r.start || r.end - r.start > MAX_ENTRIES {
        return Err(Problem::bad_request(
            "invalid-range",
            format!("start, end: need start < end and at most {MAX_ENTRIES} entries"),
        ));
    }
    let mut viewer = Viewer::for_principal(&state, &principal);
    record_read(
        &state,
        &principal,
        json!({ "read": "entries", "start": r.start, "end": r.end }),
        vec![],
    )
    .await?;
    let tree_size = state.store.audit().audit_tree_size().await?;
    let rows = state
        .store
        .audit()
        .audit_tree_leaves(r.start, r.end)
        .await?;
    let lines = viewer.lines(&state, rows).await?;
    Ok(Json(json!({ "tree_size": tree_size, "entries": lines })))
}

fn proof_problem(e: impl std::fmt::Display, fields: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-proof-request",
        "No such proof",
        format!("{fields}: {e}"),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    index: u64,
    tree_size: u64,
}

pub async fn inclusion(
    State(state): State<AppState>,
    q: Result<Query<InclusionQuery>, QueryRejection>,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Json<Value>, Problem> {
    let q = query(q)?;
    let (leaf, proof) = state
        .audit_log
        .inclusion_proof(&*state.store, q.index, q.tree_size)
        .await
        .map_err(|e| proof_problem(e, "index, tree_size"))?;
    record_read(
        &state,
        &principal,
        json!({ "read": "inclusion", "index": q.index, "tree_size": q.tree_size }),
        vec![],
    )
    .await?;
    Ok(Json(json!({
        "index": q.index, "tree_size": q.tree_size, "leaf_hash": B64.encode(leaf),
        "proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    first: u64,
    second: u64,
}

pub async fn consistency(
    State(state): State<AppState>,
    q: Result<Query<ConsistencyQuery>, QueryRejection>,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Json<Value>, Problem> {
    let q = query(q)?;
    let proof = state
        .audit_log
        .consistency_proof(&*state.store, q.first, q.second)
        .await
        .map_err(|e| proof_problem(e, "first, second"))?;
    record_read(
        &state,
        &principal,
        json!({ "read": "consistency", "first": q.first, "second": q.second }),
        vec![],
    )
    .await?;
    Ok(Json(json!({
        "first": q.first, "second": q.second,
        "proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
    })))
}
