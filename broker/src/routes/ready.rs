//! Readiness: the database answers, a policy is loaded, the set-up lets partners in (no
//! [`crate::readiness`] gap) and the match index has caught up with the signal feed (load
//! balancers route on this; docs/OPERATIONS.md, "Several brokers").

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::problem::Problem;
use crate::state::AppState;

pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let not_ready = |detail: String| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            &detail,
        )
    };
    state
        .store
        .ping()
        .await
        .map_err(|_| not_ready("the database does not answer".into()))?;
    if !state.setup_gaps.is_empty() {
        return Err(not_ready(format!(
            "the set-up is incomplete: {}",
            state.setup_gaps.join("; ")
        )));
    }
    let feed = &state.feed;
    if feed.missed() {
        return Err(not_ready(
            "the signal feed was pruned past this broker's cursor: its match index misses \
             changes; restart it"
                .into(),
        ));
    }
    let now_ms = u64::try_from(crate::civil::now_millis()).unwrap_or(0);
    if let Some(idle) = feed.stale_for(now_ms) {
        return Err(not_ready(format!(
            "the match index has not read the signal feed for {} s",
            idle.as_secs()
        )));
    }
    if !feed.caught_up() {
        return Err(not_ready(format!(
            "the match index is catching up with the signal feed: {} audit entries behind",
            feed.lag()
        )));
    }
    // Witnesses are detail, not readiness: the broker serves and signs without them (a
    // verifier that requires their quorum refuses the checkpoint instead).
    let witnesses = match &state.witnesses {
        Some(w) => w.status().await,
        None => Value::Null,
    };
    Ok(Json(json!({
        "status": "ready",
        "witnesses": witnesses,
        "database": state.store.backend(),
        "policy_bundle": state.policy.bundle_hash(),
        "registry": state.policy.registry_hash(),
        "signals_indexed": state.index.len(),
        "index_digest": format!("{:016x}", state.index.digest()),
        "feed": {
            "following": feed.following(),
            "applied": feed.applied(),
            "head": feed.head(),
            "lag": feed.lag(),
        },
    })))
}
