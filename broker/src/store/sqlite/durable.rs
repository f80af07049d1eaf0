//! Durable commits whose fsync does not hold the writer.
//!
//! With `synchronous=FULL`, SQLite fsyncs the WAL inside `COMMIT`, on the one writer
//! connection: every other writer waits for that fsync too (about 4 ms on the shared VM, 8–16
//! under load). The two hot writers — a bulk upload's pieces and the group commit's decision
//! batches — instead commit with `synchronous=NORMAL` (the WAL frames are written, not
//! synced: the commit is consistent but not yet durable) through an [`Unsynced`] connection,
//! give the connection back, and only then wait for [`WalSync::durable`], which fsyncs the WAL
//! file once for every commit made before it started (one fsync covers all earlier frames: the
//! WAL is appended in commit order). The caller answers only after that, so "no disclosure
//! without a durable audit entry" and "nothing acknowledged is lost" hold as before — the fsync
//! is the same one `FULL` would make, moved after the lock.
//!
//! Why this is as safe as `FULL`: in WAL mode `NORMAL` is always consistent (SQLite syncs the
//! WAL before each checkpoint and the database after), and what it gives up — the last commits
//! may roll back after an OS crash or power loss — is exactly what the explicit fsync of the
//! WAL file restores before anything is acknowledged. A WAL that was checkpointed and reset
//! meanwhile was synced by the checkpoint. Every other writer keeps `FULL`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::{Sqlite, SqlitePool};

use crate::store::StoreError;

/// The group fsync of the WAL (see the module documentation). One per store.
#[derive(Debug)]
pub struct WalSync {
    /// The `-wal` file; `None`: nothing to make durable (an in-memory database, or a file
    /// opened with `synchronous` below `FULL`, where commits were never promised durable).
    wal: Option<PathBuf>,
    /// The main database file (synced instead when the WAL is gone: it was checkpointed).
    db: PathBuf,
    /// Commits made without their own fsync so far.
    committed: AtomicU64,
    /// All commits up to this count are durable.
    synced: AtomicU64,
    /// One fsync at a time; whoever waits behind it finds its commit covered, or starts the next.
    syncing: tokio::sync::Mutex<()>,
    /// An fsync failed: the kernel may have dropped the pages it could not write, so a later
    /// fsync's success proves nothing about them. Every later commit is refused as not durable
    /// (503) until the broker restarts and SQLite recovers from what is on disk.
    failed: std::sync::atomic::AtomicBool,
}

impl WalSync {
    /// For the database file `db`; `durable_commits`: whether the store commits with
    /// `synchronous=FULL` (or `EXTRA`), which the hot writers then keep by syncing themselves.
    pub(super) fn new(db: PathBuf, durable_commits: bool) -> WalSync {
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        WalSync {
            wal: durable_commits.then(|| wal.into()),
            db,
            committed: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            syncing: tokio::sync::Mutex::new(()),
            failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether commits skip SQLite's own fsync and are made durable here.
    pub(super) fn enabled(&self) -> bool {
        self.wal.is_some()
    }

    /// Counts a commit that just returned without its own fsync ([`Unsynced::finish`]); pass
    /// the ticket to [`WalSync::durable`].
    fn committed(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Returns once every commit counted so far is durable (at once when none waits for it).
    pub(super) async fn barrier(&self) -> Result<(), StoreError> {
        self.durable(self.committed.load(Ordering::SeqCst)).await
    }

    /// Returns once the commit with `ticket` (and every one before it) is durable.
    pub(super) async fn durable(&self, ticket: u64) -> Result<(), StoreError> {
        let Some(wal) = &self.wal else { return Ok(()) };
        let refused = || {
            StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(
                "an earlier fsync of the SQLite WAL failed; restart the broker",
            )))
        };
        if self.failed.load(Ordering::SeqCst) {
            return Err(refused());
        }
        if self.synced.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let _one = self.syncing.lock().await;
        if self.failed.load(Ordering::SeqCst) {
            return Err(refused());
        }
        if self.synced.load(Ordering::SeqCst) >= ticket {
            return Ok(()); // the fsync we waited behind covered it
        }
        // Every commit counted by now has written its frames: this fsync covers them all.
        let covered = self.committed.load(Ordering::SeqCst);
        let (wal, db) = (wal.clone(), self.db.clone());
        let synced = tokio::task::spawn_blocking(move || sync_file(&wal, &db))
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Unavailable(sqlx::Error::Io(
                    std::io::Error::other(format!("the WAL fsync task failed: {e}")),
                )))
            });
        if synced.is_err() {
            self.failed.store(true, Ordering::SeqCst);
        }
        synced?;
        self.synced.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }
}

/// fdatasync of the WAL (what `synchronous=FULL` does at commit); if the WAL file is gone, it
/// was checkpointed into the database file, which is synced instead.
fn sync_file(wal: &std::path::Path, db: &std::path::Path) -> Result<(), StoreError> {
    fn failed(path: &std::path::Path, e: std::io::Error) -> StoreError {
        tracing::error!(file = %path.display(), error = %e, "fsync failed");
        StoreError::Unavailable(sqlx::Error::Io(e))
    }
    match std::fs::File::open(wal) {
        Ok(f) => f.sync_data().map_err(|e| failed(wal, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::File::open(db)
            .and_then(|f| f.sync_data())
            .map_err(|e| failed(db, e)),
        Err(e) => Err(failed(wal, e)),
    }
}

/// The writer connection set to `synchronous=NORMAL` for one transaction (when the store's
/// [`WalSync`] is enabled). [`Unsynced::finish`] sets it back to `FULL` and returns it to the
/// pool; dropped without that (an error, a cancelled future), it closes the connection
/// instead, so no other writer ever commits on it without an fsync (the pool opens a fresh
/// one with the store's options).
pub(super) struct Unsynced {
    conn: PoolConnection<Sqlite>,
    /// Still `NORMAL`: must be restored (or the connection closed).
    lowered: bool,
}

impl Unsynced {
    /// Takes the writer connection (waiting for it like any writer) and lowers its
    /// `synchronous` if `sync` is enabled and `lower` (`WriterGate::sync_after_unlock`) says so.
    pub(super) async fn acquire(
        pool: &SqlitePool,
        sync: &WalSync,
        lower: bool,
    ) -> Result<Unsynced, StoreError> {
        Self::lower(pool.acquire().await?, sync, lower).await
    }

    /// [`Unsynced::acquire`] for a connection already taken from the writer pool.
    pub(super) async fn lower(
        conn: PoolConnection<Sqlite>,
        sync: &WalSync,
        lower: bool,
    ) -> Result<Unsynced, StoreError> {
        let mut this = Unsynced {
            conn,
            lowered: false,
        };
        if sync.enabled() && lower {
            // Lowered first, marked after: a failure in between closes nothing it need not.
            this.lowered = true;
            sqlx::query("PRAGMA synchronous = NORMAL")
                .execute(&mut *this.conn)
                .await?;
        }
        Ok(this)
    }

    /// The connection, to begin the transaction on.
    pub(super) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    /// Call right after a commit returned, keeping the connection for the next transaction:
    /// the ticket for [`WalSync::durable`] (`0`, at once durable, when the commit made its own
    /// fsync).
    pub(super) fn committed(&self, sync: &WalSync) -> u64 {
        if self.lowered { sync.committed() } else { 0 }
    }

    /// Restores `synchronous=FULL` and gives the connection back to the pool.
    pub(super) async fn release(mut self) -> Result<(), StoreError> {
        if self.lowered {
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *self.conn)
                .await?;
            self.lowered = false;
        }
        Ok(())
    }

    /// Call right after the commit returned: [`Unsynced::committed`], then
    /// [`Unsynced::release`].
    pub(super) async fn finish(self, sync: &WalSync) -> Result<u64, StoreError> {
        let ticket = self.committed(sync);
        self.release().await?;
        Ok(ticket)
    }
}

impl Drop for Unsynced {
    fn drop(&mut self) {
        if self.lowered {
            self.conn.close_on_drop();
        }
    }
}
