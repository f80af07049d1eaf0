//! `/v1/consents`: the public prosecutor issues and withdraws the consent a Wpg art. 19 query
//! under a case needs. The rules live in [`crate::cases::consent`]; this file is the HTTP
//! shape, documented in docs/API.md and docs/CASES.md.

use axum::Json;
use axum::extract::{Path, State};
use kruispunt_sdk::cases::{Consent, ConsentRequest};

use crate::auth::Authenticated;
use crate::cases::consent;
use crate::civil::now_secs;
use crate::problem::Problem;
use crate::routes::json::StrictJson;
use crate::state::AppState;

pub async fn issue(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    StrictJson(req): StrictJson<ConsentRequest>,
) -> Result<Json<Consent>, Problem> {
    Ok(Json(
        consent::issue(&state, &principal, &req, now_secs()).await?,
    ))
}

pub async fn withdraw(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Consent>, Problem> {
    Ok(Json(
        consent::withdraw(&state, &principal, &id, now_secs()).await?,
    ))
}
