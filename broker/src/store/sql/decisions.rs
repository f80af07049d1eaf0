//! [`DecisionStore`] on either backend: decisions go through the backend's group commit (whose
//! writer half, `decisions.rs` of each backend, is its own: SQLite upserts under its single
//! writer, PostgreSQL locks each counter row), and the counters are read with one statement.

use std::collections::BTreeMap;

use sqlx::{Database, Encode, Executor, IntoArguments, Type};

use super::Dialect;
use crate::audit::entry::AuditEntry;
use crate::store::audit_tree::PreparedEntry;
use crate::store::cases::Contribution;
use crate::store::group_commit::{Job, UsageKey, decision_seq, within_budget};
use crate::store::{
    BudgetRelease, Charge, DecisionStore, StoreError, Usage, UsageDelta, count_from_db, count_to_db,
};

/// The counters of one (org, purpose, day): `$1`, `$2`, `$3`; rows read by [`usage_from_row`].
pub(crate) const SELECT_USAGE: &str = "SELECT identifiers, queries, no_hits FROM usage_counters \
     WHERE org = $1 AND purpose = $2 AND day = $3";

/// A backend's own part of the decision storage (in its `decisions.rs`).
pub(crate) trait DecisionDialect: Dialect {
    /// The counters as this broker last committed them, if the backend keeps a copy (SQLite,
    /// whose writer is the only one); `None` reads the database.
    fn cached_usage(&self, _org: &str, _purpose: &str, _day: &str) -> Option<Usage> {
        None
    }
}

shared_impl! {
    impl DecisionStore for DecisionDialect {
        async fn record_decision(
            &self,
            usage: Option<UsageDelta>,
            audit: &AuditEntry,
        ) -> Result<u64, StoreError> {
            decision_seq(
                self.commits()
                    .submit(Job::decision(usage, None, audit)?)
                    .await?,
            )
        }

        async fn record_decision_within_budget(
            &self,
            usage: UsageDelta,
            budget: u64,
            audit: &AuditEntry,
            contributions: Vec<Contribution>,
        ) -> Result<Option<u64>, StoreError> {
            let mut job = Job::decision(Some(usage), Some(budget), audit)?;
            job.contributions = contributions;
            within_budget(self.commits().submit(job).await?)
        }

        async fn usage(&self, org: &str, purpose: &str, day: &str) -> Result<Usage, StoreError> {
            if let Some(usage) = self.cached_usage(org, purpose, day) {
                return Ok(usage);
            }
            let row = sqlx::query(SELECT_USAGE)
                .bind(org)
                .bind(purpose)
                .bind(day)
                .fetch_optional(self.reader())
                .await?;
            row.as_ref().map_or(Ok(Usage::default()), usage_from_row)
        }

        async fn charge_release(
            &self,
            release: &BudgetRelease<'_>,
            audit: &AuditEntry,
        ) -> Result<Charge, StoreError> {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO privacy_budget (org, purpose, month, spent_micro) \
                 VALUES ($1, $2, $3, 0) ON CONFLICT (org, purpose, month) DO NOTHING",
            )
            .bind(release.org)
            .bind(release.purpose)
            .bind(release.month)
            .execute(&mut *tx)
            .await?;
            // Locked until commit on PostgreSQL; SQLite's write transaction already excludes
            // every other writer.
            let spent: i64 = sqlx::query_scalar(&format!(
                "{SELECT_SPENT}{}",
                D::LOCK_ROWS
            ))
            .bind(release.org)
            .bind(release.purpose)
            .bind(release.month)
            .fetch_one(&mut *tx)
            .await?;
            let spent = count_from_db(spent)?;
            let left = release.monthly_micro.saturating_sub(spent);
            let answered: Option<Vec<u8>> = sqlx::query_scalar(SELECT_ANSWER)
                .bind(release.org)
                .bind(release.purpose)
                .bind(release.snapshot)
                .bind(release.question)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(answer) = answered {
                tx.rollback().await?;
                return Ok(Charge::Answered {
                    answer,
                    left_micro: left,
                });
            }
            if release.epsilon_micro > left {
                tx.rollback().await?;
                return Ok(Charge::Exhausted { left_micro: left });
            }
            sqlx::query(
                "UPDATE privacy_budget SET spent_micro = spent_micro + $4 \
                 WHERE org = $1 AND purpose = $2 AND month = $3",
            )
            .bind(release.org)
            .bind(release.purpose)
            .bind(release.month)
            .bind(count_to_db(release.epsilon_micro)?)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO aggregate_releases (org, purpose, snapshot, question, month, answer) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(release.org)
            .bind(release.purpose)
            .bind(release.snapshot)
            .bind(release.question)
            .bind(release.month)
            .bind(release.answer)
            .execute(&mut *tx)
            .await?;
            let seqs = D::append(&mut tx, &[audit]).await?;
            tx.commit().await?;
            Ok(Charge::Charged {
                audit_seq: seqs.first().copied().unwrap_or_default(),
                left_micro: left - release.epsilon_micro,
            })
        }

        async fn answered_release(
            &self,
            org: &str,
            purpose: &str,
            snapshot: &str,
            question: &[u8],
        ) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(sqlx::query_scalar(SELECT_ANSWER)
                .bind(org)
                .bind(purpose)
                .bind(snapshot)
                .bind(question)
                .fetch_optional(self.reader())
                .await?)
        }

        async fn budget_spent(
            &self,
            org: &str,
            purpose: &str,
            month: &str,
        ) -> Result<u64, StoreError> {
            let spent: Option<i64> = sqlx::query_scalar(SELECT_SPENT)
                .bind(org)
                .bind(purpose)
                .bind(month)
                .fetch_optional(self.reader())
                .await?;
            count_from_db(spent.unwrap_or(0))
        }

        async fn forget_answered_releases(
            &self,
            ended: &(dyn for<'s> Fn(&'s str) -> bool + Sync),
        ) -> Result<u64, StoreError> {
            // Few rows: at most one per charged question, and the budget bounds those.
            let snapshots: Vec<String> =
                sqlx::query_scalar("SELECT DISTINCT snapshot FROM aggregate_releases")
                    .fetch_all(self.reader())
                    .await?;
            let ended: Vec<String> = snapshots.into_iter().filter(|s| ended(s)).collect();
            if ended.is_empty() {
                return Ok(0);
            }
            let mut tx = self.begin_write().await?;
            let mut forgotten = 0;
            for snapshot in &ended {
                let done = sqlx::query("DELETE FROM aggregate_releases WHERE snapshot = $1")
                    .bind(snapshot.as_str())
                    .execute(&mut *tx)
                    .await?;
                forgotten += D::rows_affected(&done);
            }
            tx.commit().await?;
            Ok(forgotten)
        }
    }
}

/// µε spent by (org, purpose, month): `$1`, `$2`, `$3`.
const SELECT_SPENT: &str =
    "SELECT spent_micro FROM privacy_budget WHERE org = $1 AND purpose = $2 AND month = $3";

/// The answer kept for (org, purpose, snapshot, question): `$1`–`$4`.
const SELECT_ANSWER: &str = "SELECT answer FROM aggregate_releases \
     WHERE org = $1 AND purpose = $2 AND snapshot = $3 AND question = $4";

/// Writes every counter in `counters` that differs from `before`, in the caller's transaction,
/// with the backend's `statement` (an update of the locked row on PostgreSQL, an upsert under
/// SQLite's single writer) binding org, purpose, day, identifiers, queries, no_hits as `$1`–`$6`.
pub(crate) async fn write_changed_counters<DB>(
    conn: &mut DB::Connection,
    statement: &str,
    before: &BTreeMap<UsageKey, Usage>,
    counters: &BTreeMap<UsageKey, Usage>,
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    for (key, usage) in counters {
        if before.get(key) == Some(usage) {
            continue;
        }
        sqlx::query::<DB>(statement)
            .bind(key.0.as_str())
            .bind(key.1.as_str())
            .bind(key.2.as_str())
            .bind(count_to_db(usage.identifiers)?)
            .bind(count_to_db(usage.queries)?)
            .bind(count_to_db(usage.no_hits)?)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Writes the case contributions of the jobs the batch `accepted`, each under the sequence
/// number of its job's (first) entry, `seqs` being the accepted jobs' entries' numbers in order.
pub(crate) async fn write_contributions<DB>(
    conn: &mut DB::Connection,
    jobs: &[Job],
    accepted: &[bool],
    seqs: &[u64],
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
{
    let mut next = 0usize;
    for (job, ok) in jobs.iter().zip(accepted) {
        if !*ok {
            continue;
        }
        let first = seqs.get(next).copied();
        next += job.entries.len();
        let Some(seq) = first else { continue };
        for c in &job.contributions {
            sqlx::query::<DB>(
                "INSERT INTO case_contributions (audit_seq, case_reference, org, signal, \
                 disclosed_at, embargo_until) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (audit_seq, org, signal) DO NOTHING",
            )
            .bind(count_to_db(seq)?)
            .bind(c.case_reference.as_str())
            .bind(c.org.as_str())
            .bind(&c.signal[..])
            .bind(c.disclosed_at)
            .bind(c.embargo_until)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// The prepared audit entries of the jobs the batch `accepted` (a refused decision writes none).
pub(crate) fn accepted_entries<'j>(jobs: &'j [Job], accepted: &[bool]) -> Vec<&'j PreparedEntry> {
    jobs.iter()
        .zip(accepted)
        .filter(|(_, ok)| **ok)
        .flat_map(|(j, _)| j.entries.iter())
        .collect()
}

row_decoder! {
    /// A row of [`SELECT_USAGE`].
    pub(crate) fn usage_from_row(row) -> Usage {
        Ok(Usage {
            identifiers: count_from_db(row.try_get(0)?)?,
            queries: count_from_db(row.try_get(1)?)?,
            no_hits: count_from_db(row.try_get(2)?)?,
        })
    }
}
