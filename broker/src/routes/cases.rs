//! `/v1/cases`: registering a case, moving it, and reading the cases the caller's organisation
//! takes part in. The rules live in [`crate::cases`]; this file is the HTTP shape, documented
//! in docs/API.md and docs/CASES.md.

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, State};
use kruispunt_sdk::cases::{
    Case, CaseList, CaseOpenRequest, CaseStateRequest, FeedbackQuery, FeedbackResponse,
};

use crate::auth::Authenticated;
use crate::cases;
use crate::civil::now_secs;
use crate::problem::Problem;
use crate::routes::json::StrictJson;
use crate::state::AppState;

pub async fn open(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    StrictJson(req): StrictJson<CaseOpenRequest>,
) -> Result<Json<Case>, Problem> {
    Ok(Json(
        cases::open(&state, &principal, &req, now_secs()).await?,
    ))
}

pub async fn advance(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    Path(reference): Path<String>,
    StrictJson(req): StrictJson<CaseStateRequest>,
) -> Result<Json<Case>, Problem> {
    Ok(Json(
        cases::advance(&state, &principal, &reference, &req, now_secs()).await?,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    Path(reference): Path<String>,
) -> Result<Json<Case>, Problem> {
    Ok(Json(cases::get(&state, &principal, &reference).await?))
}

pub async fn list(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Json<CaseList>, Problem> {
    Ok(Json(CaseList {
        cases: cases::list(&state, &principal).await?,
    }))
}

/// `GET /v1/feedback?from=YYYY-MM&to=YYYY-MM`: how many of the caller's own signals contributed
/// to cases, per month and outcome, under the release rules ([`cases::feedback`]).
pub async fn feedback(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    q: Result<Query<FeedbackQuery>, QueryRejection>,
) -> Result<Json<FeedbackResponse>, Problem> {
    let q = crate::routes::audit::query(q)?;
    Ok(Json(
        cases::feedback::run(&state, &principal, &q, now_secs()).await?,
    ))
}
