//! The cases aggregate: cases (casussen) with their participants and state, and the public
//! prosecutor's consents under them (docs/CASES.md). Every change takes the audit entry
//! describing it and commits both in one transaction; the reads serve the match path, which
//! reads the case and the consent for every police match under a case reference (no cache), so
//! a closure or withdrawal committed on any broker refuses the next query on every broker.

use async_trait::async_trait;
use kruispunt_sdk::cases::{Case, CaseResult, CaseState, Consent, InterventionKind};

use super::StoreError;
use crate::audit::entry::AuditEntry;

/// A case's move to another state, made by `by_org`/`by_user` at `at` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseMove<'a> {
    /// The state the case must still be in (the move is refused otherwise, nothing written).
    pub from: CaseState,
    /// The new state.
    pub to: CaseState,
    /// The intervention's kind (moving to `intervention`).
    pub intervention: Option<InterventionKind>,
    /// The result (moving to `closed`).
    pub result: Option<CaseResult>,
    /// Who moves it.
    pub by_org: &'a str,
    /// The user within that organisation.
    pub by_user: &'a str,
    /// When.
    pub at: i64,
}

/// A case as the ondermijningsbeeld counts it (docs/BEELD.md, "Cases as measures"): where,
/// in which themes, who takes part, and when it opened, moved to an intervention and closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSpan {
    pub reference: String,
    pub gemeente: String,
    pub themes: Vec<String>,
    /// The organisations taking part, the opener among them.
    pub participants: Vec<String>,
    /// Unix seconds.
    pub opened_at: i64,
    /// The intervention's kind and when the case moved to it.
    pub intervention: Option<(InterventionKind, i64)>,
    /// When it closed.
    pub closed_at: Option<i64>,
}

/// One of an organisation's signals a police match under a registered case disclosed, to be
/// written with the match's audit entry ([`crate::store::group_commit::Job`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub case_reference: String,
    /// The supplying organisation.
    pub org: String,
    /// The signal id's first 8 bytes (as the match index holds it).
    pub signal: [u8; 8],
    /// Unix seconds.
    pub disclosed_at: i64,
    /// The match's police embargo (Unix seconds), if any.
    pub embargo_until: Option<i64>,
}

/// One recorded contribution of an organisation's signal, with what its case came to (the
/// feedback's input; never served as a row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseContribution {
    pub case_reference: String,
    pub signal: [u8; 8],
    pub disclosed_at: i64,
    pub embargo_until: Option<i64>,
    /// The case's intervention and when it happened, if it came to one.
    pub intervention: Option<(InterventionKind, i64)>,
}

/// Cases and consents ([`super::Store::cases`]).
#[async_trait]
pub trait CaseStore: Send + Sync {
    /// Registers `case` (its `opened_by`, `opened_at` and participants as given; the opener is
    /// recorded as the last updater) opened by `user`, and appends `audit`, in one transaction.
    /// `None` (nothing written) when a case with that reference exists.
    async fn open_case(
        &self,
        case: &Case,
        user: &str,
        audit: &AuditEntry,
    ) -> Result<Option<u64>, StoreError>;

    /// Moves a case and appends `audit`, in one transaction, if it is still in `change.from`.
    /// `None` (nothing written) when it is not (or does not exist).
    async fn move_case(
        &self,
        reference: &str,
        change: &CaseMove<'_>,
        audit: &AuditEntry,
    ) -> Result<Option<u64>, StoreError>;

    /// One case with its participants.
    async fn case(&self, reference: &str) -> Result<Option<Case>, StoreError>;

    /// Where a case's closure is in the audit log: `None` for no such case, `Some(None)` for a
    /// case not closed (or closed before migration 0017, which did not record it),
    /// `Some(Some(seq))` for the sequence number of the `case.state` entry that closed it —
    /// what an embargo tied to the case ends with (`crate::cases::embargo`).
    async fn case_closure(&self, reference: &str) -> Result<Option<Option<u64>>, StoreError>;

    /// The state of one case, without its participants (one indexed read): what every post
    /// to a case channel checks.
    async fn case_state(&self, reference: &str) -> Result<Option<CaseState>, StoreError>;

    /// The cases `org` opened or takes part in, by reference.
    async fn cases_of(&self, org: &str) -> Result<Vec<Case>, StoreError>;

    /// Every registered case as the ondermijningsbeeld counts it, by reference.
    async fn case_spans(&self) -> Result<Vec<CaseSpan>, StoreError>;

    /// Every recorded contribution of `org`'s signals to cases, oldest first.
    async fn contributions_of(&self, org: &str) -> Result<Vec<CaseContribution>, StoreError>;

    /// Records `consent` (issued by its `issued_by`, by `user`) and appends `audit`, in one
    /// transaction; the case must exist.
    async fn issue_consent(
        &self,
        consent: &Consent,
        user: &str,
        audit: &AuditEntry,
    ) -> Result<u64, StoreError>;

    /// One consent.
    async fn consent(&self, id: &str) -> Result<Option<Consent>, StoreError>;

    /// Withdraws consent `id` at `at`, by `user` of `issuer`, and appends `audit`, in one
    /// transaction — only if `issuer` issued it and it is not withdrawn yet; `None` (nothing
    /// written) otherwise.
    async fn withdraw_consent(
        &self,
        id: &str,
        issuer: &str,
        user: &str,
        at: i64,
        audit: &AuditEntry,
    ) -> Result<Option<u64>, StoreError>;
}
