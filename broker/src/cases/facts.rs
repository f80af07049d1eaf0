//! The case and consent a police match names, as facts of the policy's input.
//!
//! Read from the database for every match under a Wpg art. 19 or 20 purpose that names a case
//! (and, under art. 19, a consent) — never cached — so that a case closed or a consent
//! withdrawn on any broker process refuses the next query on every process: the policy decides
//! (`case_unknown`, `case_closed`, `consent_withdrawn`, …; docs/POLICY.md), this only fetches.
//! A consent that does not exist leaves `consent` absent, which the policy refuses
//! (`consent_unknown`); it never allows anything.

use kruispunt_policy::{CaseFacts, ConsentFacts, PolicyInput};
use kruispunt_sdk::cases::{Case, valid_case_reference};

use crate::state::AppState;
use crate::store::StoreError;

/// Legal bases whose matches rest on a registered case.
const CASE_GATED_BASES: &[&str] = &["wpg-art-19", "wpg-art-20"];

/// The policy's view of a registered case: its reference, state and participants (the opener
/// among them). Police matches and case channels read it the same way.
pub fn of_case(case: Case) -> CaseFacts {
    let mut participants = case.participants;
    if !participants.contains(&case.opened_by) {
        participants.push(case.opened_by);
    }
    participants.sort();
    CaseFacts {
        reference: case.reference,
        state: case.state.as_str().to_string(),
        participants,
    }
}

/// Adds `input.case` and `input.consent` for a match under a case-gated purpose.
pub async fn add_to(state: &AppState, input: &mut PolicyInput) -> Result<(), StoreError> {
    let registry = state.policy.registry();
    let Some(purpose) = registry.purpose(&input.purpose) else {
        return Ok(());
    };
    if !CASE_GATED_BASES.contains(&purpose.legal_basis.as_str()) {
        return Ok(());
    }
    let cases = state.store.cases();
    if let Some(reference) = input.case_reference.as_deref()
        && valid_case_reference(reference)
        && let Some(case) = cases.case(reference).await?
    {
        input.case = Some(of_case(case));
    }
    if purpose.legal_basis == "wpg-art-19"
        && let Some(id) = input.consent_id.as_deref()
        && id.len() <= kruispunt_sdk::wire::MAX_SHORT_TEXT_BYTES
        && let Some(c) = cases.consent(id).await?
    {
        input.consent = Some(ConsentFacts {
            id: c.id,
            case_reference: c.case_reference,
            purpose: c.purpose,
            kinds: c.kinds,
            max_identifiers: c.max_identifiers,
            ceiling: c.ceiling,
            valid_until: c.valid_until,
            issuer_org: c.issued_by,
            withdrawn: c.withdrawn_at.is_some(),
        });
    }
    Ok(())
}
