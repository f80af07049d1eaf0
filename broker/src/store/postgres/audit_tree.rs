//! The audit log's Merkle tree on PostgreSQL (see [`crate::store::audit_tree`]).

use std::collections::HashMap;

use kruispunt_sdk::transparency::{Frontier, Hash, NodeId, leaf_hash};
use sqlx::Row as _;
use sqlx::postgres::PgConnection;

use crate::store::audit_tree::{
    NewLeaf, TreeConn, frontier_to_db, hash_from_db, node_from_key, node_key,
    shared_tree_statements,
};
use crate::store::{StoreError, seq_from_db, seq_to_db};

impl TreeConn for PgConnection {
    shared_tree_statements!();

    async fn write_tree(
        &mut self,
        leaves: &[NewLeaf<'_>],
        nodes: &[(NodeId, Hash)],
        border: &Frontier,
    ) -> Result<(), StoreError> {
        write_tree(self, leaves, nodes, border).await
    }

    async fn nodes_on(&mut self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
        nodes_on(self, ids).await
    }
}

/// Inserts leaves, salts, pseudonym index rows and interior nodes and stores `border` (the
/// frontier after them) — one statement, one round trip, whatever the number of rows.
async fn write_tree(
    conn: &mut PgConnection,
    leaves: &[NewLeaf<'_>],
    nodes: &[(NodeId, Hash)],
    border: &Frontier,
) -> Result<(), StoreError> {
    let seqs: Vec<i64> = leaves.iter().map(|l| seq_to_db(l.seq)).collect();
    let leaf: Vec<&[u8]> = leaves.iter().map(|l| &l.leaf[..]).collect();
    let salt: Vec<&[u8]> = leaves.iter().map(|l| &l.salt[..]).collect();
    let (named, named_seq): (Vec<&[u8]>, Vec<i64>) = leaves
        .iter()
        .flat_map(|l| l.pseudonyms.iter().map(move |p| (&p[..], seq_to_db(l.seq))))
        .unzip();
    let keys: Vec<i64> = nodes.iter().map(|(id, _)| node_key(*id)).collect();
    let hashes: Vec<&[u8]> = nodes.iter().map(|(_, h)| &h[..]).collect();
    // An entry may name a pseudonym twice; one row is enough (ON CONFLICT DO NOTHING).
    sqlx::query(
        "WITH l AS (INSERT INTO audit_leaf (seq, leaf, salt) \
                    SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::BYTEA[])), \
              p AS (INSERT INTO audit_pseudonym (pseudonym, seq) \
                    SELECT * FROM UNNEST($4::BYTEA[], $5::BIGINT[]) ON CONFLICT DO NOTHING), \
              n AS (INSERT INTO audit_node (node, hash) \
                    SELECT * FROM UNNEST($6::BIGINT[], $7::BYTEA[])) \
         UPDATE audit_head SET frontier = $8 WHERE id = 0",
    )
    .bind(seqs)
    .bind(leaf)
    .bind(salt)
    .bind(named)
    .bind(named_seq)
    .bind(keys)
    .bind(hashes)
    .bind(frontier_to_db(border))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The hashes of the given tree nodes that exist (level 0: the leaf hashes).
async fn nodes_on(
    conn: &mut PgConnection,
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
            .fetch_all(&mut *conn)
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
            .fetch_all(&mut *conn)
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
