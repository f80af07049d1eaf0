//! The audit log's reads on either backend: the same statements over the backend's reader
//! pool ([`Reads`]). Appends, erasure and the tree's writes stay per backend (they batch rows
//! the way each database takes them fastest).

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::audit::entry::AuditEntry;
use crate::store::audit_tree::{LeafRow, hash_from_db};
use crate::store::{StoreError, entry_from_db, seq_from_db, seq_to_db};

/// The shared audit reads, on a backend's reader pool.
pub(crate) struct Reads<'a, DB: Database>(pub(crate) &'a Pool<DB>);

impl<DB> Reads<'_, DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Decode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
{
    /// [`AuditStore::audit_entries`](crate::store::AuditStore::audit_entries).
    pub(crate) async fn entries(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, AuditEntry)>, StoreError> {
        self.leaves(start, end)
            .await?
            .into_iter()
            .map(|(seq, bytes)| Ok((seq, entry_from_db(seq, &bytes)?)))
            .collect()
    }

    /// [`AuditStore::audit_leaves`](crate::store::AuditStore::audit_leaves).
    pub(crate) async fn leaves(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, entry FROM audit_log WHERE seq >= $1 AND seq < $2 ORDER BY seq",
        )
        .bind(seq_to_db(start))
        .bind(seq_to_db(end))
        .fetch_all(self.0)
        .await?;
        rows.iter()
            .map(|row| Ok((seq_from_db(row.try_get(0)?)?, row.try_get(1)?)))
            .collect()
    }

    /// [`AuditStore::audit_len`](crate::store::AuditStore::audit_len).
    pub(crate) async fn len(&self) -> Result<u64, StoreError> {
        let size: i64 = sqlx::query_scalar("SELECT size FROM audit_head WHERE id = 0")
            .fetch_one(self.0)
            .await?;
        seq_from_db(size)
    }

    /// [`AuditStore::audit_tree_leaves`](crate::store::AuditStore::audit_tree_leaves).
    pub(crate) async fn tree_leaves(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<LeafRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.seq, l.leaf, l.salt, a.entry FROM audit_leaf l \
             LEFT JOIN audit_log a ON a.seq = l.seq \
             WHERE l.seq >= $1 AND l.seq < $2 ORDER BY l.seq",
        )
        .bind(seq_to_db(start))
        .bind(seq_to_db(end))
        .fetch_all(self.0)
        .await?;
        rows.iter().map(leaf_row).collect()
    }

    /// [`AuditStore::audit_tree_naming`](crate::store::AuditStore::audit_tree_naming).
    pub(crate) async fn tree_naming(
        &self,
        pseudonym: &[u8; 32],
        limit: u64,
    ) -> Result<Vec<LeafRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.seq, l.leaf, l.salt, a.entry FROM audit_pseudonym p \
             JOIN audit_leaf l ON l.seq = p.seq \
             LEFT JOIN audit_log a ON a.seq = p.seq \
             WHERE p.pseudonym = $1 ORDER BY p.seq LIMIT $2",
        )
        .bind(&pseudonym[..])
        .bind(seq_to_db(limit))
        .fetch_all(self.0)
        .await?;
        rows.iter().map(leaf_row).collect()
    }
}

/// A row `(seq, leaf, salt, entry)` of the tree reads.
fn leaf_row<R>(row: &R) -> Result<LeafRow, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let leaf: Vec<u8> = row.try_get(1)?;
    let salt: Option<Vec<u8>> = row.try_get(2)?;
    Ok(LeafRow {
        seq: seq_from_db(row.try_get(0)?)?,
        leaf: hash_from_db("audit leaf", &leaf)?,
        salt: salt.map(|s| hash_from_db("audit salt", &s)).transpose()?,
        entry: row.try_get(3)?,
    })
}
