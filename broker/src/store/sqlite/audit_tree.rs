//! The audit log's Merkle tree on SQLite (see [`crate::store::audit_tree`]).

use std::collections::HashMap;

use kruispunt_sdk::transparency::{Frontier, Hash, NodeId, leaf_hash};
use sqlx::Row as _;
use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::store::audit_tree::{
    CATCH_UP_BATCH, CatchUpBatch, LeafRow, NewLeaf, PreparedEntry, erasable_before,
    frontier_from_db, frontier_from_nodes, frontier_to_db, hash_from_db, new_rows, node_from_key,
    node_key,
};
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

    /// Catches the tree up with entries a follower had not committed to before migration
    /// 0007 (nothing to do once `audit_head.frontier` is set).
    pub(super) async fn tree_catch_up(&self) -> Result<(), StoreError> {
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
        let frontier = catch_up(&mut tx, seq_from_db(size)?).await?;
        store_border(&mut tx, &frontier).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn tree_erase_before(
        &self,
        before_ms: i64,
        audit_for: crate::store::EraseAudit<'_>,
    ) -> Result<Option<(Vec<u64>, u64)>, StoreError> {
        // Chosen by committed time, outside the write transaction (a long read); the DELETE
        // below takes only rows still there, so a concurrent erasure erases nothing twice.
        let size = self.tree_size().await?;
        let chosen =
            erasable_before(size, before_ms, |start, end| self.tree_leaves(start, end)).await?;
        let mut tx = self.writer.begin_with(super::BEGIN_WRITE).await?;
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
        let seq = super::append(&mut tx, &[&audit_for(&erased)]).await?[0];
        tx.commit().await?;
        Ok(Some((erased, seq)))
    }

    pub(super) async fn tree_nodes(
        &self,
        ids: &[NodeId],
    ) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        nodes_on(&mut conn, ids).await
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

/// Grows the tree by the entries `first..` that the caller's transaction has just appended.
/// `border` is `audit_head.frontier` as read under the counter's lock; `None` means the tree is
/// still behind (see migration 0007) and is caught up first.
pub(crate) async fn grow_in_tx(
    conn: &mut SqliteConnection,
    first: u64,
    border: Option<Vec<u8>>,
    entries: &[&PreparedEntry],
) -> Result<(), StoreError> {
    let mut frontier = match border {
        Some(b) => frontier_from_db(first, &b)?,
        None => catch_up(conn, first).await?,
    };
    let (leaves, nodes) = new_rows(
        &mut frontier,
        first,
        entries
            .iter()
            .map(|e| (&e.leaf, &e.salt, &e.pseudonyms[..])),
    );
    write_tree(conn, &leaves, &nodes).await?;
    store_border(conn, &frontier).await
}

async fn store_border(conn: &mut SqliteConnection, frontier: &Frontier) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_head SET frontier = ?1 WHERE id = 0")
        .bind(frontier_to_db(frontier))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Commits leaves to the entries `tree size..upto` that have none yet; returns the border of
/// the tree of `upto` leaves.
async fn catch_up(conn: &mut SqliteConnection, upto: u64) -> Result<Frontier, StoreError> {
    let size: i64 = sqlx::query_scalar(TREE_SIZE).fetch_one(&mut *conn).await?;
    let size = seq_from_db(size)?;
    let nodes = nodes_on(conn, &Frontier::node_ids(size)).await?;
    let mut frontier = frontier_from_nodes(size, &nodes)?;
    while frontier.size() < upto {
        let start = frontier.size();
        let end = (start + CATCH_UP_BATCH).min(upto);
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, entry FROM audit_log WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
        )
        .bind(seq_to_db(start))
        .bind(seq_to_db(end))
        .fetch_all(&mut *conn)
        .await?;
        let batch = CatchUpBatch::commit(start, end, &rows)?;
        let (leaves, nodes) = batch.rows(&mut frontier);
        write_tree(conn, &leaves, &nodes).await?;
    }
    Ok(frontier)
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
