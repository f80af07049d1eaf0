//! Writing the signal feed ([`crate::store::feed`]) inside a writer's transaction, once for both
//! backends: [`write_parts`] before the audit append (no lock held yet), [`commit_change`] right
//! after it (under the audit counter's lock, one small row and, on PostgreSQL, the `NOTIFY`).

use ring::rand::SecureRandom;
use sqlx::{Database, Executor, IntoArguments};

use super::Dialect;
use crate::audit::entry::AuditEntry;
use crate::store::StoreError;
use crate::store::feed::FeedOp;

/// A change whose parts are written and whose `signal_feed` row waits for its sequence number.
pub(crate) struct PendingChange {
    batch: [u8; 16],
}

/// Writes a change's parts in the caller's transaction under a fresh batch token; `None` when
/// there is nothing to record (no signal changed).
pub(crate) async fn write_parts<DB>(
    conn: &mut DB::Connection,
    op: FeedOp,
    parts: &[Vec<u8>],
) -> Result<Option<PendingChange>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if parts.is_empty() {
        return Ok(None);
    }
    let mut batch = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut batch)
        .map_err(|_| StoreError::Config("no system randomness for the signal feed".into()))?;
    for (i, changes) in parts.iter().enumerate() {
        sqlx::query::<DB>(
            "INSERT INTO signal_feed_part (batch, part, op, changes) VALUES ($1, $2, $3, $4)",
        )
        .bind(&batch[..])
        .bind(i64::try_from(i).unwrap_or(i64::MAX))
        .bind(op.code())
        .bind(changes.as_slice())
        .execute(&mut *conn)
        .await?;
    }
    Ok(Some(PendingChange { batch }))
}

/// Writes the change's `signal_feed` row under `seq`, the audit entry appended in the same
/// transaction, and runs `notify` (the dialect's [`Dialect::FEED_NOTIFY`]; empty: none).
pub(crate) async fn commit_change<DB>(
    conn: &mut DB::Connection,
    pending: Option<PendingChange>,
    seq: u64,
    notify: &str,
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let Some(pending) = pending else {
        return Ok(());
    };
    sqlx::query::<DB>("INSERT INTO signal_feed (seq, at_ms, batch) VALUES ($1, $2, $3)")
        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .bind(crate::civil::now_millis())
        .bind(&pending.batch[..])
        .execute(&mut *conn)
        .await?;
    if !notify.is_empty() {
        sqlx::query::<DB>(notify).execute(&mut *conn).await?;
    }
    Ok(())
}

/// [`write_parts`], the audit append of `audit` and [`commit_change`] in the caller's
/// transaction; returns the change's sequence number if one was written (call
/// [`Dialect::own_change`] with it once the commit returned).
pub(crate) async fn append_with_change<D>(
    conn: &mut <D::DB as Database>::Connection,
    op: FeedOp,
    parts: &[Vec<u8>],
    audit: &AuditEntry,
) -> Result<Option<u64>, StoreError>
where
    D: Dialect,
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'q> <D::DB as Database>::Arguments<'q>: IntoArguments<'q, D::DB>,
    for<'q> i64: sqlx::Encode<'q, D::DB> + sqlx::Type<D::DB>,
    for<'q> &'q [u8]: sqlx::Encode<'q, D::DB> + sqlx::Type<D::DB>,
{
    let pending = write_parts::<D::DB>(&mut *conn, op, parts).await?;
    let written = pending.is_some();
    let seq = D::append(&mut *conn, &[audit]).await?[0];
    commit_change::<D::DB>(&mut *conn, pending, seq, D::FEED_NOTIFY).await?;
    Ok(written.then_some(seq))
}
