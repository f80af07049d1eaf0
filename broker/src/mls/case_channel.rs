//! Case channels and the case register (issue 16; docs/COALITIONS.md, "Case channels").
//!
//! **Whose channel.** A case channel belongs to a case registered in the broker
//! (`crate::cases`), named by its `case_reference` when it is registered. Who may register it
//! and whom it may hold is the policy's (`case_channel`): a participant of the case whose
//! token carries the registry's case role (`[cases] open_role`, at an organisation of
//! `open_sectors`), while the case is open or in intervention, for organisations that take part
//! in the case — the participants its case director registered, the opener included. Those see
//! each other in `GET /v1/cases` already, so the roster tells no member anything new; a private
//! partner never takes part in a case (rule 2), so a supplier is never brought in, embargoed or
//! not. The creator may narrow the list (`allowed`), never widen it.
//!
//! **What an outsider learns.** To an organisation that does not take part in the case, a
//! channel under it is refused exactly as one under a case that does not exist (403
//! `case-unknown`): nobody learns which cases exist by registering channels. The audit entry
//! keeps the real reasons.
//!
//! **Revocation.** Every post to a case channel reads its case's state from the database
//! ([`check_open`], one indexed read, nothing cached): once the case is closed the channel
//! takes no more messages or commits, on every broker process sharing the database, from the
//! closure's commit on. Each refusal is an audit entry (`mls.message.refused`).

use kruispunt_policy::{Action, CaseFacts, Decision};
use kruispunt_sdk::cases::{CaseState, valid_case_reference};

use super::delivery::{CaseRefusal, DeliveryError, Invalid};
use super::store::GroupRow;
use crate::audit::entry::Operation;
use crate::audit::{action, entry};
use crate::auth::Principal;
use crate::civil::now_secs;
use crate::state::AppState;

/// The case a channel names, as the policy reads it (`None`: not registered, or a reference
/// that cannot be one).
pub async fn facts(
    state: &AppState,
    case_reference: Option<&str>,
) -> Result<Option<CaseFacts>, DeliveryError> {
    let Some(reference) = case_reference.filter(|r| valid_case_reference(r)) else {
        return Ok(None);
    };
    Ok(state
        .store
        .cases()
        .case(reference)
        .await?
        .map(crate::cases::facts::of_case))
}

/// The policy's answer to "may `principal` bring `target` into the channel of `case`".
pub fn decide(
    state: &AppState,
    principal: &Principal,
    case_reference: Option<&str>,
    case: Option<CaseFacts>,
    target: &str,
) -> Result<Decision, DeliveryError> {
    let mut input = principal.policy_input(Action::CaseChannel, "", now_secs());
    input.case_reference = case_reference.map(str::to_string);
    input.case = case;
    input.target_org = Some(target.to_string());
    state.decide(&input).map_err(DeliveryError::Policy)
}

/// The reasons a refused registration is recorded with: the policy's, except that to an
/// organisation outside the case (or a case that is not registered) everything about the case
/// reads `case_unknown`. The requester's own privacy officer reads the entry, so it must not
/// tell an existing case from an unknown one either; the entry's case reference is what the
/// requester asked.
fn as_told(mut reasons: Vec<String>) -> Vec<String> {
    const ABOUT_THE_CASE: [&str; 4] = [
        "case_unknown",
        "case_not_participant",
        "case_closed",
        "target_not_participant",
    ];
    let outside = reasons
        .iter()
        .any(|r| r == "case_unknown" || r == "case_not_participant");
    if outside {
        reasons.retain(|r| !ABOUT_THE_CASE.contains(&r.as_str()));
        reasons.push("case_unknown".into());
        reasons.sort();
    }
    reasons
}

/// What a refused registration is answered with. Whether the case exists is told only to its
/// participants: to anyone else an existing case answers like an unknown one.
fn answer(reasons: &[String]) -> (CaseRefusal, &'static str, &'static str) {
    let has = |code: &str| reasons.iter().any(|r| r == code);
    if has("case_role_not_allowed") {
        // Decided from the token and the registry alone: the same whatever the case.
        (
            CaseRefusal::RoleNotAllowed,
            "case_role_not_allowed",
            "a case channel is registered by a participant of the case with the registry's case \
             role, at an organisation that steers cases",
        )
    } else if has("case_unknown") || has("case_not_participant") || !has("case_closed") {
        (
            CaseRefusal::Unknown,
            "case_unknown",
            "case_reference: no registered case that this organisation takes part in",
        )
    } else {
        (
            CaseRefusal::Closed,
            "case_closed",
            "case_reference: the case is closed; its channels have ended",
        )
    }
}

/// Audits a refused case channel (the real reasons) and answers with the refusal.
async fn refuse(
    state: &AppState,
    principal: &Principal,
    group: &str,
    case_reference: &str,
    reasons: Vec<String>,
    refused: usize,
    (refusal, reason, detail): (CaseRefusal, &'static str, &'static str),
) -> DeliveryError {
    let mut e = entry::by(
        Some(principal),
        Operation::Refuse,
        action::MLS_GROUP_REFUSED,
    );
    e.decision = Some("deny".into());
    e.reasons = reasons;
    // A reference that is not well formed is not recorded (it could be anything).
    e.case_reference = valid_case_reference(case_reference).then(|| case_reference.to_string());
    entry::set_detail(
        &mut e,
        serde_json::json!({ "group": group, "kind": "case", "refused": refused }),
    );
    if let Err(err) = state.store.audit().append_audit(&[e]).await {
        return err.into();
    }
    DeliveryError::CaseRefused {
        refusal,
        reason,
        detail: detail.into(),
    }
}

/// The `allowed` list of a new case channel `group` under `case_reference`, registered by
/// `principal`: the case's participants, if the policy lets `principal` register it,
/// optionally narrowed by `requested` (which must then hold the creator). Refusals are
/// audited.
pub async fn allowed(
    state: &AppState,
    principal: &Principal,
    group: &str,
    case_reference: &str,
    requested: Option<&[String]>,
) -> Result<Vec<String>, DeliveryError> {
    let case = facts(state, Some(case_reference)).await?;
    let participants = case
        .as_ref()
        .map(|c| c.participants.clone())
        .unwrap_or_default();
    let decision = decide(state, principal, Some(case_reference), case, &principal.org)?;
    if !decision.allow {
        let answer = answer(&decision.reasons);
        return Err(refuse(
            state,
            principal,
            group,
            case_reference,
            as_told(decision.reasons),
            0,
            answer,
        )
        .await);
    }
    let mut list = participants;
    if let Some(requested) = requested {
        // The creator takes part and sees the participants, so naming who is outside tells
        // it nothing; the answer names no one all the same, like every case channel refusal.
        let outside = requested.iter().filter(|o| !list.contains(*o)).count();
        if outside > 0 {
            return Err(refuse(
                state,
                principal,
                group,
                case_reference,
                vec!["target_not_participant".into()],
                outside,
                (
                    CaseRefusal::MemberNotParticipant,
                    "target_not_participant",
                    "allowed: the list holds an organisation that does not take part in the case",
                ),
            )
            .await);
        }
        if !requested.contains(&principal.org) {
            return Err(DeliveryError::Invalid(
                Invalid::Group,
                "allowed: must include the creating organisation".into(),
            ));
        }
        list = requested.to_vec();
    }
    list.sort();
    list.dedup();
    Ok(list)
}

/// Whether the case of channel `group` still allows messages (open or in intervention), read
/// from the database for this post. If not, the refusal is audited (`mls.message.refused`,
/// reason `case_closed`, or `case_unknown` for a channel whose case is not registered) and
/// returned. Coalition groups pass.
pub async fn check_open(
    state: &AppState,
    principal: &Principal,
    group: &GroupRow,
) -> Result<(), DeliveryError> {
    if group.kind != super::store::GroupKind::Case {
        return Ok(());
    }
    let case_state = match group.case_reference.as_deref() {
        Some(reference) => state.store.cases().case_state(reference).await?,
        None => None,
    };
    let reason = match case_state {
        Some(CaseState::Open | CaseState::Intervention) => return Ok(()),
        Some(CaseState::Closed) => "case_closed",
        None => "case_unknown",
    };
    let mut e = entry::by(
        Some(principal),
        Operation::Refuse,
        action::MLS_MESSAGE_REFUSED,
    );
    e.decision = Some("deny".into());
    e.reasons = vec![reason.into()];
    e.case_reference = group.case_reference.clone();
    entry::set_detail(
        &mut e,
        serde_json::json!({ "group": group.id, "kind": "case", "epoch": group.epoch }),
    );
    state.store.audit().append_audit(&[e]).await?;
    Err(DeliveryError::CaseChannelClosed { reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_outsider_is_answered_as_for_an_unknown_case() {
        let unknown = answer(&codes(&["case_unknown"]));
        assert_eq!(answer(&codes(&["case_not_participant"])), unknown);
        // A closed case an outsider does not take part in: still "unknown" to it.
        assert_eq!(
            answer(&codes(&["case_closed", "case_not_participant"])),
            unknown
        );
        assert_eq!(answer(&codes(&["case_closed"])).0, CaseRefusal::Closed);
        // The role is judged without the case, so it may be said to anyone.
        assert_eq!(
            answer(&codes(&["case_not_participant", "case_role_not_allowed"])).0,
            CaseRefusal::RoleNotAllowed
        );
    }

    #[test]
    fn an_outsiders_entry_reads_like_an_unknown_case() {
        let unknown = as_told(codes(&["case_unknown", "target_not_participant"]));
        assert_eq!(unknown, ["case_unknown"]);
        assert_eq!(
            as_told(codes(&[
                "case_closed",
                "case_not_participant",
                "target_not_participant"
            ])),
            unknown
        );
        assert_eq!(
            as_told(codes(&["case_not_participant", "case_role_not_allowed"])),
            ["case_role_not_allowed", "case_unknown"]
        );
        // A participant's entry keeps the policy's reasons.
        assert_eq!(as_told(codes(&["case_closed"])), ["case_closed"]);
    }
}
