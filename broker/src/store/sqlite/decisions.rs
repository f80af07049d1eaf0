//! Match decisions and usage counters on SQLite: the group commit's writer half, and the
//! in-memory mirror of the counters it committed.

use super::durable::Unsynced;
use super::{BEGIN_WRITE, SqliteStore, append_prepared};
use crate::store::group_commit::{BatchWrite, Committed, Job, UsageKey, apply_usage, distribute};
use crate::store::sql::DecisionDialect;
use crate::store::sql::decisions::{
    SELECT_USAGE, accepted_entries, usage_from_row, write_changed_counters, write_contributions,
};
use crate::store::{StoreError, Usage};
use async_trait::async_trait;
use sqlx::Connection;
use sqlx::{Sqlite, SqlitePool};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// The usage counters as last committed by this store's writer, so the match path's read
/// (before the policy decides) costs a hash lookup instead of a query. Exact because the
/// writer task is the only writer of `usage_counters` for this file (one broker per SQLite
/// file; other processes only read) and updates the mirror after each commit, in commit
/// order. A key not yet written since start-up is read from the database.
pub(super) type UsageMirror = Arc<Mutex<HashMap<UsageKey, Usage>>>;

/// Mirror entries before it is emptied (they are re-read from the database on demand).
const USAGE_MIRROR_ENTRIES: usize = 16 * 1024;

/// Writes a changed counter row, creating it if missing (`?1`–`?6`, see
/// [`write_changed_counters`]).
const UPSERT_COUNTERS: &str = "INSERT INTO usage_counters (org, purpose, day, identifiers, queries, no_hits) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (org, purpose, day) DO UPDATE SET \
     identifiers = excluded.identifiers, queries = excluded.queries, \
     no_hits = excluded.no_hits";

/// The writer half of [`SqliteStore`]'s group commit (see [`crate::store::group_commit`]).
pub(super) struct SqliteBatch {
    pub(super) writer: SqlitePool,
    pub(super) usage: UsageMirror,
    /// Says when a batch waits for the writer, so a bulk upload ends its piece early.
    pub(super) gate: Arc<super::WriterGate>,
    /// Makes the batch durable after the writer is given back.
    pub(super) sync: Arc<super::WalSync>,
}

#[async_trait]
impl BatchWrite for SqliteBatch {
    async fn write_batch(&self, jobs: &[Job]) -> Result<Committed, StoreError> {
        // Waiting for the writer, the batch asks a bulk upload to end its piece (WriterGate).
        let want = self.gate.want();
        let writer =
            Unsynced::acquire(&self.writer, &self.sync, self.gate.sync_after_unlock()).await;
        drop(want);
        let mut writer = writer?;
        let mut tx = writer.conn().begin_with(BEGIN_WRITE).await?;
        // The write lock is held (BEGIN IMMEDIATE): these reads cannot go stale before commit.
        let mut counters: BTreeMap<UsageKey, Usage> = BTreeMap::new();
        for u in jobs.iter().filter_map(|j| j.usage.as_ref()) {
            let key = (u.org.clone(), u.purpose.clone(), u.day.clone());
            if counters.contains_key(&key) {
                continue;
            }
            let usage = sqlx::query(SELECT_USAGE)
                .bind(u.org.as_str())
                .bind(u.purpose.as_str())
                .bind(u.day.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .as_ref()
                .map_or(Ok(Usage::default()), usage_from_row)?;
            counters.insert(key, usage);
        }
        let before = counters.clone();
        let accepted = apply_usage(jobs, &mut counters);
        write_changed_counters::<Sqlite>(&mut *tx, UPSERT_COUNTERS, &before, &counters).await?;
        let seqs = append_prepared(&mut tx, &accepted_entries(jobs, &accepted)).await?;
        write_contributions::<Sqlite>(&mut *tx, jobs, &accepted, &seqs).await?;
        tx.commit().await?;
        let ticket = writer.finish(&self.sync).await?;
        if !counters.is_empty() {
            let mut mirror = self.usage.lock().unwrap_or_else(|p| p.into_inner());
            if mirror.len() + counters.len() > USAGE_MIRROR_ENTRIES {
                mirror.clear();
            }
            mirror.extend(counters);
        }
        // Nobody is answered before the batch is durable (`durable`, awaited by the group
        // commit beside the next batch); the writer is free meanwhile.
        if !self.gate.pipelined() {
            self.sync.durable(ticket).await?;
            return Ok(Committed {
                written: distribute(jobs, &accepted, seqs),
                ticket: 0,
            });
        }
        Ok(Committed {
            written: distribute(jobs, &accepted, seqs),
            ticket,
        })
    }

    async fn durable(&self, ticket: u64) -> Result<(), StoreError> {
        self.sync.durable(ticket).await
    }
}

impl DecisionDialect for SqliteStore {
    fn cached_usage(&self, org: &str, purpose: &str, day: &str) -> Option<Usage> {
        let mirror = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        mirror
            .get(&(org.to_string(), purpose.to_string(), day.to_string()))
            .copied()
    }
}
