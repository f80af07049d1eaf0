//! The embedded backend: one SQLite file in WAL mode.
//!
//! **Durability.** The broker promises "no disclosure without a durable audit entry": a response
//! leaves only after the transaction holding its audit entry has committed. In WAL mode,
//! `synchronous=NORMAL` does not fsync the WAL at commit, so the last transactions can vanish on
//! power loss (they survive a process crash, not an OS crash). We therefore use
//! `synchronous=FULL`, which fsyncs the WAL on every commit. The cost is one fsync per write
//! transaction — invisible for 10 k-signal uploads, noticeable for one-decision transactions
//! (`benches/store_bulk.rs` prints both figures). Decisions and audit appends therefore go
//! through the group commit ([`super::group_commit`]): one transaction, one fsync, per batch.
//! The two hot writers, decision batches and bulk-upload pieces, make that fsync themselves
//! after giving the writer back ([`durable`]), so the next writer does not wait for the disk;
//! a decision batch rides in the transaction of a bulk upload that holds the writer, ending
//! the upload's piece there ([`WriterGate`]), and the WAL
//! is checkpointed beside the writer, not inside its commits ([`checkpointer`]). See
//! docs/ARCHITECTURE.md, "The SQLite writer".
//!
//! **Concurrency.** SQLite has one writer at a time. Writes go through a pool of exactly one
//! connection, so concurrent uploads queue in the pool instead of failing with `SQLITE_BUSY`;
//! reads use a separate pool and, thanks to WAL, never wait for the writer. A `busy_timeout`
//! still covers other processes (e.g. `kruispunt audit export --data-dir`) touching the file.
//! Write transactions begin with `BEGIN IMMEDIATE`, so they take the lock up front (where the
//! busy handler waits) instead of upgrading a read snapshot, which can fail at once with
//! `SQLITE_BUSY_SNAPSHOT`.

mod audit;
mod audit_tree;
mod cases;
mod checkpointer;
mod decisions;
pub(crate) mod durable;
mod gate;
mod mls;
mod signals;

use super::Store;
use super::audit_tree::PreparedEntry;
use super::group_commit::GroupCommit;
use super::sql::{Dialect, take_seqs};
use super::{StoreError, count_to_db, migrations, seq_from_db};
use decisions::{SqliteBatch, UsageMirror};
use durable::WalSync;
pub use gate::WriterGate;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteQueryResult, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

/// Every write transaction takes the write lock at once: no deferred read-then-write upgrade
/// that could fail with `SQLITE_BUSY_SNAPSHOT` when another process wrote in between.
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// How long a statement waits for another process's write lock before giving up (→ 503).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections for readers (matching, audit review, index building).
const READERS: u32 = 4;

/// SQLite storage. See the module documentation for durability and concurrency.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection: SQLite has a single writer.
    writer: SqlitePool,
    /// Readers; the same pool as `writer` for an in-memory database (which WAL cannot share).
    reader: SqlitePool,
    /// The writer task batching decisions and audit appends (it shares the `writer` pool).
    commits: GroupCommit,
    /// Usage counters as committed (see [`UsageMirror`]).
    usage: UsageMirror,
    /// Decisions before the next piece of a bulk upload (see [`WriterGate`]).
    gate: std::sync::Arc<WriterGate>,
    /// The fsync of the hot writers' commits, after they gave the writer back ([`durable`]).
    sync: std::sync::Arc<WalSync>,
    /// WAL checkpoints beside the writer instead of inside its commits ([`checkpointer`]);
    /// `None` for an in-memory database.
    _checkpointer: Option<std::sync::Arc<checkpointer::Checkpointer>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://PATH`) with
    /// [`SqliteStore::tune`]d options and applies the migrations.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("{url}: {e}")))?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        Self::open(Self::tune(options), in_memory).await
    }

    /// The options the broker runs with: create the file if missing, WAL,
    /// `synchronous=FULL` (durable commits, see the module documentation), a busy timeout, a
    /// 64 MiB page cache, temporary tables in memory, and a checkpoint every 64 MiB of WAL (by
    /// whoever commits: another process such as the CLI; the broker's own writer leaves its
    /// checkpoints to the [`checkpointer`], and does not shrink the WAL file, which it says why).
    pub fn tune(options: SqliteConnectOptions) -> SqliteConnectOptions {
        options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            // Checkpoint every 64 MiB of WAL instead of every 4 MiB: uploads dirty index pages
            // all over the B-trees, and a later checkpoint writes a page dirtied by several
            // batches once (measured on 300 k signals in 10 k commits: 10.7 s → 6.3 s).
            .pragma("wal_autocheckpoint", "16384")
            .pragma("journal_size_limit", "67108864")
    }

    /// Opens with exactly these options (benchmarks use it to compare `synchronous` modes) and
    /// applies the migrations. `in_memory` shares one connection between readers and the writer.
    pub async fn open(
        options: SqliteConnectOptions,
        in_memory: bool,
    ) -> Result<SqliteStore, StoreError> {
        let file = options.get_filename().to_path_buf();
        // The checkpointer takes the writer's automatic checkpoints over, and the writer
        // reuses the WAL file without shrinking it (`checkpointer`, both).
        let writer_options = if in_memory {
            options.clone()
        } else {
            options
                .clone()
                .pragma("wal_autocheckpoint", "0")
                .pragma("journal_size_limit", "-1")
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            // An in-memory database lives as long as its connection.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(writer_options)
            .await?;
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(READERS)
                .acquire_timeout(Duration::from_secs(30))
                .connect_lazy_with(options)
        };
        let usage = UsageMirror::default();
        let gate = std::sync::Arc::new(WriterGate::default());
        // `FULL` (2) is what the broker runs with; only then do the hot writers sync
        // themselves (a bench's `NORMAL` stays as non-durable as it asked to be).
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&writer)
            .await?;
        let sync = std::sync::Arc::new(WalSync::new(file, level == 2 && !in_memory));
        let commits = GroupCommit::spawn(SqliteBatch {
            writer: writer.clone(),
            usage: usage.clone(),
            gate: gate.clone(),
            sync: sync.clone(),
        });
        let checkpointer = (!in_memory).then(|| {
            std::sync::Arc::new(checkpointer::Checkpointer::spawn(
                reader.clone(),
                writer.clone(),
                gate.clone(),
            ))
        });
        let store = SqliteStore {
            writer,
            reader,
            commits,
            usage,
            gate,
            sync,
            _checkpointer: checkpointer,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Closes both pools (checkpointing the WAL when the last connection closes).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Splits `items` into chunks whose lengths come from a fixed set (256, 64, 16, 4, 1), largest
/// first. A multi-row `INSERT` has one SQL text per row count, and the connection caches a
/// prepared statement per text: with a free row count, every group-commit batch of a new size
/// would parse and plan a fresh statement (and evict others from the cache); with these sizes a
/// handful of statements serve every batch.
///
/// (Binding the whole batch as one JSON array expanded by `json_each`, as uploads once did for
/// signals, was measured and costs more here: SQLite renders each row of the array back to
/// JSON text and parses it again for every `->>` column, about twice the cost of binding.)
fn fixed_chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let n = [256, 64, 16, 4, 1]
            .into_iter()
            .find(|&n| n <= items.len())?;
        let (chunk, rest) = items.split_at(n);
        items = rest;
        Some(chunk)
    })
}

/// Appends `entries` (already prepared: by group-commit callers in their own task, or by
/// [`Dialect::append`]) inside the caller's transaction and returns their sequence numbers;
/// also grows the audit tree by them in the same transaction (see [`crate::store::audit_tree`]).
/// The rows go in multi-row INSERTs of a few fixed row counts ([`fixed_chunks`]: at most 256
/// rows of 8 bound values, far below SQLite's limit; a group-commit batch costs a few cached
/// statements, not one per entry).
pub(crate) async fn append_prepared(
    conn: &mut SqliteConnection,
    entries: &[&PreparedEntry],
) -> Result<Vec<u64>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let n = count_to_db(entries.len() as u64)?;
    let (size, border) = take_seqs::<Sqlite>(&mut *conn, n).await?;
    let first = size - n;
    let mut seq = first;
    for chunk in fixed_chunks(entries) {
        let mut sql = String::from(
            "INSERT INTO audit_log (seq, time_ms, operation, action, actor_org, purpose, \
             case_reference, entry) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str("(?,?,?,?,?,?,?,?)");
        }
        let mut query = sqlx::query::<Sqlite>(&sql);
        for entry in chunk {
            query = query
                .bind(seq)
                .bind(entry.time_ms)
                .bind(entry.operation)
                .bind(entry.action.as_str())
                .bind(entry.actor_org.as_deref())
                .bind(entry.purpose.as_deref())
                .bind(entry.case_reference.as_deref())
                .bind(&entry.bytes[..]);
            seq += 1;
        }
        query.execute(&mut *conn).await?;
    }
    crate::store::audit_tree::grow(conn, seq_from_db(first)?, border, entries).await?;
    (first..size).map(seq_from_db).collect()
}

impl Dialect for SqliteStore {
    type DB = Sqlite;

    const BACKEND: &'static str = "sqlite";

    const LOCK_ROWS: &'static str = "";

    const MIGRATIONS: &'static [migrations::Script] = migrations::SQLITE;

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with(BEGIN_WRITE).await
    }

    fn append_prepared<'c>(
        conn: &'c mut SqliteConnection,
        entries: &'c [&'c PreparedEntry],
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> + Send + 'c {
        append_prepared(conn, entries)
    }

    const FEED_NOTIFY: &'static str = "";

    fn own_changes(&self) -> Option<&crate::store::feed::OwnChanges> {
        None
    }

    /// One process serves the file: the process's own lock (`crate::org_lock`) is the lock.
    async fn lock_org(
        &self,
        _org: &str,
    ) -> Result<Option<Box<dyn std::any::Any + Send>>, StoreError> {
        Ok(None)
    }

    /// One process serves an SQLite file: nothing else writes the feed.
    async fn feed_wake(&self) -> Result<Option<Box<dyn crate::store::feed::FeedWake>>, StoreError> {
        Ok(None)
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn commits(&self) -> &GroupCommit {
        &self.commits
    }

    fn writer_gate(&self) -> Option<&WriterGate> {
        Some(&self.gate)
    }

    /// What the hot writers committed is durable before anyone reads it back from the audit
    /// log ([`durable`]): a tree head read, served or signed is never one an OS crash could undo.
    async fn read_barrier(&self) -> Result<(), StoreError> {
        self.sync.barrier().await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixed_chunks_cover_everything_in_few_shapes() {
        let items: Vec<u32> = (0..1023).collect();
        let chunks: Vec<&[u32]> = super::fixed_chunks(&items).collect();
        assert_eq!(chunks.concat(), items);
        assert!(
            chunks
                .iter()
                .all(|c| [256, 64, 16, 4, 1].contains(&c.len()))
        );
        assert_eq!(chunks.len(), 15);
        assert_eq!(super::fixed_chunks::<u32>(&[]).count(), 0);
    }
}
