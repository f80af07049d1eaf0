//! Group commit: one writer task per store turns many small audited writes (match decisions,
//! refusals, audit reads) into one transaction, so that "no disclosure without a durable entry"
//! costs one `fsync` per *batch* instead of one per request.
//!
//! How it works: a caller queues a [`Job`] (an optional usage increment, optionally bounded by
//! the daily budget, and its audit entries) and waits on a oneshot. The writer task takes the
//! first queued job, then everything else queued by then — at most [`MAX_BATCH`] jobs — and
//! hands them to the backend's [`BatchWrite::write_batch`], which applies them **in queue order
//! inside one transaction** and commits.
//!
//! The batching window is the previous commit itself: while one batch is being made durable
//! (an fsync, ~1 ms), the next requests queue up and go together into the next transaction.
//! There is no timer: a lone request is committed at once instead of waiting for company, and
//! under load the batches grow by themselves (up to [`MAX_BATCH`]). Before closing a batch the
//! writer yields once, so that handlers already running on its thread can still join. Only then does each caller get its answer. If anything in the batch fails, the
//! transaction rolls back and *every* caller of the batch gets the error (HTTP 503): nobody's
//! response leaves without its entry committed.
//!
//! Budget semantics: a job may carry a daily identifier budget. The backend reads the
//! (org, purpose, day) counters inside the transaction (locked on PostgreSQL), applies the
//! jobs in order and refuses — writes nothing for — a job whose increment would exceed its
//! budget ([`Written::OverBudget`]). Two concurrent requests can therefore never spend the
//! same remaining budget twice, on one broker or several.
//!
//! Audit sequence: the batch's entries are appended with one increment of the gapless counter,
//! in job order, so sequence numbers stay gapless and ordered by commit; the same transaction
//! grows the audit tree by their leaves (see [`super::audit_tree`]). Callers prepare their
//! entries (canonical bytes, salt, leaf) before queueing, so that work runs in parallel.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::audit_tree::PreparedEntry;
use super::cases::Contribution;
use super::{AuditEntry, StoreError, UsageDelta, count_to_db};

/// Most jobs in one transaction (bounds the transaction's size and the statement sizes).
pub const MAX_BATCH: usize = 1024;

/// Queue depth before callers wait to enqueue (back-pressure instead of unbounded memory).
const QUEUE: usize = 16 * 1024;

/// One audited write.
#[derive(Debug, Clone)]
pub struct Job {
    /// Added to the (org, purpose, day) counters, `queries` + 1.
    pub usage: Option<UsageDelta>,
    /// If set, the job is refused (nothing written) when `identifiers` would exceed it.
    pub budget: Option<u64>,
    /// Appended in order; their sequence numbers come back in [`Written::Appended`]. Prepared
    /// (serialised, salted, committed to) by the caller, so the writer only numbers them.
    pub entries: Vec<PreparedEntry>,
    /// The signals a match under a registered case disclosed, written with its entry (the
    /// feedback's record, docs/CASES.md); empty for every other job.
    pub contributions: Vec<Contribution>,
}

impl Job {
    /// A match decision: the usage increment (bounded by `budget` if given) and its entry.
    pub fn decision(
        usage: Option<UsageDelta>,
        budget: Option<u64>,
        audit: &AuditEntry,
    ) -> Result<Job, StoreError> {
        Ok(Job {
            usage,
            budget,
            entries: PreparedEntry::prepare(&[audit])?,
            contributions: Vec::new(),
        })
    }

    /// Entries that record no other effect.
    pub fn append(entries: &[AuditEntry]) -> Result<Job, StoreError> {
        Ok(Job {
            usage: None,
            budget: None,
            entries: PreparedEntry::prepare(&entries.iter().collect::<Vec<_>>())?,
            contributions: Vec::new(),
        })
    }
}

/// The outcome of one job of a committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Committed; the sequence numbers of the job's entries.
    Appended(Vec<u64>),
    /// The usage increment would exceed the job's budget: nothing of this job was written.
    OverBudget,
}

/// The backend half: apply jobs in order in one transaction and commit.
#[async_trait]
pub trait BatchWrite: Send + Sync + 'static {
    /// Returns one [`Written`] per job, in order, after the commit; on error nothing of the
    /// batch was committed.
    async fn write_batch(&self, jobs: &[Job]) -> Result<Vec<Written>, StoreError>;
}

type Reply = oneshot::Sender<Result<Written, StoreError>>;

/// The queue to a store's writer task. Cloning shares the task.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<(Job, Reply)>,
}

impl GroupCommit {
    /// Spawns the writer task on the current tokio runtime. It ends when every clone of the
    /// returned handle is dropped.
    pub fn spawn(backend: impl BatchWrite) -> GroupCommit {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(Arc::new(backend), rx));
        GroupCommit { queue }
    }

    /// Queues `job` and waits until its batch committed (or failed).
    pub async fn submit(&self, job: Job) -> Result<Written, StoreError> {
        // Reject what cannot be written before it can fail a whole batch.
        if let Some(u) = &job.usage {
            count_to_db(u.identifiers)?;
            count_to_db(u.no_hits)?;
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((job, reply))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

async fn run(backend: Arc<dyn BatchWrite>, mut rx: mpsc::Receiver<(Job, Reply)>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    while let Some((job, reply)) = rx.recv().await {
        jobs.push(job);
        replies.push(reply);
        let mut yielded = false;
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok((job, reply)) => {
                    jobs.push(job);
                    replies.push(reply);
                }
                Err(mpsc::error::TryRecvError::Empty) if !yielded => {
                    yielded = true;
                    tokio::task::yield_now().await;
                }
                Err(_) => break,
            }
        }
        match backend.write_batch(&jobs).await {
            Ok(written) if written.len() == jobs.len() => {
                for (reply, w) in replies.drain(..).zip(written) {
                    let _ = reply.send(Ok(w));
                }
            }
            Ok(written) => {
                let e = Arc::new(StoreError::Corrupt(format!(
                    "batch of {} jobs answered {} outcomes",
                    jobs.len(),
                    written.len()
                )));
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(StoreError::Batch(e.clone())));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = jobs.len(), "group commit failed");
                let e = Arc::new(e);
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(StoreError::Batch(e.clone())));
                }
            }
        }
        jobs.clear();
    }
}

/// (org, purpose, day) of a usage counter.
pub(super) type UsageKey = (String, String, String);

/// Hands the batch's sequence numbers (`seqs`, for the accepted jobs' entries in job order)
/// back per job.
pub(super) fn distribute(jobs: &[Job], accepted: &[bool], seqs: Vec<u64>) -> Vec<Written> {
    let mut seqs = seqs.into_iter();
    jobs.iter()
        .zip(accepted)
        .map(|(job, ok)| {
            if *ok {
                Written::Appended(seqs.by_ref().take(job.entries.len()).collect())
            } else {
                Written::OverBudget
            }
        })
        .collect()
}

/// The sequence number of a decision job without budget.
pub(super) fn decision_seq(w: Written) -> Result<u64, StoreError> {
    within_budget(w)?.ok_or_else(|| {
        StoreError::Corrupt("a decision without budget was refused for its budget".into())
    })
}

/// The sequence number of a decision job, `None` if it was over budget.
pub(super) fn within_budget(w: Written) -> Result<Option<u64>, StoreError> {
    match w {
        Written::Appended(seqs) => seqs
            .first()
            .copied()
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt("a decision appended no entry".into())),
        Written::OverBudget => Ok(None),
    }
}

/// The sequence numbers of an append job.
pub(super) fn appended(w: Written) -> Result<Vec<u64>, StoreError> {
    match w {
        Written::Appended(seqs) => Ok(seqs),
        Written::OverBudget => Err(StoreError::Corrupt(
            "an append without usage was refused for its budget".into(),
        )),
    }
}

/// Applies the usage parts of `jobs` in order to `current` counters (read inside the batch's
/// transaction): returns which jobs are accepted. Backend-neutral so both backends decide
/// budgets identically.
pub(super) fn apply_usage(
    jobs: &[Job],
    current: &mut std::collections::BTreeMap<UsageKey, super::Usage>,
) -> Vec<bool> {
    jobs.iter()
        .map(|job| {
            let Some(u) = &job.usage else { return true };
            let c = current
                .entry((u.org.clone(), u.purpose.clone(), u.day.clone()))
                .or_default();
            let after = c.identifiers.saturating_add(u.identifiers);
            if job.budget.is_some_and(|b| after > b) {
                return false;
            }
            c.identifiers = after;
            c.queries = c.queries.saturating_add(1);
            c.no_hits = c.no_hits.saturating_add(u.no_hits);
            true
        })
        .collect()
}
