//! The audit log's Merkle tree on SQLite (see [`crate::store::audit_tree`]).

use std::collections::HashMap;

use kruispunt_sdk::transparency::{Hash, NodeId, leaf_hash};
use sqlx::Row as _;

use super::SqliteStore;
use crate::store::audit_tree::{LeafRow, TreeLeaf, hash_from_db, node_from_key, node_key};
use crate::store::{StoreError, seq_from_db, seq_to_db};

/// Rows per multi-row INSERT (3 parameters each, well under SQLite's 32 766).
const ROWS_PER_INSERT: usize = 500;

const TREE_SIZE: &str = "SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_leaf";

impl SqliteStore {
    pub(super) async fn tree_size(&self) -> Result<u64, StoreError> {
        let size: i64 = sqlx::query_scalar(TREE_SIZE)
            .fetch_one(&self.reader)
            .await?;
        seq_from_db(size)
    }

    pub(super) async fn tree_append(
        &self,
        start: u64,
        leaves: &[TreeLeaf],
        nodes: &[(NodeId, Hash)],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let size: i64 = sqlx::query_scalar(TREE_SIZE).fetch_one(&mut *tx).await?;
        if seq_from_db(size)? != start {
            return Err(StoreError::Conflict(
                "the audit tree grew meanwhile (another broker?)".into(),
            ));
        }
        for chunk in leaves.chunks(ROWS_PER_INSERT) {
            let values = vec!["(?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!("INSERT INTO audit_leaf (seq, leaf, salt) VALUES {values}");
            let mut q = sqlx::query(&sql);
            for l in chunk {
                q = q.bind(seq_to_db(l.seq)).bind(&l.leaf[..]).bind(&l.salt[..]);
            }
            q.execute(&mut *tx).await?;
        }
        let named: Vec<(&[u8; 32], u64)> = leaves
            .iter()
            .flat_map(|l| l.pseudonyms.iter().map(move |p| (p, l.seq)))
            .collect();
        for chunk in named.chunks(ROWS_PER_INSERT) {
            let values = vec!["(?, ?)"; chunk.len()].join(", ");
            // An entry may name a pseudonym twice; one row is enough.
            let sql = format!(
                "INSERT INTO audit_pseudonym (pseudonym, seq) VALUES {values} ON CONFLICT DO NOTHING"
            );
            let mut q = sqlx::query(&sql);
            for (p, seq) in chunk {
                q = q.bind(&p[..]).bind(seq_to_db(*seq));
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in nodes.chunks(ROWS_PER_INSERT) {
            let values = vec!["(?, ?)"; chunk.len()].join(", ");
            let sql = format!("INSERT INTO audit_node (node, hash) VALUES {values}");
            let mut q = sqlx::query(&sql);
            for (id, h) in chunk {
                q = q.bind(node_key(*id)).bind(&h[..]);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn tree_nodes(
        &self,
        ids: &[NodeId],
    ) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        let (leaves, interior): (Vec<NodeId>, Vec<NodeId>) =
            ids.iter().partition(|id| id.level == 0);
        for chunk in leaves.chunks(ROWS_PER_INSERT) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("SELECT seq, leaf FROM audit_leaf WHERE seq IN ({marks})");
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(seq_to_db(id.index));
            }
            for row in q.fetch_all(&self.reader).await? {
                let seq = seq_from_db(row.try_get(0)?)?;
                let leaf = hash_from_db("audit leaf", row.try_get::<&[u8], _>(1)?)?;
                out.insert(NodeId::leaf(seq), leaf_hash(&leaf));
            }
        }
        for chunk in interior.chunks(ROWS_PER_INSERT) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("SELECT node, hash FROM audit_node WHERE node IN ({marks})");
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(node_key(*id));
            }
            for row in q.fetch_all(&self.reader).await? {
                let id = node_from_key(row.try_get(0)?)?;
                out.insert(
                    id,
                    hash_from_db("audit tree node", row.try_get::<&[u8], _>(1)?)?,
                );
            }
        }
        Ok(out)
    }

    pub(super) async fn tree_leaves(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<LeafRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.seq, l.leaf, l.salt, a.entry FROM audit_leaf l \
             LEFT JOIN audit_log a ON a.seq = l.seq \
             WHERE l.seq >= ?1 AND l.seq < ?2 ORDER BY l.seq",
        )
        .bind(seq_to_db(start))
        .bind(seq_to_db(end))
        .fetch_all(&self.reader)
        .await?;
        leaf_rows(&rows)
    }

    pub(super) async fn tree_naming(
        &self,
        pseudonym: &[u8; 32],
        limit: u64,
    ) -> Result<Vec<LeafRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.seq, l.leaf, l.salt, a.entry FROM audit_pseudonym p \
             JOIN audit_leaf l ON l.seq = p.seq \
             LEFT JOIN audit_log a ON a.seq = p.seq \
             WHERE p.pseudonym = ?1 ORDER BY p.seq LIMIT ?2",
        )
        .bind(&pseudonym[..])
        .bind(seq_to_db(limit))
        .fetch_all(&self.reader)
        .await?;
        leaf_rows(&rows)
    }
}

fn leaf_rows(rows: &[sqlx::sqlite::SqliteRow]) -> Result<Vec<LeafRow>, StoreError> {
    rows.iter()
        .map(|row| {
            let salt: Option<&[u8]> = row.try_get(2)?;
            Ok(LeafRow {
                seq: seq_from_db(row.try_get(0)?)?,
                leaf: hash_from_db("audit leaf", row.try_get::<&[u8], _>(1)?)?,
                salt: salt.map(|s| hash_from_db("audit salt", s)).transpose()?,
                entry: row.try_get(3)?,
            })
        })
        .collect()
}
