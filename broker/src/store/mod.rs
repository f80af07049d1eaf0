//! The broker's storage: signals, usage counters, the audit log and the MLS delivery service,
//! behind one [`Store`] that hands out one storage trait per aggregate — [`SignalStore`],
//! [`DecisionStore`], [`AuditStore`], [`crate::mls::MlsStore`] — with an implementation per
//! database over concrete sqlx pools (`sqlx::Any` cannot carry BYTEA arrays, RETURNING ids or
//! native types; docs/ARCHITECTURE.md, "Storage invariants").
//!
//! - [`sqlite::SqliteStore`] — the embedded default (one file, WAL), zero set-up.
//! - [`postgres::PostgresStore`] — for production and several stateless brokers.
//!
//! Where the two databases run the same SQL, it is written once over a dialect (`sql/`: the MLS
//! store, the audit reads); each backend folder has a file per aggregate (`signals.rs`,
//! `decisions.rs`, `audit.rs`, `audit_tree.rs`, `mls.rs`) holding what is its own.
//!
//! # How to add a store method
//!
//! 1. Declare it on the trait of the aggregate it touches: [`SignalStore`] (`signals.rs`),
//!    [`DecisionStore`] (`decisions.rs`), [`AuditStore`] (`audit.rs`) or
//!    [`crate::mls::MlsStore`] (`crate::mls::store`). An effect takes the [`AuditEntry`] (or a
//!    builder of it) describing it and commits both in one transaction (see below).
//! 2. Implement it once in `sql/` if the statement means the same on both databases (`$1`
//!    placeholders work on both; add a `Dialect` item only for what differs), otherwise in the
//!    aggregate's file of both `sqlite/` and `postgres/`. Append the audit entry with the
//!    backend's `append` last, right before the commit.
//! 3. Test it in `broker/tests/store_backends.rs` with a test taking `Arc<dyn Store>`, listed in
//!    `on_both_backends!` so that it runs on SQLite and, with `KRUISPUNT_TEST_POSTGRES_URL` set,
//!    on PostgreSQL.
//! 4. If it needs a schema change, add a migration with the same number and name to both
//!    `broker/migrations/sqlite/` and `broker/migrations/postgres/`, and a line to each list in
//!    `migrations.rs`.
//!
//! **Every change to the live signals writes its signal-feed change in the same transaction**
//! ([`feed`]), so that every broker on the database can follow it: use
//! `sql::feed::append_with_change` for the audit append of such a method.
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

mod audit;
pub mod audit_tree;
pub mod cases;
mod decisions;
mod error;
pub mod feed;
pub mod group_commit;
mod migrations;
mod model;
pub mod postgres;
mod signals;
mod sql;
pub mod sqlite;

pub use audit::{AuditStore, EraseAudit};
pub use cases::{CaseContribution, CaseMove, CaseSpan, CaseStore, Contribution};
pub use decisions::{BudgetRelease, Charge, DecisionStore};
pub use signals::{PieceAudit, PurgeAudit, SignalStore};

pub use error::StoreError;
pub use model::{
    BadSignalId, IndexRecord, InsertOutcome, NewSignal, SignalDigest, SignalId, StoredSignal,
    Usage, UsageDelta,
};

/// The storage the broker runs on: the database-wide operations, and one storage trait per
/// aggregate — [`Store::signals`], [`Store::decisions`], [`Store::audit`], [`Store::mls`] — so a
/// caller names the aggregate it touches (`store.signals().insert_signals(…)`) and each trait
/// stays small enough to read. Object-safe: the application holds an `Arc<dyn Store>`; each
/// backend implements every aggregate trait on its one store type and hands out `self`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"` (for logs and `/readyz`).
    fn backend(&self) -> &'static str;

    /// Applies the pending schema migrations of this backend (idempotent; [`connect`] already
    /// did it). On PostgreSQL an advisory lock lets several brokers start at once.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The signals: uploads, withdrawals, expiry, look-ups and the start-up scan.
    fn signals(&self) -> &dyn SignalStore;

    /// Match decisions and the usage counters they bump (budgets).
    fn decisions(&self) -> &dyn DecisionStore;

    /// The audit log: appends, reads, the Merkle tree and erasure.
    fn audit(&self) -> &dyn AuditStore;

    /// The MLS delivery service's storage on the same database (its writes share their
    /// transaction with their audit entry, like every other effect).
    fn mls(&self) -> &dyn crate::mls::MlsStore;

    /// Cases and the prosecutor's consents under them (docs/CASES.md).
    fn cases(&self) -> &dyn CaseStore;

    /// Listens for the signal-feed changes other brokers commit ([`feed::FeedWake`]); `None`
    /// where no other process writes (SQLite).
    async fn feed_wake(&self) -> Result<Option<Box<dyn feed::FeedWake>>, StoreError>;

    /// The signal-feed changes this process committed and applied itself
    /// ([`feed::OwnChanges`]); `None` where nothing follows the feed (SQLite).
    fn own_changes(&self) -> Option<&feed::OwnChanges>;

    /// The gate between bulk uploads and match decisions on SQLite's single writer
    /// ([`sqlite::WriterGate`]); `None` on PostgreSQL, where an upload holds no lock that
    /// decisions need until its final audit append.
    fn writer_gate(&self) -> Option<&sqlite::WriterGate>;

    /// Waits for `org`'s upload lock across every broker on the database (PostgreSQL: an
    /// advisory lock; `None` on SQLite, which one process serves); held until the guard drops.
    /// The upload path holds it from its re-upload check through its index update.
    async fn lock_org(
        &self,
        org: &str,
    ) -> Result<Option<Box<dyn std::any::Any + Send>>, StoreError>;
}

/// Opens the database named by `url`, applies the migrations and returns it as a [`Store`]:
/// - `sqlite://PATH` (or `sqlite:PATH`): the file is created if missing (its directory must
///   exist; restricting the file to its owner is the caller's job), see [`sqlite::SqliteStore`];
/// - `postgres://…` / `postgresql://…`: see [`postgres::PostgresStore`].
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    connect_with_password(url, None).await
}

/// As [`connect`], with the PostgreSQL password given apart from the URL (read from a secret
/// file by [`crate::config::Config::connect_store`]), so that it is in neither the
/// configuration file nor a process listing. (`PGPASSWORD` in the environment works too: sqlx
/// reads it as libpq does.)
pub async fn connect_with_password(
    url: &str,
    password: Option<&str>,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PostgresStore::connect_with_password(url, password).await?,
        ))
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
