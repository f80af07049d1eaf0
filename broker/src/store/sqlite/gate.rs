//! The writer gate: match decisions go before the next piece of a bulk upload.
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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How long an upload holds the writer while a decision waits, by default. The decision then
/// waits for at most this, the upload piece's commit (one fsync) and its own.
pub const DEFAULT_MAX_HOLD: Duration = Duration::from_millis(4);

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

    #[test]
    fn max_hold_round_trips_and_none_turns_pacing_off() {
        let gate = WriterGate::default();
        assert_eq!(gate.max_hold(), Some(DEFAULT_MAX_HOLD));
        gate.set_max_hold(None);
        assert_eq!(gate.max_hold(), None);
        gate.set_max_hold(Some(Duration::from_millis(7)));
        assert_eq!(gate.max_hold(), Some(Duration::from_millis(7)));
    }
}
