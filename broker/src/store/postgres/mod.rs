//! The PostgreSQL backend, for production: the database on its own host, several brokers on
//! it. Every broker's in-memory match index (which answers matches and recognises re-uploads)
//! follows the database through the signal feed ([`crate::store::feed`], `LISTEN`ed here in
//! [`feed`]); the storage itself (audit sequence, budgets, advisory locks) is shared.
//!
//! Native types: `BYTEA` for ids and pseudonyms, `DATE` for the observation day, `TEXT[]` for
//! purposes, `BIGINT` for times. Uploads `COPY` their rows in binary form straight into
//! `signals` ([`signals`]), through a staging table only when an id is already stored.
//!
//! Durability is PostgreSQL's default (`synchronous_commit = on`): a commit returns after its WAL
//! record is flushed, which is what "no disclosure without a durable audit entry" requires. Do
//! not turn it off for the broker's role.

mod audit;
mod audit_tree;
mod cases;
mod decisions;
mod feed;
mod mls;
mod org_lock;
mod signals;

use super::Store;
use super::audit_tree::PreparedEntry;
use super::group_commit::GroupCommit;
use super::sql::{Dialect, take_seqs};
use super::{StoreError, count_to_db, migrations, seq_from_db};
use decisions::PgBatch;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgQueryResult};
use sqlx::{Postgres, Transaction};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

/// Default pool size: enough for concurrent matches and uploads of one broker.
const DEFAULT_MAX_CONNECTIONS: u32 = 16;

/// How long a statement waits for a connection of a pool before its request is answered `503
/// storage-unavailable`. It bounds two waits: for a free connection (under any load the broker
/// is sized for, milliseconds) and for a new one while PostgreSQL refuses connections — sqlx
/// retries a refused connection until this deadline, taking the server for one that is starting.
/// While the database is down or restarting, a partner, a load balancer's `/readyz` check and
/// the group commit's queue therefore get their `503` (with `Retry-After`) after this, not after
/// the request timeout of 30 s with every request meanwhile held open.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The writer task batching decisions and audit appends.
    commits: GroupCommit,
    /// The signal-feed changes this process committed and applied itself.
    own: std::sync::Arc<crate::store::feed::OwnChanges>,
    /// The pool of the organisations' upload locks across brokers ([`org_lock`]).
    locks: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) with a pool of 16 connections (waiting at most
    /// [`ACQUIRE_TIMEOUT`] for one) and applies the migrations.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        Self::connect_with_password(url, None).await
    }

    /// As [`PostgresStore::connect`], with the password given apart from the URL.
    pub async fn connect_with_password(
        url: &str,
        password: Option<&str>,
    ) -> Result<PostgresStore, StoreError> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
        if let Some(p) = password {
            options = options.password(p);
        }
        Self::connect_with(
            PgPoolOptions::new()
                .max_connections(DEFAULT_MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT),
            options,
        )
        .await
    }

    /// Connects with explicit pool and connection options and applies the migrations.
    ///
    /// Every connection runs with `jit = off`. The broker's statements are short look-ups and
    /// writes, but the planner's row estimate for a join over an `unnest` of thousands of id
    /// ranges (the re-upload check and match details, [`crate::store::SignalStore::signals_by_id_prefix`]) crosses
    /// the JIT threshold: measured on 3 M rows, 10 000 prefixes took 192 ms with JIT (138 ms of
    /// it compiling) and 33 ms without; re-sending a 3 M-line bulk file ran at 26 k lines/s.
    pub async fn connect_with(
        pool: PgPoolOptions,
        options: PgConnectOptions,
    ) -> Result<PostgresStore, StoreError> {
        let options = options.options([("jit", "off")]);
        let locks = PgPoolOptions::new()
            .max_connections(org_lock::LOCK_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options.clone());
        let pool = pool.connect_with(options).await?;
        let commits = GroupCommit::spawn(PgBatch { pool: pool.clone() });
        let store = PostgresStore {
            pool,
            commits,
            own: std::sync::Arc::default(),
            locks,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Closes the pools.
    pub async fn close(&self) {
        self.locks.close().await;
        self.pool.close().await;
    }
}

/// Appends `entries` (already prepared: by group-commit callers in their own task, or by
/// [`Dialect::append`]) inside the caller's transaction and returns their sequence numbers;
/// also grows the audit tree by them in the same transaction (see [`crate::store::audit_tree`]).
pub(crate) async fn append_prepared(
    conn: &mut PgConnection,
    entries: &[&PreparedEntry],
) -> Result<Vec<u64>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let n = count_to_db(entries.len() as u64)?;
    let (size, border) = take_seqs::<Postgres>(&mut *conn, n).await?;
    let first = size - n;
    let seqs: Vec<i64> = (first..size).collect();
    let time_ms: Vec<i64> = entries.iter().map(|e| e.time_ms).collect();
    let operation: Vec<&str> = entries.iter().map(|e| e.operation).collect();
    let action: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    let actor_org: Vec<Option<&str>> = entries.iter().map(|e| e.actor_org.as_deref()).collect();
    let purpose: Vec<Option<&str>> = entries.iter().map(|e| e.purpose.as_deref()).collect();
    let case_reference: Vec<Option<&str>> = entries
        .iter()
        .map(|e| e.case_reference.as_deref())
        .collect();
    let entry: Vec<&[u8]> = entries.iter().map(|e| &e.bytes[..]).collect();
    sqlx::query(
        "INSERT INTO audit_log (seq, time_ms, operation, action, actor_org, purpose, \
         case_reference, entry) \
         SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::text[], $8::bytea[])",
    )
    .bind(&seqs)
    .bind(&time_ms)
    .bind(&operation)
    .bind(&action)
    .bind(&actor_org)
    .bind(&purpose)
    .bind(&case_reference)
    .bind(&entry)
    .execute(&mut *conn)
    .await?;
    crate::store::audit_tree::grow(conn, seq_from_db(first)?, border, entries).await?;
    seqs.into_iter().map(seq_from_db).collect()
}

impl Dialect for PostgresStore {
    type DB = Postgres;

    const BACKEND: &'static str = "postgres";

    const LOCK_ROWS: &'static str = " FOR UPDATE";

    const MIGRATIONS: &'static [migrations::Script] = migrations::POSTGRES;

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    fn append_prepared<'c>(
        conn: &'c mut PgConnection,
        entries: &'c [&'c PreparedEntry],
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> + Send + 'c {
        append_prepared(conn, entries)
    }

    const FEED_NOTIFY: &'static str = feed::NOTIFY;

    fn own_changes(&self) -> Option<&crate::store::feed::OwnChanges> {
        Some(&self.own)
    }

    async fn lock_org(
        &self,
        org: &str,
    ) -> Result<Option<Box<dyn std::any::Any + Send>>, StoreError> {
        org_lock::lock(&self.locks, org).await.map(Some)
    }

    async fn feed_wake(&self) -> Result<Option<Box<dyn crate::store::feed::FeedWake>>, StoreError> {
        Ok(Some(Box::new(feed::PgWake::listen(&self.pool).await?)))
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn commits(&self) -> &GroupCommit {
        &self.commits
    }
}
