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
//! The batching window is the previous commit itself: while one batch is being written, the
//! next requests queue up and go together into the next transaction. There is no timer: a lone
//! request is committed at once instead of waiting for company, and under load the batches grow
//! by themselves (up to [`MAX_BATCH`]). Before closing a batch the writer yields once, so that
//! handlers already running on its thread can still join. If anything in the batch fails, the
//! transaction rolls back and *every* caller of the batch gets the error (HTTP 503): nobody's
//! response leaves without its entry committed.
//!
//! **Durability is pipelined.** A backend whose commit returns before it is durable (SQLite's
//! hot writers, `super::sqlite::durable`: the fsync after the writer is given back) hands back
//! a ticket with the batch; the callers are answered only once [`BatchWrite::durable`] says that
//! ticket is on disk, but the writer task does not wait for it: it begins the next batch while
//! the fsync runs. So a decision waits for at most one batch's *writing* before its own, not
//! for the fsync of the batch before it too (measured in `benches/http_load.rs`). Tickets are
//! ordered: an fsync covers every commit before it, so no caller is answered on a later
//! batch's durability while an earlier batch's failed (a failed fsync fails every later one).
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

/// A committed batch: one [`Written`] per job, in order, and the ticket to wait for before
/// anyone is answered.
#[derive(Debug)]
pub struct Committed {
    /// The jobs' outcomes, in job order.
    pub written: Vec<Written>,
    /// `0`: durable already (the commit made its own fsync); otherwise pass to
    /// [`BatchWrite::durable`].
    pub ticket: u64,
}

/// The backend half: apply jobs in order in one transaction and commit.
#[async_trait]
pub trait BatchWrite: Send + Sync + 'static {
    /// Returns the batch's outcomes after the commit; on error nothing of the batch was
    /// committed.
    async fn write_batch(&self, jobs: &[Job]) -> Result<Committed, StoreError>;

    /// Returns once the batch committed with `ticket` (and every one before it) is durable.
    /// Backends whose commits are durable when they return never hand out a ticket.
    async fn durable(&self, _ticket: u64) -> Result<(), StoreError> {
        Ok(())
    }
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
        let outcome = match backend.write_batch(&jobs).await {
            Ok(c) if c.written.len() == jobs.len() => Ok(c),
            Ok(c) => Err(StoreError::Corrupt(format!(
                "batch of {} jobs answered {} outcomes",
                jobs.len(),
                c.written.len()
            ))),
            Err(e) => Err(e),
        };
        jobs.clear();
        match outcome {
            Ok(Committed { written, ticket: 0 }) => answer(replies.drain(..), Ok(written)),
            Ok(Committed { written, ticket }) => {
                // Answered once durable; meanwhile the next batch is written (module docs).
                let replies = std::mem::replace(&mut replies, Vec::with_capacity(MAX_BATCH));
                let backend = backend.clone();
                tokio::spawn(async move {
                    let durable = backend.durable(ticket).await.map(|()| written);
                    answer(replies.into_iter(), durable);
                });
            }
            Err(e) => answer(replies.drain(..), Err(e)),
        }
    }
}

/// Sends each caller its job's outcome, or every caller the batch's error.
fn answer(replies: impl Iterator<Item = Reply>, outcome: Result<Vec<Written>, StoreError>) {
    match outcome {
        Ok(written) => {
            for (reply, w) in replies.zip(written) {
                let _ = reply.send(Ok(w));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "group commit failed");
            let e = Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(StoreError::Batch(e.clone())));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::sync::watch;

    /// A backend that counts the batches it wrote and makes ticket `t` durable only once the
    /// test says so (`durable_up_to`); `fail_at`: that ticket's fsync fails.
    struct Held {
        batches: Mutex<Vec<usize>>,
        durable_up_to: watch::Receiver<u64>,
        fail_at: Option<u64>,
    }

    #[async_trait]
    impl BatchWrite for Arc<Held> {
        async fn write_batch(&self, jobs: &[Job]) -> Result<Committed, StoreError> {
            let mut batches = self.batches.lock().unwrap();
            batches.push(jobs.len());
            let first = batches.iter().sum::<usize>() - jobs.len();
            Ok(Committed {
                written: (0..jobs.len())
                    .map(|i| Written::Appended(vec![(first + i) as u64]))
                    .collect(),
                ticket: batches.len() as u64,
            })
        }

        async fn durable(&self, ticket: u64) -> Result<(), StoreError> {
            let mut up_to = self.durable_up_to.clone();
            up_to.wait_for(|&d| d >= ticket).await.unwrap();
            match self.fail_at {
                Some(f) if ticket >= f => Err(StoreError::Corrupt("fsync failed".into())),
                _ => Ok(()),
            }
        }
    }

    fn held(fail_at: Option<u64>) -> (Arc<Held>, watch::Sender<u64>, GroupCommit) {
        let (release, durable_up_to) = watch::channel(0);
        let backend = Arc::new(Held {
            batches: Mutex::new(Vec::new()),
            durable_up_to,
            fail_at,
        });
        let commits = GroupCommit::spawn(backend.clone());
        (backend, release, commits)
    }

    fn job() -> Job {
        Job::append(&[]).unwrap()
    }

    /// Waits (a bound, not a timing) until the backend wrote `n` batches.
    async fn written(backend: &Held, n: usize) {
        for _ in 0..1000 {
            if backend.batches.lock().unwrap().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the writer never wrote batch {n}");
    }

    #[tokio::test]
    async fn the_next_batch_is_written_while_the_last_waits_for_its_fsync_and_nobody_is_answered_early()
     {
        let (backend, release, commits) = held(None);
        let first = tokio::spawn({
            let commits = commits.clone();
            async move { commits.submit(job()).await }
        });
        written(&backend, 1).await;
        let second = tokio::spawn({
            let commits = commits.clone();
            async move { commits.submit(job()).await }
        });
        // Batch 2 is written although batch 1 is not durable yet …
        written(&backend, 2).await;
        tokio::task::yield_now().await;
        // … and neither caller is answered before its own batch is durable.
        assert!(!first.is_finished() && !second.is_finished());
        release.send(1).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), Written::Appended(vec![0]));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !second.is_finished(),
            "answered before its batch was durable"
        );
        release.send(2).unwrap();
        assert_eq!(second.await.unwrap().unwrap(), Written::Appended(vec![1]));
    }

    #[tokio::test]
    async fn a_failed_fsync_fails_every_caller_of_its_batch() {
        let (backend, release, commits) = held(Some(1));
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let commits = commits.clone();
                tokio::spawn(async move { commits.submit(job()).await })
            })
            .collect();
        written(&backend, 1).await;
        release.send(u64::MAX).unwrap();
        for c in callers {
            assert!(
                matches!(c.await.unwrap(), Err(StoreError::Batch(_))),
                "a caller was answered although its batch is not durable"
            );
        }
    }
}
