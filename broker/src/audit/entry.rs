//! One entry of the audit trail, and the builders the routes use to fill it.
//!
//! The type and its canonical encoding are part of the log's verifiable format, so they live in
//! [`kruispunt_sdk::transparency::entry`] (one definition for the broker that writes entries and
//! for every tool that checks them); re-exported here. The builders below are one place that
//! decides what an entry records, so that every route records who, what, why and which
//! pseudonyms the same way — and never a clear identifier (the pseudonyms here are the broker's
//! at-rest forms).

use std::collections::BTreeSet;

use kruispunt_policy::Decision;
pub use kruispunt_sdk::transparency::entry::{AuditEntry, Operation};

use crate::auth::Principal;
use crate::civil::now_millis;
use crate::store::StoredSignal;

/// An entry with the actor filled in from the authenticated principal, and the token's `jti`
/// (if it had one) as `detail.jti`, so that an entry can be traced to the token that made the
/// request (docs/AUDIT.md). Callers add their detail with [`set_detail`], which keeps it.
pub fn by(principal: Option<&Principal>, operation: Operation, action: &str) -> AuditEntry {
    AuditEntry {
        actor_org: principal.map(|p| p.org.clone()),
        actor_user: principal.map(|p| p.user.clone()),
        detail: match principal.and_then(|p| p.token_id.as_deref()) {
            Some(jti) => serde_json::json!({ "jti": jti }),
            None => serde_json::Value::Null,
        },
        ..AuditEntry::new(now_millis(), operation, action)
    }
}

/// Sets `e.detail` to `detail` (an object), keeping the `jti` that [`by`] recorded.
pub fn set_detail(e: &mut AuditEntry, mut detail: serde_json::Value) {
    if let (Some(jti), Some(d)) = (e.detail.get("jti").cloned(), detail.as_object_mut()) {
        d.insert("jti".into(), jti);
    }
    e.detail = detail;
}

/// Records the policy's decision (allow/deny, reasons, bundle hash) on an entry.
pub fn with_decision(mut e: AuditEntry, d: &Decision) -> AuditEntry {
    e.decision = Some(if d.allow { "allow" } else { "deny" }.to_string());
    e.reasons = d.reasons.clone();
    e.policy_hash = Some(d.bundle_hash.clone());
    e
}

/// The actor the broker names in the entries of what it does on its own (retention purges).
pub const BROKER_ACTOR: &str = "kruispunt-broker";

/// An `erase` entry the broker writes on its own behalf (no principal): actor
/// [`BROKER_ACTOR`], decision `allow`. The caller adds what was erased.
pub fn erase_by_broker(action: &str) -> AuditEntry {
    let mut e = by(None, Operation::Erase, action);
    e.actor_org = Some(BROKER_ACTOR.into());
    e.decision = Some("allow".into());
    e
}

/// The `erase` entry of a purge of stored signals: [`erase_by_broker`] naming every erased
/// signal's at-rest pseudonym (in the given order) and their suppliers (sorted, once each).
/// The caller adds the `detail`. One builder for every purge, so that each records whose data
/// it erased the same way.
pub fn erase_signals(action: &str, signals: &[StoredSignal]) -> AuditEntry {
    let mut e = erase_by_broker(action);
    e.pseudonyms = signals.iter().map(|s| hex::encode(s.stored)).collect();
    e.source_orgs = signals
        .iter()
        .map(|s| s.org.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_owned)
        .collect();
    e
}
