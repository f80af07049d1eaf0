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
//! [`sole_coalition`] is that rule, and the only place it is written.
//!
//! **Uploads under a superseded version.** Once a coalition's grace period is over, an upload
//! under an older version of a signal whose sole coalition it is would be stored only to be
//! erased on the next tick (and never match meanwhile): ingest refuses such an item
//! ([`superseded_by`]), naming the field and the rule. During the grace period it is stored.

use std::collections::HashMap;

use kruispunt_policy::registry::{Coalition, Registry};
use kruispunt_sdk::coalition::wire::{AnnounceKeyVersion, KeyVersionStatus};

use crate::audit::entry::Operation;
use crate::audit::{action, entry};
use crate::auth::Principal;
use crate::civil::format_date;
use crate::mls::store::{Announced, GroupKind, KeyVersionRow};
use crate::state::AppState;
use crate::store::{StoreError, StoredSignal};

/// Grace period when the announcement names none.
pub const DEFAULT_GRACE_DAYS: u32 = 14;
/// Longest grace period an announcement may ask for.
pub const MAX_GRACE_DAYS: u32 = 365;
/// Shortest grace period an announcement may ask for.
///
/// Why a floor: once the grace period ends the retention task erases the coalition's signals
/// under older versions and ingest refuses uploads under them. With no floor, one announcement
/// (by a compromised or mistaken administrator) would erase the coalition's data at the next
/// tick, before any partner could even fetch the new key and re-upload; a week lets every
/// partner notice, object and re-pseudonymise.
pub const MIN_GRACE_DAYS: u32 = 7;

/// Why an announcement or a read of a coalition's key version was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyVersionError {
    #[error("coalition: no coalition {0:?} in the registry")]
    UnknownCoalition(String),
    #[error("key_version: coalition key versions start at 1")]
    ZeroKeyVersion,
    #[error("grace_days: between {MIN_GRACE_DAYS} and {MAX_GRACE_DAYS}")]
    GraceOutOfRange,
    #[error("coalition: {0:?} has no MLS group yet; its administrator creates it first")]
    NoGroup(String),
    /// The announcer is not the coalition's administrator (audited).
    #[error(
        "only the administrator the registry names for {coalition}, with its role, announces its key version"
    )]
    NotAdmin { coalition: String },
    /// The announced version is not the successor of the current one.
    #[error("key_version: {coalition} is at version {current}; announce exactly the next one")]
    NotForward { coalition: String, current: u32 },
    /// None announced, or the reader is not a member (who learns nothing either way).
    #[error("coalition: no key version announced for {0:?} that you may see")]
    NotAnnounced(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The reason code of a refused announcement.
pub const NOT_COALITION_ADMIN: &str = "not_coalition_admin";

fn status(r: KeyVersionRow) -> KeyVersionStatus {
    KeyVersionStatus {
        coalition: r.coalition,
        key_version: r.key_version,
        grace_until: r.grace_until,
        announced_by: r.announced_by,
        announced_at: r.announced_at,
    }
}

/// `PUT /v1/coalitions/{coalition}/key-version`: only the administrator the registry names for
/// the coalition (organisation and role) may announce; refusals are audited. The version is the
/// successor of the current one (1 before any announcement: the group starts at version 1) and
/// the grace period at least [`MIN_GRACE_DAYS`], so no announcement erases the coalition's
/// signals at once or puts its uploads out of reach.
pub async fn announce(
    state: &AppState,
    principal: &Principal,
    coalition: &str,
    req: &AnnounceKeyVersion,
    now: i64,
) -> Result<KeyVersionStatus, KeyVersionError> {
    let registry = state.policy.registry();
    let Some(c) = registry.coalition(coalition) else {
        return Err(KeyVersionError::UnknownCoalition(coalition.to_string()));
    };
    if req.key_version == 0 {
        return Err(KeyVersionError::ZeroKeyVersion);
    }
    let grace_days = req.grace_days.unwrap_or(DEFAULT_GRACE_DAYS);
    if !(MIN_GRACE_DAYS..=MAX_GRACE_DAYS).contains(&grace_days) {
        return Err(KeyVersionError::GraceOutOfRange);
    }
    let group = state.store.mls().group(coalition).await?;
    if !group.is_some_and(|g| g.kind == GroupKind::Coalition) {
        return Err(KeyVersionError::NoGroup(coalition.to_string()));
    }
    let is_admin = principal.org == c.admin.org && principal.roles.contains(&c.admin.role);
    if !is_admin {
        let mut entry = entry::by(
            Some(principal),
            Operation::Refuse,
            action::COALITION_KEY_VERSION_REFUSED,
        );
        entry.decision = Some("deny".into());
        entry.reasons = vec![NOT_COALITION_ADMIN.into()];
        entry.detail =
            serde_json::json!({ "coalition": coalition, "key_version": req.key_version });
        state.store.audit().append_audit(&[entry]).await?;
        return Err(KeyVersionError::NotAdmin {
            coalition: coalition.to_string(),
        });
    }
    // Only the successor; the store's compare-and-set still refuses a concurrent announcement.
    let current = state
        .store
        .mls()
        .key_version(coalition)
        .await?
        .map_or(1, |r| r.key_version);
    if current.checked_add(1) != Some(req.key_version) {
        return Err(KeyVersionError::NotForward {
            coalition: coalition.to_string(),
            current,
        });
    }
    let row = KeyVersionRow {
        coalition: coalition.to_string(),
        key_version: req.key_version,
        grace_until: now.saturating_add(i64::from(grace_days) * 86_400),
        announced_by: principal.org.clone(),
        announced_at: now,
    };
    let mut entry = entry::by(
        Some(principal),
        Operation::Collect,
        action::COALITION_KEY_VERSION_ANNOUNCE,
    );
    entry.decision = Some("allow".into());
    crate::audit::entry::set_detail(
        &mut entry,
        serde_json::json!({
            "coalition": coalition, "key_version": row.key_version, "grace_days": grace_days,
            "grace_until": row.grace_until,
        }),
    );
    match state.store.mls().announce_key_version(&row, &entry).await? {
        Announced::Stored => Ok(status(row)),
        Announced::NotForward(current) => Err(KeyVersionError::NotForward {
            coalition: coalition.to_string(),
            current,
        }),
    }
}

/// `GET /v1/coalitions/{coalition}/key-version`: for the coalition's registry members.
pub async fn current(
    state: &AppState,
    principal: &Principal,
    coalition: &str,
) -> Result<KeyVersionStatus, KeyVersionError> {
    let registry = state.policy.registry();
    let Some(c) = registry.coalition(coalition) else {
        return Err(KeyVersionError::UnknownCoalition(coalition.to_string()));
    };
    // Non-members learn nothing, not even whether a version was announced.
    let row = if c.members.contains(&principal.org) {
        state.store.mls().key_version(coalition).await?
    } else {
        None
    };
    row.map(status)
        .ok_or_else(|| KeyVersionError::NotAnnounced(coalition.to_string()))
}

/// What the membership rule looks at in a signal (stored or being uploaded).
#[derive(Debug, Clone, Copy)]
pub struct SignalScope<'a> {
    /// The supplying organisation.
    pub org: &'a str,
    pub purposes: &'a [String],
    pub district: &'a str,
}

impl<'a> From<&'a StoredSignal> for SignalScope<'a> {
    fn from(s: &'a StoredSignal) -> Self {
        SignalScope {
            org: &s.org,
            purposes: &s.purposes,
            district: &s.district,
        }
    }
}

/// Whether a signal belongs to coalition `c` (see the module documentation).
fn belongs_to(c: &Coalition, s: SignalScope<'_>) -> bool {
    c.members.iter().any(|m| m == s.org)
        && s.purposes.iter().any(|p| c.purposes.contains(p))
        && c.district.as_ref().is_none_or(|d| d == s.district)
}

/// The one coalition a signal belongs to; `None` when it belongs to none or to several. The
/// single membership rule of the key-version lifecycle: only such a signal is erased under a
/// superseded version, and only such a signal is refused at upload (see [`superseded_by`]).
pub fn sole_coalition<'r>(registry: &'r Registry, s: SignalScope<'_>) -> Option<&'r Coalition> {
    let mut found = registry.coalitions.iter().filter(|c| belongs_to(c, s));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// The announced versions whose grace period ended at `now`, by coalition: read once per
/// upload batch for [`superseded_by`].
pub async fn past_grace(
    state: &AppState,
    now: i64,
) -> Result<HashMap<String, KeyVersionRow>, StoreError> {
    Ok(state
        .store
        .mls()
        .key_versions_past_grace(now)
        .await?
        .into_iter()
        .map(|r| (r.coalition.clone(), r))
        .collect())
}

/// The announcement that makes a signal under `key_version` dead on arrival: its sole
/// coalition announced a newer version whose grace period is over (`past` from
/// [`past_grace`]). Exactly the signals the next [`purge_superseded`] would erase.
pub fn superseded_by<'p>(
    registry: &Registry,
    past: &'p HashMap<String, KeyVersionRow>,
    s: SignalScope<'_>,
    key_version: u32,
) -> Option<&'p KeyVersionRow> {
    if past.is_empty() {
        return None; // the common case: no registry scan at all
    }
    let c = sole_coalition(registry, s)?;
    past.get(&c.id).filter(|r| r.key_version > key_version)
}

/// Why an upload under a superseded version is refused, for the item's `reason`.
pub fn superseded_reason(row: &KeyVersionRow, key_version: u32) -> String {
    format!(
        "key version {key_version} is superseded: coalition {} is at version {} since {} \
         (grace period ended {}); re-pseudonymise under version {}",
        row.coalition,
        row.key_version,
        format_date(row.announced_at.div_euclid(86_400)),
        format_date(row.grace_until.div_euclid(86_400)),
        row.key_version
    )
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
        let belongs = |s: &StoredSignal| {
            sole_coalition(&registry, s.into()).is_some_and(|sole| sole.id == c.id)
        };
        let audit_for = |signals: &[StoredSignal]| {
            let mut e = entry::erase_signals(action::RETENTION_KEY_VERSION_PURGE, signals);
            let old: std::collections::BTreeSet<u32> =
                signals.iter().map(|s| s.key_version).collect();
            crate::audit::entry::set_detail(
                &mut e,
                serde_json::json!({
                    "coalition": row.coalition, "key_version": row.key_version,
                    "old_versions": old, "count": signals.len(),
                    "ids": signals.iter().map(|s| s.id.to_string()).collect::<Vec<_>>(),
                }),
            );
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
