//! The broker's storage: signals, usage counters and the audit entries, behind one trait with an
//! implementation per database over concrete sqlx pools (`sqlx::Any` cannot carry BYTEA arrays,
//! RETURNING ids or native types, see STACK.md).
//!
//! - [`sqlite::SqliteStore`] — the embedded default (one file, WAL), zero set-up.
//! - [`postgres::PostgresStore`] — for production and several stateless brokers.
//!
//! **Every effect and its audit entry share one transaction.** Uploads, withdrawals, purges and
//! match decisions take the [`AuditEntry`] describing them and commit both or neither, so the
//! HTTP layer can rely on "no accepted request without its audit entry": if the append fails, the
//! call returns an error ([`StoreError::is_unavailable`] ⇒ 503) and nothing was stored.
//!
//! **The audit sequence is gapless, 0-based and ordered by commit.** It is assigned inside the
//! writing transaction from a one-row counter (`audit_head.size`), never from a SERIAL (which
//! leaves gaps on rollback). On PostgreSQL the counter's row lock serialises appenders across
//! brokers; to keep that lock short, each transaction appends its audit entry *last*, right
//! before the commit. The Merkle log of the audit issue builds on this sequence.

use crate::audit::entry::AuditEntry;
use async_trait::async_trait;
use kruispunt_sdk::IdentifierKind;
use std::sync::Arc;

pub mod audit_tree;
mod error;
pub mod group_commit;
mod migrations;
mod model;
pub mod postgres;
pub mod sqlite;

pub use error::StoreError;
pub use model::{
    BadSignalId, IndexRecord, InsertOutcome, NewSignal, SignalDigest, SignalId, StoredSignal,
    Usage, UsageDelta,
};

/// Builds the audit entry for a purge from the signals it removed (called inside the
/// transaction, so the entry can name exactly what was erased).
pub type PurgeAudit<'a> = &'a (dyn Fn(&[StoredSignal]) -> AuditEntry + Send + Sync);

/// Builds the entry recording an audit erasure from the erased sequence numbers (called inside
/// the transaction, so the entry names exactly what was erased).
pub type EraseAudit<'a> = &'a (dyn Fn(&[u64]) -> AuditEntry + Send + Sync);

/// The storage the broker runs on. Object-safe: the application holds an `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"` (for logs and `/readyz`).
    fn backend(&self) -> &'static str;

    /// The MLS delivery service's storage on the same database (its writes share their
    /// transaction with their audit entry, like every other effect).
    fn mls(&self) -> &dyn crate::mls::MlsStore;

    /// Applies the pending schema migrations of this backend (idempotent; [`connect`] already
    /// did it). On PostgreSQL an advisory lock lets several brokers start at once.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

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
    /// once before [`Store::for_each_live_signal`] fills it.
    async fn count_live_signals(&self, now: i64) -> Result<u64, StoreError>;

    /// Deletes every signal with `expires_at <= now` and, in the same transaction, appends the
    /// entry `audit_for` builds from them. Nothing (no entry either) if none expired.
    async fn purge_expired(
        &self,
        now: i64,
        audit_for: PurgeAudit<'_>,
    ) -> Result<Vec<StoredSignal>, StoreError>;

    /// The match path: adds `usage` to the (org, purpose, day) counters (`queries` + 1) and
    /// appends `audit`, in one transaction. Returns the entry's audit sequence number.
    async fn record_decision(
        &self,
        usage: Option<UsageDelta>,
        audit: &AuditEntry,
    ) -> Result<u64, StoreError>;

    /// Like [`Store::record_decision`], but the increment is bounded: if the day's
    /// `identifiers` would exceed `budget`, nothing is written and `None` is returned. Checked
    /// and incremented inside the committing transaction, in queue order, so concurrent
    /// requests (on one broker or several) cannot spend the same budget twice.
    async fn record_decision_within_budget(
        &self,
        usage: UsageDelta,
        budget: u64,
        audit: &AuditEntry,
    ) -> Result<Option<u64>, StoreError>;

    /// The counters of one (org, purpose, day); zeros when nothing was recorded.
    async fn usage(&self, org: &str, purpose: &str, day: &str) -> Result<Usage, StoreError>;

    /// Appends entries that record no other effect (refusals, audit reads), in one
    /// transaction; returns their sequence numbers (consecutive, in input order).
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<Vec<u64>, StoreError>;

    /// Entries with `start <= seq < end`, in order (fewer if the log is shorter).
    async fn audit_entries(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, AuditEntry)>, StoreError>;

    /// The stored bytes (canonical JSON) of entries `start <= seq < end` — what the Merkle log
    /// hashes; never re-serialised.
    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// Number of entries in the log (= the next sequence number).
    async fn audit_len(&self) -> Result<u64, StoreError>;

    /// Number of leaves in the audit log's Merkle tree (see [`audit_tree`]): every entry's leaf
    /// is committed with the entry, so this equals [`Store::audit_len`] once
    /// [`Store::audit_tree_catch_up`] has run on a database from before migration 0007.
    async fn audit_tree_size(&self) -> Result<u64, StoreError>;

    /// Commits leaves to the entries a log follower had not yet committed to before migration
    /// 0007, in one transaction under the sequence counter's lock; nothing when there are none.
    async fn audit_tree_catch_up(&self) -> Result<(), StoreError>;

    /// Erases the audit entries recorded before `before_ms` (Unix ms) that are not erased yet —
    /// by the time committed in each entry, not its `time_ms` column, and only an old,
    /// time-ordered part of the log (see [`audit_tree::erasable_before`]): their rows, their salts and their pseudonym index rows — each leaf stays, so the tree and
    /// every checkpoint still verify, but it no longer links to anybody. In the same transaction
    /// appends the entry `audit_for` builds from the erased sequence numbers (in order).
    /// Returns those numbers and the new entry's, or nothing (no entry either) if none was due.
    async fn audit_erase_before(
        &self,
        before_ms: i64,
        audit_for: EraseAudit<'_>,
    ) -> Result<Option<(Vec<u64>, u64)>, StoreError>;

    /// The hashes of the given tree nodes (level 0: leaf hashes) that exist: one look-up.
    async fn audit_tree_nodes(
        &self,
        ids: &[kruispunt_sdk::transparency::NodeId],
    ) -> Result<
        std::collections::HashMap<
            kruispunt_sdk::transparency::NodeId,
            kruispunt_sdk::transparency::Hash,
        >,
        StoreError,
    >;

    /// The tree's leaves `start <= seq < end` with their salts and entries, in order.
    async fn audit_tree_leaves(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<audit_tree::LeafRow>, StoreError>;

    /// The tree's leaves (with salts and entries) whose entry names the at-rest `pseudonym`, in
    /// log order, at most `limit`.
    async fn audit_tree_naming(
        &self,
        pseudonym: &[u8; 32],
        limit: u64,
    ) -> Result<Vec<audit_tree::LeafRow>, StoreError>;
}

/// Opens the database named by `url`, applies the migrations and returns it as a [`Store`]:
/// - `sqlite://PATH` (or `sqlite:PATH`): the file is created if missing (its directory must
///   exist; restricting the file to its owner is the caller's job), see [`sqlite::SqliteStore`];
/// - `postgres://…` / `postgresql://…`: see [`postgres::PostgresStore`].
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::connect(url).await?))
    } else {
        Err(StoreError::Config(
            "the database URL must start with sqlite:// or postgres://".into(),
        ))
    }
}

/// Converts a sequence number read from the database (BIGINT) to `u64`.
fn seq_from_db(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("negative audit sequence {seq}")))
}

/// Converts a sequence bound given by a caller to the database's BIGINT, saturating (no log
/// reaches 2^63 entries).
fn seq_to_db(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Rebuilds a 32-byte at-rest pseudonym read from the database.
fn stored_from_db(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("stored pseudonym of {} bytes", bytes.len())))
}

/// Rebuilds a signal id read from the database.
fn id_from_db(bytes: &[u8]) -> Result<SignalId, StoreError> {
    SignalId::from_slice(bytes)
        .ok_or_else(|| StoreError::Corrupt(format!("signal id of {} bytes", bytes.len())))
}

/// Parses an identifier kind read from the database.
fn kind_from_db(name: &str) -> Result<IdentifierKind, StoreError> {
    name.parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown identifier kind {name:?}")))
}

/// Converts a key version read from the database.
fn key_version_from_db(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("key version {v} out of range")))
}

/// Converts a counter read from the database.
fn count_from_db(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative counter {v}")))
}

/// Converts a counter increment to the database's BIGINT.
fn count_to_db(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("counter increment {v} too large")))
}

/// Parses a stored audit entry.
fn entry_from_db(seq: u64, bytes: &[u8]) -> Result<AuditEntry, StoreError> {
    AuditEntry::from_json(bytes)
        .map_err(|e| StoreError::Corrupt(format!("audit entry {seq} does not parse: {e}")))
}

/// Checks a batch and splits it into the signals to send to the database (first occurrence of
/// each id, sorted by id) and the outcome slots: `Duplicate` for repeats within the batch.
///
/// Sorting gives every writer the same lock order on PostgreSQL (two overlapping uploads cannot
/// deadlock) and better B-tree locality on both backends.
fn prepare_batch(signals: &[NewSignal]) -> Result<(Vec<usize>, Vec<InsertOutcome>), StoreError> {
    let mut order: Vec<usize> = Vec::with_capacity(signals.len());
    for (i, s) in signals.iter().enumerate() {
        s.check()
            .map_err(|reason| StoreError::Invalid(format!("signal {i}: {reason}")))?;
        order.push(i);
    }
    // Stable sort: the first occurrence of an id comes first among equals.
    order.sort_by_key(|&i| signals[i].id);
    let mut outcomes = vec![InsertOutcome::Duplicate; signals.len()];
    order.dedup_by_key(|i| signals[*i].id);
    for &i in &order {
        outcomes[i] = InsertOutcome::Inserted; // provisional: the database may still say duplicate
    }
    Ok((order, outcomes))
}

/// Marks as duplicates the signals the database did not insert (`inserted` = ids returned by
/// `RETURNING id`).
fn settle_outcomes(
    signals: &[NewSignal],
    sent: &[usize],
    inserted: &std::collections::HashSet<SignalId>,
    outcomes: &mut [InsertOutcome],
) {
    for &i in sent {
        if !inserted.contains(&signals[i].id) {
            outcomes[i] = InsertOutcome::Duplicate;
        }
    }
}
