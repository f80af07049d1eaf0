//! `POST /v1/matches`: the scoped match question. The flow — policy, obligations, details, the
//! audit entry committed before the answer leaves — is [`crate::matching::query`]; this file is
//! its HTTP shape (authentication, the JSON body, the answer or the problem).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use kruispunt_sdk::wire::{MatchRequest, MatchResponse};

use crate::auth::request::{authenticate, strict_json};
use crate::matching::query;
use crate::problem::Problem;
use crate::state::AppState;

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<MatchResponse>, Problem> {
    let (principal, per_minute) = authenticate(&state, &headers, "POST /v1/matches").await?;
    let req: MatchRequest = strict_json(&body)?;
    Ok(Json(
        query::run(&state, &principal, per_minute, &req).await?,
    ))
}
