//! The signal storage on SQLite: uploads stepped on the writer's own handle, reads on the
//! readers' pool.

use super::decisions::{Uncommitted, write_jobs};
use super::durable::Unsynced;
use super::gate::Holding;
use super::{BEGIN_WRITE, SqliteStore, append_prepared};
use crate::store::audit_tree::PreparedEntry;
use crate::store::feed::{FeedOp, encode_inserted};
use crate::store::sql::SignalDialect;
use crate::store::sql::feed;
use crate::store::sql::signals::signal_with_purposes;
use crate::store::{
    AuditEntry, IndexRecord, InsertOutcome, NewSignal, PieceAudit, StoreError, StoredSignal,
    id_from_db, key_version_from_db, kind_from_db, prepare_batch, stored_from_db,
};
use kruispunt_sqlite_direct::rusqlite;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Row, Sqlite};

/// Columns of a full signal row, in the order [`SignalDialect::signal_from_row`] reads them.
const SIGNAL_COLUMNS: &str = "id, org, kind, key_version, stored, code, observed, district, purposes, expires_at, uploaded_at, gemeente, wijk";

/// Inserts one signal; a row whose id is already stored is skipped (`changes() == 0`), which is
/// how [`SignalStore::insert_signals`] tells a duplicate without a second query. Stepped once per row
/// on the writer's handle ([`kruispunt_sqlite_direct`]): binding through sqlx copied every
/// value twice and expanding one JSON chunk with `json_each` made SQLite re-parse each row's
/// text for every column; both cost more than SQLite's own insert (measured on 1 M rows:
/// 13 CPU-s as a JSON chunk, 6.5–7.7 through sqlx's bound multi-row VALUES, 4.0 this way).
const INSERT_SIGNAL: &str = "INSERT INTO signals (id, org, kind, key_version, stored, code, \
     observed, district, purposes, expires_at, uploaded_at, gemeente, wijk) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT (id) DO NOTHING";

/// The signals whose id begins with one of the 8-byte prefixes given as a JSON array of hex
/// strings: the prefixes drive the loop (`CROSS JOIN` fixes the order), each one a range read
/// of the unique index on `id`.
const BY_ID_PREFIX: &str = "SELECT id, org, kind, key_version, stored, code, observed, \
     district, purposes, expires_at, uploaded_at, gemeente, wijk \
     FROM (SELECT unhex(value || '0000000000000000') AS lo, \
     unhex(value || 'ffffffffffffffff') AS hi FROM json_each(?1)) AS p \
     CROSS JOIN signals WHERE signals.id BETWEEN p.lo AND p.hi";

/// Rows an upload inserts between two looks at the [`super::WriterGate`] (a fraction of a
/// millisecond of work): the finest granularity at which it ends a transaction early.
const SLICE: usize = 128;

/// Steps [`INSERT_SIGNAL`] once per row, in the caller's transaction; says per row whether it
/// was inserted (`false`: its id was already stored). `purposes` is stored as a JSON list; rows
/// of one upload mostly share theirs, so the text is only rebuilt when it changes. Every
/// [`SLICE`] rows it asks `stop` (given the rows done) whether to end here: the rows not
/// stepped have no outcome (the result is shorter than `rows`).
fn insert_rows<'s>(
    db: &rusqlite::Connection,
    rows: impl Iterator<Item = &'s NewSignal>,
    mut stop: impl FnMut(usize) -> bool,
) -> Result<Vec<bool>, StoreError> {
    let mut statement = db.prepare(INSERT_SIGNAL)?;
    let mut purposes: (&[String], String) = (&[], String::new());
    let mut inserted = Vec::with_capacity(rows.size_hint().0);
    for s in rows {
        if !inserted.is_empty() && inserted.len() % SLICE == 0 && stop(inserted.len()) {
            break;
        }
        if purposes.0 != s.purposes.as_slice() {
            purposes = (
                s.purposes.as_slice(),
                serde_json::to_string(&s.purposes).expect("strings always serialise"),
            );
        }
        let changed = statement.execute(rusqlite::params![
            &s.id.0[..],
            s.org,
            s.kind.as_str(),
            s.key_version,
            &s.stored[..],
            s.code,
            s.observed,
            s.district,
            purposes.1,
            s.expires_at,
            s.uploaded_at,
            s.gemeente,
            s.wijk,
        ])?;
        inserted.push(changed == 1);
    }
    Ok(inserted)
}

/// The indexes of `signals` that a piece holding `send[start..end]` stores or answers: `send`
/// is sorted by id without repeats ([`prepare_batch`]), so a piece is a range of ids, and a
/// signal repeated in the batch goes with the piece that stores its id.
fn piece_members(signals: &[NewSignal], send: &[usize], start: usize, end: usize) -> Vec<usize> {
    let lo = signals[send[start]].id;
    let hi = (end < send.len()).then(|| signals[send[end]].id);
    (0..signals.len())
        .filter(|&i| {
            let id = signals[i].id;
            id >= lo && hi.is_none_or(|hi| id < hi)
        })
        .collect()
}

/// The match index's view of a row of the start-up scan (columns as selected there).
fn index_record(row: &rusqlite::Row<'_>) -> Result<IndexRecord, StoreError> {
    fn corrupt<E: std::fmt::Display>(i: usize) -> impl Fn(E) -> StoreError {
        move |e| StoreError::Corrupt(format!("signal column {i}: {e}"))
    }
    let value = |i: usize| row.get_ref(i).map_err(corrupt(i));
    let text = |i: usize| value(i)?.as_str().map_err(corrupt(i));
    let blob = |i: usize| value(i)?.as_blob().map_err(corrupt(i));
    let integer = |i: usize| value(i)?.as_i64().map_err(corrupt(i));
    let optional = |i: usize| {
        value(i)?
            .as_str_or_null()
            .map(|t| t.map(str::to_owned))
            .map_err(corrupt(i))
    };
    let observed = text(8)?;
    let observed_day = crate::civil::parse_date(observed).ok_or_else(|| {
        StoreError::Corrupt(format!("observed {observed:?} is not a date YYYY-MM-DD"))
    })?;
    Ok(IndexRecord {
        id: id_from_db(blob(0)?)?,
        kind: kind_from_db(text(1)?)?,
        key_version: key_version_from_db(integer(2)?)?,
        stored: stored_from_db(blob(3)?)?,
        org: text(4)?.to_owned(),
        code: text(5)?.to_owned(),
        expires_at: integer(6)?,
        purposes: purposes_from_db(text(7)?)?,
        observed_day,
        district: text(9)?.to_owned(),
        gemeente: optional(10)?,
        wijk: optional(11)?,
    })
}

fn purposes_from_db(json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("purposes {json:?} are not a JSON list: {e}")))
}

impl SqliteStore {
    /// Stores `signals` in one transaction or, with `pace` and a decision waiting for the
    /// writer ([`super::WriterGate`]), in several "pieces": each piece commits the rows it
    /// stepped with the audit entry `audit_for` builds for exactly those (and the signal
    /// feed's change). A decision batch offered meanwhile rides in the piece's transaction
    /// and the upload keeps the writer for its next piece; one that queued for the writer
    /// instead gets it before the next piece begins. Nobody waiting: one transaction, with the
    /// whole upload's entry prepared before the write lock, as without pacing.
    async fn insert_pieces(
        &self,
        signals: &[NewSignal],
        audit_for: PieceAudit<'_>,
        pace: bool,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let (send, mut outcomes) = prepare_batch(signals)?;
        // Hashing and salting the entry happens before the write lock is taken; it is the one
        // committed unless a decision makes the upload end its transaction early.
        let everything: Vec<usize> = (0..signals.len()).collect();
        let mut whole = Some(PreparedEntry::prepare(&[&audit_for(&everything, true)])?);
        let gate = &self.gate;
        let mut start = 0;
        // The writer, kept across pieces that carried a batch; with the mark that offers
        // batches to this upload while it is held.
        let mut held: Option<(Unsynced, Option<Holding<'_>>)> = None;
        loop {
            let hold = if pace { gate.max_hold() } else { None };
            let writer = match &mut held {
                Some((writer, _)) => writer,
                None => {
                    let writer =
                        Unsynced::acquire(&self.writer, &self.sync, gate.sync_after_unlock())
                            .await?;
                    &mut held.insert((writer, pace.then(|| gate.upload_holds()))).0
                }
            };
            let mut tx = writer.conn().begin_with(BEGIN_WRITE).await?;
            let began = std::time::Instant::now();
            let inserted = kruispunt_sqlite_direct::with_connection(&mut tx, |db| {
                insert_rows(db, send[start..].iter().map(|&i| &signals[i]), |_| {
                    hold.is_some_and(|h| gate.anyone_waiting() && began.elapsed() >= h)
                })
            })
            .await?;
            let end = start + inserted.len();
            let entry = match whole.take() {
                Some(entry) if end == send.len() => entry,
                _ => PreparedEntry::prepare(&[&audit_for(
                    &piece_members(signals, &send, start, end),
                    start == 0,
                )])?,
            };
            let ids = encode_inserted(
                send[start..end]
                    .iter()
                    .zip(&inserted)
                    .filter(|(_, fresh)| **fresh)
                    .map(|(&i, _)| &signals[i].id),
            );
            let pending = feed::write_parts::<Sqlite>(&mut tx, FeedOp::Inserted, &ids).await?;
            let seq = append_prepared(&mut tx, &entry.iter().collect::<Vec<_>>()).await?[0];
            feed::commit_change::<Sqlite>(&mut tx, pending, seq, "").await?;
            // A batch offered meanwhile commits with this piece.
            let ride = match pace.then(|| gate.take_rider()).flatten() {
                Some(mut taken) => {
                    let written = carry(&mut tx, taken.jobs()).await?;
                    taken.committing();
                    Some((taken, written))
                }
                None => None,
            };
            if let Err(e) = tx.commit().await {
                let e = StoreError::from(e);
                return Err(match ride {
                    Some((taken, _)) => {
                        // Both fail: the batch's callers and the upload's.
                        let e = std::sync::Arc::new(e);
                        taken.answer(Err(StoreError::Batch(e.clone())));
                        StoreError::Batch(e)
                    }
                    None => e,
                });
            }
            let ticket = writer.committed(&self.sync);
            let rode = ride.is_some();
            if let Some((taken, written)) = ride {
                let outcome = written.map(|w| w.committed(taken.jobs(), &self.usage, ticket));
                taken.answer(outcome);
            }
            for (&i, fresh) in send[start..end].iter().zip(inserted) {
                if !fresh {
                    outcomes[i] = InsertOutcome::Duplicate;
                }
            }
            if end == send.len() {
                if let Some((writer, _)) = held.take() {
                    writer.release().await?;
                }
                // Durable before the caller indexes or acknowledges any of it (one fsync
                // covers the earlier pieces too), with the writer already free.
                self.sync.durable(ticket).await?;
                return Ok(outcomes);
            }
            start = end;
            if !rode || gate.decisions_waiting() {
                // A batch queued for the writer (it came before this upload held it): hand
                // the writer over, and take it back once that batch has it.
                if let Some((writer, _)) = held.take() {
                    writer.release().await?;
                }
                gate.let_decisions_pass().await;
            }
        }
    }
}

/// Writes an offered batch's jobs in the upload's transaction `tx`, under a savepoint: `Err`
/// only when the savepoint itself failed (the upload fails with it and the batch is offered
/// again, see [`super::gate::Taken`]); the batch's own failure is rolled back to the savepoint and returned
/// inside, for its callers, while the upload goes on.
async fn carry(
    tx: &mut SqliteConnection,
    jobs: &[crate::store::group_commit::Job],
) -> Result<Result<Uncommitted, StoreError>, StoreError> {
    let mut savepoint = tx.begin().await?;
    match write_jobs(&mut savepoint, jobs).await {
        Ok(written) => {
            savepoint.commit().await?;
            Ok(Ok(written))
        }
        Err(e) => {
            savepoint.rollback().await?;
            Ok(Err(e))
        }
    }
}

impl SignalDialect for SqliteStore {
    const SIGNAL_COLUMNS: &'static str = SIGNAL_COLUMNS;

    fn signal_from_row(row: &SqliteRow) -> Result<StoredSignal, StoreError> {
        signal_with_purposes(row, purposes_from_db(row.try_get(8)?)?)
    }

    /// Deletes `purged` one id at a time (SQLite binds no arrays).
    async fn delete_signals<'c>(
        conn: &'c mut SqliteConnection,
        purged: &'c [StoredSignal],
    ) -> Result<(), StoreError> {
        for s in purged {
            sqlx::query("DELETE FROM signals WHERE id = ?1")
                .bind(s.id.0.as_slice())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn insert_signals(
        &self,
        signals: &[NewSignal],
        audit: &AuditEntry,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        self.insert_pieces(signals, &|_, _| audit.clone(), false)
            .await
    }

    async fn insert_signals_paced(
        &self,
        signals: &[NewSignal],
        audit_for: PieceAudit<'_>,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        self.insert_pieces(signals, audit_for, true).await
    }

    async fn signals_by_id_prefix(
        &self,
        prefixes: &[[u8; 8]],
    ) -> Result<Vec<StoredSignal>, StoreError> {
        let json = serde_json::to_string(&prefixes.iter().map(hex::encode).collect::<Vec<_>>())
            .expect("strings always serialise");
        let mut found = Vec::new();
        for row in sqlx::query(BY_ID_PREFIX)
            .bind(json)
            .fetch_all(&self.reader)
            .await?
        {
            found.push(Self::signal_from_row(&row)?);
        }
        Ok(found)
    }

    async fn for_each_live_signal(
        &self,
        now: i64,
        f: &mut (dyn FnMut(IndexRecord) + Send),
    ) -> Result<u64, StoreError> {
        // Stepped on the handle directly: through sqlx every row crossed a channel from the
        // connection's worker thread (measured on 1 M live signals: 137 k rows/s that way).
        let mut conn = self.reader.acquire().await?;
        kruispunt_sqlite_direct::with_connection(&mut conn, |db| {
            let mut statement = db.prepare(
                "SELECT id, kind, key_version, stored, org, code, expires_at, purposes, \
                 observed, district, gemeente, wijk FROM signals WHERE expires_at > ?1",
            )?;
            let mut rows = statement.query([now])?;
            let mut count = 0u64;
            while let Some(row) = rows.next()? {
                f(index_record(row)?);
                count += 1;
            }
            Ok(count)
        })
        .await
    }
}
