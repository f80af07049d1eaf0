//! What the store keeps of the audit log's Merkle tree (migrations 0003 and 0007): one leaf row
//! per entry (the salted commitment and its salt), the interior nodes, and the tree's right
//! border beside the sequence counter — so that any root or proof costs `O(log n)` reads.
//!
//! **An entry and its leaf are committed together.** The backends' `append` (the one place that
//! inserts audit entries, inside the transaction of the effect they record — a group-commit
//! batch for decisions) locks the counter row, reads the stored right border
//! (`audit_head.frontier`, at most 64 hashes), and [`grow`]s the tree by the new entries in the
//! same transaction: leaves, salts, the interior nodes they complete and the new border. So
//! there is no moment at which an entry is durable but not yet in the tree, and a checkpoint of
//! size `n` covers exactly the first `n` committed entries. Until migration 0007 a follower
//! added the leaves a few seconds later; a database from then is caught up by the first append
//! (or the log's first sync at start-up), in one transaction holding the counter's lock.

use std::collections::HashMap;
use std::future::Future;

use kruispunt_sdk::transparency::{
    ERASE_ACTION, Frontier, Hash, NodeId, Salt, TIME_ORDER_SLACK_MS, commitment, leaf_hash,
};

use crate::audit::entry::AuditEntry;

use super::StoreError;

/// An audit entry made ready for the log before it reaches the database: the columns copied
/// out of it for review queries, its canonical bytes (what is stored and committed to), a fresh
/// random salt and the leaf `SHA-256(salt ‖ bytes)` — none of which depends on the entry's
/// position — and the at-rest pseudonyms it names. Group-commit callers prepare their entries
/// in their own task, so that serialising, drawing salts and hashing run in parallel instead of
/// on the one writer; the writer only numbers the entries and extends the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedEntry {
    /// `time_ms` column.
    pub time_ms: i64,
    /// `operation` column.
    pub operation: &'static str,
    /// `action` column.
    pub action: String,
    /// `actor_org` column.
    pub actor_org: Option<String>,
    /// `purpose` column.
    pub purpose: Option<String>,
    /// `case_reference` column.
    pub case_reference: Option<String>,
    /// The canonical JSON bytes ([`AuditEntry::canonical_json`]).
    pub bytes: Vec<u8>,
    /// The salt (erasable).
    pub salt: Salt,
    /// `SHA-256(salt ‖ bytes)`.
    pub leaf: Hash,
    /// The at-rest pseudonyms the entry names, indexed for the disclosure accounting.
    pub pseudonyms: Vec<[u8; 32]>,
}

impl PreparedEntry {
    /// Prepares `entries`, drawing all their salts with one call to the system generator.
    pub fn prepare(entries: &[&AuditEntry]) -> Result<Vec<PreparedEntry>, StoreError> {
        let salts = salts(entries.len())?;
        Ok(entries
            .iter()
            .zip(salts)
            .map(|(e, salt)| {
                let bytes = e.canonical_json();
                PreparedEntry {
                    time_ms: e.time_ms,
                    operation: e.operation.as_str(),
                    action: e.action.clone(),
                    actor_org: e.actor_org.clone(),
                    purpose: e.purpose.clone(),
                    case_reference: e.case_reference.clone(),
                    leaf: commitment(&salt, &bytes),
                    bytes,
                    salt,
                    pseudonyms: indexed_pseudonyms(e),
                }
            })
            .collect())
    }
}

/// `n` fresh random salts from one call to the system generator.
fn salts(n: usize) -> Result<Vec<Salt>, StoreError> {
    use ring::rand::SecureRandom as _;
    let mut salts = vec![[0u8; 32]; n];
    ring::rand::SystemRandom::new()
        .fill(salts.as_flattened_mut())
        .map_err(|_| StoreError::Random)?;
    Ok(salts)
}

/// A leaf to store: its index (the entry's `seq`), the commitment, the salt and the pseudonyms
/// the entry names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewLeaf<'a> {
    pub seq: u64,
    pub leaf: &'a Hash,
    pub salt: &'a Salt,
    pub pseudonyms: &'a [[u8; 32]],
}

/// A leaf read back with the entry it commits to (both absent once erased, the entry absent
/// if its row was deleted behind the broker's back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafRow {
    /// The leaf's index.
    pub seq: u64,
    /// The commitment.
    pub leaf: Hash,
    /// The salt, unless erased.
    pub salt: Option<Salt>,
    /// The stored canonical entry bytes, if the entry row exists.
    pub entry: Option<Vec<u8>>,
}

/// Leaves read per statement while an erasure looks for what it may erase.
const ERASE_SCAN_PAGE: u64 = 1000;

/// The entries (their `seq`s, ascending) that an erasure with cut-off `before_ms` erases,
/// chosen by the time **committed in each entry** — in the bytes its leaf commits to, checked
/// against the leaf — never by the `time_ms` column: that is a copy for queries, and whoever can
/// write to the database could set a recent entry's copy into the past to have it erased.
///
/// The log is read in order (`page(start, end)` reads leaf rows) and the scan stops at the first
/// entry committed at or after the cut-off plus [`TIME_ORDER_SLACK_MS`]: the log is in time
/// order within that slack, so nothing after it is old enough. An erasure thus takes an old,
/// prefix-like part of the log, which is what the verifier accepts
/// ([`kruispunt_sdk::transparency::LogError::ErasedTooRecent`]). Erasure records are never
/// erased, and an entry that does not match its leaf is left alone: it is evidence of tampering,
/// for the verifier to report.
pub(crate) async fn erasable_before<F, Fut>(
    size: u64,
    before_ms: i64,
    mut page: F,
) -> Result<Vec<i64>, StoreError>
where
    F: FnMut(u64, u64) -> Fut,
    Fut: Future<Output = Result<Vec<LeafRow>, StoreError>>,
{
    let stop_at = before_ms.saturating_add(TIME_ORDER_SLACK_MS);
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < size {
        let rows = page(pos, pos.saturating_add(ERASE_SCAN_PAGE).min(size)).await?;
        let Some(last) = rows.last() else { break };
        pos = last.seq + 1;
        for row in rows {
            let (Some(salt), Some(bytes)) = (row.salt, row.entry) else {
                continue; // erased already, or its row is gone
            };
            if commitment(&salt, &bytes) != row.leaf {
                continue;
            }
            let Ok(entry) = AuditEntry::from_json(&bytes) else {
                continue;
            };
            if entry.time_ms >= stop_at {
                return Ok(out);
            }
            if entry.time_ms < before_ms && entry.action != ERASE_ACTION {
                out.push(super::seq_to_db(row.seq));
            }
        }
    }
    Ok(out)
}

/// Entries read per statement while catching up a tree that a follower left behind.
pub(crate) const CATCH_UP_BATCH: u64 = 10_000;

/// The rows that store leaves appended from index `first` on — given as (leaf, salt, named
/// pseudonyms), in order — and the interior nodes (level ≥ 1) they complete, growing `frontier`
/// (the tree of the entries before them) on the way. Both backends store exactly these.
pub(crate) fn new_rows<'a>(
    frontier: &mut Frontier,
    first: u64,
    leaves: impl IntoIterator<Item = (&'a Hash, &'a Salt, &'a [[u8; 32]])>,
) -> (Vec<NewLeaf<'a>>, Vec<(NodeId, Hash)>) {
    let mut rows = Vec::new();
    let mut nodes = Vec::new();
    for ((leaf, salt, pseudonyms), seq) in leaves.into_iter().zip(first..) {
        frontier.append(leaf_hash(leaf), |id, h| {
            if id.level > 0 {
                nodes.push((id, h));
            }
        });
        rows.push(NewLeaf {
            seq,
            leaf,
            salt,
            pseudonyms,
        });
    }
    (rows, nodes)
}

/// One batch of stored entries `start..end` (as `(seq, entry bytes)`) committed to while
/// catching up: the part of the catch-up loop both backends share between their read and write.
pub(crate) struct CatchUpBatch {
    start: u64,
    committed: Vec<(Salt, Hash)>,
    named: Vec<Vec<[u8; 32]>>,
}

impl CatchUpBatch {
    /// Salts and commits to `rows`, which must be every entry of `start..end`.
    pub(crate) fn commit(
        start: u64,
        end: u64,
        rows: &[(i64, Vec<u8>)],
    ) -> Result<CatchUpBatch, StoreError> {
        if rows.len() as u64 != end - start {
            return Err(StoreError::Corrupt(format!(
                "audit entries {start}..{end} are not all in the log"
            )));
        }
        Ok(CatchUpBatch {
            start,
            committed: commit_stored(rows)?,
            named: rows.iter().map(|(_, b)| pseudonyms_in(b)).collect(),
        })
    }

    /// The rows to store, growing `frontier` (see [`new_rows`]).
    pub(crate) fn rows(&self, frontier: &mut Frontier) -> (Vec<NewLeaf<'_>>, Vec<(NodeId, Hash)>) {
        new_rows(
            frontier,
            self.start,
            self.committed
                .iter()
                .zip(&self.named)
                .map(|((salt, leaf), pseudonyms)| (leaf, salt, &pseudonyms[..])),
        )
    }
}

/// `shared_tree_statements!()` inside a backend's `impl TreeConn` writes the statements both
/// databases run alike (`$n` placeholders, which sqlx accepts on SQLite too): the size, the
/// entries of a range and the border. Only the batch inserts differ per backend.
macro_rules! shared_tree_statements {
    () => {
        async fn tree_size(&mut self) -> Result<u64, $crate::store::StoreError> {
            let size: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_leaf")
                .fetch_one(&mut *self)
                .await?;
            $crate::store::seq_from_db(size)
        }

        async fn entries(
            &mut self,
            start: u64,
            end: u64,
        ) -> Result<Vec<(i64, Vec<u8>)>, $crate::store::StoreError> {
            Ok(sqlx::query_as(
                "SELECT seq, entry FROM audit_log WHERE seq >= $1 AND seq < $2 ORDER BY seq",
            )
            .bind($crate::store::seq_to_db(start))
            .bind($crate::store::seq_to_db(end))
            .fetch_all(&mut *self)
            .await?)
        }

        async fn store_border(
            &mut self,
            frontier: &kruispunt_sdk::transparency::Frontier,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query("UPDATE audit_head SET frontier = $1 WHERE id = 0")
                .bind($crate::store::audit_tree::frontier_to_db(frontier))
                .execute(&mut *self)
                .await?;
            Ok(())
        }
    };
}
pub(crate) use shared_tree_statements;

/// A backend's statements for the tree, on its connection (in its `audit_tree.rs`): each
/// database takes a batch of rows fastest its own way (`UNNEST` arrays on PostgreSQL, one blob
/// and a JSON array per table on SQLite). [`grow`] and [`catch_up`] are written once over it.
pub(crate) trait TreeConn: Send {
    /// The tree's size: how many leaves are stored.
    fn tree_size(&mut self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The log's stored entries `start..end`, as `(seq, entry bytes)` in order.
    fn entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Vec<(i64, Vec<u8>)>, StoreError>> + Send;

    /// Inserts leaves, salts, pseudonym index rows and interior nodes, and stores `border`
    /// (the frontier after them) as `audit_head.frontier`.
    fn write_tree(
        &mut self,
        leaves: &[NewLeaf<'_>],
        nodes: &[(NodeId, Hash)],
        border: &Frontier,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores `frontier` as `audit_head.frontier`.
    fn store_border(
        &mut self,
        frontier: &Frontier,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The hashes of the given tree nodes that exist (level 0: the leaf hashes).
    fn nodes_on(
        &mut self,
        ids: &[NodeId],
    ) -> impl Future<Output = Result<HashMap<NodeId, Hash>, StoreError>> + Send;
}

/// Grows the tree by the entries `first..` that the caller's transaction has just appended.
/// `border` is `audit_head.frontier` as read under the counter's lock; `None` means the tree is
/// still behind (see migration 0007) and is caught up first.
pub(crate) async fn grow<C: TreeConn>(
    conn: &mut C,
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
    conn.write_tree(&leaves, &nodes, &frontier).await
}

/// Commits leaves to the entries `tree size..upto` that have none yet, [`CATCH_UP_BATCH`] at a
/// time; returns the border of the tree of `upto` leaves.
pub(crate) async fn catch_up<C: TreeConn>(conn: &mut C, upto: u64) -> Result<Frontier, StoreError> {
    let size = conn.tree_size().await?;
    let nodes = conn.nodes_on(&Frontier::node_ids(size)).await?;
    let mut frontier = frontier_from_nodes(size, &nodes)?;
    while frontier.size() < upto {
        let start = frontier.size();
        let end = (start + CATCH_UP_BATCH).min(upto);
        let rows = conn.entries(start, end).await?;
        let batch = CatchUpBatch::commit(start, end, &rows)?;
        let (leaves, nodes) = batch.rows(&mut frontier);
        conn.write_tree(&leaves, &nodes, &frontier).await?;
    }
    Ok(frontier)
}

/// Salts and commits to entries already stored (while catching up): `(salt, leaf)` per entry.
fn commit_stored(stored: &[(i64, Vec<u8>)]) -> Result<Vec<(Salt, Hash)>, StoreError> {
    Ok(salts(stored.len())?
        .into_iter()
        .zip(stored)
        .map(|(salt, (_, bytes))| (salt, commitment(&salt, bytes)))
        .collect())
}

/// The at-rest pseudonyms an entry names, from their hex in the entry (ill-formed ones are
/// skipped: the commitment is to the bytes, the index is only a look-up aid).
/// The at-rest pseudonyms of `entry` that the disclosure accounting indexes: all it names,
/// except for uploads (`collect`). An upload names every pseudonym of its batch — millions in a
/// bulk load — and indexing them would add one random-key B-tree insert per uploaded signal,
/// the very cost that keeps bulk uploads from scaling (issue 4); the accounting is about what
/// was disclosed, consulted, combined or erased, and an upload entry still names its
/// pseudonyms in the log itself.
pub(crate) fn indexed_pseudonyms(entry: &AuditEntry) -> Vec<[u8; 32]> {
    if entry.operation == crate::audit::entry::Operation::Collect {
        return Vec::new();
    }
    pseudonyms_of(&entry.pseudonyms)
}

fn pseudonyms_of(hexes: &[String]) -> Vec<[u8; 32]> {
    hexes
        .iter()
        .filter_map(|h| {
            let mut p = [0u8; 32];
            hex::decode_to_slice(h, &mut p).ok()?;
            Some(p)
        })
        .collect()
}

/// The pseudonyms named by stored entry bytes (while catching up). An entry that does not parse
/// still gets its leaf, but names nobody.
fn pseudonyms_in(bytes: &[u8]) -> Vec<[u8; 32]> {
    AuditEntry::from_json(bytes)
        .map(|e| indexed_pseudonyms(&e))
        .unwrap_or_default()
}

/// The stored right border (`audit_head.frontier`): the [`Frontier::hashes`] concatenated.
pub(crate) fn frontier_to_db(f: &Frontier) -> Vec<u8> {
    f.hashes().concat()
}

/// The inverse of [`frontier_to_db`] for a tree of `size` leaves.
pub(crate) fn frontier_from_db(size: u64, bytes: &[u8]) -> Result<Frontier, StoreError> {
    if !bytes.len().is_multiple_of(32) {
        return Err(StoreError::Corrupt(format!(
            "stored audit tree border of {} bytes",
            bytes.len()
        )));
    }
    let hashes = bytes
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32-byte chunk"))
        .collect();
    Frontier::from_parts(size, hashes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The frontier of the stored tree of `size` leaves from its `O(log n)` nodes (`nodes` as a
/// backend's node look-up returns them).
pub(crate) fn frontier_from_nodes(
    size: u64,
    nodes: &std::collections::HashMap<NodeId, Hash>,
) -> Result<Frontier, StoreError> {
    let hashes = Frontier::node_ids(size)
        .iter()
        .map(|id| {
            nodes
                .get(id)
                .copied()
                .ok_or_else(|| StoreError::Corrupt(format!("audit tree node {id} is not stored")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Frontier::from_parts(size, hashes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Interior nodes are keyed by one integer, `level * 2^56 + index`: the index of a node at
/// level ≥ 1 is below 2^55 for any log of fewer than 2^56 entries.
pub(crate) fn node_key(id: NodeId) -> i64 {
    (i64::from(id.level) << 56) | (id.index as i64 & ((1 << 56) - 1))
}

/// The inverse of [`node_key`].
pub(crate) fn node_from_key(key: i64) -> Result<NodeId, StoreError> {
    if key < 0 {
        return Err(StoreError::Corrupt(format!("negative tree node key {key}")));
    }
    Ok(NodeId {
        level: (key >> 56) as u8,
        index: (key & ((1 << 56) - 1)) as u64,
    })
}

/// A 32-byte column read back.
pub(crate) fn hash_from_db(what: &str, bytes: &[u8]) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} of {} bytes", bytes.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kruispunt_sdk::transparency::MemoryTree;

    #[test]
    fn growth_matches_the_reference_tree_and_the_border_round_trips() {
        use crate::audit::entry::Operation;
        let entries: Vec<AuditEntry> = (0..37)
            .map(|i| AuditEntry::new(i, Operation::Consult, "match"))
            .collect();
        let prepared = PreparedEntry::prepare(&entries.iter().collect::<Vec<_>>()).unwrap();
        let mut frontier = Frontier::new();
        let mut nodes = 0;
        for chunk in prepared.chunks(5) {
            let size = frontier.size();
            let stored = frontier_to_db(&frontier);
            frontier = frontier_from_db(size, &stored).unwrap();
            let (rows, new) = new_rows(
                &mut frontier,
                size,
                chunk.iter().map(|p| (&p.leaf, &p.salt, &p.pseudonyms[..])),
            );
            assert_eq!(rows[0].seq, size);
            nodes += new.len();
        }
        for (p, e) in prepared.iter().zip(&entries) {
            assert_eq!(p.bytes, e.canonical_json());
            assert_eq!(p.leaf, commitment(&p.salt, &p.bytes));
        }
        assert_ne!(prepared[0].salt, prepared[1].salt);
        let reference = MemoryTree::from_leaves(prepared.iter().map(|p| p.leaf));
        assert_eq!(frontier.root(), reference.root());
        // Stored interior nodes: every perfect subtree of ≥ 2 leaves, n - popcount(n) of them.
        assert_eq!(nodes, 37 - 37usize.count_ones() as usize);
        assert!(frontier_from_db(3, &[0u8; 31]).is_err());
        assert!(
            frontier_from_db(3, &[0u8; 32]).is_err(),
            "3 leaves need two subtrees"
        );
    }

    #[test]
    fn pseudonyms_are_read_from_hex_and_bad_ones_skipped() {
        let good = "ab".repeat(32);
        assert_eq!(
            pseudonyms_of(&[good.clone(), "zz".into(), "ab".into()]),
            vec![[0xab; 32]]
        );
    }

    #[test]
    fn uploads_are_not_indexed_for_the_disclosure_accounting() {
        use crate::audit::entry::Operation;
        let named = |op| AuditEntry {
            pseudonyms: vec!["cd".repeat(32)],
            ..AuditEntry::new(0, op, "x")
        };
        assert!(indexed_pseudonyms(&named(Operation::Collect)).is_empty());
        for op in [Operation::Disclose, Operation::Consult, Operation::Erase] {
            assert_eq!(indexed_pseudonyms(&named(op)), vec![[0xcd; 32]], "{op:?}");
            assert_eq!(pseudonyms_in(&named(op).canonical_json()), vec![[0xcd; 32]]);
        }
        assert!(pseudonyms_in(&named(Operation::Collect).canonical_json()).is_empty());
    }

    #[test]
    fn node_keys_round_trip() {
        for id in [
            NodeId { level: 1, index: 0 },
            NodeId {
                level: 1,
                index: 12_345_678,
            },
            NodeId {
                level: 23,
                index: 1,
            },
            NodeId {
                level: 63,
                index: 0,
            },
        ] {
            assert_eq!(node_from_key(node_key(id)).unwrap(), id);
        }
        assert!(
            node_key(NodeId { level: 2, index: 0 })
                > node_key(NodeId {
                    level: 1,
                    index: 1 << 40
                })
        );
    }
}
