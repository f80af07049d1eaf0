//! The decisions aggregate: match decisions and the per-(org, purpose, day) usage counters
//! they bump, which budgets are checked against. Both backends batch these writes through
//! the group commit ([`super::group_commit`]).

use async_trait::async_trait;

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
    /// requests (on one broker or several) cannot spend the same budget twice.
    async fn record_decision_within_budget(
        &self,
        usage: UsageDelta,
        budget: u64,
        audit: &AuditEntry,
    ) -> Result<Option<u64>, StoreError>;

    /// The counters of one (org, purpose, day); zeros when nothing was recorded.
    async fn usage(&self, org: &str, purpose: &str, day: &str) -> Result<Usage, StoreError>;
}
