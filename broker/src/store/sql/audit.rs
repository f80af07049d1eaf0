//! [`AuditStore`] on either backend: appends through the group commit, the log's reads, the
//! tree's catch-up and the erasure's transaction written once; the erasure's deletes are each
//! backend's own ([`AuditDialect`], in its `audit.rs`), because they batch rows the way each
//! database takes them fastest, and the tree's statements are the connection's ([`TreeConn`]).

use std::collections::HashMap;
use std::future::Future;

use kruispunt_sdk::transparency::{Hash, NodeId};
use sqlx::{Database, Row};

use super::Dialect;
use crate::audit::entry::AuditEntry;
use crate::store::audit_tree::{LeafRow, TreeConn, catch_up, erasable_before, hash_from_db};
use crate::store::group_commit::{Job, appended};
use crate::store::{AuditStore, EraseAudit, StoreError, entry_from_db, seq_from_db, seq_to_db};

/// A backend's own part of the audit storage (in its `audit.rs`): the erasure's deletes, which
/// each database batches its own way (`= ANY` arrays on PostgreSQL, chunks of bound values on
/// SQLite). The tree's reads and catch-up go through the connection's [`TreeConn`].
pub(crate) trait AuditDialect: Dialect {
    /// In the caller's transaction, deletes the entries `chosen` (by
    /// [`AuditStore::audit_erase_before`]) that are still there and are not erasure records,
    /// unsalts their leaves and drops their pseudonym rows; returns their sequence numbers,
    /// sorted (empty: nothing erased).
    fn erase_rows<'c>(
        conn: &'c mut <Self::DB as Database>::Connection,
        chosen: &'c [i64],
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send + 'c;
}

shared_impl! {
    impl AuditStore for AuditDialect where {
        <D::DB as Database>::Connection: TreeConn,
        for<'q> bool: ::sqlx::Decode<'q, D::DB>,
        for<'q> Option<Vec<u8>>: ::sqlx::Decode<'q, D::DB>,
    } {
        async fn append_audit(&self, entries: &[AuditEntry]) -> Result<Vec<u64>, StoreError> {
            if entries.is_empty() {
                return Ok(Vec::new());
            }
            appended(self.commits().submit(Job::append(entries)?).await?)
        }

        async fn audit_entries(
            &self,
            start: u64,
            end: u64,
        ) -> Result<Vec<(u64, AuditEntry)>, StoreError> {
            self.audit_leaves(start, end)
                .await?
                .into_iter()
                .map(|(seq, bytes)| Ok((seq, entry_from_db(seq, &bytes)?)))
                .collect()
        }

        async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
            let rows = sqlx::query(
                "SELECT seq, entry FROM audit_log WHERE seq >= $1 AND seq < $2 ORDER BY seq",
            )
            .bind(seq_to_db(start))
            .bind(seq_to_db(end))
            .fetch_all(self.reader())
            .await?;
            self.read_barrier().await?;
            rows.iter()
                .map(|row| Ok((seq_from_db(row.try_get(0)?)?, row.try_get(1)?)))
                .collect()
        }

        async fn audit_len(&self) -> Result<u64, StoreError> {
            let size: i64 = sqlx::query_scalar("SELECT size FROM audit_head WHERE id = 0")
                .fetch_one(self.reader())
                .await?;
            self.read_barrier().await?;
            seq_from_db(size)
        }

        async fn audit_tree_size(&self) -> Result<u64, StoreError> {
            let size = self.reader().acquire().await?.tree_size().await?;
            self.read_barrier().await?;
            Ok(size)
        }

        /// Catches the tree up with entries a follower had not committed to before migration
        /// 0007 (nothing to do once `audit_head.frontier` is set). The counter's row is read
        /// under the write lock ([`Dialect::LOCK_ROWS`]), which keeps every appender, on every
        /// broker, out meanwhile.
        async fn audit_tree_catch_up(&self) -> Result<(), StoreError> {
            let behind: bool =
                sqlx::query_scalar("SELECT frontier IS NULL FROM audit_head WHERE id = 0")
                    .fetch_one(self.reader())
                    .await?;
            if !behind {
                return Ok(());
            }
            let mut tx = self.begin_write().await?;
            let (size, border): (i64, Option<Vec<u8>>) = sqlx::query_as(&format!(
                "SELECT size, frontier FROM audit_head WHERE id = 0{}",
                D::LOCK_ROWS
            ))
            .fetch_one(&mut *tx)
            .await?;
            if border.is_some() {
                return Ok(()); // another broker caught up meanwhile
            }
            let frontier = catch_up(&mut *tx, seq_from_db(size)?).await?;
            tx.store_border(&frontier).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn audit_erase_before(
            &self,
            before_ms: i64,
            audit_for: EraseAudit<'_>,
        ) -> Result<Option<(Vec<u64>, u64)>, StoreError> {
            // Chosen by the time committed in each entry, outside the write transaction (a long
            // read); the backend's DELETE takes only rows still there, so a concurrent erasure
            // erases nothing twice.
            let size = self.audit_tree_size().await?;
            let chosen = erasable_before(size, before_ms, |start, end| {
                self.audit_tree_leaves(start, end)
            })
            .await?;
            if chosen.is_empty() {
                return Ok(None);
            }
            let mut tx = self.begin_write().await?;
            let seqs = D::erase_rows(&mut tx, &chosen).await?;
            if seqs.is_empty() {
                return Ok(None);
            }
            let erased = seqs
                .into_iter()
                .map(seq_from_db)
                .collect::<Result<Vec<_>, _>>()?;
            let seq = D::append(&mut tx, &[&audit_for(&erased)]).await?[0];
            tx.commit().await?;
            Ok(Some((erased, seq)))
        }

        async fn audit_tree_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
            let nodes = self.reader().acquire().await?.nodes_on(ids).await?;
            self.read_barrier().await?;
            Ok(nodes)
        }

        async fn audit_tree_leaves(&self, start: u64, end: u64) -> Result<Vec<LeafRow>, StoreError> {
            let rows = sqlx::query(
                "SELECT l.seq, l.leaf, l.salt, a.entry FROM audit_leaf l \
                 LEFT JOIN audit_log a ON a.seq = l.seq \
                 WHERE l.seq >= $1 AND l.seq < $2 ORDER BY l.seq",
            )
            .bind(seq_to_db(start))
            .bind(seq_to_db(end))
            .fetch_all(self.reader())
            .await?;
            self.read_barrier().await?;
            rows.iter().map(leaf_row).collect()
        }

        async fn audit_tree_naming(
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
            .fetch_all(self.reader())
            .await?;
            self.read_barrier().await?;
            rows.iter().map(leaf_row).collect()
        }
    }
}

row_decoder! {
    /// A row `(seq, leaf, salt, entry)` of the tree reads.
    fn leaf_row(row) -> LeafRow {
        let leaf: Vec<u8> = row.try_get(1)?;
        let salt: Option<Vec<u8>> = row.try_get(2)?;
        Ok(LeafRow {
            seq: seq_from_db(row.try_get(0)?)?,
            leaf: hash_from_db("audit leaf", &leaf)?,
            salt: salt.map(|s| hash_from_db("audit salt", &s)).transpose()?,
            entry: row.try_get(3)?,
        })
    }
}
