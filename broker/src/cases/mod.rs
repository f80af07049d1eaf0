//! Cases (casussen) and the public prosecutor's consents: the things a police match under a
//! case reference rests on (docs/CASES.md).
//!
//! - this file: opening a case, moving it (`open` → `intervention` → `closed`, or `open` →
//!   `closed`), and reading the cases an organisation opened or takes part in;
//! - [`consent`]: issuing and withdrawing the consent a Wpg art. 19 query needs;
//! - [`embargo`]: the rule by which a police match's embargo follows the case it rests on;
//! - [`facts`]: the case and consent a police match names, read from the database for the
//!   policy's input on every such request (so a closure or withdrawal holds at once, on every
//!   broker process).
//!
//! Who may open and move cases, and who may consent, is the registry's `[cases]` (the
//! organisations' sectors and the role their tokens must carry), checked here like a coalition's
//! administrator; every change and every refusal is an audit entry, the change and its entry in
//! one store call.

pub mod consent;
pub mod embargo;
pub mod facts;
pub mod feedback;

use std::collections::BTreeSet;

use kruispunt_sdk::cases::{
    Case, CaseOpenRequest, CaseState, CaseStateRequest, valid_case_reference,
};
use kruispunt_sdk::wire::TooLong;

use crate::audit::action;
use crate::audit::entry::{self, AuditEntry, Operation};
use crate::auth::Principal;
use crate::state::AppState;
use crate::store::{CaseMove, StoreError};

/// The reason code of a case operation by a token without the registry's case role at an
/// organisation allowed to steer cases.
pub const CASE_ROLE_NOT_ALLOWED: &str = "case_role_not_allowed";

/// Why a case operation did not happen. The refusals of who may act (`NotAllowed`,
/// `NotParticipant`) were audited; the request errors were not (nothing was decided).
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// A free-text field over its limit.
    #[error(transparent)]
    TooLong(#[from] TooLong),
    /// A field of the request is not acceptable (named, with why).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The token lacks the registry's case role, or its organisation may not steer cases
    /// (audited).
    #[error(
        "opening and moving cases needs a token with role `{role}` of an organisation of sector {sectors}"
    )]
    NotAllowed { role: String, sectors: String },
    /// No case with this reference that the caller's organisation opened or takes part in:
    /// the same answer whether or not it exists (a move of one is audited).
    #[error("no case {0} that this organisation takes part in")]
    NotFound(String),
    /// A case with this reference is registered already.
    #[error("reference: a case {0} is registered already")]
    Exists(String),
    /// The requested move is not one the life of a case allows.
    #[error(
        "state: a case in state {from} cannot move to {to} (open → intervention → closed, or open → closed)"
    )]
    Transition { from: CaseState, to: CaseState },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> CaseError {
    CaseError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Whether the principal may open and move cases (registry `[cases]`); if not, the refusal is
/// audited under `case_reference` and returned.
async fn authorise(
    state: &AppState,
    principal: &Principal,
    case_reference: &str,
) -> Result<(), CaseError> {
    let registry = state.policy.registry();
    let rules = &registry.cases;
    if rules.may_open(&principal.sector, &principal.roles) {
        return Ok(());
    }
    refuse(
        state,
        principal,
        case_reference,
        CASE_ROLE_NOT_ALLOWED,
        action::CASE_REFUSED,
    )
    .await?;
    Err(CaseError::NotAllowed {
        role: rules.open_role.clone(),
        sectors: rules.open_sectors.join("/"),
    })
}

/// Appends the refusal entry of a case or consent operation (operation `refuse`, decision
/// `deny`, the reason).
pub(crate) async fn refuse(
    state: &AppState,
    principal: &Principal,
    case_reference: &str,
    reason: &str,
    action: &str,
) -> Result<(), StoreError> {
    let mut e = entry::by(Some(principal), Operation::Refuse, action);
    e.decision = Some("deny".into());
    e.reasons = vec![reason.to_string()];
    // A reference that is not well formed is not recorded (it could be anything).
    e.case_reference = valid_case_reference(case_reference).then(|| case_reference.to_string());
    state.store.audit().append_audit(&[e]).await?;
    Ok(())
}

/// The entry of a change to a case: the actor, the case, and its participants as recipients
/// (their privacy officers see what happened to a case they take part in).
fn case_entry(
    principal: &Principal,
    operation: Operation,
    action: &str,
    case: &Case,
) -> AuditEntry {
    let mut e = entry::by(Some(principal), operation, action);
    e.decision = Some("allow".into());
    e.case_reference = Some(case.reference.clone());
    e.recipients = case.participants.clone();
    e
}

/// Checks an opening request against the registry and returns the case to register, opened by
/// `principal` at `now` (the opener takes part whether listed or not).
fn validate_open(
    state: &AppState,
    principal: &Principal,
    req: &CaseOpenRequest,
    now: i64,
) -> Result<Case, CaseError> {
    req.check_lengths()?;
    if !valid_case_reference(&req.reference) {
        return Err(invalid(
            "reference",
            "1 to 128 ASCII letters, digits, '-', '_' or '.'",
        ));
    }
    let registry = state.policy.registry();
    if registry.gemeente(&req.gemeente).is_none() {
        return Err(invalid(
            "gemeente",
            format!(
                "gemeente {:?} is not in the registry (a CBS code such as GM0344)",
                req.gemeente
            ),
        ));
    }
    // A municipality steers its own cases: one with a registered gemeente opens cases there.
    if let Some(own) = registry
        .partner(&principal.org)
        .and_then(|p| p.gemeente.as_deref())
        && own != req.gemeente
    {
        return Err(invalid(
            "gemeente",
            format!("a municipality opens cases of its own gemeente ({own}) only"),
        ));
    }
    if req.themes.is_empty() {
        return Err(invalid("themes", "at least one theme of the taxonomy"));
    }
    let mut themes = BTreeSet::new();
    for t in &req.themes {
        if !registry.taxonomy.contains_key(t) {
            return Err(invalid(
                "themes",
                format!("theme {t:?} is not in the registry's taxonomy"),
            ));
        }
        themes.insert(t.clone());
    }
    if req.legal_frame.is_empty() {
        return Err(invalid(
            "legal_frame",
            "at least one of riec-convenant, wpg-art-19, wpg-art-20, wet-bibob",
        ));
    }
    let frames: BTreeSet<_> = req.legal_frame.iter().copied().collect();
    let mut participants = BTreeSet::from([principal.org.clone()]);
    for p in &req.participants {
        let Some(partner) = registry.partner(p) else {
            return Err(invalid(
                "participants",
                format!("{p:?} is not a partner in the registry"),
            ));
        };
        // Rule 2: a case is RIEC- and police-derived; private partners supply signals but
        // never take part in cases.
        if !partner.public {
            return Err(invalid(
                "participants",
                format!("{p} is a private partner: only public bodies take part in cases"),
            ));
        }
        participants.insert(p.clone());
    }
    Ok(Case {
        reference: req.reference.clone(),
        gemeente: req.gemeente.clone(),
        themes: themes.into_iter().collect(),
        legal_frame: frames.into_iter().collect(),
        participants: participants.into_iter().collect(),
        state: CaseState::Open,
        intervention: None,
        result: None,
        opened_by: principal.org.clone(),
        opened_at: now,
        updated_by: principal.org.clone(),
        updated_at: now,
    })
}

/// `POST /v1/cases`: registers a case opened by `principal` (audited `case.open`).
pub async fn open(
    state: &AppState,
    principal: &Principal,
    req: &CaseOpenRequest,
    now: i64,
) -> Result<Case, CaseError> {
    authorise(state, principal, &req.reference).await?;
    let case = validate_open(state, principal, req, now)?;
    let mut e = case_entry(principal, Operation::Collect, action::CASE_OPEN, &case);
    entry::set_detail(
        &mut e,
        serde_json::json!({
            "gemeente": case.gemeente,
            "themes": case.themes,
            "legal_frame": case.legal_frame,
            "state": case.state,
        }),
    );
    match state
        .store
        .cases()
        .open_case(&case, &principal.user, &e)
        .await?
    {
        Some(_) => Ok(case),
        None => Err(CaseError::Exists(case.reference)),
    }
}

/// Whether `org` may see case `case`: it opened it or takes part in it.
fn concerns(case: &Case, org: &str) -> bool {
    case.opened_by == org || case.participants.iter().any(|p| p == org)
}

/// `POST /v1/cases/{reference}/state`: moves a case the caller's organisation takes part in
/// (audited `case.state`; a move of a case it does not take part in is refused as not found,
/// audited).
pub async fn advance(
    state: &AppState,
    principal: &Principal,
    reference: &str,
    req: &CaseStateRequest,
    now: i64,
) -> Result<Case, CaseError> {
    authorise(state, principal, reference).await?;
    let not_found = || CaseError::NotFound(reference.to_string());
    if !valid_case_reference(reference) {
        return Err(not_found());
    }
    let Some(mut case) = state.store.cases().case(reference).await? else {
        refuse(
            state,
            principal,
            reference,
            "case_unknown",
            action::CASE_REFUSED,
        )
        .await?;
        return Err(not_found());
    };
    if !concerns(&case, &principal.org) {
        // Recorded as `case_unknown` too: the entry is the caller's own, which its privacy
        // officer reads, and a reason of its own would tell that the case exists. The entry
        // keeps the reference asked, so an operator holding the register tells the two apart.
        refuse(
            state,
            principal,
            reference,
            "case_unknown",
            action::CASE_REFUSED,
        )
        .await?;
        return Err(not_found());
    }
    if !case.state.may_move_to(req.state) {
        return Err(CaseError::Transition {
            from: case.state,
            to: req.state,
        });
    }
    match (req.state, req.intervention, req.result) {
        (CaseState::Intervention, None, _) => {
            return Err(invalid(
                "intervention",
                "moving to intervention needs its kind",
            ));
        }
        (CaseState::Closed, _, None) => {
            return Err(invalid("result", "closing a case needs its result"));
        }
        (CaseState::Closed, Some(_), _) => {
            return Err(invalid("intervention", "only with state intervention"));
        }
        (CaseState::Intervention, _, Some(_)) => {
            return Err(invalid("result", "only with state closed"));
        }
        _ => {}
    }
    let change = CaseMove {
        from: case.state,
        to: req.state,
        intervention: req.intervention,
        result: req.result,
        by_org: &principal.org,
        by_user: &principal.user,
        at: now,
    };
    let mut e = case_entry(principal, Operation::Alter, action::CASE_STATE, &case);
    let mut detail = serde_json::json!({
        "from": case.state,
        "to": req.state,
        "intervention": req.intervention,
        "result": req.result,
    });
    if req.state == CaseState::Closed {
        // The closure ends the case's channels (`mls::case_channel::check_open`): the entry
        // names them, so the revocation is on the record with the move.
        detail["channels"] = serde_json::json!(state.store.mls().case_channels(reference).await?);
    }
    entry::set_detail(&mut e, detail);
    let from = case.state;
    if state
        .store
        .cases()
        .move_case(reference, &change, &e)
        .await?
        .is_none()
    {
        // Another request moved it first: report the move from where it stands now.
        let now_state = state
            .store
            .cases()
            .case(reference)
            .await?
            .map_or(from, |c| c.state);
        return Err(CaseError::Transition {
            from: now_state,
            to: req.state,
        });
    }
    case.state = req.state;
    if req.intervention.is_some() {
        case.intervention = req.intervention;
    }
    case.result = req.result;
    case.updated_by = principal.org.clone();
    case.updated_at = now;
    Ok(case)
}

/// `GET /v1/cases/{reference}`: the case, if the caller's organisation opened it or takes
/// part in it (otherwise not found, whether or not it exists).
pub async fn get(
    state: &AppState,
    principal: &Principal,
    reference: &str,
) -> Result<Case, CaseError> {
    if !valid_case_reference(reference) {
        return Err(CaseError::NotFound(reference.to_string()));
    }
    match state.store.cases().case(reference).await? {
        Some(c) if concerns(&c, &principal.org) => Ok(c),
        _ => Err(CaseError::NotFound(reference.to_string())),
    }
}

/// `GET /v1/cases`: the cases the caller's organisation opened or takes part in.
pub async fn list(state: &AppState, principal: &Principal) -> Result<Vec<Case>, CaseError> {
    Ok(state.store.cases().cases_of(&principal.org).await?)
}
