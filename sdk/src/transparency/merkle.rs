//! RFC 6962 / RFC 9162 Merkle tree hashing, perfect-subtree addressing and incremental appends.
//!
//! The tree over `n` leaves is the one RFC 9162 §2.1.1 defines: the hash of one leaf is
//! `SHA-256(0x00 ‖ leaf)`, an interior node is `SHA-256(0x01 ‖ left ‖ right)`, and a list of
//! leaves is split at the largest power of two strictly smaller than its length. The empty tree
//! hashes to `SHA-256("")`. The domain-separation bytes are what stop a second-preimage attack
//! that would pass an interior node off as a leaf.
//!
//! Every node such a tree ever needs is the root of a *perfect* subtree: `2^level` leaves
//! starting at a multiple of `2^level`. Those never change once their last leaf is appended, so
//! storage can keep exactly them, keyed by ([`NodeId::level`], [`NodeId::index`]), and any root or
//! proof needs only `O(log n)` of them.

use ring::digest;

/// Length in bytes of every hash in the tree (SHA-256).
pub const HASH_LEN: usize = 32;

/// A SHA-256 tree hash. A fixed-size array, so that a proof with a hash of the wrong length
/// cannot even be represented once parsed.
pub type Hash = [u8; HASH_LEN];

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

fn finish(ctx: digest::Context) -> Hash {
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The leaf hash `SHA-256(0x00 ‖ leaf)` of one entry's leaf bytes.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[LEAF_PREFIX]);
    ctx.update(leaf);
    finish(ctx)
}

/// The interior node hash `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[NODE_PREFIX]);
    ctx.update(left);
    ctx.update(right);
    finish(ctx)
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    finish(digest::Context::new(&digest::SHA256))
}

/// The Merkle tree hash (root) of a list of leaf hashes, in `O(n)` time and `O(log n)` memory.
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    let mut frontier = Frontier::new();
    for h in leaf_hashes {
        frontier.append(*h, |_, _| {});
    }
    frontier.root()
}

/// The address of a perfect subtree: the `2^level` leaves starting at leaf `index << level`.
/// Level 0 nodes are the leaf hashes themselves. This is the key of a future
/// `merkle_nodes(level, idx, hash)` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// Height above the leaves; the subtree covers `2^level` leaves.
    pub level: u8,
    /// Position among the nodes of the same level, counted from the left.
    pub index: u64,
}

impl NodeId {
    /// The node for leaf `index`.
    pub fn leaf(index: u64) -> NodeId {
        NodeId { level: 0, index }
    }

    /// The first leaf this subtree covers.
    pub fn first_leaf(self) -> u64 {
        self.index << self.level
    }

    /// One past the last leaf this subtree covers.
    pub fn end_leaf(self) -> u64 {
        (self.index + 1) << self.level
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.level, self.index)
    }
}

/// The largest power of two strictly smaller than `n` (`n >= 2`): RFC 9162's split point `k`.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees that make up the leaf range `[start, end)`, left to right, each as large
/// as its alignment allows. For the ranges the RFC recursion produces (`start` a multiple of the
/// next power of two ≥ `end - start`) their sizes strictly decrease, so the range's tree hash is
/// the right fold of their hashes (see [`fold_subtrees`]).
pub(crate) fn perfect_subtrees(mut start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    while start < end {
        let remaining = end - start;
        // Largest power of two that divides `start` (unbounded for 0) and fits in the range.
        let mut level = if start == 0 {
            63
        } else {
            start.trailing_zeros()
        };
        level = level.min(63 - remaining.leading_zeros());
        out.push(NodeId {
            level: level as u8,
            index: start >> level,
        });
        start += 1u64 << level;
    }
    out
}

/// Combines the hashes of strictly decreasing perfect subtrees (as [`perfect_subtrees`] returns
/// them) into the tree hash of their union: the right-most two are joined first.
pub(crate) fn fold_subtrees(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// Why a [`TreeStore`] could not produce a node.
#[derive(Debug, thiserror::Error)]
pub enum TreeStoreError {
    /// The node does not exist (its subtree is not complete yet) or was lost. For a store that
    /// should hold it, this means the stored tree is damaged.
    #[error("Merkle tree node {0} is not stored")]
    Missing(NodeId),
    /// The backing storage failed.
    #[error("Merkle tree storage failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Read access to the perfect-subtree hashes of a tree, for proofs that cost `O(log n)`
/// look-ups. An in-memory implementation is [`MemoryTree`]; a database one stores rows
/// `(level, idx, hash)`. Async stores should use [`crate::transparency::ProofPlan`] instead.
pub trait TreeStore {
    /// Number of leaves appended so far.
    fn size(&self) -> u64;

    /// The hash of the perfect subtree at `level`, `index` (see [`NodeId`]).
    fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash, TreeStoreError>;

    /// The leaf hash of leaf `index`.
    fn leaf_hash(&self, index: u64) -> Result<Hash, TreeStoreError> {
        self.subtree_hash(0, index)
    }
}

/// The right border of a tree: the roots of the perfect subtrees that make up `[0, size)`,
/// largest first — one per set bit of `size`, so at most 64. This is all an appender needs to
/// keep in memory to extend the tree, compute its root and emit the new nodes to persist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

/// A [`Frontier`] could not be restored from its parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a frontier of size {size} has {expected} subtree hashes, not {got}")]
pub struct FrontierError {
    /// The tree size given.
    pub size: u64,
    /// How many hashes that size needs.
    pub expected: usize,
    /// How many hashes were given.
    pub got: usize,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Which nodes to load to restore the frontier of a tree of `size` leaves, in the order
    /// [`Frontier::from_parts`] wants their hashes.
    pub fn node_ids(size: u64) -> Vec<NodeId> {
        perfect_subtrees(0, size)
    }

    /// Restores a frontier from the hashes of [`Frontier::node_ids`]`(size)`, e.g. after a
    /// restart, without reading the whole log.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Frontier, FrontierError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(FrontierError {
                size,
                expected,
                got: hashes.len(),
            });
        }
        Ok(Frontier { size, hashes })
    }

    /// Number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree hashes, largest subtree first (matching [`Frontier::node_ids`]).
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        fold_subtrees(&self.hashes).unwrap_or_else(empty_root)
    }

    /// Appends one leaf hash. `new_node` is told about every perfect subtree this completes —
    /// the leaf itself at level 0 and each parent up to where the new leaf's index has a zero
    /// bit — in increasing level, which is exactly what a store must insert to stay complete.
    pub fn append(&mut self, leaf_hash: Hash, mut new_node: impl FnMut(NodeId, Hash)) {
        let index = self.size;
        let mut hash = leaf_hash;
        let mut level: u8 = 0;
        new_node(NodeId { level, index }, hash);
        while (index >> level) & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("a set bit in the size has a frontier subtree");
            hash = node_hash(&left, &hash);
            level += 1;
            new_node(
                NodeId {
                    level,
                    index: index >> level,
                },
                hash,
            );
        }
        self.hashes.push(hash);
        self.size += 1;
    }
}

/// A tree held entirely in memory, storing every perfect-subtree hash (about `2n` hashes), so
/// that roots and proofs for any earlier size need `O(log n)` look-ups. Used in tests, by tools
/// that verify an export offline, and as the reference the database-backed store must match.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of [`NodeId`] `{ level: l, index: i }`.
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// A tree over the given leaf bytes.
    pub fn from_leaves<I, B>(leaves: I) -> MemoryTree
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        let mut tree = MemoryTree::new();
        for leaf in leaves {
            tree.append_leaf(leaf.as_ref());
        }
        tree
    }

    /// Appends leaf bytes (hashing them as a leaf); returns the new leaf's index.
    pub fn append_leaf(&mut self, leaf: &[u8]) -> u64 {
        self.append_leaf_hash(leaf_hash(leaf))
    }

    /// Appends an already computed leaf hash; returns the new leaf's index.
    pub fn append_leaf_hash(&mut self, hash: Hash) -> u64 {
        let index = self.frontier.size();
        let levels = &mut self.levels;
        self.frontier.append(hash, |id, h| {
            let level = usize::from(id.level);
            if levels.len() <= level {
                levels.resize_with(level + 1, Vec::new);
            }
            debug_assert_eq!(levels[level].len() as u64, id.index);
            levels[level].push(h);
        });
        index
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The frontier of the current tree.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }
}

impl TreeStore for MemoryTree {
    fn size(&self) -> u64 {
        self.frontier.size()
    }

    fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash, TreeStoreError> {
        self.levels
            .get(usize::from(level))
            .and_then(|l| usize::try_from(index).ok().and_then(|i| l.get(i)))
            .copied()
            .ok_or(TreeStoreError::Missing(NodeId { level, index }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 9162 §2.1.1 MTH, written as literally as possible, as the reference (the proof
    /// tests check against it too).
    pub(crate) fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(root(&[]), empty_root());
    }

    #[test]
    fn incremental_root_matches_reference_for_every_size() {
        let all = leaves(70);
        let mut tree = MemoryTree::new();
        for (n, h) in all.iter().enumerate() {
            assert_eq!(tree.root(), reference_root(&all[..n]), "size {n}");
            tree.append_leaf_hash(*h);
        }
        assert_eq!(root(&all), reference_root(&all));
    }

    #[test]
    fn stored_nodes_are_the_perfect_subtree_roots() {
        let all = leaves(37);
        let tree = MemoryTree::from_leaves((0..37u64).map(|i| i.to_be_bytes()));
        for level in 0..6u8 {
            let width = 1u64 << level;
            for index in 0..=(37 / width) {
                let id = NodeId { level, index };
                let got = tree.subtree_hash(level, index);
                if id.end_leaf() <= 37 {
                    let want =
                        reference_root(&all[id.first_leaf() as usize..id.end_leaf() as usize]);
                    assert_eq!(got.unwrap(), want, "{id}");
                } else {
                    assert!(matches!(got, Err(TreeStoreError::Missing(m)) if m == id));
                }
            }
        }
    }

    #[test]
    fn frontier_restores_from_stored_nodes() {
        let tree = MemoryTree::from_leaves((0..45u64).map(|i| i.to_be_bytes()));
        let ids = Frontier::node_ids(45);
        assert_eq!(ids.len(), 4); // 45 = 32 + 8 + 4 + 1
        let hashes = ids
            .iter()
            .map(|id| tree.subtree_hash(id.level, id.index).unwrap())
            .collect();
        let mut restored = Frontier::from_parts(45, hashes).unwrap();
        assert_eq!(restored.root(), tree.root());
        restored.append(leaf_hash(b"next"), |_, _| {});
        let mut grown = tree.clone();
        grown.append_leaf(b"next");
        assert_eq!(restored.root(), grown.root());
        assert!(Frontier::from_parts(45, vec![]).is_err());
    }
}
