//! Match decisions and usage counters on PostgreSQL: the group commit's writer half, which
//! locks each counter row it changes so that budgets hold across brokers.

use super::{PostgresStore, append_prepared};
use crate::store::audit_tree::PreparedEntry;
use crate::store::group_commit::{BatchWrite, Job, UsageKey, Written, apply_usage, distribute};
use crate::store::sql::DecisionDialect;
use crate::store::sql::decisions::{SELECT_USAGE, usage_from_row};
use crate::store::{StoreError, Usage, count_to_db};
use async_trait::async_trait;
use sqlx::PgPool;
use std::collections::BTreeMap;

/// The writer half of [`PostgresStore`]'s group commit (see [`crate::store::group_commit`]).
pub(super) struct PgBatch {
    pub(super) pool: PgPool,
}

#[async_trait]
impl BatchWrite for PgBatch {
    async fn write_batch(&self, jobs: &[Job]) -> Result<Vec<Written>, StoreError> {
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
        for (key, usage) in &counters {
            if before.get(key) == Some(usage) {
                continue;
            }
            sqlx::query(
                "UPDATE usage_counters SET identifiers = $4, queries = $5, no_hits = $6 \
                 WHERE org = $1 AND purpose = $2 AND day = $3",
            )
            .bind(key.0.as_str())
            .bind(key.1.as_str())
            .bind(key.2.as_str())
            .bind(count_to_db(usage.identifiers)?)
            .bind(count_to_db(usage.queries)?)
            .bind(count_to_db(usage.no_hits)?)
            .execute(&mut *tx)
            .await?;
        }
        let entries: Vec<&PreparedEntry> = jobs
            .iter()
            .zip(&accepted)
            .filter(|(_, ok)| **ok)
            .flat_map(|(j, _)| j.entries.iter())
            .collect();
        let seqs = append_prepared(&mut tx, &entries).await?;
        tx.commit().await?;
        Ok(distribute(jobs, &accepted, seqs))
    }
}

/// Several brokers may write the counters: no copy is kept, every read asks the database.
impl DecisionDialect for PostgresStore {}
