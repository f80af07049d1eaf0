//! The audit log on SQLite: its own half of the erasure (deletes in chunks of bound values);
//! the rest of the audit storage is shared ([`crate::store::sql::audit`]), the tree's
//! statements are in [`super::audit_tree`].

use super::SqliteStore;
use super::audit_tree::ROWS_PER_INSERT;
use crate::store::StoreError;
use crate::store::sql::AuditDialect;
use sqlx::SqliteConnection;

impl AuditDialect for SqliteStore {
    /// [`AuditDialect::erase_rows`] in chunks of at most [`ROWS_PER_INSERT`] bound values.
    async fn erase_rows<'c>(
        conn: &'c mut SqliteConnection,
        chosen: &'c [i64],
    ) -> Result<Vec<i64>, StoreError> {
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
                .fetch_all(&mut *conn)
                .await?;
            seqs.extend(deleted);
        }
        if seqs.is_empty() {
            return Ok(seqs);
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
                q.execute(&mut *conn).await?;
            }
        }
        Ok(seqs)
    }
}
