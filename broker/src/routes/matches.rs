//! `POST /v1/matches`: the scoped match question. The policy is evaluated once per request;
//! its obligations are then enforced here in code, per identifier; the audit entry (decision,
//! pseudonyms, sources, recipients) is committed before the answer leaves.

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use kruispunt_policy::{Action, PolicyInput, Usage};
use kruispunt_sdk::IdentifierKind;
use kruispunt_sdk::pseudonym::Pseudonym;
use kruispunt_sdk::wire::{
    Level, MAX_MATCH_IDENTIFIERS, MatchRequest, MatchResponse, MatchResult, SignalDetail,
};

use crate::audit::entry;
use crate::audit::entry::Operation;
use crate::auth::request::{authenticate, strict_json};
use crate::civil::{day_of, now_secs};
use crate::ingest::requester;
use crate::problem::Problem;
use crate::state::AppState;
use crate::store::UsageDelta;

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<MatchResponse>, Problem> {
    let (principal, per_minute) = authenticate(&state, &headers, "POST /v1/matches").await?;
    let req: MatchRequest = strict_json(&body)?;
    if req.identifiers.is_empty() {
        return Err(Problem::bad_request(
            "empty-query",
            "identifiers: at least one identifier is required",
        ));
    }
    if req.identifiers.len() > MAX_MATCH_IDENTIFIERS {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "query-too-large",
            "Too many identifiers",
            format!("identifiers: at most {MAX_MATCH_IDENTIFIERS} per request"),
        ));
    }
    // Validate every identifier before anything is decided or recorded.
    let mut parsed = Vec::with_capacity(req.identifiers.len());
    for (i, id) in req.identifiers.iter().enumerate() {
        let kind: IdentifierKind = id.kind.parse().map_err(|e| {
            Problem::bad_request("invalid-identifier", format!("identifiers[{i}].kind: {e}"))
        })?;
        let p = Pseudonym::from_hex(&id.pseudonym).map_err(|e| {
            Problem::bad_request(
                "invalid-identifier",
                format!("identifiers[{i}].pseudonym: {e}"),
            )
        })?;
        if id.key_version == 0 {
            return Err(Problem::bad_request(
                "invalid-identifier",
                format!("identifiers[{i}].key_version: key versions start at 1"),
            ));
        }
        parsed.push((kind, state.keys.at_rest(p.as_bytes()), id.key_version));
    }

    let now = now_secs();
    let today = day_of(now);
    let usage = state
        .store
        .usage(&principal.org, &req.purpose, &today)
        .await?;
    let kinds: BTreeSet<&str> = parsed.iter().map(|(k, _, _)| k.as_str()).collect();
    let mut input = PolicyInput::new(
        Action::Match,
        requester(&principal),
        req.purpose.clone(),
        now,
    );
    input.coalition = req.coalition.clone();
    let scope = principal.scope.as_ref();
    input.legal_basis = req
        .legal_basis
        .clone()
        .or_else(|| scope.and_then(|s| s.legal_basis.clone()));
    input.case_reference = req
        .case_reference
        .clone()
        .or_else(|| scope.and_then(|s| s.case_reference.clone()));
    input.consent_id = req
        .consent_id
        .clone()
        .or_else(|| scope.and_then(|s| s.consent_id.clone()));
    input.justification = req.justification.clone();
    input.identifier_kinds = kinds.iter().map(|s| s.to_string()).collect();
    input.identifier_count = parsed.len() as u64;
    input.requested_level = req.level;
    input.token_scope = principal.token_scope();
    input.usage = Usage {
        identifiers_today: usage.identifiers,
        requests_last_minute: per_minute,
        no_hits_today: usage.no_hits,
        queries_today: usage.queries,
    };
    let decision = state.policy.decide(&input).map_err(|e| {
        tracing::error!(error = %e, "policy evaluation failed");
        Problem::unavailable("the policy could not be evaluated; nothing was disclosed")
    })?;

    let mut entry = entry::with_decision(
        entry::by(Some(&principal), Operation::Consult, "match"),
        &decision,
    );
    entry.purpose = Some(req.purpose.clone());
    entry.legal_basis = input.legal_basis.clone();
    entry.case_reference = input.case_reference.clone();
    entry.pseudonyms = parsed.iter().map(|(_, s, _)| hex::encode(s)).collect();
    entry.recipients = vec![principal.org.clone()];

    if !decision.allow {
        entry.operation = Operation::Refuse;
        entry.detail = serde_json::json!({
            "identifiers": parsed.len(),
            "requested_level": req.level,
            "flags": decision.flags,
        });
        // A refusal still counts against the day's budget: probing by being refused is probing.
        let delta = UsageDelta {
            org: principal.org.clone(),
            purpose: req.purpose.clone(),
            day: today,
            identifiers: parsed.len() as u64,
            no_hits: 0,
        };
        state.store.record_decision(Some(delta), &entry).await?;
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "policy-denied",
            "Refused by policy",
            format!(
                "the policy refused this match: {}",
                decision.reasons.join(", ")
            ),
        )
        .with_reasons(decision.reasons.clone()));
    }

    let ob = &decision.obligations;
    if parsed.len() as u64 > ob.max_identifiers {
        entry.operation = Operation::Refuse;
        entry.decision = Some("deny".into());
        entry.reasons = vec!["max_identifiers_exceeded".into()];
        state.store.record_decision(None, &entry).await?;
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "policy-denied",
            "Refused by policy",
            format!(
                "identifiers: at most {} allowed for this purpose and scope",
                ob.max_identifiers
            ),
        )
        .with_reasons(vec!["max_identifiers_exceeded".into()]));
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
        for sig in state.store.signals_by_id_prefix(&hit_ids).await? {
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
    entry.detail = serde_json::json!({
        "identifiers": parsed.len(),
        "hits": hits,
        "requested_level": req.level,
        "disclosed_level": level,
        "justification": req.justification,
        "consent_id": input.consent_id,
        "embargo_until": ob.embargo_until,
    });
    let delta = UsageDelta {
        org: principal.org.clone(),
        purpose: req.purpose.clone(),
        day: today,
        identifiers: parsed.len() as u64,
        no_hits,
    };
    // Committed before the response is built: no disclosure without a durable entry. The
    // budget the policy checked against a read of the counters is checked again where it is
    // spent — inside the committing transaction, in order — so concurrent requests cannot
    // both spend its last identifiers.
    let budget = registry
        .purpose(&req.purpose)
        .map_or(0, |p| p.daily_identifier_budget);
    let Some(audit_seq) = state
        .store
        .record_decision_within_budget(delta.clone(), budget, &entry)
        .await?
    else {
        let reasons = vec!["budget_exceeded".to_string()];
        entry.operation = Operation::Refuse;
        entry.decision = Some("deny".into());
        entry.reasons = reasons.clone();
        entry.source_orgs = Vec::new();
        entry.detail = serde_json::json!({
            "identifiers": parsed.len(),
            "requested_level": req.level,
            "flags": ["budget_exceeded"],
        });
        // Like a policy refusal, this refusal counts against the day's budget.
        let delta = UsageDelta {
            no_hits: 0,
            ..delta
        };
        state.store.record_decision(Some(delta), &entry).await?;
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "policy-denied",
            "Refused by policy",
            "the policy refused this match: budget_exceeded (spent by concurrent requests)",
        )
        .with_reasons(reasons));
    };
    Ok(Json(MatchResponse {
        level,
        results,
        audit_seq,
        policy_hash: decision.bundle_hash.clone(),
    }))
}
