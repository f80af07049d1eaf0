//! The audit log on SQLite: its own half of the tree's upkeep (catch-up, erasure in
//! chunks of bound values, node look-ups); appends and reads are shared
//! ([`crate::store::sql::audit`]), the tree's growth is in [`super::audit_tree`].

use super::audit_tree::{ROWS_PER_INSERT, TREE_SIZE};
use super::{BEGIN_WRITE, SqliteStore, append};
use crate::store::audit_tree::{TreeConn, catch_up};
use crate::store::sql::AuditDialect;
use crate::store::{EraseAudit, StoreError, seq_from_db};
use kruispunt_sdk::transparency::{Hash, NodeId};
use std::collections::HashMap;

impl AuditDialect for SqliteStore {
    async fn tree_size(&self) -> Result<u64, StoreError> {
        let size: i64 = sqlx::query_scalar(TREE_SIZE)
            .fetch_one(&self.reader)
            .await?;
        seq_from_db(size)
    }

    /// Catches the tree up with entries a follower had not committed to before migration
    /// 0007 (nothing to do once `audit_head.frontier` is set).
    async fn tree_catch_up(&self) -> Result<(), StoreError> {
        let behind: bool =
            sqlx::query_scalar("SELECT frontier IS NULL FROM audit_head WHERE id = 0")
                .fetch_one(&self.reader)
                .await?;
        if !behind {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        let (size, border): (i64, Option<Vec<u8>>) =
            sqlx::query_as("SELECT size, frontier FROM audit_head WHERE id = 0")
                .fetch_one(&mut *tx)
                .await?;
        if border.is_some() {
            return Ok(());
        }
        let frontier = catch_up(&mut *tx, seq_from_db(size)?).await?;
        tx.store_border(&frontier).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tree_erase(
        &self,
        chosen: &[i64],
        audit_for: EraseAudit<'_>,
    ) -> Result<Option<(Vec<u64>, u64)>, StoreError> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let mut seqs: Vec<i64> = Vec::with_capacity(chosen.len());
        for chunk in chosen.chunks(ROWS_PER_INSERT) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "DELETE FROM audit_log WHERE seq IN ({marks}) AND action <> ? RETURNING seq"
            );
            let mut q = sqlx::query_scalar(&sql);
            for seq in chunk {
                q = q.bind(seq);
            }
            let deleted: Vec<i64> = q
                .bind(kruispunt_sdk::transparency::ERASE_ACTION)
                .fetch_all(&mut *tx)
                .await?;
            seqs.extend(deleted);
        }
        if seqs.is_empty() {
            return Ok(None);
        }
        seqs.sort_unstable();
        for chunk in seqs.chunks(ROWS_PER_INSERT) {
            let marks = vec!["?"; chunk.len()].join(", ");
            for sql in [
                format!("UPDATE audit_leaf SET salt = NULL WHERE seq IN ({marks})"),
                format!("DELETE FROM audit_pseudonym WHERE seq IN ({marks})"),
            ] {
                let mut q = sqlx::query(&sql);
                for seq in chunk {
                    q = q.bind(seq);
                }
                q.execute(&mut *tx).await?;
            }
        }
        let erased = seqs
            .into_iter()
            .map(seq_from_db)
            .collect::<Result<Vec<_>, _>>()?;
        let seq = append(&mut tx, &[&audit_for(&erased)]).await?[0];
        tx.commit().await?;
        Ok(Some((erased, seq)))
    }

    async fn tree_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        conn.nodes_on(ids).await
    }
}
