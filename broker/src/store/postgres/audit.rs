//! The audit log on PostgreSQL: its own half of the tree's upkeep (catch-up under the
//! counter's row lock, erasure by `= ANY` arrays, node look-ups); appends and reads are shared
//! ([`crate::store::sql::audit`]), the tree's growth is in [`super::audit_tree`].

use super::audit_tree::TREE_SIZE;
use super::{PostgresStore, append};
use crate::store::audit_tree::{TreeConn, catch_up};
use crate::store::sql::AuditDialect;
use crate::store::{EraseAudit, StoreError, seq_from_db};
use kruispunt_sdk::transparency::{Hash, NodeId};
use std::collections::HashMap;

impl AuditDialect for PostgresStore {
    async fn tree_size(&self) -> Result<u64, StoreError> {
        let size: i64 = sqlx::query_scalar(TREE_SIZE).fetch_one(&self.pool).await?;
        seq_from_db(size)
    }

    /// Catches the tree up with entries a follower had not committed to before migration
    /// 0007 (nothing to do once `audit_head.frontier` is set). The counter's row lock keeps
    /// every appender, on every broker, out meanwhile.
    async fn tree_catch_up(&self) -> Result<(), StoreError> {
        let behind: bool =
            sqlx::query_scalar("SELECT frontier IS NULL FROM audit_head WHERE id = 0")
                .fetch_one(&self.pool)
                .await?;
        if !behind {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let (size, border): (i64, Option<Vec<u8>>) =
            sqlx::query_as("SELECT size, frontier FROM audit_head WHERE id = 0 FOR UPDATE")
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

    async fn tree_erase(
        &self,
        chosen: &[i64],
        audit_for: EraseAudit<'_>,
    ) -> Result<Option<(Vec<u64>, u64)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut seqs: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM audit_log WHERE seq = ANY($1) AND action <> $2 RETURNING seq",
        )
        .bind(chosen)
        .bind(kruispunt_sdk::transparency::ERASE_ACTION)
        .fetch_all(&mut *tx)
        .await?;
        if seqs.is_empty() {
            return Ok(None);
        }
        seqs.sort_unstable();
        sqlx::query(
            "WITH p AS (DELETE FROM audit_pseudonym WHERE seq = ANY($1)) \
             UPDATE audit_leaf SET salt = NULL WHERE seq = ANY($1)",
        )
        .bind(&seqs)
        .execute(&mut *tx)
        .await?;
        let erased = seqs
            .into_iter()
            .map(seq_from_db)
            .collect::<Result<Vec<_>, _>>()?;
        let seq = append(&mut tx, &[&audit_for(&erased)]).await?[0];
        tx.commit().await?;
        Ok(Some((erased, seq)))
    }

    async fn tree_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        conn.nodes_on(ids).await
    }
}
