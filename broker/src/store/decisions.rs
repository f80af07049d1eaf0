//! The decisions aggregate: match decisions and the per-(org, purpose, day) usage counters
//! they bump, which budgets are checked against. Both backends batch these writes through
//! the group commit ([`super::group_commit`]).

use async_trait::async_trait;

use super::cases::Contribution;
use super::{StoreError, Usage, UsageDelta};
use crate::audit::entry::AuditEntry;

/// Match decisions and usage counters ([`super::Store::decisions`]).
#[async_trait]
pub trait DecisionStore: Send + Sync {
    /// The match path: adds `usage` to the (org, purpose, day) counters (`queries` + 1) and
    /// appends `audit`, in one transaction. Returns the entry's audit sequence number.
    async fn record_decision(
        &self,
        usage: Option<UsageDelta>,
        audit: &AuditEntry,
    ) -> Result<u64, StoreError>;

    /// Like [`DecisionStore::record_decision`], but the increment is bounded: if the day's
    /// `identifiers` would exceed `budget`, nothing is written and `None` is returned. Checked
    /// and incremented inside the committing transaction, in queue order, so concurrent
    /// requests (on one broker or several) cannot spend the same budget twice. The
    /// `contributions` (a match under a registered case: the signals it disclosed) are written
    /// in the same transaction, under the entry's sequence number.
    async fn record_decision_within_budget(
        &self,
        usage: UsageDelta,
        budget: u64,
        audit: &AuditEntry,
        contributions: Vec<Contribution>,
    ) -> Result<Option<u64>, StoreError>;

    /// The counters of one (org, purpose, day); zeros when nothing was recorded.
    async fn usage(&self, org: &str, purpose: &str, day: &str) -> Result<Usage, StoreError>;

    /// The ondermijningsbeeld's release path: in one transaction, unless this question was
    /// already answered for this organisation in this snapshot ([`Charge::Answered`], nothing
    /// written) or the month's budget would be exceeded ([`Charge::Exhausted`], nothing
    /// written), adds `epsilon_micro` to the (org, purpose, month) budget, keeps the answer
    /// for repeats and appends `audit`. The budget row is locked (PostgreSQL) or the write lock
    /// held (SQLite) from the read to the commit, so brokers sharing a database cannot spend
    /// one budget twice.
    async fn charge_release(
        &self,
        release: &BudgetRelease<'_>,
        audit: &AuditEntry,
    ) -> Result<Charge, StoreError>;

    /// The answer already given to this question for this organisation in this snapshot.
    async fn answered_release(
        &self,
        org: &str,
        purpose: &str,
        snapshot: &str,
        question: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// µε spent by `org` under `purpose` in `month` (`YYYY-MM`); 0 when nothing was spent.
    async fn budget_spent(&self, org: &str, purpose: &str, month: &str) -> Result<u64, StoreError>;

    /// Forgets the answers kept for repeats ([`DecisionStore::charge_release`]) of every
    /// snapshot for which `ended` says yes (a repeat can only come within its snapshot); the
    /// month's spending in `privacy_budget` stays. Returns how many answers it forgot.
    async fn forget_answered_releases(
        &self,
        ended: &(dyn for<'s> Fn(&'s str) -> bool + Sync),
    ) -> Result<u64, StoreError>;
}

/// One release of the ondermijningsbeeld to charge ([`DecisionStore::charge_release`]).
#[derive(Debug, Clone)]
pub struct BudgetRelease<'a> {
    pub org: &'a str,
    pub purpose: &'a str,
    /// Calendar month of the request, `YYYY-MM`.
    pub month: &'a str,
    /// The snapshot answered from (`<interval>:<id>`).
    pub snapshot: &'a str,
    /// SHA-256 of the canonical question.
    pub question: &'a [u8],
    /// ε of this release and the month's total, in µε.
    pub epsilon_micro: u64,
    pub monthly_micro: u64,
    /// The answer to give again to a repeat of the question in this snapshot.
    pub answer: &'a [u8],
}

/// What [`DecisionStore::charge_release`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// Charged and audited; µε left this month.
    Charged { audit_seq: u64, left_micro: u64 },
    /// Already answered in this snapshot (by a concurrent request or another broker): this
    /// answer is to be given again, uncharged.
    Answered { answer: Vec<u8>, left_micro: u64 },
    /// The month's budget does not cover the release.
    Exhausted { left_micro: u64 },
}
