//! [`SignalStore`] on either backend: withdrawal, expiry and the live count written once; the
//! upload, the id-prefix look-up and the start-up scan are each backend's own
//! ([`SignalDialect`]), because each database takes them fastest its own way (binary COPY and
//! `unnest` on PostgreSQL, the writer's own handle and `json_each` on SQLite).

use std::future::Future;

use sqlx::{Database, Row};

use super::Dialect;
use super::feed::append_with_change;
use crate::audit::entry::AuditEntry;
use crate::store::feed::{FeedChange, FeedOp, FeedPage, decode_part, encode_removed};
use crate::store::{
    IndexRecord, InsertOutcome, NewSignal, PieceAudit, PurgeAudit, SignalId, SignalStore,
    StoreError, StoredSignal, count_from_db, id_from_db, key_version_from_db, kind_from_db,
    stored_from_db,
};

/// A backend's own part of the signal storage (in its `signals.rs`).
pub(crate) trait SignalDialect: Dialect {
    /// Columns of a full signal row, in the order [`SignalDialect::signal_from_row`] reads them.
    const SIGNAL_COLUMNS: &'static str;

    /// Rebuilds a signal from a row of [`SignalDialect::SIGNAL_COLUMNS`] (with
    /// [`signal_with_purposes`], the purposes decoded as the backend stores them).
    fn signal_from_row(row: &<Self::DB as Database>::Row) -> Result<StoredSignal, StoreError>;

    /// [`SignalStore::insert_signals`].
    fn insert_signals(
        &self,
        signals: &[NewSignal],
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<Vec<InsertOutcome>, StoreError>> + Send;

    /// [`SignalStore::insert_signals_paced`]: one transaction unless the backend overrides it.
    fn insert_signals_paced<'a>(
        &'a self,
        signals: &'a [NewSignal],
        audit_for: PieceAudit<'a>,
    ) -> impl Future<Output = Result<Vec<InsertOutcome>, StoreError>> + Send + 'a {
        async move {
            let everything: Vec<usize> = (0..signals.len()).collect();
            SignalDialect::insert_signals(self, signals, &audit_for(&everything, true)).await
        }
    }

    /// [`SignalStore::signals_by_id_prefix`] for `prefixes` sorted, distinct and not empty.
    fn signals_by_id_prefix(
        &self,
        prefixes: &[[u8; 8]],
    ) -> impl Future<Output = Result<Vec<StoredSignal>, StoreError>> + Send;

    /// [`SignalStore::for_each_live_signal`].
    fn for_each_live_signal(
        &self,
        now: i64,
        f: &mut (dyn FnMut(IndexRecord) + Send),
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Deletes `purged` (read in this transaction) from `signals`.
    fn delete_signals<'c>(
        conn: &'c mut <Self::DB as Database>::Connection,
        purged: &'c [StoredSignal],
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'c;
}

shared_impl! {
    impl SignalStore for SignalDialect {
        async fn insert_signals(
            &self,
            signals: &[NewSignal],
            audit: &AuditEntry,
        ) -> Result<Vec<InsertOutcome>, StoreError> {
            SignalDialect::insert_signals(self, signals, audit).await
        }

        async fn insert_signals_paced(
            &self,
            signals: &[NewSignal],
            audit_for: PieceAudit<'_>,
        ) -> Result<Vec<InsertOutcome>, StoreError> {
            SignalDialect::insert_signals_paced(self, signals, audit_for).await
        }

        async fn withdraw_signal(
            &self,
            org: &str,
            id: SignalId,
            audit: &AuditEntry,
        ) -> Result<Option<StoredSignal>, StoreError> {
            let mut tx = self.begin_write().await?;
            let row = sqlx::query(&format!(
                "DELETE FROM signals WHERE id = $1 AND org = $2 RETURNING {}",
                D::SIGNAL_COLUMNS
            ))
            .bind(id.0.as_slice())
            .bind(org)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                tx.rollback().await?;
                return Ok(None);
            };
            let signal = D::signal_from_row(&row)?;
            let removed = encode_removed([&signal]);
            let change = append_with_change::<D>(&mut tx, FeedOp::Removed, &removed, audit).await?;
            tx.commit().await?;
            self.own_change(change);
            Ok(Some(signal))
        }

        async fn signals_by_id_prefix(
            &self,
            prefixes: &[[u8; 8]],
        ) -> Result<Vec<StoredSignal>, StoreError> {
            if prefixes.is_empty() {
                return Ok(Vec::new());
            }
            let mut wanted: Vec<[u8; 8]> = prefixes.to_vec();
            wanted.sort_unstable();
            wanted.dedup();
            SignalDialect::signals_by_id_prefix(self, &wanted).await
        }

        async fn for_each_live_signal(
            &self,
            now: i64,
            f: &mut (dyn FnMut(IndexRecord) + Send),
        ) -> Result<u64, StoreError> {
            SignalDialect::for_each_live_signal(self, now, f).await
        }

        async fn count_live_signals(&self, now: i64) -> Result<u64, StoreError> {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM signals WHERE expires_at > $1")
                .bind(now)
                .fetch_one(self.reader())
                .await?;
            count_from_db(n)
        }

        async fn feed_position(&self) -> Result<u64, StoreError> {
            let size: i64 = sqlx::query_scalar("SELECT size FROM audit_head WHERE id = 0")
                .fetch_one(self.reader())
                .await?;
            count_from_db(size)
        }

        async fn feed_read(&self, from: u64, limit: u32) -> Result<FeedPage, StoreError> {
            // The size first: every change below it committed before this read, so the read
            // below sees all of them (see crate::store::feed).
            let size = self.feed_position().await?;
            let below: i64 =
                sqlx::query_scalar("SELECT below FROM signal_feed_pruned WHERE id = 0")
                    .fetch_one(self.reader())
                    .await?;
            let rows = sqlx::query(
                "SELECT f.seq, f.at_ms, p.op, p.changes FROM signal_feed f \
                 JOIN signal_feed_part p ON p.batch = f.batch \
                 WHERE f.seq IN (SELECT seq FROM signal_feed WHERE seq >= $1 AND seq < $2 \
                 ORDER BY seq LIMIT $3) ORDER BY f.seq, p.part",
            )
            .bind(i64::try_from(from).unwrap_or(i64::MAX))
            .bind(i64::try_from(size).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(self.reader())
            .await?;
            let mut changes: Vec<FeedChange> = Vec::new();
            for row in &rows {
                let seq = count_from_db(row.try_get(0)?)?;
                if changes.last().is_none_or(|c| c.seq != seq) {
                    changes.push(FeedChange::empty(seq, row.try_get(1)?));
                }
                let bytes: Vec<u8> = row.try_get(3)?;
                let change = changes.last_mut().expect("pushed above");
                decode_part(change, row.try_get(2)?, &bytes)?;
            }
            let next = if changes.len() >= limit as usize {
                changes.last().map_or(size, |c| c.seq + 1)
            } else {
                size.max(from)
            };
            Ok(FeedPage {
                changes,
                next,
                pruned_below: count_from_db(below)?,
                head: size,
            })
        }

        async fn feed_prune(&self, before_ms: i64) -> Result<u64, StoreError> {
            let mut tx = self.begin_write().await?;
            let cut: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM signal_feed WHERE at_ms < $1",
            )
            .bind(before_ms)
            .fetch_one(&mut *tx)
            .await?;
            if cut == 0 {
                tx.rollback().await?;
                return Ok(0);
            }
            sqlx::query(
                "DELETE FROM signal_feed_part WHERE batch IN \
                 (SELECT batch FROM signal_feed WHERE seq < $1)",
            )
            .bind(cut)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query("DELETE FROM signal_feed WHERE seq < $1")
                .bind(cut)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE signal_feed_pruned SET below = $1 WHERE id = 0 AND below < $1")
                .bind(cut)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(D::rows_affected(&done))
        }

        async fn purge_expired(
            &self,
            now: i64,
            audit_for: PurgeAudit<'_>,
        ) -> Result<Vec<StoredSignal>, StoreError> {
            let mut tx = self.begin_write().await?;
            let rows = sqlx::query(&format!(
                "DELETE FROM signals WHERE expires_at <= $1 RETURNING {}",
                D::SIGNAL_COLUMNS
            ))
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                tx.rollback().await?;
                return Ok(Vec::new());
            }
            let purged = rows
                .iter()
                .map(D::signal_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let removed = encode_removed(&purged);
            let change =
                append_with_change::<D>(&mut tx, FeedOp::Removed, &removed, &audit_for(&purged))
                    .await?;
            tx.commit().await?;
            self.own_change(change);
            Ok(purged)
        }
    }
}

/// A signal from a row of [`SignalDialect::SIGNAL_COLUMNS`] (`gemeente` and `wijk` last, in
/// columns 11 and 12, as migration 0010 added them) but its `purposes` (column 8),
/// which each backend stores its own way (`TEXT[]` on PostgreSQL, a JSON list on SQLite) and
/// decodes into `purposes`.
pub(crate) fn signal_with_purposes<R>(
    row: &R,
    purposes: Vec<String>,
) -> Result<StoredSignal, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r [u8]: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(StoredSignal {
        id: id_from_db(row.try_get(0)?)?,
        org: row.try_get(1)?,
        kind: kind_from_db(row.try_get(2)?)?,
        key_version: key_version_from_db(row.try_get(3)?)?,
        stored: stored_from_db(row.try_get(4)?)?,
        code: row.try_get(5)?,
        observed: row.try_get(6)?,
        district: row.try_get(7)?,
        purposes,
        expires_at: row.try_get(9)?,
        uploaded_at: row.try_get(10)?,
        gemeente: row.try_get(11)?,
        wijk: row.try_get(12)?,
    })
}
