//! What the store keeps of the audit log's Merkle tree (migration 0003): one leaf row per entry
//! (the salted commitment and its salt) and the interior nodes, so that any root or proof costs
//! `O(log n)` reads and the broker keeps only the tree's right border in memory. The tree
//! itself is computed in [`crate::audit_log`]; the store only keeps what it is given.

use kruispunt_sdk::transparency::{Hash, NodeId, Salt};

use super::StoreError;

/// A leaf to append: the entry's sequence number, its commitment and the salt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeLeaf {
    /// The entry's `seq`, which is also the leaf's index.
    pub seq: u64,
    /// `SHA-256(salt ‖ canonical entry)`.
    pub leaf: Hash,
    /// The salt (erasable).
    pub salt: Salt,
    /// The at-rest pseudonyms the entry names, indexed for the disclosure accounting.
    pub pseudonyms: Vec<[u8; 32]>,
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
