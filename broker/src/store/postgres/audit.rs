//! The audit log on PostgreSQL: its own half of the erasure (deletes by `= ANY` arrays); the
//! rest of the audit storage is shared ([`crate::store::sql::audit`]), the tree's statements are
//! in [`super::audit_tree`].

use super::PostgresStore;
use crate::store::StoreError;
use crate::store::sql::AuditDialect;
use sqlx::PgConnection;

impl AuditDialect for PostgresStore {
    /// [`AuditDialect::erase_rows`]: one statement per table, the sequence numbers as one array.
    async fn erase_rows<'c>(
        conn: &'c mut PgConnection,
        chosen: &'c [i64],
    ) -> Result<Vec<i64>, StoreError> {
        let mut seqs: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM audit_log WHERE seq = ANY($1) AND action <> $2 RETURNING seq",
        )
        .bind(chosen)
        .bind(kruispunt_sdk::transparency::ERASE_ACTION)
        .fetch_all(&mut *conn)
        .await?;
        if seqs.is_empty() {
            return Ok(seqs);
        }
        seqs.sort_unstable();
        sqlx::query(
            "WITH p AS (DELETE FROM audit_pseudonym WHERE seq = ANY($1)) \
             UPDATE audit_leaf SET salt = NULL WHERE seq = ANY($1)",
        )
        .bind(&seqs)
        .execute(&mut *conn)
        .await?;
        Ok(seqs)
    }
}
