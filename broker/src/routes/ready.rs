//! Readiness: the database answers, a policy is loaded and the set-up lets partners in (no
//! [`crate::readiness`] gap); load balancers route on this.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::problem::Problem;
use crate::state::AppState;

pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    state.store.ping().await.map_err(|_| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            "the database does not answer",
        )
    })?;
    if !state.setup_gaps.is_empty() {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            format!("the set-up is incomplete: {}", state.setup_gaps.join("; ")),
        ));
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
    })))
}
