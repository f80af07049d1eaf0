//! One entry of the audit trail, and the builders the routes use to fill it.
//!
//! The type and its canonical encoding are part of the log's verifiable format, so they live in
//! [`kruispunt_sdk::transparency::entry`] (one definition for the broker that writes entries and
//! for every tool that checks them); re-exported here. The builders below are one place that
//! decides what an entry records, so that every route records who, what, why and which
//! pseudonyms the same way — and never a clear identifier (the pseudonyms here are the broker's
//! at-rest forms).

use kruispunt_policy::Decision;
pub use kruispunt_sdk::transparency::entry::{AuditEntry, Operation};

use crate::auth::Principal;
use crate::civil::now_millis;

/// An entry with the actor filled in from the authenticated principal.
pub fn by(principal: Option<&Principal>, operation: Operation, action: &str) -> AuditEntry {
    AuditEntry {
        actor_org: principal.map(|p| p.org.clone()),
        actor_user: principal.map(|p| p.user.clone()),
        ..AuditEntry::new(now_millis(), operation, action)
    }
}

/// Records the policy's decision (allow/deny, reasons, bundle hash) on an entry.
pub fn with_decision(mut e: AuditEntry, d: &Decision) -> AuditEntry {
    e.decision = Some(if d.allow { "allow" } else { "deny" }.to_string());
    e.reasons = d.reasons.clone();
    e.policy_hash = Some(d.bundle_hash.clone());
    e
}
