//! WAL checkpoints off the writer's path.
//!
//! SQLite checkpoints the WAL — copies its pages into the database file and fsyncs both —
//! inside the `COMMIT` that takes the WAL past `wal_autocheckpoint` pages, on the connection
//! that committed. Ours has one writer connection, so every writer queued behind that commit
//! waited for the checkpoint too: during a bulk upload that was up to 64 MiB of pages and two
//! fsyncs under a match decision's feet, every second or two (the long tail of the match
//! latency in `benches/http_load.rs`). So the writer's automatic checkpoint is off
//! (`wal_autocheckpoint = 0`, set on the writer pool only) and this task checkpoints instead:
//!
//! - every [`INTERVAL`], `PRAGMA wal_checkpoint(PASSIVE)` on a reader connection. A passive
//!   checkpoint takes SQLite's checkpointer lock, not the writer lock: it copies what is
//!   committed while writers go on appending, and syncs on its own connection. The next write
//!   transaction after a complete one starts the WAL again from its beginning, as after an
//!   automatic checkpoint;
//! - a passive checkpoint is never complete while writes keep coming, so during a long bulk
//!   upload the WAL grows. Once it holds more than [`CAP_FRAMES`] pages, the checkpointer
//!   takes the writer connection — through the pool, in turn with every other writer — and
//!   runs one more *passive* checkpoint on it. With no writer appending meanwhile, that one
//!   copies only what was committed since the last (the passive ones keep up) and completes,
//!   and the next write transaction starts the WAL again from its beginning (SQLite restarts a
//!   fully copied WAL when a writer begins and no reader still reads from it; readers that
//!   begin after the copy read the database file). If a reader still holds an old snapshot,
//!   the WAL restarts a little later, at a following write. Measured during a 3 M-signal
//!   upload with matches reading all the time: the writer held for 13.5 ms. It used to be a
//!   `TRUNCATE` checkpoint, which also waits — on the writer — until no reader reads from the
//!   WAL, then syncs and truncates the file: 408 ms on the writer, and every decision waited
//!   (`benches/http_load.rs`, a build with temporary timings, 2026-12-08).
//!
//! The writer restarts the WAL *without shrinking the file* (`journal_size_limit = -1` on the
//! writer connection only): shrinking a 1 GiB WAL to 64 MiB is an `ftruncate` that took
//! 165–327 ms on this VM's ext4 (mounted with `discard`; `strace -T`, same benchmark), under
//! the writer, at the first write after every complete checkpoint — after every bulk upload,
//! and at the restart above. The WAL file so keeps the largest size it reached (at most about
//! [`CAP_FRAMES`] pages plus what was written while the cap was reached) and is overwritten
//! from its beginning; SQLite removes it when the last connection closes.
//!
//! Durability is unchanged: a checkpoint syncs the WAL before it copies and the database
//! after, whichever connection runs it, and [`super::durable`] syncs the WAL for the hot
//! writers as before. What changes for an operator: the `-wal` file may reach [`CAP_FRAMES`]
//! pages (about 1 GiB) during a long upload, and recovery after a crash then reads that much.

use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;

use super::WriterGate;

/// How often the WAL is checkpointed passively.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// WAL pages (of 4 KiB) beyond which the checkpointer takes the writer to empty the WAL.
pub const CAP_FRAMES: i64 = 256 * 1024;

/// The automatic checkpoint the writer had before this task (SQLite pages), which the
/// benchmark switches back on to compare ([`WriterGate::set_checkpoint_in_commit`]).
pub const IN_COMMIT_PAGES: i64 = 16 * 1024;

/// The running task; aborted when the last clone of the store drops.
#[derive(Debug)]
pub(super) struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Checkpointer {
    /// Starts checkpointing the database both pools open (see the module documentation).
    pub(super) fn spawn(
        reader: SqlitePool,
        writer: SqlitePool,
        gate: Arc<WriterGate>,
    ) -> Checkpointer {
        Checkpointer(tokio::spawn(run(reader, writer, gate)))
    }
}

async fn run(reader: SqlitePool, writer: SqlitePool, gate: Arc<WriterGate>) {
    let mut in_commit = false;
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if reader.is_closed() || writer.is_closed() {
            return;
        }
        let wanted = gate.checkpoint_in_commit();
        if wanted != in_commit {
            let pages = if wanted { IN_COMMIT_PAGES } else { 0 };
            let set = sqlx::query(&format!("PRAGMA wal_autocheckpoint = {pages}"))
                .execute(&writer)
                .await;
            if set.is_ok() {
                in_commit = wanted;
            }
        }
        if in_commit {
            continue;
        }
        if let Err(e) = checkpoint(&reader, &writer).await {
            // A busy or closing database: the next tick tries again; nothing is lost (the
            // pages stay in the WAL, which readers and recovery read).
            tracing::debug!(error = %e, "WAL checkpoint postponed");
        }
    }
}

/// One passive checkpoint; when the WAL is over the cap, another on the writer, which
/// completes so that the next write starts the WAL again (see the module documentation).
async fn checkpoint(reader: &SqlitePool, writer: &SqlitePool) -> Result<(), sqlx::Error> {
    let (_busy, frames, _copied): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(reader)
            .await?;
    if frames > CAP_FRAMES {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(writer)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;

    /// The writer never checkpoints, yet what it commits reaches the database file: the
    /// checkpointer copied it beside the writer.
    #[tokio::test]
    async fn commits_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let automatic: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(automatic, 0, "the writer checkpoints inside its commits");
        let limit: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(
            limit, -1,
            "the writer shrinks the WAL file when it restarts it"
        );
        let readers: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
            .fetch_one(&store.reader)
            .await
            .unwrap();
        assert_eq!(
            readers,
            64 * 1024 * 1024,
            "only the writer keeps the WAL's size"
        );
        sqlx::query("CREATE TABLE filler (b BLOB)")
            .execute(&store.writer)
            .await
            .unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        for _ in 0..64 {
            sqlx::query("INSERT INTO filler VALUES (randomblob(65536))")
                .execute(&store.writer)
                .await
                .unwrap();
        }
        let wanted = before + 4 * 1024 * 1024;
        // A bound on waiting (the interval is 100 ms), not a timing the test asserts.
        for _ in 0..300 {
            if std::fs::metadata(&path).unwrap().len() >= wanted {
                store.close().await;
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "4 MiB committed never reached the database file ({} bytes)",
            std::fs::metadata(&path).unwrap().len()
        );
    }
}
