//! Match decisions and usage counters on PostgreSQL: the group commit's writer half, which
//! locks each counter row it changes so that budgets hold across brokers.

use super::{PostgresStore, append_prepared};
use crate::store::group_commit::{BatchWrite, Committed, Job, UsageKey, apply_usage, distribute};
use crate::store::sql::DecisionDialect;
use crate::store::sql::decisions::{
    SELECT_USAGE, accepted_entries, usage_from_row, write_changed_counters, write_contributions,
};
use crate::store::{StoreError, Usage};
use async_trait::async_trait;
use sqlx::{PgPool, Postgres};
use std::collections::BTreeMap;

/// Writes a changed counter row, already created and locked by this batch (`$1`–`$6`, see
/// [`write_changed_counters`]).
const UPDATE_COUNTERS: &str = "UPDATE usage_counters SET identifiers = $4, queries = $5, no_hits = $6 \
     WHERE org = $1 AND purpose = $2 AND day = $3";

/// The writer half of [`PostgresStore`]'s group commit (see [`crate::store::group_commit`]).
pub(super) struct PgBatch {
    pub(super) pool: PgPool,
}

#[async_trait]
impl BatchWrite for PgBatch {
    async fn write_batch(&self, jobs: &[Job]) -> Result<Committed, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut keys: Vec<UsageKey> = jobs
            .iter()
            .filter_map(|j| j.usage.as_ref())
            .map(|u| (u.org.clone(), u.purpose.clone(), u.day.clone()))
            .collect();
        // Sorted: every broker locks counter rows in the same order (no deadlock).
        keys.sort();
        keys.dedup();
        let mut counters: BTreeMap<UsageKey, Usage> = BTreeMap::new();
        for key in &keys {
            // Make sure the row exists, then lock it until commit: another broker's batch
            // waits here instead of reading a count that is about to change.
            sqlx::query(
                "INSERT INTO usage_counters (org, purpose, day) VALUES ($1, $2, $3) \
                 ON CONFLICT (org, purpose, day) DO NOTHING",
            )
            .bind(key.0.as_str())
            .bind(key.1.as_str())
            .bind(key.2.as_str())
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(&format!("{SELECT_USAGE} FOR UPDATE"))
                .bind(key.0.as_str())
                .bind(key.1.as_str())
                .bind(key.2.as_str())
                .fetch_one(&mut *tx)
                .await?;
            counters.insert(key.clone(), usage_from_row(&row)?);
        }
        let before = counters.clone();
        let accepted = apply_usage(jobs, &mut counters);
        write_changed_counters::<Postgres>(&mut *tx, UPDATE_COUNTERS, &before, &counters).await?;
        let seqs = append_prepared(&mut tx, &accepted_entries(jobs, &accepted)).await?;
        write_contributions::<Postgres>(&mut *tx, jobs, &accepted, &seqs).await?;
        // PostgreSQL's commit is durable when it returns (`synchronous_commit`): no ticket.
        tx.commit().await?;
        Ok(Committed {
            written: distribute(jobs, &accepted, seqs),
            ticket: 0,
        })
    }
}

/// Several brokers may write the counters: no copy is kept, every read asks the database.
impl DecisionDialect for PostgresStore {}
