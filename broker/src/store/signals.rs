//! The signals aggregate: what organisations upload, withdraw and let expire, and the reads
//! the match path and the start-up index scan make of them.

use async_trait::async_trait;

use super::feed::FeedPage;
use super::{IndexRecord, InsertOutcome, NewSignal, SignalId, StoreError, StoredSignal};
use crate::audit::entry::AuditEntry;

/// Builds the audit entry for a purge from the signals it removed (called inside the
/// transaction, so the entry can name exactly what was erased).
pub type PurgeAudit<'a> = &'a (dyn Fn(&[StoredSignal]) -> AuditEntry + Send + Sync);

/// Builds the audit entry of one piece of an upload ([`SignalStore::insert_signals_paced`]):
/// given the indexes (into the upload's signals) of the signals the piece stores or answers,
/// and whether it is the upload's first piece.
pub type PieceAudit<'a> = &'a (dyn Fn(&[usize], bool) -> AuditEntry + Send + Sync);

/// The signal storage ([`super::Store::signals`]). Every effect commits together with the
/// [`AuditEntry`] describing it.
#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Stores a batch of signals and `audit` in one transaction. Signals whose [`SignalId`] is
    /// already stored — or repeated within the batch — are reported as
    /// [`InsertOutcome::Duplicate`] and change nothing. (Ids include the upload second, so this
    /// only catches a repeat within the same second; recognising a re-upload of an older
    /// observation is the upload path's job, `crate::ingest`.) The batch may be empty: then
    /// only `audit` is written. Returns one outcome per input, in input
    /// order. Fails as a whole with [`StoreError::Invalid`] if any signal breaks
    /// [`NewSignal::check`] (the caller validates per item first and passes only good ones).
    async fn insert_signals(
        &self,
        signals: &[NewSignal],
        audit: &AuditEntry,
    ) -> Result<Vec<InsertOutcome>, StoreError>;

    /// As [`SignalStore::insert_signals`], for an upload whose rows may commit in several
    /// transactions ("pieces"): where the upload shares a single writer with match decisions
    /// (SQLite), it ends its transaction early when a decision waits for the writer
    /// (`crate::store::sqlite::WriterGate`) and goes on with the rest in the next. Each piece
    /// commits with the entry `audit_for` builds for exactly the signals it stores or answers
    /// (every signal is in one piece; a piece holds every repeat of the ids it stores; the
    /// first piece is told so). Nobody waiting, or on PostgreSQL: one transaction with the
    /// entry built for all of them, as [`SignalStore::insert_signals`].
    async fn insert_signals_paced(
        &self,
        signals: &[NewSignal],
        audit_for: PieceAudit<'_>,
    ) -> Result<Vec<InsertOutcome>, StoreError>;

    /// Deletes signal `id` if `org` supplied it, together with `audit`. `None` (and no audit
    /// entry) when no such signal of that organisation exists — the caller cannot tell whether
    /// another organisation has it.
    async fn withdraw_signal(
        &self,
        org: &str,
        id: SignalId,
        audit: &AuditEntry,
    ) -> Result<Option<StoredSignal>, StoreError>;

    /// The signals whose id begins with one of `prefixes` — the 8 bytes of each signal id the
    /// match index keeps — expired or not, in no particular order: one range read of the `id`
    /// index per prefix. The match route reads its hits' details with it and the upload path
    /// confirms a suspected re-upload; callers filter (kind, key version, pseudonym, expiry).
    /// There is no look-up by pseudonym: that index cost every upload a random page write
    /// (dropped in migration 0008; the in-memory match index answers by pseudonym).
    async fn signals_by_id_prefix(
        &self,
        prefixes: &[[u8; 8]],
    ) -> Result<Vec<StoredSignal>, StoreError>;

    /// Streams every live signal to `f` (to build the in-memory match index at start-up) in
    /// constant memory; returns how many were streamed.
    async fn for_each_live_signal(
        &self,
        now: i64,
        f: &mut (dyn FnMut(IndexRecord) + Send),
    ) -> Result<u64, StoreError>;

    /// How many signals are live (`now < expires_at`): lets the match index reserve its table
    /// once before [`SignalStore::for_each_live_signal`] fills it.
    async fn count_live_signals(&self, now: i64) -> Result<u64, StoreError>;

    /// The audit log's committed size: the signal feed's position now. A follower that starts
    /// here before scanning the live signals misses no change (`crate::store::feed`).
    async fn feed_position(&self) -> Result<u64, StoreError>;

    /// The signal feed's changes with sequence numbers from `from`, at most `limit` of them, in
    /// commit order ([`FeedPage`]).
    async fn feed_read(&self, from: u64, limit: u32) -> Result<FeedPage, StoreError>;

    /// Deletes the feed's changes committed before `before_ms` (and raises the pruned mark);
    /// returns how many. Not audited: the feed repeats what audited entries already say.
    async fn feed_prune(&self, before_ms: i64) -> Result<u64, StoreError>;

    /// Deletes every signal with `expires_at <= now` and, in the same transaction, appends the
    /// entry `audit_for` builds from them. Nothing (no entry either) if none expired.
    async fn purge_expired(
        &self,
        now: i64,
        audit_for: PurgeAudit<'_>,
    ) -> Result<Vec<StoredSignal>, StoreError>;
}
