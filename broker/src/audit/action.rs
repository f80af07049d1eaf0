//! The `action` of every audit entry the broker writes, in one list.
//!
//! The strings are stored data: they are inside the canonical bytes every leaf of the log
//! commits to, privacy officers filter the review by them, and the verifier recognises
//! [`AUDIT_ERASE`] by it. So they never change, not even to make them consistent — which is
//! why some read singular (`signal.withdraw`) and others plural (`signals.upload`). The
//! constants' *names* are the consistent part: the resource in the singular, then the verb.
//! docs/AUDIT.md lists them for readers of the log.

/// A match question (`POST /v1/matches`), answered or refused (the entry's operation says which).
pub const MATCH: &str = "match";

/// An upload batch of signals (`POST /v1/signals`, a chunk of `/v1/signals/bulk`), and the
/// policy's refusal of some of its items.
pub const SIGNAL_UPLOAD: &str = "signals.upload";
/// The withdrawal of a signal by its supplier, or its refusal (not the caller's signal).
pub const SIGNAL_WITHDRAW: &str = "signal.withdraw";

/// A request refused before it was understood: no or a bad token or certificate, rate limit.
pub const AUTH_REFUSED: &str = "auth.refused";
/// A read of the audit review (or its refusal).
pub const AUDIT_READ: &str = "audit.read";
/// The erasure of audit entries past their retention (`kruispunt audit erase`). Defined in the
/// SDK because the verifier checks erased lines against these entries.
pub const AUDIT_ERASE: &str = kruispunt_sdk::transparency::ERASE_ACTION;

/// A release of the ondermijningsbeeld (`POST /v1/aggregates`): answered (operation
/// `disclose`, also for an uncharged repeat) or refused (policy, or the privacy budget).
pub const AGGREGATE_RELEASE: &str = "aggregate.release";
/// The feedback to a supplier (`GET /v1/feedback`): released (`disclose`) or refused.
pub const FEEDBACK_RELEASE: &str = "feedback.release";

/// A case registered (`POST /v1/cases`).
pub const CASE_OPEN: &str = "case.open";
/// A case moved to another state (`POST /v1/cases/{reference}/state`): intervention, closure.
pub const CASE_STATE: &str = "case.state";
/// A case operation refused (the token lacks the case role, or the organisation does not take
/// part in the case).
pub const CASE_REFUSED: &str = "case.refused";
/// The public prosecutor's consent issued (`POST /v1/consents`).
pub const CONSENT_ISSUE: &str = "consent.issue";
/// A consent withdrawn by its issuer (`DELETE /v1/consents/{id}`).
pub const CONSENT_WITHDRAW: &str = "consent.withdraw";
/// A consent operation refused (the token lacks the consent role, or not the issuer).
pub const CONSENT_REFUSED: &str = "consent.refused";

/// Signals erased at the end of their retention period.
pub const RETENTION_PURGE: &str = "retention.purge";
/// Signals erased because their coalition's key version was superseded (after the grace).
pub const RETENTION_KEY_VERSION_PURGE: &str = "retention.key-version.purge";
/// MLS key packages erased at the end of their lifetime.
pub const RETENTION_KEY_PACKAGE_PURGE: &str = "retention.key-packages.purge";
/// MLS message and welcome logs compacted below the oldest current member's join point.
pub const RETENTION_MLS_LOG_COMPACT: &str = "retention.mls-log.compact";

/// A coalition's new key version, announced by its administrator.
pub const COALITION_KEY_VERSION_ANNOUNCE: &str = "coalition.key-version.announce";
/// An announcement refused (not the coalition's administrator).
pub const COALITION_KEY_VERSION_REFUSED: &str = "coalition.key-version.refused";

/// Key packages published by an organisation.
pub const MLS_KEY_PACKAGE_PUBLISH: &str = "mls.key_packages.publish";
/// A key package handed to the organisation that claimed it.
pub const MLS_KEY_PACKAGE_CLAIM: &str = "mls.key_package.claim";
/// An MLS group registered.
pub const MLS_GROUP_CREATE: &str = "mls.group.create";
/// A case channel's registration refused (no registered case the creator takes part in, a
/// closed case, no case role, or a list naming an organisation that does not take part).
pub const MLS_GROUP_REFUSED: &str = "mls.group.refused";
/// A group re-initialised by its administrator under the same id (a new epoch 0 whose log
/// continues; docs/COALITIONS.md).
pub const MLS_GROUP_REINIT: &str = "mls.group.reinit";
/// A commit refused because it adds an organisation the registry (or the case) does not allow.
pub const MLS_COMMIT_REFUSED: &str = "mls.commit.refused";
/// A message or commit refused because its case channel's case is closed (or not registered):
/// the channel's revocation (docs/CASES.md, "The revocation guarantee").
pub const MLS_MESSAGE_REFUSED: &str = "mls.message.refused";
/// A message that lost the race for its epoch.
pub const MLS_EPOCH_CONFLICT: &str = "mls.epoch.conflict";
/// A message appended to a group's log (and the welcomes a commit routes).
pub const MLS_DELIVER: &str = "mls.deliver";
/// A read of a group's message log.
pub const MLS_FETCH: &str = "mls.fetch";
/// A read of the welcomes addressed to an organisation.
pub const MLS_WELCOME_FETCH: &str = "mls.welcomes.fetch";

/// Every action above, for documentation checks and tooling.
pub const ALL: &[&str] = &[
    MATCH,
    SIGNAL_UPLOAD,
    SIGNAL_WITHDRAW,
    AUTH_REFUSED,
    AUDIT_READ,
    AUDIT_ERASE,
    AGGREGATE_RELEASE,
    FEEDBACK_RELEASE,
    CASE_OPEN,
    CASE_STATE,
    CASE_REFUSED,
    CONSENT_ISSUE,
    CONSENT_WITHDRAW,
    CONSENT_REFUSED,
    RETENTION_PURGE,
    RETENTION_KEY_VERSION_PURGE,
    RETENTION_KEY_PACKAGE_PURGE,
    RETENTION_MLS_LOG_COMPACT,
    COALITION_KEY_VERSION_ANNOUNCE,
    COALITION_KEY_VERSION_REFUSED,
    MLS_KEY_PACKAGE_PUBLISH,
    MLS_KEY_PACKAGE_CLAIM,
    MLS_GROUP_CREATE,
    MLS_GROUP_REFUSED,
    MLS_GROUP_REINIT,
    MLS_COMMIT_REFUSED,
    MLS_MESSAGE_REFUSED,
    MLS_EPOCH_CONFLICT,
    MLS_DELIVER,
    MLS_FETCH,
    MLS_WELCOME_FETCH,
];

#[cfg(test)]
mod tests {
    /// docs/AUDIT.md lists every action the broker writes; keep the two in step.
    #[test]
    fn the_audit_doc_lists_every_action() {
        let doc = include_str!("../../../docs/AUDIT.md");
        for a in super::ALL {
            assert!(
                doc.contains(&format!("`{a}`")),
                "docs/AUDIT.md does not list {a}"
            );
        }
    }
}
