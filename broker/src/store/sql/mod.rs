//! The SQL both backends run alike, written once over a [`Dialect`]: [`Store`] and every
//! aggregate's storage trait are implemented here for any dialect ([`signals`], [`decisions`], [`audit`], [`mls`]),
//! and each backend supplies, per aggregate, a small trait of what is its own
//! ([`SignalDialect`], [`DecisionDialect`], [`AuditDialect`], [`MlsDialect`], implemented in the
//! backend's file of that aggregate).
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
//! carry a trait's `where` clauses to its users, so no trait alias can hold them; instead
//! [`shared_impl!`] writes the one list (what any aggregate binds and decodes, which both
//! backends satisfy) into each aggregate's generic `impl` block.

/// `shared_impl! { impl AggregateStore for AggregateDialect { ... } }` implements an
/// aggregate's storage trait for every backend that implements its dialect trait, under the
/// sqlx bounds listed here once (see the module doc); `where { ... }` before the body adds
/// bounds only that aggregate needs.
macro_rules! shared_impl {
    (impl $store:ident for $dialect:ident $(where { $($extra:tt)* })? { $($body:tt)* }) => {
        #[::async_trait::async_trait]
        impl<D> $store for D
        where
            D: $dialect,
            for<'c> &'c mut <D::DB as ::sqlx::Database>::Connection:
                ::sqlx::Executor<'c, Database = D::DB>,
            for<'q> <D::DB as ::sqlx::Database>::Arguments<'q>:
                ::sqlx::IntoArguments<'q, D::DB>,
            usize: ::sqlx::ColumnIndex<<D::DB as ::sqlx::Database>::Row>,
            for<'q> i64: ::sqlx::Encode<'q, D::DB> + ::sqlx::Decode<'q, D::DB> + ::sqlx::Type<D::DB>,
            for<'q> i32: ::sqlx::Decode<'q, D::DB> + ::sqlx::Type<D::DB>,
            for<'q> bool: ::sqlx::Encode<'q, D::DB> + ::sqlx::Type<D::DB>,
            for<'q> String:
                ::sqlx::Encode<'q, D::DB> + ::sqlx::Decode<'q, D::DB> + ::sqlx::Type<D::DB>,
            for<'q> Option<String>: ::sqlx::Encode<'q, D::DB>,
            for<'q> &'q str: ::sqlx::Encode<'q, D::DB> + ::sqlx::Type<D::DB>,
            for<'q> Vec<u8>: ::sqlx::Decode<'q, D::DB> + ::sqlx::Type<D::DB>,
            for<'q> &'q [u8]: ::sqlx::Encode<'q, D::DB> + ::sqlx::Type<D::DB>,
            $($($extra)*)?
        {
            $($body)*
        }
    };
}

/// `row_decoder! { fn name(row) -> Out { ... } ... }` defines each `fn name<R: Row>(row: &R)
/// -> Result<Out, StoreError>` for either backend's rows, under the one list of column types the
/// shared SQL decodes (named here once, like [`shared_impl!`]'s).
macro_rules! row_decoder {
    ($($(#[$meta:meta])* $vis:vis fn $name:ident($row:ident) -> $out:ty $body:block)*) => {$(
        $(#[$meta])*
        $vis fn $name<R>($row: &R) -> Result<$out, $crate::store::StoreError>
        where
            R: ::sqlx::Row,
            usize: ::sqlx::ColumnIndex<R>,
            for<'r> i64: ::sqlx::Decode<'r, R::Database> + ::sqlx::Type<R::Database>,
            for<'r> i32: ::sqlx::Decode<'r, R::Database> + ::sqlx::Type<R::Database>,
            for<'r> String: ::sqlx::Decode<'r, R::Database> + ::sqlx::Type<R::Database>,
            for<'r> Vec<u8>: ::sqlx::Decode<'r, R::Database> + ::sqlx::Type<R::Database>,
        $body
    )*};
}

pub(crate) mod audit;
pub(crate) mod cases;
pub(crate) mod decisions;
pub(crate) mod feed;
pub(crate) mod mls;
pub(crate) mod signals;

pub(crate) use audit::AuditDialect;
pub(crate) use cases::CaseDialect;
pub(crate) use decisions::DecisionDialect;
pub(crate) use mls::MlsDialect;
pub(crate) use signals::SignalDialect;

use std::future::Future;

use async_trait::async_trait;
use sqlx::migrate::Migrate;
use sqlx::{Database, Pool, Transaction};

use super::audit_tree::PreparedEntry;
use super::group_commit::GroupCommit;
use super::migrations::{self, Script};
use super::{AuditStore, CaseStore, DecisionStore, SignalStore, Store, StoreError};
use crate::audit::entry::AuditEntry;
use crate::mls::MlsStore;

/// What every aggregate's shared SQL needs from a backend.
pub(crate) trait Dialect: Send + Sync + 'static {
    /// The sqlx database (`Sqlite` or `Postgres`).
    type DB: Database;

    /// [`Store::backend`].
    const BACKEND: &'static str;

    /// The backend's migrations (see `migrations.rs`).
    const MIGRATIONS: &'static [Script];

    /// The pool migrations run on (on SQLite the single writer).
    fn writer(&self) -> &Pool<Self::DB>;

    /// The pool reads use (on SQLite the readers, which WAL lets run beside the writer).
    fn reader(&self) -> &Pool<Self::DB>;

    /// What a read inside a write transaction appends to lock the rows it reads until commit:
    /// PostgreSQL's ` FOR UPDATE`, so that other brokers' writers wait; empty on SQLite, whose
    /// write transaction already holds the database's only write lock.
    const LOCK_ROWS: &'static str;

    /// Begins a write transaction (on SQLite `BEGIN IMMEDIATE`, taking the write lock at once).
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::DB>, sqlx::Error>> + Send;

    /// Appends audit entries already prepared in the caller's transaction (the backend's
    /// `append_prepared`: the gapless counter, the log rows, the tree's growth) and returns
    /// their sequence numbers.
    fn append_prepared<'c>(
        conn: &'c mut <Self::DB as Database>::Connection,
        entries: &'c [&'c PreparedEntry],
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> + Send + 'c;

    /// Prepares `entries` (serialises, salts and commits to them) and appends them with
    /// [`Dialect::append_prepared`] in the caller's transaction; returns their sequence numbers.
    fn append<'c>(
        conn: &'c mut <Self::DB as Database>::Connection,
        entries: &'c [&'c AuditEntry],
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> + Send + 'c {
        async move {
            let prepared = PreparedEntry::prepare(entries)?;
            Self::append_prepared(conn, &prepared.iter().collect::<Vec<_>>()).await
        }
    }

    /// The statement a transaction that wrote a signal-feed change runs last, so other brokers
    /// wake at its commit: PostgreSQL's `NOTIFY` (delivered only if the transaction commits);
    /// empty on SQLite, which one process serves.
    const FEED_NOTIFY: &'static str;

    /// Listens for other brokers' feed changes ([`crate::store::feed::FeedWake`]); `None` where
    /// no other process writes (SQLite).
    fn feed_wake(
        &self,
    ) -> impl Future<Output = Result<Option<Box<dyn crate::store::feed::FeedWake>>, StoreError>> + Send;

    /// This process's own committed changes ([`crate::store::feed::OwnChanges`]); `None` where
    /// nothing follows the feed (SQLite).
    fn own_changes(&self) -> Option<&crate::store::feed::OwnChanges>;

    /// Records `change` (from [`feed::append_with_change`]) as this process's own, after its
    /// transaction committed.
    fn own_change(&self, change: Option<u64>) {
        if let (Some(seq), Some(own)) = (change, self.own_changes()) {
            own.record(seq);
        }
    }

    /// [`Store::lock_org`].
    fn lock_org(
        &self,
        org: &str,
    ) -> impl Future<Output = Result<Option<Box<dyn std::any::Any + Send>>, StoreError>> + Send;

    /// Rows a statement changed (sqlx has no trait method for it).
    fn rows_affected(result: &<Self::DB as Database>::QueryResult) -> u64;

    /// The backend's group commit (decisions and audit appends).
    fn commits(&self) -> &GroupCommit;

    /// Called by the audit log's reads after reading: returns once everything they could
    /// have read is durable (SQLite's hot writers sync after giving the writer back; see
    /// `crate::store::sqlite::durable`). Nothing to wait for elsewhere.
    fn read_barrier(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// [`Store::writer_gate`].
    fn writer_gate(&self) -> Option<&crate::store::sqlite::WriterGate> {
        None
    }
}

/// Takes `n` sequence numbers from the gapless counter in the caller's transaction and returns
/// the counter's new value and the tree's stored border (`audit_head.frontier`). The `UPDATE`
/// holds the counter's row lock until commit: appenders (on every broker, on PostgreSQL) queue
/// here, so sequence numbers are handed out in commit order without gaps.
pub(crate) async fn take_seqs<DB>(
    conn: &mut DB::Connection,
    n: i64,
) -> Result<(i64, Option<Vec<u8>>), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> (i64, Option<Vec<u8>>): sqlx::FromRow<'r, DB::Row>,
{
    Ok(sqlx::query_as::<DB, (i64, Option<Vec<u8>>)>(
        "UPDATE audit_head SET size = size + $1 WHERE id = 0 RETURNING size, frontier",
    )
    .bind(n)
    .fetch_one(&mut *conn)
    .await?)
}

/// Every backend is a [`Store`] that hands itself out for each aggregate.
#[async_trait]
impl<D> Store for D
where
    D: Dialect + SignalStore + DecisionStore + AuditStore + MlsStore + CaseStore,
    <D::DB as Database>::Connection: Migrate,
    for<'c> &'c mut <D::DB as Database>::Connection: sqlx::Executor<'c, Database = D::DB>,
    for<'q> <D::DB as Database>::Arguments<'q>: sqlx::IntoArguments<'q, D::DB>,
{
    fn backend(&self) -> &'static str {
        D::BACKEND
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        migrations::migrator(D::MIGRATIONS)
            .await?
            .run(self.writer())
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.reader()).await?;
        Ok(())
    }

    fn signals(&self) -> &dyn SignalStore {
        self
    }

    fn decisions(&self) -> &dyn DecisionStore {
        self
    }

    fn audit(&self) -> &dyn AuditStore {
        self
    }

    fn mls(&self) -> &dyn MlsStore {
        self
    }

    fn cases(&self) -> &dyn CaseStore {
        self
    }

    async fn feed_wake(&self) -> Result<Option<Box<dyn crate::store::feed::FeedWake>>, StoreError> {
        Dialect::feed_wake(self).await
    }

    fn own_changes(&self) -> Option<&crate::store::feed::OwnChanges> {
        Dialect::own_changes(self)
    }

    fn writer_gate(&self) -> Option<&crate::store::sqlite::WriterGate> {
        Dialect::writer_gate(self)
    }

    async fn lock_org(
        &self,
        org: &str,
    ) -> Result<Option<Box<dyn std::any::Any + Send>>, StoreError> {
        Dialect::lock_org(self, org).await
    }
}
