//! The audit trail's verification API. The checkpoint and the verifier key are public; entries
//! and proofs need a partner token, and reading them is itself an audit entry. A partner gets
//! the full entry only where it concerns its own organisation (as actor, source or recipient);
//! for every other entry it gets the leaf hash, which is all it needs to check that the log is
//! complete and append-only.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit_entry::{AuditEntry, Operation};
use crate::audit_trail;
use crate::authn::authenticate;
use crate::problem::Problem;
use crate::state::AppState;
use crate::transparency::leaf_hash;

/// Most entries one request returns.
pub const MAX_ENTRIES: u64 = 1000;

pub async fn checkpoint(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    if state.audit_log.checkpoint().is_none() {
        state
            .audit_log
            .sync(&*state.store, &state.keys)
            .await
            .map_err(|e| Problem::unavailable(e.to_string()))?;
    }
    let (_, note) = state
        .audit_log
        .checkpoint()
        .ok_or_else(|| Problem::unavailable("no checkpoint yet"))?;
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

fn concerns(e: &AuditEntry, org: &str) -> bool {
    e.actor_org.as_deref() == Some(org)
        || e.source_orgs.iter().any(|o| o == org)
        || e.recipients.iter().any(|o| o == org)
}

async fn record_read(
    state: &AppState,
    principal: &crate::auth::Principal,
    what: Value,
) -> Result<(), Problem> {
    let mut e = audit_trail::by(Some(principal), Operation::Consult, "audit.read");
    e.decision = Some("allow".into());
    e.detail = what;
    state.store.append_audit(std::slice::from_ref(&e)).await?;
    Ok(())
}

pub async fn entries(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(r): Query<Range>,
) -> Result<Json<Value>, Problem> {
    let (principal, _) = authenticate(&state, &headers, "GET /v1/audit/entries").await?;
    if r.end <= r.start || r.end - r.start > MAX_ENTRIES {
        return Err(Problem::bad_request(
            "invalid-range",
            format!("start, end: need start < end and at most {MAX_ENTRIES} entries"),
        ));
    }
    record_read(&state, &principal, json!({ "entries": [r.start, r.end] })).await?;
    let leaves = state.store.audit_leaves(r.start, r.end).await?;
    let mut out = Vec::with_capacity(leaves.len());
    for (index, bytes) in leaves {
        let entry: Option<AuditEntry> = serde_json::from_slice(&bytes).ok();
        let visible = entry.as_ref().is_some_and(|e| concerns(e, &principal.org));
        if visible {
            out.push(json!({ "index": index, "leaf": B64.encode(&bytes), "entry": entry }));
        } else {
            out.push(json!({ "index": index, "leaf_hash": B64.encode(leaf_hash(&bytes)) }));
        }
    }
    Ok(Json(json!({ "entries": out })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    index: u64,
    tree_size: u64,
}

pub async fn inclusion(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<InclusionQuery>,
) -> Result<Json<Value>, Problem> {
    let (principal, _) = authenticate(&state, &headers, "GET /v1/audit/proof/inclusion").await?;
    let (leaf, proof) = state
        .audit_log
        .inclusion_proof(q.index, q.tree_size)
        .map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-proof-request",
                "No such proof",
                format!("index, tree_size: {e}"),
            )
        })?;
    record_read(
        &state,
        &principal,
        json!({ "inclusion": [q.index, q.tree_size] }),
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
    headers: HeaderMap,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<Value>, Problem> {
    let (principal, _) = authenticate(&state, &headers, "GET /v1/audit/proof/consistency").await?;
    let proof = state
        .audit_log
        .consistency_proof(q.first, q.second)
        .map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-proof-request",
                "No such proof",
                format!("first, second: {e}"),
            )
        })?;
    record_read(
        &state,
        &principal,
        json!({ "consistency": [q.first, q.second] }),
    )
    .await?;
    Ok(Json(
        json!({ "first": q.first, "second": q.second, "proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>() }),
    ))
}
