//! `POST /v1/matches`: the scoped match question. The flow — policy, obligations, details, the
//! audit entry committed before the answer leaves — is [`crate::matching::query`]; this file is
//! its HTTP shape (authentication, the JSON body, the answer or the problem).

use axum::Json;
use axum::extract::State;
use kruispunt_sdk::wire::{MatchRequest, MatchResponse};

use crate::auth::Authenticated;
use crate::matching::query;
use crate::problem::Problem;
use crate::routes::json::StrictJson;
use crate::state::AppState;

pub async fn create(
    State(state): State<AppState>,
    Authenticated {
        principal,
        requests_last_minute: per_minute,
    }: Authenticated,
    StrictJson(req): StrictJson<MatchRequest>,
) -> Result<Json<MatchResponse>, Problem> {
    Ok(Json(
        query::run(&state, &principal, per_minute, &req).await?,
    ))
}
