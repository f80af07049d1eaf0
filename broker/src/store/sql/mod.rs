//! The SQL both backends run alike, written once over a [`Dialect`]: the MLS delivery store
//! ([`mls`]) and the audit log's reads ([`audit`]).
//!
//! Why this works on concrete pools: sqlx accepts `$1`-style placeholders on SQLite too, and
//! the statements here use only what both databases mean the same way (`TRUE`/`FALSE` are
//! SQLite keywords since 3.23, `RETURNING` since 3.35). A backend supplies its pools, how a
//! write transaction begins, its audit append, and a statement of its own only where the
//! *semantics* differ (row locks that only PostgreSQL has, e.g. `FOR UPDATE SKIP LOCKED`).
//! Statements that are faster written per database (binary COPY, the SQLite-direct bulk
//! insert, `unnest`/`json_each` batches) stay in the backend's own files.
//!
//! Why not `sqlx::Any`: it cannot carry BYTEA arrays, RETURNING ids or native types.
//!
//! **The bounds.** Generic sqlx code must spell out what it binds and decodes. Rust does not
//! carry a trait's `where` clauses to its users, so they are written out once per generic
//! `impl` block ([`mls`], [`audit`]) rather than on [`Dialect`] itself.

pub(crate) mod audit;
pub(crate) mod mls;

use std::future::Future;

use sqlx::{Database, Pool, Transaction};

use super::{PurgeAudit, StoreError, StoredSignal};
use crate::audit::entry::AuditEntry;
use crate::mls::store::SignalFilter;

/// What a backend supplies for the shared SQL of this module.
pub(crate) trait Dialect: Send + Sync + 'static {
    /// The sqlx database (`Sqlite` or `Postgres`).
    type DB: Database;

    /// The pool reads use (on SQLite the readers, which WAL lets run beside the writer).
    fn reader(&self) -> &Pool<Self::DB>;

    /// Begins a write transaction (on SQLite `BEGIN IMMEDIATE`, taking the write lock at once).
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::DB>, sqlx::Error>> + Send;

    /// Appends audit entries in the caller's transaction (the backend's `append`) and returns
    /// their sequence numbers.
    fn append<'c>(
        conn: &'c mut <Self::DB as Database>::Connection,
        entries: &'c [&'c AuditEntry],
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> + Send + 'c;

    /// Rows a statement changed (sqlx has no trait method for it).
    fn rows_affected(result: &<Self::DB as Database>::QueryResult) -> u64;

    /// Claims the oldest unclaimed ordinary key package (`$1` org, `$2` claimer, `$3` now),
    /// `RETURNING ref, data`. PostgreSQL skips rows another broker is claiming; SQLite's single
    /// writer needs no row lock.
    const CLAIM_ORDINARY_KEY_PACKAGE: &'static str;

    /// Reads a coalition's current key version (`$1`) inside the announcing transaction;
    /// PostgreSQL locks the row (`FOR UPDATE`) so two announcements cannot both win.
    const CURRENT_KEY_VERSION: &'static str;

    /// Deletes the signals with `key_version < below` that `belongs` selects, with the entry
    /// `audit_for` builds, in one transaction (see `MlsStore::purge_below_version`).
    fn purge_signals_below_version<'a>(
        &'a self,
        below: u32,
        belongs: SignalFilter<'a>,
        audit_for: PurgeAudit<'a>,
    ) -> impl Future<Output = Result<Vec<StoredSignal>, StoreError>> + Send + 'a;
}
