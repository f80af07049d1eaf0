//! The scoped match question (`POST /v1/matches`, and any caller without HTTP). The policy is
//! evaluated once per request; its obligations are then enforced here in code, per identifier;
//! the audit entry (decision, pseudonyms, sources, recipients) is committed before the answer
//! leaves — also for every refusal, which counts against the day's budget like an answer.

use std::collections::BTreeSet;

use kruispunt_policy::{Action, PolicyError, Usage};
use kruispunt_sdk::IdentifierKind;
use kruispunt_sdk::pseudonym::Pseudonym;
use kruispunt_sdk::wire::{
    Level, MAX_MATCH_IDENTIFIERS, MatchRequest, MatchResponse, MatchResult, SignalDetail,
};

use crate::audit::entry::{AuditEntry, Operation};
use crate::audit::{action, entry};
use crate::auth::Principal;
use crate::civil::{day_of, now_secs};
use crate::state::AppState;
use crate::store::{Contribution, StoreError, UsageDelta};

/// Why a match question got no answer. Every refusal by the policy (and by the budget) was
/// audited before it is returned; the request errors were not (nothing was decided).
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    #[error("identifiers: at least one identifier is required")]
    EmptyQuery,
    /// A free-text field over its documented limit: refused before any decision or record.
    #[error(transparent)]
    TooLong(#[from] kruispunt_sdk::wire::TooLong),
    #[error("identifiers: at most {MAX_MATCH_IDENTIFIERS} per request")]
    TooManyIdentifiers,
    /// One identifier of the request is malformed (`field` of `identifiers[index]`).
    #[error("identifiers[{index}].{field}: {reason}")]
    InvalidIdentifier {
        index: usize,
        field: &'static str,
        reason: String,
    },
    /// The policy could not be evaluated: nothing was decided, recorded or disclosed.
    #[error("the policy could not be evaluated")]
    Policy(#[source] PolicyError),
    /// The policy refused the question (audited).
    #[error("the policy refused this match: {}{}", reasons.join(", "), explain(reasons))]
    Refused { reasons: Vec<String> },
    /// More identifiers than the policy's obligations allow for this purpose and scope
    /// (audited).
    #[error("identifiers: at most {max} allowed for this purpose and scope")]
    OverIdentifierLimit { max: u64 },
    /// The day's identifier budget, which the policy checked against a read of the counters,
    /// was spent by concurrent requests before this one committed (audited).
    #[error("the policy refused this match: budget_exceeded (spent by concurrent requests)")]
    BudgetSpent,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MatchError {
    /// The reason codes of a refusal (empty for the other errors).
    pub fn reasons(&self) -> Vec<String> {
        match self {
            MatchError::Refused { reasons } => reasons.clone(),
            MatchError::OverIdentifierLimit { .. } => vec![REASON_MAX_IDENTIFIERS.into()],
            MatchError::BudgetSpent => vec![REASON_BUDGET.into()],
            _ => Vec::new(),
        }
    }
}

/// Least characters of a justification: `min_justification_chars` of policy/policies/kruispunt.rego
/// (a test keeps the two equal).
pub const MIN_JUSTIFICATION_CHARS: usize = 20;

/// What a person does about the reasons a partner meets most, after the codes (which the
/// partner's code branches on): the field at fault and what it must hold. Empty when none of
/// them is among `reasons`.
fn explain(reasons: &[String]) -> String {
    let hints: Vec<String> = reasons
        .iter()
        .filter_map(|r| match r.as_str() {
            "justification_required" => Some(format!(
                "justification: above `hit` give at least {MIN_JUSTIFICATION_CHARS} characters \
                 saying why more than a hit is necessary"
            )),
            "case_reference_missing" => Some(
                "case_reference: above `hit` name the case or dossier the question is for".into(),
            ),
            "level_above_ceiling" => Some(
                "level: above the purpose's disclosure ceiling (GET /v1/registry shows it)".into(),
            ),
            "role_not_allowed" | "sector_not_allowed" | "not_a_party" => Some(
                "purpose: not one this organisation and role may ask under (GET /v1/registry \
                 lists them)"
                    .into(),
            ),
            _ => None,
        })
        .collect();
    match hints.is_empty() {
        true => String::new(),
        false => format!(" — {}", hints.join("; ")),
    }
}

const REASON_MAX_IDENTIFIERS: &str = "max_identifiers_exceeded";
const REASON_BUDGET: &str = "budget_exceeded";

/// One identifier of the request, checked: its kind, the broker's at-rest form of its
/// pseudonym, and its key version.
type Parsed = (IdentifierKind, [u8; 32], u32);

/// Validates every identifier before anything is decided or recorded.
/// The free texts first: they reach the audit entry and (the purpose) the usage counters' key.
fn parse(state: &AppState, req: &MatchRequest) -> Result<Vec<Parsed>, MatchError> {
    req.check_lengths()?;
    if req.identifiers.is_empty() {
        return Err(MatchError::EmptyQuery);
    }
    if req.identifiers.len() > MAX_MATCH_IDENTIFIERS {
        return Err(MatchError::TooManyIdentifiers);
    }
    let invalid = |index, field, reason: String| MatchError::InvalidIdentifier {
        index,
        field,
        reason,
    };
    let mut parsed = Vec::with_capacity(req.identifiers.len());
    for (i, id) in req.identifiers.iter().enumerate() {
        let kind: IdentifierKind = id
            .kind
            .parse()
            .map_err(|e| invalid(i, "kind", format!("{e}")))?;
        let p = Pseudonym::from_hex(&id.pseudonym)
            .map_err(|e| invalid(i, "pseudonym", e.to_string()))?;
        if id.key_version == 0 {
            return Err(invalid(
                i,
                "key_version",
                "key versions start at 1".to_string(),
            ));
        }
        parsed.push((kind, state.keys.at_rest(p.as_bytes()), id.key_version));
    }
    Ok(parsed)
}

/// Records a refused match — operation `refuse`, decision `deny`, `reasons` — with the usage
/// it spends (`None`: none), and returns `err` to answer with.
async fn refuse(
    state: &AppState,
    entry: &mut AuditEntry,
    usage: Option<UsageDelta>,
    err: MatchError,
) -> MatchError {
    entry.operation = Operation::Refuse;
    entry.decision = Some("deny".into());
    entry.reasons = err.reasons();
    match state.store.decisions().record_decision(usage, entry).await {
        Ok(_) => err,
        Err(e) => e.into(),
    }
}

/// Answers one match question of `principal`, who made `requests_last_minute` requests in the
/// last minute (the rate limiter's count, for the policy's usage input).
pub async fn run(
    state: &AppState,
    principal: &Principal,
    requests_last_minute: u64,
    req: &MatchRequest,
) -> Result<MatchResponse, MatchError> {
    let parsed = parse(state, req)?;

    let now = now_secs();
    let today = day_of(now);
    // What this question spends of the day's budget, given how many of its identifiers had no
    // hit (a refusal spends its identifiers too: probing by being refused is probing). The
    // sweep guard compares no-hits with identifiers asked, so a refused identifier counts as
    // one without a hit: being refused never dilutes a sweep's no-hit ratio.
    let spent = |no_hits: u64| UsageDelta {
        org: principal.org.clone(),
        purpose: req.purpose.clone(),
        day: today.clone(),
        identifiers: parsed.len() as u64,
        no_hits,
    };
    // A refused question: every identifier it asked is one without a hit.
    let refused = || Some(spent(parsed.len() as u64));
    let usage = state
        .store
        .decisions()
        .usage(&principal.org, &req.purpose, &today)
        .await?;
    let kinds: BTreeSet<&str> = parsed.iter().map(|(k, _, _)| k.as_str()).collect();
    let mut input = principal.policy_input(Action::Match, req.purpose.clone(), now);
    input.coalition = req.coalition.clone();
    let scope = principal.scope.as_ref();
    // What the request names overrides the scope's (the policy checks that they agree).
    input.legal_basis = req.legal_basis.clone().or(input.legal_basis);
    input.case_reference = req.case_reference.clone().or(input.case_reference);
    input.consent_id = req.consent_id.clone().or(input.consent_id);
    input.justification = req.justification.clone();
    input.identifier_kinds = kinds.iter().map(|s| s.to_string()).collect();
    input.identifier_count = parsed.len() as u64;
    input.requested_level = req.level;
    input.usage = Usage {
        identifiers_today: usage.identifiers,
        requests_last_minute,
        no_hits_today: usage.no_hits,
        queries_today: usage.queries,
    };
    // The case and consent it names, read now (no cache): a closure or withdrawal committed on
    // any broker refuses this request (docs/CASES.md).
    crate::cases::facts::add_to(state, &mut input).await?;
    let decision = state.decide(&input).map_err(MatchError::Policy)?;

    let mut entry = entry::with_decision(
        entry::by(Some(principal), Operation::Consult, action::MATCH),
        &decision,
    );
    entry.purpose = Some(req.purpose.clone());
    entry.legal_basis = input.legal_basis.clone();
    entry.case_reference = input.case_reference.clone();
    entry.pseudonyms = parsed.iter().map(|(_, s, _)| hex::encode(s)).collect();
    entry.recipients = vec![principal.org.clone()];

    if !decision.allow {
        crate::audit::entry::set_detail(
            &mut entry,
            serde_json::json!({
                "identifiers": parsed.len(),
                "requested_level": req.level,
                "flags": decision.flags,
            }),
        );
        let err = MatchError::Refused {
            reasons: decision.reasons.clone(),
        };
        return Err(refuse(state, &mut entry, refused(), err).await);
    }

    let ob = &decision.obligations;
    if parsed.len() as u64 > ob.max_identifiers {
        let err = MatchError::OverIdentifierLimit {
            max: ob.max_identifiers,
        };
        return Err(refuse(state, &mut entry, None, err).await);
    }
    let level = ob.disclosure_level.min(req.level);
    let revealable: BTreeSet<&str> = ob.revealable_sectors.iter().map(String::as_str).collect();
    let registry = state.policy.registry();
    let sector_of = |org: &str| {
        registry
            .partner(org)
            .map(|p| p.sector.clone())
            .unwrap_or_default()
    };
    let scope_sectors: Option<BTreeSet<&str>> = scope
        .filter(|s| !s.sectors.is_empty())
        .map(|s| s.sectors.iter().map(String::as_str).collect());

    let mut results = Vec::with_capacity(parsed.len());
    // Id prefixes of every indexed signal behind each hit (its details are read by them).
    let mut hit_ids: Vec<[u8; 8]> = Vec::new();
    let mut sources = BTreeSet::new();
    let mut no_hits = 0u64;
    // Under a registered case (the policy has checked that the requester takes part in it):
    // which partners' signals the hits disclosed, recorded with the entry for the feedback to
    // the suppliers (docs/CASES.md, "Feedback to the partners who signal").
    let case_reference = input.case.as_ref().map(|c| c.reference.clone());
    let mut contributions = Vec::new();
    let min_sources = ob.min_sources.max(1) as usize;
    for (index, (kind, stored, version)) in parsed.iter().enumerate() {
        let probed = state
            .index
            .probe(*kind, *version, stored, &req.purpose, &principal.org, now);
        let ids8: Vec<[u8; 8]> = probed.iter().map(|s| s.id8).collect();
        let sightings: Vec<_> = probed
            .into_iter()
            .filter(|s| {
                let sector = sector_of(&s.org);
                revealable.contains(sector.as_str())
                    && scope_sectors
                        .as_ref()
                        .is_none_or(|ss| ss.contains(sector.as_str()))
            })
            .collect();
        let orgs: BTreeSet<&str> = sightings.iter().map(|s| s.org.as_str()).collect();
        let hit = level >= Level::Hit && orgs.len() >= min_sources;
        let mut r = MatchResult {
            index,
            hit,
            categories: vec![],
            sectors: vec![],
            signals: vec![],
        };
        if !hit {
            no_hits += 1;
            results.push(r);
            continue;
        }
        sources.extend(orgs.iter().map(|s| s.to_string()));
        hit_ids.extend(ids8);
        if let Some(case) = &case_reference {
            contributions.extend(sightings.iter().map(|s| Contribution {
                case_reference: case.clone(),
                org: s.org.clone(),
                signal: s.id8,
                disclosed_at: now,
                embargo_until: ob.embargo_until,
            }));
        }
        if level >= Level::Categories {
            r.categories = sightings
                .iter()
                .map(|s| s.code.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            r.sectors = orgs
                .iter()
                .map(|o| sector_of(o))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
        }
        results.push(r);
    }
    if level == Level::Details {
        // Details come from the database (the source of truth), for the hits only: the rows
        // whose ids the index gave, read by id prefix and checked again here (pseudonym, kind,
        // key version, expiry, purpose, source) — a prefix may in principle name another row.
        for sig in state.store.signals().signals_by_id_prefix(&hit_ids).await? {
            let sector = sector_of(&sig.org);
            if sig.expires_at <= now
                || sig.org == principal.org
                || !sig.purposes.contains(&req.purpose)
                || !revealable.contains(sector.as_str())
            {
                continue;
            }
            for r in results.iter_mut().filter(|r| {
                r.hit
                    && parsed[r.index].0 == sig.kind
                    && parsed[r.index].1 == sig.stored
                    && parsed[r.index].2 == sig.key_version
            }) {
                r.signals.push(SignalDetail {
                    id: sig.id.to_string(),
                    source: sig.org.clone(),
                    code: sig.code.clone(),
                    observed: sig.observed.clone(),
                    district: sig.district.clone(),
                });
            }
        }
        // The order the look-up by pseudonym gave was the database's; make it stable.
        for r in results.iter_mut() {
            r.signals.sort_by(|a, b| a.id.cmp(&b.id));
        }
    }

    let hits = results.iter().filter(|r| r.hit).count();
    entry.operation = if hits == 0 {
        Operation::Consult
    } else if sources.len() > 1 {
        Operation::Combine
    } else {
        Operation::Disclose
    };
    entry.source_orgs = sources.into_iter().collect();
    let mut detail = serde_json::json!({
        "identifiers": parsed.len(),
        "hits": hits,
        "requested_level": req.level,
        "disclosed_level": level,
        "justification": req.justification,
        "consent_id": input.consent_id,
        "embargo_until": ob.embargo_until,
    });
    // An embargo under a registered case follows the case (docs/CASES.md).
    let retention = registry
        .purpose(&req.purpose)
        .map_or(0, |p| p.retention_days);
    crate::cases::embargo::tie(
        &mut detail,
        ob.embargo_until,
        input.case.as_ref(),
        now,
        retention,
    );
    crate::audit::entry::set_detail(&mut entry, detail);
    // Committed before the response is built: no disclosure without a durable entry. The
    // budget the policy checked against a read of the counters is checked again where it is
    // spent — inside the committing transaction, in order — so concurrent requests cannot
    // both spend its last identifiers.
    let budget = registry
        .purpose(&req.purpose)
        .map_or(0, |p| p.daily_identifier_budget);
    let Some(audit_seq) = state
        .store
        .decisions()
        .record_decision_within_budget(spent(no_hits), budget, &entry, contributions)
        .await?
    else {
        entry.source_orgs = Vec::new();
        crate::audit::entry::set_detail(
            &mut entry,
            serde_json::json!({
                "identifiers": parsed.len(),
                "requested_level": req.level,
                "flags": [REASON_BUDGET],
            }),
        );
        // Like a policy refusal, this refusal counts against the day's budget.
        return Err(refuse(state, &mut entry, refused(), MatchError::BudgetSpent).await);
    };
    Ok(MatchResponse {
        level,
        results,
        audit_seq,
        policy_hash: decision.bundle_hash.clone(),
    })
}

#[cfg(test)]
mod explain_tests {
    use super::*;

    #[test]
    fn the_justification_length_is_the_policys() {
        let rego = include_str!("../../../policy/policies/kruispunt.rego");
        assert!(
            rego.contains(&format!(
                "min_justification_chars := {MIN_JUSTIFICATION_CHARS}\n"
            )),
            "policy/policies/kruispunt.rego changed min_justification_chars"
        );
        let e = MatchError::Refused {
            reasons: vec!["justification_required".into()],
        };
        assert!(e.to_string().contains("at least 20 characters"), "{e}");
    }
}
