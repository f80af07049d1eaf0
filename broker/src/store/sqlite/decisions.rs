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
use sqlx::sqlite::SqliteConnection;
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

/// What a batch wrote in a transaction that has not committed yet.
pub(super) struct Uncommitted {
    accepted: Vec<bool>,
    seqs: Vec<u64>,
    /// The counters as they will be once committed.
    counters: BTreeMap<UsageKey, Usage>,
}

/// Applies `jobs` in order inside the caller's write transaction `tx` (the batch's own, or the
/// bulk upload's it rides in, [`super::WriterGate`]): the budgets decided on the counters read
/// under the write lock, the changed counters, the accepted jobs' entries and contributions.
pub(super) async fn write_jobs(
    tx: &mut SqliteConnection,
    jobs: &[Job],
) -> Result<Uncommitted, StoreError> {
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
    let seqs = append_prepared(tx, &accepted_entries(jobs, &accepted)).await?;
    write_contributions::<Sqlite>(&mut *tx, jobs, &accepted, &seqs).await?;
    Ok(Uncommitted {
        accepted,
        seqs,
        counters,
    })
}

impl Uncommitted {
    /// Call once the transaction committed (`ticket`: its [`Unsynced::committed`]): updates the
    /// usage mirror, in commit order since only the writer's holder calls this, and returns the
    /// batch's outcomes.
    pub(super) fn committed(self, jobs: &[Job], usage: &UsageMirror, ticket: u64) -> Committed {
        if !self.counters.is_empty() {
            let mut mirror = usage.lock().unwrap_or_else(|p| p.into_inner());
            if mirror.len() + self.counters.len() > USAGE_MIRROR_ENTRIES {
                mirror.clear();
            }
            mirror.extend(self.counters);
        }
        Committed {
            written: distribute(jobs, &self.accepted, self.seqs),
            ticket,
        }
    }
}

impl SqliteBatch {
    /// The writer connection for a batch. While a paced upload holds it, the batch is offered
    /// to that upload instead ([`super::WriterGate`], "Decisions ride along"): `Err` carries
    /// the outcome the upload answered. Otherwise the batch says it waits, so a bulk upload
    /// that did not take an offer ends its piece for it.
    async fn writer_or_ride(
        &self,
        jobs: &[Job],
    ) -> Result<Unsynced, Result<Committed, StoreError>> {
        let lower = self.gate.sync_after_unlock();
        if !self.gate.upload_holding() {
            let want = self.gate.want();
            let writer = Unsynced::acquire(&self.writer, &self.sync, lower).await;
            drop(want);
            return writer.map_err(Err);
        }
        let mut offer = self.gate.offer(jobs.to_vec());
        let conn = tokio::select! {
            biased;
            answered = &mut offer.answer => return Err(answered.unwrap_or_else(|_| Err(cut_short()))),
            conn = self.writer.acquire() => conn.map_err(|e| Err(e.into()))?,
        };
        if offer.withdraw() {
            return Unsynced::lower(conn, &self.sync, lower).await.map_err(Err);
        }
        // An upload took the batch just before it gave the writer back.
        drop(conn);
        Err((&mut offer.answer)
            .await
            .unwrap_or_else(|_| Err(cut_short())))
    }
}

/// The upload carrying a batch stopped during its commit: whether the batch committed is not
/// known, so its callers are refused (503) — an entry without an answer is harmless, an answer
/// without its entry is not.
fn cut_short() -> StoreError {
    StoreError::Batch(std::sync::Arc::new(StoreError::Unavailable(
        sqlx::Error::Io(std::io::Error::other(
            "the upload carrying this decision batch stopped during its commit",
        )),
    )))
}

#[async_trait]
impl BatchWrite for SqliteBatch {
    async fn write_batch(&self, jobs: &[Job]) -> Result<Committed, StoreError> {
        let committed = match self.writer_or_ride(jobs).await {
            Ok(mut writer) => {
                let mut tx = writer.conn().begin_with(BEGIN_WRITE).await?;
                let written = write_jobs(&mut tx, jobs).await?;
                tx.commit().await?;
                let ticket = writer.finish(&self.sync).await?;
                written.committed(jobs, &self.usage, ticket)
            }
            // Carried by the upload holding the writer, and committed with it.
            Err(rode) => rode?,
        };
        // Nobody is answered before the batch is durable (`durable`, awaited by the group
        // commit beside the next batch); the writer is free meanwhile.
        if !self.gate.pipelined() {
            self.sync.durable(committed.ticket).await?;
            return Ok(Committed {
                ticket: 0,
                ..committed
            });
        }
        Ok(committed)
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
