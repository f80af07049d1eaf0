//! The audit log's Merkle tree on SQLite (see [`crate::store::audit_tree`]).

use std::collections::HashMap;

use kruispunt_sdk::transparency::{Frontier, Hash, NodeId, leaf_hash};
use sqlx::Row as _;
use sqlx::SqliteConnection;

use crate::store::audit_tree::{
    NewLeaf, TreeConn, hash_from_db, node_from_key, node_key, shared_tree_statements,
};
use crate::store::{StoreError, seq_from_db, seq_to_db};

/// Rows per multi-row INSERT (3 parameters each, well under SQLite's 32 766).
pub(super) const ROWS_PER_INSERT: usize = 500;

impl TreeConn for SqliteConnection {
    shared_tree_statements!();

    /// One statement per table, then the border.
    async fn write_tree(
        &mut self,
        leaves: &[NewLeaf<'_>],
        nodes: &[(NodeId, Hash)],
        border: &Frontier,
    ) -> Result<(), StoreError> {
        write_tree(self, leaves, nodes).await?;
        self.store_border(border).await
    }

    async fn nodes_on(&mut self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
        nodes_on(self, ids).await
    }
}

/// Leaves `?1 + k` for `k` in `0..n`: leaf and salt cut out of ?2, the `n` (leaf ‖ salt) pairs
/// concatenated. Each tree table takes a whole batch in one statement with a few bound values
/// (fixed-width hashes cut out of one blob, integers from a JSON array), instead of three or two
/// bound values per row over several multi-row statements.
const INSERT_LEAVES: &str = "INSERT INTO audit_leaf (seq, leaf, salt) \
     WITH RECURSIVE k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k WHERE k + 1 < ?3) \
     SELECT ?1 + k, substr(?2, k * 64 + 1, 32), substr(?2, k * 64 + 33, 32) FROM k";

/// Pseudonym index rows: the `seq`s as a JSON array ?2, the pseudonyms concatenated in ?1.
/// An entry may name a pseudonym twice; one row is enough.
const INSERT_NAMED: &str = "INSERT INTO audit_pseudonym (pseudonym, seq) \
     SELECT substr(?1, key * 32 + 1, 32), value FROM json_each(?2) WHERE true \
     ON CONFLICT DO NOTHING";

/// Interior nodes: their keys ([`node_key`]) as a JSON array ?1, the hashes concatenated in ?2.
const INSERT_NODES: &str = "INSERT INTO audit_node (node, hash) \
     SELECT value, substr(?2, key * 32 + 1, 32) FROM json_each(?1)";

/// Inserts leaves, salts, pseudonym index rows and interior nodes: one statement per table.
async fn write_tree(
    conn: &mut SqliteConnection,
    leaves: &[NewLeaf<'_>],
    nodes: &[(NodeId, Hash)],
) -> Result<(), StoreError> {
    let Some(first) = leaves.first() else {
        return Ok(());
    };
    let mut pairs = Vec::with_capacity(leaves.len() * 64);
    for (l, seq) in leaves.iter().zip(first.seq..) {
        if l.seq != seq {
            return Err(StoreError::Corrupt(format!(
                "audit leaves not consecutive at {}",
                l.seq
            )));
        }
        pairs.extend_from_slice(l.leaf);
        pairs.extend_from_slice(l.salt);
    }
    expect_rows(
        "audit leaves",
        leaves.len(),
        sqlx::query(INSERT_LEAVES)
            .bind(seq_to_db(first.seq))
            .bind(&pairs[..])
            .bind(leaves.len() as i64)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )?;
    let mut named = Vec::new();
    let mut named_seqs = Vec::new();
    for l in leaves {
        for p in l.pseudonyms {
            named.extend_from_slice(p);
            named_seqs.push(seq_to_db(l.seq));
        }
    }
    if !named_seqs.is_empty() {
        sqlx::query(INSERT_NAMED)
            .bind(&named[..])
            .bind(json_integers(&named_seqs))
            .execute(&mut *conn)
            .await?;
    }
    if !nodes.is_empty() {
        let keys: Vec<i64> = nodes.iter().map(|(id, _)| node_key(*id)).collect();
        let hashes: Vec<u8> = nodes.iter().flat_map(|(_, h)| h.iter().copied()).collect();
        expect_rows(
            "audit tree nodes",
            nodes.len(),
            sqlx::query(INSERT_NODES)
                .bind(json_integers(&keys))
                .bind(&hashes[..])
                .execute(&mut *conn)
                .await?
                .rows_affected(),
        )?;
    }
    Ok(())
}

/// `[1,2,3]`.
fn json_integers(values: &[i64]) -> String {
    serde_json::to_string(values).expect("integers always serialise")
}

/// A batch statement must have written every row it was given.
fn expect_rows(what: &str, expected: usize, written: u64) -> Result<(), StoreError> {
    if written == expected as u64 {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "wrote {written} of {expected} {what}"
        )))
    }
}

/// The hashes of the given tree nodes that exist (level 0: the leaf hashes).
async fn nodes_on(
    conn: &mut SqliteConnection,
    ids: &[NodeId],
) -> Result<HashMap<NodeId, Hash>, StoreError> {
    let mut out = HashMap::with_capacity(ids.len());
    let (leaves, interior): (Vec<NodeId>, Vec<NodeId>) = ids.iter().partition(|id| id.level == 0);
    for chunk in leaves.chunks(ROWS_PER_INSERT) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!("SELECT seq, leaf FROM audit_leaf WHERE seq IN ({marks})");
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(seq_to_db(id.index));
        }
        for row in q.fetch_all(&mut *conn).await? {
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
        for row in q.fetch_all(&mut *conn).await? {
            let id = node_from_key(row.try_get(0)?)?;
            out.insert(
                id,
                hash_from_db("audit tree node", row.try_get::<&[u8], _>(1)?)?,
            );
        }
    }
    Ok(out)
}
