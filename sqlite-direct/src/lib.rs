//! Prepared-statement access to a connection that sqlx owns.
//!
//! sqlx runs every statement of a SQLite connection on that connection's worker thread and
//! copies each bound value on the way there; for one INSERT of a few rows that does not matter,
//! for a bulk upload of millions it is most of the cost (measured on 1 M signal rows: 6.5–7.7
//! CPU-seconds through sqlx's bound multi-row `VALUES`, 13 through one JSON chunk expanded by
//! `json_each`, 4.0 through one prepared statement stepped per row). [`with_connection`] lends
//! the connection's handle, locked away from sqlx's worker, to synchronous rusqlite code, so
//! the broker can step one prepared INSERT per row **inside the transaction sqlx opened** —
//! the rows and their audit entry still commit together.
//!
//! This crate exists to keep the project's only `unsafe` line in one small place: the broker
//! and every other crate forbid `unsafe_code`.
#![deny(unsafe_code)]

pub use rusqlite;

use sqlx::sqlite::SqliteConnection;

/// Why a direct call failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// sqlx could not lend the handle (its worker thread is gone).
    #[error("the SQLite connection could not be locked: {0}")]
    Lock(#[from] sqlx::Error),
    /// SQLite refused a statement of the closure (or the handle).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Runs `f` with `conn`'s SQLite handle as a rusqlite connection, in whatever transaction
/// `conn` has open, and returns its result.
///
/// `f` is synchronous and may take a while (a bulk insert): on a multi-threaded tokio runtime it
/// runs under `block_in_place`, so the runtime moves its other tasks to another worker; on a
/// current-thread runtime (tests) it simply runs.
///
/// `f` returns the caller's own error type `E` (anything a [`DirectError`] converts into), so
/// it can fail with its own errors — a row that does not decode, say — as well as SQLite's.
///
/// The rusqlite connection cannot outlive `f` (it is borrowed for the call only, and any
/// statement prepared on it borrows it in turn), and it is dropped — finalising every statement
/// prepared through it — before sqlx gets the handle back.
pub async fn with_connection<R, E: From<DirectError>>(
    conn: &mut SqliteConnection,
    f: impl FnOnce(&rusqlite::Connection) -> Result<R, E>,
) -> Result<R, E> {
    let mut locked = conn
        .lock_handle()
        .await
        .map_err(|e| E::from(DirectError::Lock(e)))?;
    let raw = locked.as_raw_handle().as_ptr();
    let run = move || -> Result<R, E> {
        // SAFETY: `raw` is the open handle of `conn`, and `locked` holds the mutex that sqlx's
        // worker thread must take before it touches that handle (sqlx documents `lock_handle`
        // for exactly this: direct SQLite API calls). `locked` lives until after this closure
        // returns, so nobody else uses the handle meanwhile. `from_handle` makes a *non-owning*
        // connection: dropping it finalises the statements prepared through it (rusqlite keeps
        // no hooks or caches without its default features) and never closes the handle. Both
        // crates link the same libsqlite3-sys, so the pointer types are the same.
        #[allow(unsafe_code)]
        let db = unsafe { rusqlite::Connection::from_handle(raw) }
            .map_err(|e| E::from(DirectError::Sqlite(e)))?;
        let out = f(&db);
        drop(db);
        out
    };
    let on_multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let out = if on_multi_thread {
        tokio::task::block_in_place(run)
    } else {
        run()
    };
    drop(locked);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{Connection, Row};

    async fn open(dir: &tempfile::TempDir) -> SqliteConnection {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    }

    async fn count(conn: &mut SqliteConnection) -> i64 {
        sqlx::query("SELECT count(*) FROM t")
            .fetch_one(conn)
            .await
            .unwrap()
            .get(0)
    }

    fn insert(db: &rusqlite::Connection, keys: std::ops::Range<i64>) -> Result<usize, DirectError> {
        let mut st = db.prepare("INSERT INTO t (k, v) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?;
        let mut n = 0;
        for k in keys {
            n += st.execute(rusqlite::params![k, format!("v{k}")])?;
        }
        Ok(n)
    }

    #[tokio::test]
    async fn writes_join_the_sqlx_transaction_and_roll_back_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir).await;
        let mut tx = conn.begin().await.unwrap();
        let n = with_connection(&mut tx, |db| insert(db, 0..100))
            .await
            .unwrap();
        assert_eq!(n, 100);
        // sqlx sees the rows inside its own transaction...
        assert_eq!(count(&mut tx).await, 100);
        tx.rollback().await.unwrap();
        // ...and they went with its rollback.
        assert_eq!(count(&mut conn).await, 0);

        let mut tx = conn.begin().await.unwrap();
        with_connection(&mut tx, |db| insert(db, 0..100))
            .await
            .unwrap();
        // Conflicts are reported per row, through the same statement.
        let again = with_connection(&mut tx, |db| insert(db, 50..150))
            .await
            .unwrap();
        assert_eq!(again, 50);
        tx.commit().await.unwrap();
        assert_eq!(count(&mut conn).await, 150);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_errors_come_back_typed_and_the_connection_stays_usable() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir).await;
        let err = with_connection(&mut conn, |db| {
            Ok::<_, DirectError>(db.execute("INSERT INTO missing VALUES (1)", [])?)
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err, DirectError::Sqlite(_)) && err.to_string().contains("missing"),
            "{err}"
        );
        // The handle went back to sqlx in working order.
        sqlx::query("INSERT INTO t (k, v) VALUES (1, 'a')")
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(count(&mut conn).await, 1);
    }
}
