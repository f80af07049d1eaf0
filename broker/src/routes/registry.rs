//! `GET /v1/registry`: what the caller's organisation may send and ask (its purposes with the
//! roles that may use them, the codes with their titles, districts, gemeenten, identifier
//! kinds). The rules are in [`crate::registry_view`]; docs/API.md documents the answer.

use axum::Json;
use axum::extract::State;
use kruispunt_sdk::registry::RegistryView;

use crate::auth::Authenticated;
use crate::civil::now_secs;
use crate::problem::Problem;
use crate::state::AppState;

pub async fn show(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Json<RegistryView>, Problem> {
    let registry = state.policy.registry();
    // Authentication found the organisation in this registry; a reload between the two that
    // dropped it is the only way here.
    crate::registry_view::for_organisation(&registry, &principal.org, now_secs())
        .map(Json)
        .ok_or_else(|| Problem::unavailable("the registry changed; ask again"))
}
