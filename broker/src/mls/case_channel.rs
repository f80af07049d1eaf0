//! Who may be in a case channel: derived from the match decision that escalated the case, not
//! from the creator's say-so (issue 6: "when a match is escalated and the policy allows it, a
//! case group among exactly the allowed organisations").
//!
//! **The rule.** A case channel for case reference R, created by organisation O, may hold O and
//! the organisations a `match` O asked under R *named as sources* to O — a disclosure at
//! `details` level, the only one whose response names the supplying organisations — exactly
//! what the audit trail records of those decisions (`actor_org`, `case_reference`,
//! `source_orgs`, `detail.disclosed_level`). A hit says only "known elsewhere", and
//! `categories` only which signal codes and sectors: neither told O who the sources are, so
//! neither may bring a source into a channel with O (the channel would tell O, and every
//! member, who supplied). With no such decision there is no case channel (403
//! `case-not-escalated`). The creator may narrow the set (`allowed` in the request), never
//! widen it (403 `case-member-not-disclosed`). Both refusals are audited, and name no
//! organisation.
//!
//! **Embargo.** A police case may hold details back from a supplying partner for a while (the
//! decision's `embargo_until`): being invited into the case channel would tell the supplier about
//! the case, so a source disclosed only under a running embargo is not admitted until it ended.
//!
//! Every organisation added later is still checked by the policy (`coalition_add`) in
//! `delivery::check_adds`, like any member of any group.

use std::collections::BTreeSet;

use kruispunt_sdk::wire::Level;

use super::delivery::{CaseRefusal, DeliveryError};
use crate::audit::entry::{AuditEntry, Operation};
use crate::audit::{action, entry};
use crate::auth::Principal;
use crate::state::AppState;

/// The organisations a case's match decisions named to the creator as sources.
#[derive(Debug, Default, PartialEq, Eq)]
struct Disclosed {
    /// Sources the creator may bring into the channel now.
    sources: BTreeSet<String>,
    /// Sources disclosed only under an embargo still running at `now`.
    embargoed: BTreeSet<String>,
    /// Whether any decision escalated (named its sources).
    escalated: bool,
}

/// Whether `e` records a match that named its sources to the requester (`details`: the
/// response lists each signal with its source). The entry's `source_orgs` are recorded at
/// every level; below `details` the requester was not told them.
fn escalates(e: &AuditEntry) -> bool {
    let level = e
        .detail
        .get("disclosed_level")
        .and_then(|v| serde_json::from_value::<Level>(v.clone()).ok());
    e.action == action::MATCH
        && e.decision.as_deref() == Some("allow")
        && matches!(e.operation, Operation::Disclose | Operation::Combine)
        && !e.source_orgs.is_empty()
        && level == Some(Level::Details)
}

fn disclosed(entries: &[AuditEntry], now: i64) -> Disclosed {
    let mut d = Disclosed::default();
    for e in entries.iter().filter(|e| escalates(e)) {
        d.escalated = true;
        let embargo = e
            .detail
            .get("embargo_until")
            .and_then(serde_json::Value::as_i64)
            .is_some_and(|until| until > now);
        let into = if embargo {
            &mut d.embargoed
        } else {
            &mut d.sources
        };
        into.extend(e.source_orgs.iter().cloned());
    }
    d.embargoed.retain(|o| !d.sources.contains(o));
    d
}

/// Why a case channel is refused.
struct Refusal {
    kind: CaseRefusal,
    reason: &'static str,
    detail: String,
    /// How many organisations were refused (0: the channel as a whole). Not their names: the
    /// audit trail is readable by the refused creator's privacy officer, and which of the
    /// names asked for were sources (say, under an embargo) is what must not leak.
    orgs: usize,
}

/// Audits a refused case channel and answers with the refusal.
async fn refuse(
    state: &AppState,
    principal: &Principal,
    group: &str,
    case_reference: &str,
    r: Refusal,
) -> DeliveryError {
    let mut e = entry::by(
        Some(principal),
        Operation::Refuse,
        action::MLS_GROUP_REFUSED,
    );
    e.decision = Some("deny".into());
    e.reasons = vec![r.reason.to_string()];
    e.case_reference = Some(case_reference.to_string());
    crate::audit::entry::set_detail(
        &mut e,
        serde_json::json!({ "group": group, "kind": "case", "refused": r.orgs }),
    );
    if let Err(err) = state.store.audit().append_audit(&[e]).await {
        return err.into();
    }
    DeliveryError::CaseRefused {
        refusal: r.kind,
        reason: r.reason,
        detail: r.detail,
    }
}

/// The `allowed` list of a new case channel `group` under `case_reference`, created by
/// `principal`: derived from its escalated match decisions, optionally narrowed by
/// `requested` (which must then hold the creator). Refusals are audited.
pub async fn allowed(
    state: &AppState,
    principal: &Principal,
    group: &str,
    case_reference: &str,
    requested: Option<&[String]>,
    now: i64,
) -> Result<Vec<String>, DeliveryError> {
    let entries = state
        .store
        .mls()
        .case_matches(case_reference, &principal.org)
        .await?;
    let d = disclosed(&entries, now);
    let refused = |r: Refusal| refuse(state, principal, group, case_reference, r);
    if !d.escalated {
        return Err(refused(Refusal {
            kind: CaseRefusal::NotEscalated,
            reason: "case_not_escalated",
            detail: "case_reference: no match under this case named its sources to you (a \
                     disclosure at details level); a case channel follows such a match"
                .into(),
            orgs: 0,
        })
        .await);
    }
    let mut derived = d.sources.clone();
    derived.insert(principal.org.clone());
    let Some(requested) = requested else {
        return Ok(derived.into_iter().collect());
    };
    let outside: Vec<String> = requested
        .iter()
        .filter(|o| !derived.contains(*o))
        .cloned()
        .collect();
    if !outside.is_empty() {
        // One answer, naming no one, whether an organisation was no source at all or one
        // under a running embargo: telling the two apart would tell the creator who supplied
        // the embargoed signals.
        return Err(refused(Refusal {
            kind: CaseRefusal::MemberNotDisclosed,
            reason: "not_disclosed_in_case",
            detail: "allowed: the list holds an organisation that may not be in this case \
                     channel (not named to you as a source under this case, or not yet)"
                .into(),
            orgs: outside.len(),
        })
        .await);
    }
    if !requested.contains(&principal.org) {
        return Err(DeliveryError::Invalid(
            super::delivery::Invalid::Group,
            "allowed: must include the creating organisation".into(),
        ));
    }
    let mut list: Vec<String> = requested.to_vec();
    list.sort();
    list.dedup();
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(level: &str, sources: &[&str], embargo: Option<i64>) -> AuditEntry {
        let mut e = AuditEntry::new(0, Operation::Combine, action::MATCH);
        e.decision = Some("allow".into());
        e.source_orgs = sources.iter().map(|s| s.to_string()).collect();
        crate::audit::entry::set_detail(
            &mut e,
            serde_json::json!({ "disclosed_level": level, "embargo_until": embargo }),
        );
        e
    }

    #[test]
    fn only_disclosures_that_named_sources_escalate() {
        let hit = decision("hit", &["a"], None);
        assert!(!disclosed(&[hit], 0).escalated);
        // Categories tell codes and sectors, not who supplied: no channel, no members.
        let categories = decision("categories", &["a", "b"], None);
        assert!(!disclosed(&[categories], 0).escalated);
        let mut refused = decision("details", &["a"], None);
        refused.decision = Some("deny".into());
        assert!(!disclosed(&[refused], 0).escalated);
        let d = disclosed(
            &[
                decision("categories", &["a", "b"], None),
                decision("details", &["c"], None),
            ],
            0,
        );
        assert!(d.escalated);
        assert_eq!(d.sources, ["c".to_string()].into());
    }

    #[test]
    fn a_running_embargo_holds_the_supplier_back() {
        let d = disclosed(&[decision("details", &["a", "b"], Some(100))], 50);
        assert!(d.sources.is_empty());
        assert_eq!(d.embargoed, ["a", "b"].map(String::from).into());
        let d = disclosed(
            &[
                decision("details", &["a", "b"], Some(100)),
                decision("details", &["b"], None),
            ],
            50,
        );
        assert_eq!(d.embargoed, ["a".to_string()].into());
        assert_eq!(d.sources, ["b".to_string()].into());
        let d = disclosed(&[decision("details", &["a"], Some(100))], 100);
        assert_eq!(d.sources, ["a".to_string()].into());
    }
}
