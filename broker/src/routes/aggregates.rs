//! `POST /v1/aggregates`: a question to the ondermijningsbeeld. The flow — validation, the
//! policy, the snapshot, the release under disclosure control, the budget charged with the
//! audit entry before the answer leaves — is [`crate::beeld::query`]; this file is its HTTP
//! shape (authentication, the strict JSON body, the answer or the problem).

use axum::Json;
use axum::extract::State;
use kruispunt_sdk::beeld::{AggregateRequest, AggregateResponse};

use crate::auth::Authenticated;
use crate::beeld;
use crate::civil::now_secs;
use crate::problem::Problem;
use crate::routes::json::StrictJson;
use crate::state::AppState;

pub async fn create(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    StrictJson(req): StrictJson<AggregateRequest>,
) -> Result<Json<AggregateResponse>, Problem> {
    Ok(Json(
        beeld::run(&state, &principal, &req, now_secs()).await?,
    ))
}
