//! `/v1/mls/…`: the MLS delivery service (key packages, groups, message logs, welcomes). The
//! rules live in `crate::mls::delivery`; this file is the HTTP shape, documented in
//! docs/API.md and docs/COALITIONS.md.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use kruispunt_sdk::coalition::wire::{
    self, ClaimKeyPackage, CreateGroup, GroupKind as WireKind, GroupStatus, KeyPackageClaimed,
    KeyPackagesPublished, LoggedMessage, LoggedWelcome, MessageList, MessagePosted, PostMessage,
    PublishKeyPackages, WelcomeList,
};

use crate::auth::Authenticated;
use crate::mls::delivery;
use crate::mls::store::{GroupKind, GroupRow};
use crate::problem::Problem;
use crate::routes::json::StrictJson;
use crate::state::AppState;

fn status(g: &GroupRow) -> GroupStatus {
    GroupStatus {
        group_id: g.id.clone(),
        kind: match g.kind {
            GroupKind::Coalition => WireKind::Coalition,
            GroupKind::Case => WireKind::Case,
        },
        coalition: g.coalition.clone(),
        epoch: g.epoch,
        members: g.members.clone(),
        next_seq: g.next_seq,
        unreadable_leaves: Vec::new(),
    }
}

/// Reads the one unsigned integer parameter `name` (default 0) from the query string; any
/// other parameter is refused, so a typo does not silently fetch from the start.
fn cursor(query: Option<&str>, name: &str) -> Result<u64, Problem> {
    let mut value = 0;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != name {
            return Err(Problem::bad_request(
                "invalid-query",
                format!("{k}: unknown parameter; only {name} is taken"),
            ));
        }
        value = v.parse().map_err(|_| {
            Problem::bad_request("invalid-query", format!("{name}: an unsigned integer"))
        })?;
    }
    Ok(value)
}

pub async fn publish_key_packages(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    StrictJson(req): StrictJson<PublishKeyPackages>,
) -> Result<Json<KeyPackagesPublished>, Problem> {
    let refs = delivery::publish_key_packages(&state, &principal, &req.key_packages).await?;
    Ok(Json(KeyPackagesPublished { refs }))
}

pub async fn claim_key_package(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    StrictJson(req): StrictJson<ClaimKeyPackage>,
) -> Result<Json<KeyPackageClaimed>, Problem> {
    let c = delivery::claim_key_package(&state, &principal, &req.org).await?;
    Ok(Json(KeyPackageClaimed {
        org: req.org,
        key_package: wire::b64(&c.data),
        kp_ref: hex::encode(&c.kp_ref),
        last_resort: c.last_resort,
    }))
}

pub async fn create_group(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    StrictJson(req): StrictJson<CreateGroup>,
) -> Result<Json<GroupStatus>, Problem> {
    let row = delivery::create_group(&state, &principal, &req).await?;
    Ok(Json(status(&row)))
}

/// `PUT /v1/mls/groups/{id}`: the administrator re-initialises the group (see
/// `delivery::reinit_group`).
pub async fn reinit_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Authenticated { principal, .. }: Authenticated,
    StrictJson(req): StrictJson<CreateGroup>,
) -> Result<Json<GroupStatus>, Problem> {
    let row = delivery::reinit_group(&state, &principal, &id, &req).await?;
    Ok(Json(status(&row)))
}

pub async fn group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Json<GroupStatus>, Problem> {
    let row = delivery::member_group(&state, &principal, &id).await?;
    Ok(Json(GroupStatus {
        unreadable_leaves: delivery::unreadable_leaves(&row)?,
        ..status(&row)
    }))
}

pub async fn post_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Authenticated { principal, .. }: Authenticated,
    StrictJson(req): StrictJson<PostMessage>,
) -> Result<Json<MessagePosted>, Problem> {
    let d = delivery::post_message(&state, &principal, &id, &req).await?;
    Ok(Json(MessagePosted {
        seq: d.seq,
        epoch: d.epoch,
    }))
}

pub async fn messages(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Json<MessageList>, Problem> {
    let from = cursor(query.as_deref(), "from")?;
    let rows = delivery::fetch_messages(&state, &principal, &id, from).await?;
    let next = rows.last().map_or(from, |m| m.seq + 1);
    Ok(Json(MessageList {
        messages: rows
            .into_iter()
            .map(|m| LoggedMessage {
                seq: m.seq,
                epoch: m.epoch,
                sender: m.sender,
                content_type: m.content_type,
                message: wire::b64(&m.data),
            })
            .collect(),
        next,
    }))
}

pub async fn welcomes(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Json<WelcomeList>, Problem> {
    let after = cursor(query.as_deref(), "after")?;
    let rows = delivery::fetch_welcomes(&state, &principal, after).await?;
    let next = rows.last().map_or(after, |w| w.id);
    Ok(Json(WelcomeList {
        welcomes: rows
            .into_iter()
            .map(|w| LoggedWelcome {
                id: w.id,
                group_id: w.group_id,
                epoch: w.epoch,
                from_seq: w.from_seq,
                welcome: wire::b64(&w.data),
            })
            .collect(),
        next,
    }))
}

pub async fn announce_key_version(
    State(state): State<AppState>,
    Path(coalition): Path<String>,
    Authenticated { principal, .. }: Authenticated,
    StrictJson(req): StrictJson<wire::AnnounceKeyVersion>,
) -> Result<Json<wire::KeyVersionStatus>, Problem> {
    let now = crate::civil::now_secs();
    let s = crate::mls::key_version::announce(&state, &principal, &coalition, &req, now).await?;
    Ok(Json(s))
}

pub async fn key_version(
    State(state): State<AppState>,
    Path(coalition): Path<String>,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Json<wire::KeyVersionStatus>, Problem> {
    let s = crate::mls::key_version::current(&state, &principal, &coalition).await?;
    Ok(Json(s))
}
