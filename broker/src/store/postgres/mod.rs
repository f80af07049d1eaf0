//! The PostgreSQL backend, for production: the database on its own host, standby brokers.
//! One broker process serves uploads and matches per database — its in-memory match index is
//! what recognises re-uploads and answers matches (docs/OPERATIONS.md); the storage itself
//! (audit sequence, budgets, advisory locks) stays correct with several.
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
mod mls;
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

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The writer task batching decisions and audit appends.
    commits: GroupCommit,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) with a pool of 16 connections and applies the
    /// migrations.
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
                .acquire_timeout(Duration::from_secs(30)),
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
        let pool = pool.connect_with(options.options([("jit", "off")])).await?;
        let commits = GroupCommit::spawn(PgBatch { pool: pool.clone() });
        let store = PostgresStore { pool, commits };
        store.migrate().await?;
        Ok(store)
    }

    /// Closes the pool.
    pub async fn close(&self) {
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

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn commits(&self) -> &GroupCommit {
        &self.commits
    }
}
