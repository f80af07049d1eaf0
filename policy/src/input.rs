//! The policy input: one typed document per request.
//!
//! The broker builds it from the authenticated token, the request and the usage counters, and
//! the policy sees nothing else. Unknown fields are refused so that a typo in a caller (or an
//! attempt to smuggle in a field the policy might one day read) fails loudly.

use kruispunt_sdk::wire::Level;
use serde::{Deserialize, Serialize};

/// What the requester wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Ask whether identifiers appear in other partners' signals.
    Match,
    /// Supply signals.
    Upload,
    /// Withdraw one's own signals.
    Withdraw,
    /// Read the audit trail (privacy officers).
    AuditRead,
    /// Add an organisation to a coalition's MLS group.
    CoalitionAdd,
    /// Ask the disclosure-controlled picture of the signals (`POST /v1/aggregates`).
    Aggregate,
    /// Register a case channel, or bring an organisation (`target_org`) into one: the MLS
    /// group of a registered case (`case`), among its participants.
    CaseChannel,
    /// See how many of one's own signals contributed to cases (`GET /v1/feedback`): suppliers
    /// only.
    Feedback,
}

kruispunt_sdk::wire_names! {
    /// The wire name (`match`, `upload`, ...).
    Action {
        Match => "match",
        Upload => "upload",
        Withdraw => "withdraw",
        AuditRead => "audit_read",
        CoalitionAdd => "coalition_add",
        Aggregate => "aggregate",
        CaseChannel => "case_channel",
        Feedback => "feedback",
    }
}

/// Who is asking, as authenticated by the broker (the policy trusts the registry over these
/// claims and refuses a mismatch).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requester {
    /// Partner id.
    pub org: String,
    /// Partner sector.
    pub sector: String,
    /// Public body or private party.
    pub public: bool,
    /// Roles from the token.
    #[serde(default)]
    pub roles: Vec<String>,
    /// User within the organisation (pseudonymous id or e-mail), for the audit trail.
    pub user: String,
}

/// The bounds a police token carries (docs/POLICY.md, rule 4): the token's own `scope` claim,
/// one definition shared with the SDK's signer and the broker's verifier. In a policy input the
/// broker has *resolved* it: `max_identifiers` and `not_after` are always present (a bound the
/// token leaves open becomes the broker's ceiling and the token's expiry), so Rego never has to
/// guess a default; empty `kinds`/`sectors` are left out and mean "as the purpose allows".
pub use kruispunt_sdk::token::TokenScope;

/// Usage counters per requester and purpose, kept by the broker (rule 7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Identifiers queried today (before this request).
    pub identifiers_today: u64,
    /// Match requests in the last 60 seconds (before this request).
    pub requests_last_minute: u64,
    /// Queries today that found nothing.
    pub no_hits_today: u64,
    /// Queries today.
    pub queries_today: u64,
}

/// What an `aggregate` question asks, as far as the policy decides on it: the area level, the
/// measure, the period and the gemeenten it is restricted to (never an identifier).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateQuestion {
    /// `unit`, `district`, `gemeente` or `wijk`; `none` when the question has no area level.
    pub area: String,
    /// `subjects`, `multi_source`, `cross_sector` or `signals`.
    pub measure: String,
    /// `week`, `month` or `quarter`; `none` for the whole range.
    pub period: String,
    /// The gemeenten the question is filtered to (CBS codes); empty: not filtered.
    #[serde(default)]
    pub gemeenten: Vec<String>,
}

/// The registered case a match names, as the broker read it from its database for this
/// request (docs/CASES.md); absent when no case with that reference is registered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFacts {
    /// The case reference.
    pub reference: String,
    /// `open`, `intervention` or `closed`.
    pub state: String,
    /// The organisations taking part (the opener included).
    pub participants: Vec<String>,
}

/// The public prosecutor's consent a Wpg art. 19 match names, as the broker read it from its
/// database for this request; absent when no consent with that id exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentFacts {
    /// The consent id.
    pub id: String,
    /// The case it was issued for.
    pub case_reference: String,
    /// The purpose it was issued for.
    pub purpose: String,
    /// The identifier kinds it allows.
    pub kinds: Vec<String>,
    /// The most identifiers per request and per token scope.
    pub max_identifiers: u64,
    /// The highest disclosure level.
    pub ceiling: Level,
    /// Unix seconds after which it no longer holds.
    pub valid_until: i64,
    /// The organisation that issued it.
    pub issuer_org: String,
    /// Whether it was withdrawn.
    pub withdrawn: bool,
}

/// The complete policy input. See `policy/schema/policy-input.schema.json`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// What is requested.
    pub action: Action,
    /// Who asks.
    pub requester: Requester,
    /// Purpose id (empty for `audit_read`/`coalition_add` where no purpose applies).
    #[serde(default)]
    pub purpose: String,
    /// Coalition the request is made in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coalition: Option<String>,
    /// Legal basis claimed (e.g. `wpg-art-19`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// Case reference (zaaknummer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_reference: Option<String>,
    /// Wpg art. 19 consent id of the competent authority, or the Wpg art. 20 partnership
    /// decision id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
    /// Necessity justification for disclosure above `hit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// Identifier kinds in the request.
    #[serde(default)]
    pub identifier_kinds: Vec<String>,
    /// Number of identifiers in the request.
    #[serde(default)]
    pub identifier_count: u64,
    /// Requested disclosure level; `none` when absent.
    #[serde(default = "no_disclosure")]
    pub requested_level: Level,
    /// Bounds from the token, if it is scoped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_scope: Option<TokenScope>,
    /// Usage so far.
    #[serde(default)]
    pub usage: Usage,
    /// Organisation acted upon (`coalition_add`: the invitee; `audit_read`/`withdraw`: whose
    /// entries or signals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_org: Option<String>,
    /// Uploads: signal codes in the batch (checked against the taxonomy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signal_codes: Vec<String>,
    /// Uploads: Unix seconds of the oldest observation in the batch (rule 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_signal_at: Option<i64>,
    /// `aggregate`: the question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<AggregateQuestion>,
    /// `match` under a Wpg purpose naming a case: the registered case (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseFacts>,
    /// `match` under a Wpg art. 19 purpose naming a consent: the consent (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentFacts>,
    /// Current time, Unix seconds (given, not read from a clock, so decisions replay).
    pub now: i64,
}

/// The requested level when the input names none: the least disclosure.
fn no_disclosure() -> Level {
    Level::None
}

impl PolicyInput {
    /// A minimal input for `action` by `requester` under `purpose`, with everything else
    /// empty; handy for building requests and tests.
    pub fn new(action: Action, requester: Requester, purpose: impl Into<String>, now: i64) -> Self {
        PolicyInput {
            action,
            requester,
            purpose: purpose.into(),
            coalition: None,
            legal_basis: None,
            case_reference: None,
            consent_id: None,
            justification: None,
            identifier_kinds: Vec::new(),
            identifier_count: 0,
            requested_level: Level::None,
            token_scope: None,
            usage: Usage::default(),
            target_org: None,
            signal_codes: Vec::new(),
            oldest_signal_at: None,
            aggregate: None,
            case: None,
            consent: None,
            now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        let json = r#"{"action":"match","requester":{"org":"a","sector":"kvo","public":false,"roles":[],"user":"u"},"purpose":"p","now":1,"admin":true}"#;
        let err = serde_json::from_str::<PolicyInput>(json).unwrap_err();
        assert!(err.to_string().contains("admin"), "{err}");
    }

    #[test]
    fn levels_are_ordered() {
        assert!(Level::None < Level::Hit);
        assert!(Level::Hit < Level::Categories);
        assert!(Level::Categories < Level::Details);
        assert_eq!(
            serde_json::to_string(&Action::CoalitionAdd).unwrap(),
            "\"coalition_add\""
        );
    }
}
