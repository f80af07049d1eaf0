//! The audit log's Merkle tree on PostgreSQL (see [`crate::store::audit_tree`]).

use std::collections::HashMap;

use kruispunt_sdk::transparency::{Hash, NodeId, leaf_hash};
use sqlx::Row as _;

use super::PostgresStore;
use crate::store::audit_tree::{LeafRow, TreeLeaf, hash_from_db, node_from_key, node_key};
use crate::store::{StoreError, seq_from_db, seq_to_db};

const TREE_SIZE: &str = "SELECT COALESCE(MAX(seq) + 1, 0)::BIGINT FROM audit_leaf";

/// Serialises tree appenders across brokers sharing the database (an arbitrary constant).
const TREE_LOCK: i64 = 0x6b70_6175_6474_7265; // "kpaudtre"

impl PostgresStore {
    pub(super) async fn tree_size(&self) -> Result<u64, StoreError> {
        let size: i64 = sqlx::query_scalar(TREE_SIZE).fetch_one(&self.pool).await?;
        seq_from_db(size)
    }

    pub(super) async fn tree_append(
        &self,
        start: u64,
        leaves: &[TreeLeaf],
        nodes: &[(NodeId, Hash)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(TREE_LOCK)
            .execute(&mut *tx)
            .await?;
        let size: i64 = sqlx::query_scalar(TREE_SIZE).fetch_one(&mut *tx).await?;
        if seq_from_db(size)? != start {
            return Err(StoreError::Conflict(
                "the audit tree grew meanwhile (another broker?)".into(),
            ));
        }
        let seqs: Vec<i64> = leaves.iter().map(|l| seq_to_db(l.seq)).collect();
        let leaf: Vec<Vec<u8>> = leaves.iter().map(|l| l.leaf.to_vec()).collect();
        let salt: Vec<Vec<u8>> = leaves.iter().map(|l| l.salt.to_vec()).collect();
        sqlx::query(
            "INSERT INTO audit_leaf (seq, leaf, salt) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::BYTEA[])",
        )
        .bind(seqs)
        .bind(leaf)
        .bind(salt)
        .execute(&mut *tx)
        .await?;
        let (named, named_seq): (Vec<Vec<u8>>, Vec<i64>) = leaves
            .iter()
            .flat_map(|l| {
                l.pseudonyms
                    .iter()
                    .map(move |p| (p.to_vec(), seq_to_db(l.seq)))
            })
            .unzip();
        // An entry may name a pseudonym twice; one row is enough.
        sqlx::query(
            "INSERT INTO audit_pseudonym (pseudonym, seq) \
             SELECT * FROM UNNEST($1::BYTEA[], $2::BIGINT[]) ON CONFLICT DO NOTHING",
        )
        .bind(named)
        .bind(named_seq)
        .execute(&mut *tx)
        .await?;
        let keys: Vec<i64> = nodes.iter().map(|(id, _)| node_key(*id)).collect();
        let hashes: Vec<Vec<u8>> = nodes.iter().map(|(_, h)| h.to_vec()).collect();
        sqlx::query(
            "INSERT INTO audit_node (node, hash) SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[])",
        )
        .bind(keys)
        .bind(hashes)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn tree_nodes(
        &self,
        ids: &[NodeId],
    ) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        let leaves: Vec<i64> = ids
            .iter()
            .filter(|id| id.level == 0)
            .map(|id| seq_to_db(id.index))
            .collect();
        let interior: Vec<i64> = ids
            .iter()
            .filter(|id| id.level > 0)
            .map(|id| node_key(*id))
            .collect();
        if !leaves.is_empty() {
            for row in sqlx::query("SELECT seq, leaf FROM audit_leaf WHERE seq = ANY($1)")
                .bind(leaves)
                .fetch_all(&self.pool)
                .await?
            {
                let seq = seq_from_db(row.try_get(0)?)?;
                let leaf = hash_from_db("audit leaf", row.try_get::<&[u8], _>(1)?)?;
                out.insert(NodeId::leaf(seq), leaf_hash(&leaf));
            }
        }
        if !interior.is_empty() {
            for row in sqlx::query("SELECT node, hash FROM audit_node WHERE node = ANY($1)")
                .bind(interior)
                .fetch_all(&self.pool)
                .await?
            {
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
             WHERE l.seq >= $1 AND l.seq < $2 ORDER BY l.seq",
        )
        .bind(seq_to_db(start))
        .bind(seq_to_db(end))
        .fetch_all(&self.pool)
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
             WHERE p.pseudonym = $1 ORDER BY p.seq LIMIT $2",
        )
        .bind(&pseudonym[..])
        .bind(seq_to_db(limit))
        .fetch_all(&self.pool)
        .await?;
        leaf_rows(&rows)
    }
}

fn leaf_rows(rows: &[sqlx::postgres::PgRow]) -> Result<Vec<LeafRow>, StoreError> {
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
