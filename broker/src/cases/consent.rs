//! The public prosecutor's consent to Wpg art. 19 queries under a case (`POST /v1/consents`,
//! `DELETE /v1/consents/{id}`; docs/CASES.md).
//!
//! Only an organisation of a sector the registry's `[cases] consent_sectors` names (the OM),
//! with a token carrying `consent_role`, issues and withdraws; the registry's check refuses a
//! consent sector that also asks under a Wpg art. 19 purpose, and the policy refuses a query
//! under a consent its own organisation issued (`consent_self_issued`). The consent's bounds
//! are checked against the purpose here, so that a consent never promises more than the
//! purpose allows; whether a query stays within them is the policy's.

use kruispunt_sdk::cases::{Consent, ConsentRequest, valid_case_reference};
use kruispunt_sdk::wire::TooLong;
use ring::rand::{SecureRandom, SystemRandom};

use super::refuse;
use crate::audit::action;
use crate::audit::entry::{self, Operation};
use crate::auth::Principal;
use crate::state::AppState;
use crate::store::StoreError;

/// The reason code of a consent issued or withdrawn by a token without the registry's consent
/// role at an organisation allowed to consent.
pub const CONSENT_ROLE_NOT_ALLOWED: &str = "consent_role_not_allowed";
/// The reason code of a withdrawal by another organisation than the issuer.
pub const CONSENT_NOT_ISSUER: &str = "consent_not_issuer";

/// The longest a consent may hold: one year. A query under it needs a live case too.
pub const MAX_CONSENT_SECS: i64 = 366 * 86_400;

/// Why a consent was not issued or withdrawn. Refusals of who may act were audited.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error(transparent)]
    TooLong(#[from] TooLong),
    /// A field of the request is not acceptable (named, with why).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The token lacks the registry's consent role, or its organisation may not consent
    /// (audited).
    #[error(
        "issuing and withdrawing consents needs a token with role `{role}` of an organisation of sector {sectors}"
    )]
    NotAllowed { role: String, sectors: String },
    /// The case is closed: nothing can be consented under it any more.
    #[error("case_reference: case {0} is closed")]
    CaseClosed(String),
    /// No consent with this id issued by the caller's organisation (audited when it exists).
    #[error("no consent {0} issued by this organisation")]
    NotFound(String),
    /// The consent was withdrawn already.
    #[error("consent {0} was withdrawn already")]
    AlreadyWithdrawn(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConsentError {
    ConsentError::Invalid {
        field,
        reason: reason.into(),
    }
}

async fn authorise(
    state: &AppState,
    principal: &Principal,
    case_reference: &str,
) -> Result<(), ConsentError> {
    let registry = state.policy.registry();
    let rules = &registry.cases;
    if rules.may_consent(&principal.sector, &principal.roles) {
        return Ok(());
    }
    refuse(
        state,
        principal,
        case_reference,
        CONSENT_ROLE_NOT_ALLOWED,
        action::CONSENT_REFUSED,
    )
    .await?;
    Err(ConsentError::NotAllowed {
        role: rules.consent_role.clone(),
        sectors: rules.consent_sectors.join("/"),
    })
}

/// A fresh consent id: `ovj-` and 32 hex characters of randomness (unguessable, so an id
/// learnt from nowhere names nothing).
fn new_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Invalid("no randomness for a consent id".into()))?;
    Ok(format!("ovj-{}", hex::encode(bytes)))
}

/// `POST /v1/consents`: records the consent of `principal`'s organisation (audited
/// `consent.issue`).
pub async fn issue(
    state: &AppState,
    principal: &Principal,
    req: &ConsentRequest,
    now: i64,
) -> Result<Consent, ConsentError> {
    authorise(state, principal, &req.case_reference).await?;
    req.check_lengths()?;
    let registry = state.policy.registry();
    let Some(purpose) = registry.purpose(&req.purpose) else {
        return Err(invalid(
            "purpose",
            format!("purpose {:?} is not in the registry", req.purpose),
        ));
    };
    if purpose.legal_basis != "wpg-art-19" {
        return Err(invalid(
            "purpose",
            format!(
                "a consent is for a Wpg art. 19 purpose; {} is under {}",
                purpose.id, purpose.legal_basis
            ),
        ));
    }
    if req.kinds.is_empty() {
        return Err(invalid("kinds", "at least one identifier kind"));
    }
    let mut kinds = req.kinds.clone();
    kinds.sort();
    kinds.dedup();
    if let Some(k) = kinds.iter().find(|k| !purpose.identifier_kinds.contains(k)) {
        return Err(invalid(
            "kinds",
            format!("{k:?} is not an identifier kind of purpose {}", purpose.id),
        ));
    }
    if req.max_identifiers == 0 || req.max_identifiers > purpose.max_identifiers_per_request {
        return Err(invalid(
            "max_identifiers",
            format!(
                "between 1 and the purpose's {} per request",
                purpose.max_identifiers_per_request
            ),
        ));
    }
    if purpose.disclosure_ceiling < req.ceiling {
        return Err(invalid(
            "ceiling",
            format!("above the purpose's ceiling {}", purpose.disclosure_ceiling),
        ));
    }
    if req.valid_until <= now || req.valid_until > now + MAX_CONSENT_SECS {
        return Err(invalid(
            "valid_until",
            "Unix seconds in the future, at most 366 days from now",
        ));
    }
    let not_registered = || {
        invalid(
            "case_reference",
            format!("no registered case {:?}", req.case_reference),
        )
    };
    if !valid_case_reference(&req.case_reference) {
        return Err(not_registered());
    }
    let Some(case) = state.store.cases().case(&req.case_reference).await? else {
        return Err(not_registered());
    };
    if !case.state.allows_queries() {
        return Err(ConsentError::CaseClosed(case.reference));
    }
    let consent = Consent {
        id: new_id()?,
        case_reference: case.reference.clone(),
        purpose: purpose.id.clone(),
        kinds,
        max_identifiers: req.max_identifiers,
        ceiling: req.ceiling,
        valid_until: req.valid_until,
        issued_by: principal.org.clone(),
        issued_at: now,
        withdrawn_at: None,
    };
    let mut e = entry::by(Some(principal), Operation::Collect, action::CONSENT_ISSUE);
    e.decision = Some("allow".into());
    e.purpose = Some(consent.purpose.clone());
    e.legal_basis = Some(purpose.legal_basis.clone());
    e.case_reference = Some(consent.case_reference.clone());
    e.recipients = case.participants.clone();
    entry::set_detail(
        &mut e,
        serde_json::json!({
            "consent_id": consent.id,
            "kinds": consent.kinds,
            "max_identifiers": consent.max_identifiers,
            "ceiling": consent.ceiling,
            "valid_until": consent.valid_until,
        }),
    );
    state
        .store
        .cases()
        .issue_consent(&consent, &principal.user, &e)
        .await?;
    Ok(consent)
}

/// `DELETE /v1/consents/{id}`: withdraws a consent the caller's organisation issued (audited
/// `consent.withdraw`). Every query under it is refused from the commit on, on every broker.
pub async fn withdraw(
    state: &AppState,
    principal: &Principal,
    id: &str,
    now: i64,
) -> Result<Consent, ConsentError> {
    let not_found = || ConsentError::NotFound(id.to_string());
    let well_formed = id.len() <= kruispunt_sdk::wire::MAX_SHORT_TEXT_BYTES;
    let existing = if well_formed {
        state.store.cases().consent(id).await?
    } else {
        None
    };
    let case_reference = existing
        .as_ref()
        .map_or(String::new(), |c| c.case_reference.clone());
    authorise(state, principal, &case_reference).await?;
    let Some(mut consent) = existing else {
        return Err(not_found());
    };
    if consent.issued_by != principal.org {
        refuse(
            state,
            principal,
            &consent.case_reference,
            CONSENT_NOT_ISSUER,
            action::CONSENT_REFUSED,
        )
        .await?;
        return Err(not_found());
    }
    if consent.withdrawn_at.is_some() {
        return Err(ConsentError::AlreadyWithdrawn(consent.id));
    }
    let mut e = entry::by(Some(principal), Operation::Alter, action::CONSENT_WITHDRAW);
    e.decision = Some("allow".into());
    e.purpose = Some(consent.purpose.clone());
    e.case_reference = Some(consent.case_reference.clone());
    // The case's participants, as for the issue: their privacy officers see the consent end
    // as they saw it begin (the case's history, docs/AUDIT.md).
    e.recipients = state
        .store
        .cases()
        .case(&consent.case_reference)
        .await?
        .map(|c| c.participants)
        .unwrap_or_default();
    entry::set_detail(&mut e, serde_json::json!({ "consent_id": consent.id }));
    match state
        .store
        .cases()
        .withdraw_consent(&consent.id, &principal.org, &principal.user, now, &e)
        .await?
    {
        Some(_) => {
            consent.withdrawn_at = Some(now);
            Ok(consent)
        }
        None => Err(ConsentError::AlreadyWithdrawn(consent.id)),
    }
}
