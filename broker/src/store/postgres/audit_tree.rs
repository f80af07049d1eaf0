//! The audit log's Merkle tree on PostgreSQL (see [`crate::store::audit_tree`]).

use std::collections::HashMap;

use kruispunt_sdk::transparency::{Frontier, Hash, NodeId, leaf_hash};
use sqlx::Row as _;
use sqlx::postgres::PgConnection;

use super::PostgresStore;
use crate::store::audit_tree::{
    CATCH_UP_BATCH, CatchUpBatch, LeafRow, NewLeaf, PreparedEntry, erasable_before,
    frontier_from_db, frontier_from_nodes, frontier_to_db, hash_from_db, new_rows, node_from_key,
    node_key,
};
use crate::store::{StoreError, seq_from_db, seq_to_db};

const TREE_SIZE: &str = "SELECT COALESCE(MAX(seq) + 1, 0)::BIGINT FROM audit_leaf";

impl PostgresStore {
    pub(super) async fn tree_size(&self) -> Result<u64, StoreError> {
        let size: i64 = sqlx::query_scalar(TREE_SIZE).fetch_one(&self.pool).await?;
        seq_from_db(size)
    }

    /// Catches the tree up with entries a follower had not committed to before migration
    /// 0007 (nothing to do once `audit_head.frontier` is set). The counter's row lock keeps
    /// every appender, on every broker, out meanwhile.
    pub(super) async fn tree_catch_up(&self) -> Result<(), StoreError> {
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
        // Chosen by committed time, before the transaction (a long read); the DELETE takes only
        // rows still there, so a concurrent erasure erases nothing twice.
        let size = self.tree_size().await?;
        let chosen =
            erasable_before(size, before_ms, |start, end| self.tree_leaves(start, end)).await?;
        let mut tx = self.pool.begin().await?;
        let mut seqs: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM audit_log WHERE seq = ANY($1) AND action <> $2 RETURNING seq",
        )
        .bind(&chosen)
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
        let seq = super::append(&mut tx, &[&audit_for(&erased)]).await?[0];
        tx.commit().await?;
        Ok(Some((erased, seq)))
    }

    pub(super) async fn tree_nodes(
        &self,
        ids: &[NodeId],
    ) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut conn = self.pool.acquire().await?;
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

/// Grows the tree by the entries `first..` that the caller's transaction has just appended.
/// `border` is `audit_head.frontier` as read under the counter's lock; `None` means the tree is
/// still behind (see migration 0007) and is caught up first.
pub(crate) async fn grow_in_tx(
    conn: &mut PgConnection,
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
    write_tree(conn, &leaves, &nodes, &frontier).await
}

async fn store_border(conn: &mut PgConnection, frontier: &Frontier) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_head SET frontier = $1 WHERE id = 0")
        .bind(frontier_to_db(frontier))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Commits leaves to the entries `tree size..upto` that have none yet; returns the border of
/// the tree of `upto` leaves.
async fn catch_up(conn: &mut PgConnection, upto: u64) -> Result<Frontier, StoreError> {
    let size: i64 = sqlx::query_scalar(TREE_SIZE).fetch_one(&mut *conn).await?;
    let size = seq_from_db(size)?;
    let nodes = nodes_on(conn, &Frontier::node_ids(size)).await?;
    let mut frontier = frontier_from_nodes(size, &nodes)?;
    while frontier.size() < upto {
        let start = frontier.size();
        let end = (start + CATCH_UP_BATCH).min(upto);
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, entry FROM audit_log WHERE seq >= $1 AND seq < $2 ORDER BY seq",
        )
        .bind(seq_to_db(start))
        .bind(seq_to_db(end))
        .fetch_all(&mut *conn)
        .await?;
        let batch = CatchUpBatch::commit(start, end, &rows)?;
        let (leaves, nodes) = batch.rows(&mut frontier);
        write_tree(conn, &leaves, &nodes, &frontier).await?;
    }
    Ok(frontier)
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
