//! The writer gate: match decisions ride in a bulk upload's transaction, or go before its next
//! piece.
//!
//! SQLite has one writer. A bulk upload's 10 000-row chunk held it for ~50 ms (inserting the
//! rows is most of that, see docs/ARCHITECTURE.md, "The SQLite writer"), and every match
//! decision — whose audit entry must be committed before its answer leaves — waited behind it:
//! p99 100 ms during a large upload. The gate lets the upload and the decisions take turns
//! without costing the upload anything while nobody waits:
//!
//! - the group commit's writer task ([`super::decisions::SqliteBatch`]) says it wants the writer
//!   ([`WriterGate::want`]) from before it asks the pool until it has the connection;
//! - an upload ([`super::signals`]) steps its rows in slices and, between slices, ends its
//!   transaction early — commits the rows so far with an audit entry naming exactly them — once
//!   a decision is waiting and the upload has held the writer for [`WriterGate::max_hold`];
//!   then it waits until that decision has the connection ([`WriterGate::let_decisions_pass`])
//!   and goes on with the rest in a new transaction. Nobody waiting: one transaction per chunk,
//!   as before.
//!
//! Only the one group-commit task wants the writer through the gate, so "the decisions waiting
//! when the piece committed" are at most one batch: the upload waits for that batch to get the
//! connection (then the pool's fair queue puts the upload before the batch after it), never for
//! a stream of later arrivals.
//!
//! **Decisions ride along** ([`WriterGate::rides`], the default). Handing the writer over cost
//! a decision more than the upload's rows did: the piece's commit, the hand-over between two
//! tasks on busy cores, its own transaction and commit (docs/ARCHITECTURE.md, "The SQLite
//! writer", measured). So while an upload holds the writer, the group commit does not queue for
//! the connection: it *offers* its batch ([`WriterGate::offer`]). At its next slice the upload
//! takes the batch ([`WriterGate::take_rider`]), ends its piece as above and writes the batch's
//! counters, entries and contributions in the same transaction, under a savepoint (a batch that
//! fails rolls back alone, and its callers get the error; the upload goes on). One commit and
//! one fsync then cover both; the upload answers the batch ([`Taken::answer`]) and keeps the
//! writer for its next piece. A batch offered when no upload takes it (the upload ended first)
//! gets the connection as before and withdraws its offer ([`Offer::withdraw`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use crate::store::StoreError;
use crate::store::group_commit::{Committed, Job};

/// How long an upload holds the writer while a decision waits, by default. A batch that rides
/// along then waits for at most this, the piece's end and the one commit and fsync they share.
/// 4 ms when the writer was handed over (each hand-over cost the upload a commit of its own);
/// 1 ms since decisions ride along (docs/ARCHITECTURE.md, "The SQLite writer", measured).
pub const DEFAULT_MAX_HOLD: Duration = Duration::from_millis(1);

/// See the module documentation. One per [`super::SqliteStore`], shared with its group commit.
#[derive(Debug)]
pub struct WriterGate {
    /// How many times a decision batch began to want the writer.
    wanted: AtomicU64,
    /// How many of those got the connection (or gave up).
    served: AtomicU64,
    /// Woken whenever `served` grows.
    passed: Notify,
    /// [`WriterGate::max_hold`] in µs; `u64::MAX`: never end an upload's transaction early.
    max_hold_us: AtomicU64,
    /// [`WriterGate::sync_after_unlock`].
    sync_after_unlock: AtomicBool,
    /// [`WriterGate::pipelined`].
    pipelined: AtomicBool,
    /// [`WriterGate::checkpoint_in_commit`].
    checkpoint_in_commit: AtomicBool,
    /// [`WriterGate::rides`].
    ride: AtomicBool,
    /// Paced uploads holding the writer connection now ([`WriterGate::upload_holds`]).
    holding: AtomicUsize,
    /// The batch offered to the upload holding the writer (at most one: one group commit).
    rider: Mutex<Option<Rider>>,
    /// `rider` is `Some` (read without the lock every slice).
    rider_waiting: AtomicBool,
    /// [`WriterGate::batches_carried`].
    carried: AtomicU64,
}

/// The reply to an offered batch: what [`super::decisions::SqliteBatch`] would have returned.
type RideReply = oneshot::Sender<Result<Committed, StoreError>>;

/// A decision batch offered to the upload holding the writer.
#[derive(Debug)]
pub(super) struct Rider {
    /// The batch's jobs (a copy: the group commit keeps its own until answered).
    pub(super) jobs: Vec<Job>,
    reply: RideReply,
}

impl Default for WriterGate {
    fn default() -> Self {
        WriterGate {
            wanted: AtomicU64::new(0),
            served: AtomicU64::new(0),
            passed: Notify::new(),
            max_hold_us: AtomicU64::new(DEFAULT_MAX_HOLD.as_micros() as u64),
            sync_after_unlock: AtomicBool::new(true),
            pipelined: AtomicBool::new(true),
            checkpoint_in_commit: AtomicBool::new(false),
            ride: AtomicBool::new(true),
            holding: AtomicUsize::new(0),
            rider: Mutex::new(None),
            rider_waiting: AtomicBool::new(false),
            carried: AtomicU64::new(0),
        }
    }
}

/// Held by a paced upload while it holds the writer connection: batches are offered to it.
#[derive(Debug)]
pub(super) struct Holding<'g>(&'g WriterGate);

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.0.holding.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A batch's standing offer; dropped (the batch's future cancelled) it is withdrawn.
#[derive(Debug)]
pub(super) struct Offer<'g> {
    gate: &'g WriterGate,
    /// Where the upload that takes the batch answers it.
    pub(super) answer: oneshot::Receiver<Result<Committed, StoreError>>,
}

impl Offer<'_> {
    /// Takes the offer back; `false`: an upload took the batch first and answers it on
    /// [`Offer::answer`].
    pub(super) fn withdraw(&self) -> bool {
        self.gate.take_slot().is_some()
    }
}

impl Drop for Offer<'_> {
    fn drop(&mut self) {
        self.gate.take_slot();
    }
}

/// A batch an upload took. Dropped unanswered before [`Taken::committing`] (the upload failed
/// or was cancelled before its commit: nothing of the batch was committed), it is offered again,
/// so the group commit writes it itself once the writer is free; dropped after, its callers get
/// an error, since whether the commit happened is not known.
#[derive(Debug)]
pub(super) struct Taken<'g> {
    gate: &'g WriterGate,
    rider: Option<Rider>,
    committing: bool,
}

impl Taken<'_> {
    /// The batch's jobs.
    pub(super) fn jobs(&self) -> &[Job] {
        self.rider.as_ref().map_or(&[], |r| &r.jobs)
    }

    /// Call just before the commit that carries the batch.
    pub(super) fn committing(&mut self) {
        self.committing = true;
    }

    /// Answers the batch's group commit (after the commit, or with the batch's own error).
    pub(super) fn answer(mut self, outcome: Result<Committed, StoreError>) {
        if let Some(r) = self.rider.take() {
            let _ = r.reply.send(outcome);
        }
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.rider.take()
            && !self.committing
        {
            self.gate.put_slot(r);
        }
    }
}

/// Held by a decision batch while it waits for the writer connection; dropping it says "served".
#[derive(Debug)]
pub struct Want<'g>(&'g WriterGate);

impl Drop for Want<'_> {
    fn drop(&mut self) {
        self.0.served.fetch_add(1, Ordering::SeqCst);
        self.0.passed.notify_waiters();
    }
}

impl WriterGate {
    /// Marks a decision batch as waiting for the writer until the returned guard drops.
    pub fn want(&self) -> Want<'_> {
        self.wanted.fetch_add(1, Ordering::SeqCst);
        Want(self)
    }

    /// Whether a decision batch waits for the writer now.
    pub fn decisions_waiting(&self) -> bool {
        self.wanted.load(Ordering::SeqCst) > self.served.load(Ordering::SeqCst)
    }

    /// How long an upload may hold the writer while a decision waits before it commits what it
    /// has; `None`: an upload's chunk is one transaction whoever waits (the behaviour before the
    /// gate, kept for the side-by-side benchmark, `benches/http_load.rs`).
    pub fn max_hold(&self) -> Option<Duration> {
        match self.max_hold_us.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Sets [`WriterGate::max_hold`].
    pub fn set_max_hold(&self, hold: Option<Duration>) {
        let us = hold.map_or(u64::MAX, |d| {
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX - 1)
        });
        self.max_hold_us.store(us, Ordering::Relaxed);
    }

    /// Whether upload pieces and decision batches make their commit durable after giving the
    /// writer back (`super::durable`, the default) instead of inside `COMMIT`
    /// (`synchronous=FULL`); off only to measure what that is worth (`benches/http_load.rs`).
    pub fn sync_after_unlock(&self) -> bool {
        self.sync_after_unlock.load(Ordering::Relaxed)
    }

    /// Sets [`WriterGate::sync_after_unlock`].
    pub fn set_sync_after_unlock(&self, on: bool) {
        self.sync_after_unlock.store(on, Ordering::Relaxed);
    }

    /// Whether the group commit writes the next decision batch while the last one's fsync runs
    /// (`crate::store::group_commit`, "Durability is pipelined"; the default) instead of
    /// waiting for it; off only to measure what that is worth (`benches/http_load.rs`).
    pub fn pipelined(&self) -> bool {
        self.pipelined.load(Ordering::Relaxed)
    }

    /// Sets [`WriterGate::pipelined`].
    pub fn set_pipelined(&self, on: bool) {
        self.pipelined.store(on, Ordering::Relaxed);
    }

    /// Whether the writer checkpoints the WAL inside its commits, as SQLite does by default,
    /// instead of the checkpointer beside it (`super::checkpointer`, the default); on only to
    /// measure what that is worth (`benches/http_load.rs`).
    pub fn checkpoint_in_commit(&self) -> bool {
        self.checkpoint_in_commit.load(Ordering::Relaxed)
    }

    /// Sets [`WriterGate::checkpoint_in_commit`] (applied within one checkpoint interval).
    pub fn set_checkpoint_in_commit(&self, on: bool) {
        self.checkpoint_in_commit.store(on, Ordering::Relaxed);
    }

    /// Whether decision batches ride in the transaction of the upload holding the writer
    /// (module documentation; the default) instead of waiting for the writer to be handed
    /// over; off only to measure what that is worth (`benches/http_load.rs`).
    pub fn rides(&self) -> bool {
        self.ride.load(Ordering::Relaxed)
    }

    /// Sets [`WriterGate::rides`].
    pub fn set_rides(&self, on: bool) {
        self.ride.store(on, Ordering::Relaxed);
    }

    /// How many decision batches an upload took to carry in its transaction so far (a batch
    /// taken again after its upload failed counts twice).
    pub fn batches_carried(&self) -> u64 {
        self.carried.load(Ordering::Relaxed)
    }

    /// Marks a paced upload as holding the writer connection until the guard drops.
    pub(super) fn upload_holds(&self) -> Holding<'_> {
        self.holding.fetch_add(1, Ordering::SeqCst);
        Holding(self)
    }

    /// Whether a batch should be offered: rides are on and a paced upload holds the writer.
    pub(super) fn upload_holding(&self) -> bool {
        self.rides() && self.holding.load(Ordering::SeqCst) > 0
    }

    /// Offers `jobs` to the upload holding the writer (see [`Taken`] and [`Offer`]).
    pub(super) fn offer(&self, jobs: Vec<Job>) -> Offer<'_> {
        let (reply, answer) = oneshot::channel();
        self.put_slot(Rider { jobs, reply });
        Offer { gate: self, answer }
    }

    /// Whether a batch is offered, or waits for the writer: an upload past its hold ends its
    /// piece at the next slice.
    pub(super) fn anyone_waiting(&self) -> bool {
        self.rider_waiting.load(Ordering::SeqCst) || self.decisions_waiting()
    }

    /// The offered batch, if any, for the upload holding the writer to carry.
    pub(super) fn take_rider(&self) -> Option<Taken<'_>> {
        let rider = self.take_slot()?;
        self.carried.fetch_add(1, Ordering::Relaxed);
        Some(Taken {
            gate: self,
            rider: Some(rider),
            committing: false,
        })
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Rider>> {
        self.rider.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_slot(&self) -> Option<Rider> {
        let mut slot = self.slot();
        self.rider_waiting.store(false, Ordering::SeqCst);
        slot.take()
    }

    fn put_slot(&self, rider: Rider) {
        let mut slot = self.slot();
        *slot = Some(rider);
        self.rider_waiting.store(true, Ordering::SeqCst);
    }

    /// Waits until every decision batch that wanted the writer when this was called has it.
    pub async fn let_decisions_pass(&self) {
        let target = self.wanted.load(Ordering::SeqCst);
        loop {
            let passed = self.passed.notified();
            tokio::pin!(passed);
            // Registered before the check, so a `served` bump in between still wakes us.
            passed.as_mut().enable();
            if self.served.load(Ordering::SeqCst) >= target {
                return;
            }
            passed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn an_upload_waits_for_the_decision_waiting_then_and_not_for_later_ones() {
        let gate = Arc::new(WriterGate::default());
        assert!(!gate.decisions_waiting());
        // Nobody waits: passes at once.
        gate.let_decisions_pass().await;

        let first = gate.want();
        assert!(gate.decisions_waiting());
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.let_decisions_pass().await })
        };
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "passed before the decision was served"
        );
        drop(first);
        // A later decision does not hold the upload up.
        let _later = gate.want();
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the upload went on once the waiting decision was served")
            .unwrap();
        assert!(gate.decisions_waiting());
    }

    #[tokio::test]
    async fn a_taken_batch_is_offered_again_unless_its_commit_began() {
        let gate = WriterGate::default();
        assert!(!gate.upload_holding());
        let holds = gate.upload_holds();
        assert!(gate.upload_holding());
        gate.set_rides(false);
        assert!(!gate.upload_holding(), "offered with rides off");
        gate.set_rides(true);

        // Taken, then dropped before the commit (the upload failed): offered again, and the
        // batch takes it back itself.
        let offer = gate.offer(Vec::new());
        assert!(gate.anyone_waiting());
        let taken = gate.take_rider().expect("offered");
        assert!(!gate.anyone_waiting());
        drop(taken);
        assert!(gate.anyone_waiting(), "not offered again");
        assert!(offer.withdraw());
        assert!(!gate.anyone_waiting());
        drop(offer);

        // Taken and answered: the batch reads the upload's answer, and cannot withdraw.
        let mut offer = gate.offer(Vec::new());
        let taken = gate.take_rider().expect("offered");
        assert!(!offer.withdraw());
        taken.answer(Ok(Committed {
            written: Vec::new(),
            ticket: 7,
        }));
        assert_eq!((&mut offer.answer).await.unwrap().unwrap().ticket, 7);
        drop(offer);

        // Dropped during its commit: the outcome is unknown, the batch is not offered again
        // and its answer is gone (its callers get an error).
        let mut offer = gate.offer(Vec::new());
        let mut taken = gate.take_rider().expect("offered");
        taken.committing();
        drop(taken);
        assert!(!gate.anyone_waiting());
        assert!((&mut offer.answer).await.is_err());
        drop(offer);

        // A cancelled batch withdraws its offer.
        drop(gate.offer(Vec::new()));
        assert!(gate.take_rider().is_none());
        assert_eq!(gate.batches_carried(), 3);
        drop(holds);
        assert!(!gate.upload_holding());
    }

    #[test]
    fn max_hold_round_trips_and_none_turns_pacing_off() {
        let gate = WriterGate::default();
        assert_eq!(gate.max_hold(), Some(DEFAULT_MAX_HOLD));
        gate.set_max_hold(None);
        assert_eq!(gate.max_hold(), None);
        gate.set_max_hold(Some(Duration::from_millis(7)));
        assert_eq!(gate.max_hold(), Some(Duration::from_millis(7)));
        gate.set_max_hold(Some(DEFAULT_MAX_HOLD));
        assert_eq!(gate.max_hold(), Some(DEFAULT_MAX_HOLD));
    }
}
