//! The current key version of each coalition, announced by its administrator after a
//! rotation, and the erasure of the coalition's signals under older versions once the grace
//! period ended (issue 6). Matching never crosses key versions, so old signals only stop being
//! useful; erasing them is data minimisation, audited like every other purge.
//!
//! **Which signals belong to a coalition.** A signal does not name its coalition; it names its
//! supplier, district and purposes. It belongs to coalition C when its supplier is a member of
//! C, one of its purposes is a purpose of C and (if C is local) its district is C's. Purposes
//! and members are shared between coalitions in the registry, so a signal that would also
//! belong to *another* coalition is never erased here (it is left to its own end of retention):
//! erasure is irreversible, and a wrong one would destroy another coalition's current data.

use kruispunt_policy::registry::Coalition;
use kruispunt_sdk::coalition::wire::{AnnounceKeyVersion, KeyVersionStatus};

use crate::audit_entry::Operation;
use crate::audit_trail;
use crate::auth::Principal;
use crate::mls::store::{Announced, GroupKind, KeyVersionRow};
use crate::problem::Problem;
use crate::state::AppState;
use crate::store::{StoreError, StoredSignal};

/// The role that administers a coalition (creates its group, announces its key version).
pub const ADMIN_ROLE: &str = "coalitiebeheerder";
/// Grace period when the announcement names none.
pub const DEFAULT_GRACE_DAYS: u32 = 14;
/// Longest grace period an announcement may ask for.
pub const MAX_GRACE_DAYS: u32 = 365;

fn status(r: KeyVersionRow) -> KeyVersionStatus {
    KeyVersionStatus {
        coalition: r.coalition,
        key_version: r.key_version,
        grace_until: r.grace_until,
        announced_by: r.announced_by,
        announced_at: r.announced_at,
    }
}

/// `PUT /v1/coalitions/{coalition}/key-version`: only the organisation that created the
/// coalition's group, acting with the administrator role, may announce; refusals are audited.
pub async fn announce(
    state: &AppState,
    principal: &Principal,
    coalition: &str,
    req: &AnnounceKeyVersion,
    now: i64,
) -> Result<KeyVersionStatus, Problem> {
    if state.policy.registry().coalition(coalition).is_none() {
        return Err(Problem::not_found(format!(
            "coalition: no coalition {coalition:?} in the registry"
        )));
    }
    if req.key_version == 0 {
        return Err(Problem::bad_request(
            "invalid-key-version",
            "key_version: coalition key versions start at 1",
        ));
    }
    let grace_days = req.grace_days.unwrap_or(DEFAULT_GRACE_DAYS);
    if grace_days > MAX_GRACE_DAYS {
        return Err(Problem::bad_request(
            "invalid-grace-days",
            format!("grace_days: at most {MAX_GRACE_DAYS}"),
        ));
    }
    let group = state.store.mls().group(coalition).await?;
    let Some(group) = group.filter(|g| g.kind == GroupKind::Coalition) else {
        return Err(Problem::not_found(format!(
            "coalition: {coalition:?} has no MLS group yet; its administrator creates it first"
        )));
    };
    let is_admin =
        group.created_by == principal.org && principal.roles.iter().any(|r| r == ADMIN_ROLE);
    if !is_admin {
        let mut entry = audit_trail::by(
            Some(principal),
            Operation::Refuse,
            "coalition.key-version.refused",
        );
        entry.decision = Some("deny".into());
        entry.reasons = vec!["not_coalition_admin".into()];
        entry.detail =
            serde_json::json!({ "coalition": coalition, "key_version": req.key_version });
        state.store.append_audit(&[entry]).await?;
        return Err(Problem::new(
            axum::http::StatusCode::FORBIDDEN,
            "not-coalition-admin",
            "Forbidden",
            format!(
                "only the organisation that created {coalition}'s group, with the {ADMIN_ROLE} role, announces its key version"
            ),
        )
        .with_reasons(vec!["not_coalition_admin".into()]));
    }
    let row = KeyVersionRow {
        coalition: coalition.to_string(),
        key_version: req.key_version,
        grace_until: now.saturating_add(i64::from(grace_days) * 86_400),
        announced_by: principal.org.clone(),
        announced_at: now,
    };
    let mut entry = audit_trail::by(
        Some(principal),
        Operation::Collect,
        "coalition.key-version.announce",
    );
    entry.decision = Some("allow".into());
    entry.detail = serde_json::json!({
        "coalition": coalition, "key_version": row.key_version, "grace_days": grace_days,
        "grace_until": row.grace_until,
    });
    match state.store.mls().announce_key_version(&row, &entry).await? {
        Announced::Stored => Ok(status(row)),
        Announced::NotForward(current) => Err(Problem::new(
            axum::http::StatusCode::CONFLICT,
            "key-version-not-forward",
            "Key versions only move forward",
            format!("key_version: {coalition} is at version {current}; announce a higher one"),
        )),
    }
}

/// `GET /v1/coalitions/{coalition}/key-version`: for the coalition's registry members.
pub async fn current(
    state: &AppState,
    principal: &Principal,
    coalition: &str,
) -> Result<KeyVersionStatus, Problem> {
    let registry = state.policy.registry();
    let Some(c) = registry.coalition(coalition) else {
        return Err(Problem::not_found(format!(
            "coalition: no coalition {coalition:?} in the registry"
        )));
    };
    // Non-members learn nothing, not even whether a version was announced.
    let row = if c.members.contains(&principal.org) {
        state.store.mls().key_version(coalition).await?
    } else {
        None
    };
    row.map(status).ok_or_else(|| {
        Problem::not_found(format!(
            "coalition: no key version announced for {coalition:?} that you may see"
        ))
    })
}

/// Whether `s` belongs to coalition `c` (see the module documentation).
fn belongs_to(c: &Coalition, s: &StoredSignal) -> bool {
    c.members.contains(&s.org)
        && s.purposes.iter().any(|p| c.purposes.contains(p))
        && c.district.as_ref().is_none_or(|d| *d == s.district)
}

/// Erases, per coalition whose grace period ended at `now`, its signals under older key
/// versions — one transaction and one `erase` audit entry per coalition — and drops them from
/// the match index. Returns how many were erased.
pub async fn purge_superseded(state: &AppState, now: i64) -> Result<usize, StoreError> {
    let registry = state.policy.registry();
    let mut total = 0;
    for row in state.store.mls().key_versions_past_grace(now).await? {
        let Some(c) = registry.coalition(&row.coalition) else {
            continue; // no longer in the registry: nothing defines its signals
        };
        let others: Vec<&Coalition> = registry
            .coalitions
            .iter()
            .filter(|o| o.id != c.id)
            .collect();
        let belongs =
            |s: &StoredSignal| belongs_to(c, s) && !others.iter().any(|o| belongs_to(o, s));
        let audit_for = |signals: &[StoredSignal]| {
            let mut e = audit_trail::by(None, Operation::Erase, "retention.key-version.purge");
            e.actor_org = Some("kruispunt-broker".into());
            e.decision = Some("allow".into());
            e.pseudonyms = signals.iter().map(|s| hex::encode(s.stored)).collect();
            e.source_orgs = signals
                .iter()
                .map(|s| s.org.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let old: std::collections::BTreeSet<u32> =
                signals.iter().map(|s| s.key_version).collect();
            e.detail = serde_json::json!({
                "coalition": row.coalition, "key_version": row.key_version,
                "old_versions": old, "count": signals.len(),
                "ids": signals.iter().map(|s| s.id.to_string()).collect::<Vec<_>>(),
            });
            e
        };
        let purged = state
            .store
            .mls()
            .purge_below_version(row.key_version, &belongs, &audit_for)
            .await?;
        crate::retention::drop_from_index(state, &purged);
        total += purged.len();
    }
    Ok(total)
}
