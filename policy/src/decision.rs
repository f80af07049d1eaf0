//! The decision: allow or deny, why, and what the broker must enforce.
//!
//! The policy only decides; the broker enforces the obligations in code (it filters results to
//! the disclosure level and revealable sectors, caps identifiers, waits for the minimum number
//! of sources, holds back notifications during an embargo and purges past retention).

use serde::{Deserialize, Serialize};

use kruispunt_sdk::wire::Level;

/// Stable reason codes the default bundle can return, with one line each. The list is the
/// reference for `docs/POLICY.md`; a test checks that the Rego uses no other codes.
pub const REASON_CODES: &[(&str, &str)] = &[
    ("action_unknown", "The action is not one the policy knows."),
    (
        "requester_unknown",
        "The requesting organisation is not in the registry.",
    ),
    (
        "requester_mismatch",
        "Claimed sector or public status differs from the registry.",
    ),
    (
        "coalition_unknown",
        "The coalition named is not in the registry.",
    ),
    (
        "not_a_coalition_member",
        "The requester is not a member of the coalition named.",
    ),
    ("purpose_unknown", "The purpose is not registered."),
    (
        "purpose_inactive",
        "The purpose is registered but not active.",
    ),
    ("purpose_expired", "The purpose's validity has ended."),
    (
        "not_a_party",
        "The requester is neither controller nor in a coalition for the purpose.",
    ),
    (
        "role_not_allowed",
        "None of the requester's roles may perform this action.",
    ),
    (
        "supplier_role_not_allowed",
        "None of the caller's roles may supply (upload or withdraw) signals for this purpose.",
    ),
    (
        "coalition_purpose_mismatch",
        "The coalition does not work under this purpose.",
    ),
    (
        "sector_not_allowed",
        "The requester's sector may not ask under this purpose.",
    ),
    (
        "recipient_not_allowed",
        "The requester's sector may not receive results of this purpose.",
    ),
    (
        "source_sector_not_allowed",
        "The requester's sector may not supply signals for this purpose.",
    ),
    (
        "identifier_kinds_missing",
        "No identifier kinds were given.",
    ),
    (
        "kind_not_allowed",
        "An identifier kind is not covered by the purpose.",
    ),
    (
        "unknown_signal_code",
        "A signal code is not in the purpose's taxonomy themes.",
    ),
    (
        "private_recipient_police_data",
        "A private partner would receive police-derived data.",
    ),
    (
        "private_recipient_riec_data",
        "A private partner would receive RIEC-derived data.",
    ),
    (
        "private_recipient_bibob_data",
        "A private partner would receive Bibob-derived data.",
    ),
    (
        "private_person_warning_without_permit",
        "Private-to-private person-level warning without an AP permit.",
    ),
    ("bsn_private_partner", "BSN from or to a private partner."),
    (
        "case_reference_missing",
        "A case reference is required (police, or disclosure above hit).",
    ),
    (
        "legal_basis_missing",
        "A police query names no legal basis.",
    ),
    (
        "legal_basis_mismatch",
        "The legal basis differs from the purpose's.",
    ),
    (
        "consent_missing",
        "Wpg art. 19: no consent id of the competent authority.",
    ),
    (
        "partnership_decision_missing",
        "Wpg art. 20: no partnership decision id.",
    ),
    (
        "partnership_decision_unknown",
        "Wpg art. 20: the partnership decision is not registered.",
    ),
    (
        "partnership_decision_mismatch",
        "Wpg art. 20: the decision does not cover this purpose, partnership, data or recipient.",
    ),
    (
        "partnership_decision_expired",
        "Wpg art. 20: the partnership decision has lapsed.",
    ),
    ("scope_missing", "A police query without a scoped token."),
    (
        "scope_purpose_mismatch",
        "The token was issued for another purpose.",
    ),
    (
        "scope_case_mismatch",
        "The token was issued for another case.",
    ),
    (
        "scope_legal_basis_mismatch",
        "The token was issued under another legal basis.",
    ),
    (
        "scope_consent_mismatch",
        "The token was issued under another consent or decision.",
    ),
    (
        "case_unknown",
        "Wpg art. 19/20: the case the query names is not registered in the broker.",
    ),
    (
        "case_closed",
        "Wpg art. 19/20: the case is closed; queries under it have ended.",
    ),
    (
        "case_not_participant",
        "Wpg art. 19/20: the requester does not take part in the case.",
    ),
    (
        "consent_unknown",
        "Wpg art. 19: the consent is not a record the public prosecutor issued in the broker.",
    ),
    (
        "consent_withdrawn",
        "Wpg art. 19: the public prosecutor withdrew the consent.",
    ),
    (
        "consent_expired",
        "Wpg art. 19: the consent's validity has ended.",
    ),
    (
        "consent_other_case",
        "Wpg art. 19: the consent was issued for another case.",
    ),
    (
        "consent_other_purpose",
        "Wpg art. 19: the consent was issued for another purpose.",
    ),
    (
        "consent_self_issued",
        "Wpg art. 19: the requesting organisation issued the consent itself (four eyes).",
    ),
    (
        "consent_scope_exceeded",
        "Wpg art. 19: the request or the token's scope exceeds the consent's kinds, maximum identifiers or ceiling.",
    ),
    (
        "scope_exceeded_kinds",
        "An identifier kind is outside the token's scope.",
    ),
    (
        "scope_exceeded_identifiers",
        "More identifiers than the token allows.",
    ),
    ("scope_expired", "The token's validity window has passed."),
    (
        "level_above_ceiling",
        "The requested disclosure level exceeds the purpose's ceiling.",
    ),
    (
        "justification_required",
        "Disclosure above hit needs a recorded necessity justification.",
    ),
    (
        "signal_expired",
        "An uploaded signal is already past the purpose's retention.",
    ),
    (
        "request_too_large",
        "More identifiers in one request than the purpose allows.",
    ),
    (
        "budget_exceeded",
        "The daily identifier budget for this requester and purpose is spent.",
    ),
    ("rate_limited", "Too many requests in the last minute."),
    (
        "sweep_suspected",
        "Many identifiers asked with almost no hits: an enumeration sweep.",
    ),
    (
        "audit_other_org",
        "Privacy officers read only their own organisation's audit entries.",
    ),
    (
        "not_own_data",
        "Only the supplying organisation may withdraw its signals.",
    ),
    ("coalition_missing", "Adding a member requires a coalition."),
    (
        "target_missing",
        "Adding a member requires the organisation to add.",
    ),
    (
        "target_unknown",
        "The organisation to add is not in the registry.",
    ),
    (
        "aggregates_not_offered",
        "The purpose offers no aggregate picture, or not this area level, measure or period.",
    ),
    (
        "aggregate_question_missing",
        "An aggregate request without its question.",
    ),
    (
        "area_not_allowed",
        "A municipal analyst asks gemeente or wijk detail outside its own gemeente.",
    ),
    (
        "target_not_in_coalition",
        "The registry does not list the organisation as a coalition member.",
    ),
    (
        "case_role_not_allowed",
        "Case channels: the token lacks the registry's case role, or its organisation's sector does not steer cases.",
    ),
    (
        "target_not_participant",
        "Case channels: the organisation to bring in does not take part in the case.",
    ),
    (
        "not_a_supplier",
        "Feedback: the organisation supplies under no purpose, or asks without a supplier role.",
    ),
];

/// Duties the broker must carry out in code when a request is allowed. On a refusal every
/// obligation is at its most restrictive (`none`, nothing revealable, zero identifiers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Obligations {
    /// Highest level the response may disclose.
    pub disclosure_level: Level,
    /// Sectors whose signals may be revealed to the requester.
    pub revealable_sectors: Vec<String>,
    /// Maximum identifiers to process for this request.
    pub max_identifiers: u64,
    /// Minimum number of independent sources before a hit is reported.
    pub min_sources: u32,
    /// Unix seconds until which the supplying partner must not be told of the hit.
    #[serde(default)]
    pub embargo_until: Option<i64>,
    /// Retention of signals under the purpose, in days (purge after).
    pub retention_days: u32,
    /// Signals observed before this Unix time are past retention and must not match.
    #[serde(default)]
    pub signals_not_before: Option<i64>,
    /// Whether a necessity justification had to be recorded for this request.
    pub justification_required: bool,
    /// `aggregate`: the release rules of the picture (docs/BEELD.md); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<AggregateObligations>,
}

/// How the broker must release an `aggregate` answer: the thresholds, the noise's ε, the
/// budget, the rounding, the contribution cap and the snapshot interval (the purpose's
/// `[purposes.aggregates]` in the registry, defaults in [`crate::registry::AggregateRules`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateObligations {
    /// Least subjects in a released cell.
    pub k: u32,
    /// Least subjects in a released wijk cell.
    pub wijk_k: u32,
    /// Least supplying organisations of a released cell.
    pub min_sources: u32,
    /// Largest share (percent) of a cell's subject–supplier pairs one supplier may hold.
    pub max_share_percent: u32,
    /// ε of one question, in µε.
    pub epsilon_micro: u64,
    /// ε per requesting organisation, purpose and calendar month, in µε.
    pub monthly_epsilon_micro: u64,
    /// Released values are multiples of this.
    pub rounding: u32,
    /// Most cells one subject may fall into in one question.
    pub contribution_cap: u32,
    /// Most signals one subject adds to one cell (measure `signals`).
    pub signal_cap: u32,
    /// Seconds between published snapshots.
    pub snapshot_interval_secs: u32,
    /// Longest `from`..`to` range in days.
    pub max_range_days: u32,
}

impl Obligations {
    /// The most restrictive obligations (those of a refusal).
    pub fn refused() -> Self {
        Obligations {
            disclosure_level: Level::None,
            revealable_sectors: Vec::new(),
            max_identifiers: 0,
            min_sources: 0,
            embargo_until: None,
            retention_days: 0,
            signals_not_before: None,
            justification_required: false,
            aggregate: None,
        }
    }
}

/// The policy's answer to one request. See `policy/schema/decision.schema.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allow: bool,
    /// Reason codes (sorted; empty when allowed). See [`REASON_CODES`].
    pub reasons: Vec<String>,
    /// Refusals a privacy officer should review (e.g. `sweep_suspected`).
    #[serde(default)]
    pub flags: Vec<String>,
    /// What the broker must enforce.
    pub obligations: Obligations,
    /// Hex SHA-256 of the policy bundle that decided (filled in by the engine).
    #[serde(default)]
    pub bundle_hash: String,
    /// Hex SHA-256 of the registry the policy reasoned over (filled in by the engine).
    #[serde(default)]
    pub registry_hash: String,
}

impl Decision {
    /// Whether `code` is among the reasons.
    pub fn has_reason(&self, code: &str) -> bool {
        self.reasons.iter().any(|r| r == code)
    }
}
