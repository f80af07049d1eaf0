//! Inclusion and consistency proofs (RFC 9162 §2.1.3 and §2.1.4), generated from stored
//! perfect-subtree hashes and verified with the RFC's own algorithms.
//!
//! Generation is split in two so that any storage fits: a [`ProofPlan`] says which subtree
//! ranges the proof consists of and which stored nodes ([`NodeId`]s, `O(log n)` of them) it
//! needs; the caller fetches those however it likes (one `SELECT … WHERE (level, idx) IN …` for a
//! database) and [`ProofPlan::assemble`] hashes them into the proof. [`inclusion_proof`] and
//! [`consistency_proof`] do both steps against a synchronous [`TreeStore`].
//!
//! Proof elements are ordered as the RFC orders them: from the leaf (or the old tree) upwards.

use super::merkle::{
    Hash, NodeId, TreeStore, TreeStoreError, empty_root, fold_subtrees, node_hash,
    perfect_subtrees, split_point,
};

/// Why a proof could not be produced or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The leaf is not in a tree of that size.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size it was asked against.
        size: u64,
    },
    /// A proof was asked for a tree larger than the log is now.
    #[error("tree size {size} is larger than the log ({tree_size} entries)")]
    SizeBeyondTree {
        /// The size asked for.
        size: u64,
        /// The number of entries in the log.
        tree_size: u64,
    },
    /// A consistency proof only goes from a smaller (or equal) tree to a larger one.
    #[error("no consistency proof from tree size {size1} to the smaller size {size2}")]
    InvalidConsistencySizes {
        /// The old size.
        size1: u64,
        /// The new size.
        size2: u64,
    },
    /// The proof has the wrong number of hashes for the sizes claimed; the length is fixed by
    /// the sizes alone, so this is rejected before any hashing.
    #[error("proof has {got} hashes, but these sizes need exactly {expected}")]
    WrongProofLength {
        /// The length the sizes imply.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// The inclusion proof leads to a different root: the entry is not in that tree.
    #[error(
        "inclusion proof leads to root {}, not {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    RootMismatch {
        /// The root the proof leads to.
        computed: Hash,
        /// The root it should have led to.
        expected: Hash,
    },
    /// The consistency proof does not reproduce the old root: the old tree is not a prefix of
    /// the new one as proved.
    #[error("consistency proof does not reproduce the old root")]
    OldRootMismatch,
    /// The consistency proof does not reproduce the new root: the log was rewritten, or the
    /// proof is wrong.
    #[error("consistency proof does not reproduce the new root")]
    NewRootMismatch,
    /// A node the proof needs could not be read.
    #[error(transparent)]
    Store(#[from] TreeStoreError),
}

/// The shape of a proof: the leaf ranges `[start, end)` whose tree hashes are its elements, in
/// proof order. Depends only on the indices and sizes, never on the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPlan {
    spans: Vec<(u64, u64)>,
}

impl ProofPlan {
    /// The plan of the inclusion proof of leaf `index` in the tree of the first `size` leaves:
    /// RFC 9162 §2.1.3.1 `PATH(index, D[size])`.
    pub fn inclusion(index: u64, size: u64) -> Result<ProofPlan, ProofError> {
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let (mut lo, mut hi) = (0u64, size);
        let mut spans = Vec::new();
        // Walk down from the root; the sibling of each step is one proof element. The RFC
        // appends on the way back up, so the collected order is reversed at the end.
        while hi - lo > 1 {
            let k = split_point(hi - lo);
            if index - lo < k {
                spans.push((lo + k, hi));
                hi = lo + k;
            } else {
                spans.push((lo, lo + k));
                lo += k;
            }
        }
        spans.reverse();
        Ok(ProofPlan { spans })
    }

    /// The plan of the consistency proof from the tree of `size1` leaves to the tree of
    /// `size2`: RFC 9162 §2.1.4.1 `PROOF(size1, D[size2])`. Empty when `size1` is 0 or equal
    /// to `size2`, where consistency holds trivially.
    pub fn consistency(size1: u64, size2: u64) -> Result<ProofPlan, ProofError> {
        if size1 > size2 {
            return Err(ProofError::InvalidConsistencySizes { size1, size2 });
        }
        let mut spans = Vec::new();
        if size1 == 0 || size1 == size2 {
            return Ok(ProofPlan { spans });
        }
        // SUBPROOF(m, D[lo:hi], b), unrolled; `m` is relative to `lo`.
        let (mut lo, mut hi, mut m, mut b) = (0u64, size2, size1, true);
        loop {
            let n = hi - lo;
            if m == n {
                if !b {
                    spans.push((lo, hi));
                }
                break;
            }
            let k = split_point(n);
            if m <= k {
                spans.push((lo + k, hi));
                hi = lo + k;
            } else {
                spans.push((lo, lo + k));
                lo += k;
                m -= k;
                b = false;
            }
        }
        spans.reverse();
        Ok(ProofPlan { spans })
    }

    /// Number of hashes in the proof.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the proof is empty.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The leaf ranges `[start, end)` whose tree hashes make up the proof, in order.
    pub fn spans(&self) -> impl Iterator<Item = std::ops::Range<u64>> + '_ {
        self.spans.iter().map(|&(s, e)| s..e)
    }

    /// Every stored node the proof needs, sorted and without duplicates: `O(log n)` of them.
    pub fn node_ids(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self
            .spans
            .iter()
            .flat_map(|&(s, e)| perfect_subtrees(s, e))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Builds the proof from node hashes; `lookup` answers for each of [`ProofPlan::node_ids`]
    /// (`None` = not stored, which is reported as [`TreeStoreError::Missing`]).
    pub fn assemble(
        &self,
        mut lookup: impl FnMut(NodeId) -> Option<Hash>,
    ) -> Result<Vec<Hash>, ProofError> {
        self.try_assemble(|id| lookup(id).ok_or(TreeStoreError::Missing(id)))
    }

    fn try_assemble(
        &self,
        mut lookup: impl FnMut(NodeId) -> Result<Hash, TreeStoreError>,
    ) -> Result<Vec<Hash>, ProofError> {
        let mut proof = Vec::with_capacity(self.spans.len());
        for &(s, e) in &self.spans {
            let hashes = perfect_subtrees(s, e)
                .into_iter()
                .map(&mut lookup)
                .collect::<Result<Vec<_>, _>>()?;
            proof.push(fold_subtrees(&hashes).expect("a proof span is never empty"));
        }
        Ok(proof)
    }
}

fn check_size(store: &impl TreeStore, size: u64) -> Result<(), ProofError> {
    let tree_size = store.size();
    if size > tree_size {
        return Err(ProofError::SizeBeyondTree { size, tree_size });
    }
    Ok(())
}

/// The root of the tree of the first `size` leaves, from `O(log n)` stored nodes.
pub fn root_at(store: &impl TreeStore, size: u64) -> Result<Hash, ProofError> {
    check_size(store, size)?;
    let hashes = perfect_subtrees(0, size)
        .into_iter()
        .map(|id| store.subtree_hash(id.level, id.index))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(fold_subtrees(&hashes).unwrap_or_else(empty_root))
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
pub fn inclusion_proof(
    store: &impl TreeStore,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    from_store(store, size, || ProofPlan::inclusion(index, size))
}

/// The consistency proof from the tree of the first `size1` leaves to that of the first `size2`.
pub fn consistency_proof(
    store: &impl TreeStore,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, ProofError> {
    from_store(store, size2, || ProofPlan::consistency(size1, size2))
}

/// Both proofs from stored nodes: the tree of `size` leaves must exist in `store` (checked
/// first, so a size beyond the tree is reported as such), then `plan` says which nodes to read.
fn from_store(
    store: &impl TreeStore,
    size: u64,
    plan: impl FnOnce() -> Result<ProofPlan, ProofError>,
) -> Result<Vec<Hash>, ProofError> {
    check_size(store, size)?;
    plan()?.try_assemble(|id| store.subtree_hash(id.level, id.index))
}

/// The root an inclusion proof leads to, by RFC 9162 §2.1.3.2. The proof length is checked
/// against the one `index` and `size` imply before any hashing, so a proof can be neither
/// padded nor truncated.
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    let expected = ProofPlan::inclusion(index, size)?.len();
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let wrong_length = || ProofError::WrongProofLength {
        expected,
        got: proof.len(),
    };
    let (r, _) = walk_path(index, size - 1, *leaf_hash, None, proof, wrong_length)?;
    Ok(r)
}

/// The path walk both RFC 9162 verifications share (§2.1.3.2 and §2.1.4.2): starting at node
/// `fn_` of a tree whose last node is `sn`, fold each hash of `path` into `seed` on the side
/// the bits of `fn_` say, and into `old` (the consistency check's old-root accumulator, when
/// given) only where it hangs on the left. Returns both accumulators; `wrong_length` is the
/// error if the path does not end exactly at the root.
fn walk_path(
    mut fn_: u64,
    mut sn: u64,
    mut seed: Hash,
    mut old: Option<Hash>,
    path: &[Hash],
    wrong_length: impl Fn() -> ProofError,
) -> Result<(Hash, Option<Hash>), ProofError> {
    for p in path {
        // Cannot happen with the length checked by the caller; kept because it is the RFC's
        // guard.
        if sn == 0 {
            return Err(wrong_length());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            seed = node_hash(p, &seed);
            if let Some(old) = &mut old {
                *old = node_hash(p, old);
            }
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            seed = node_hash(&seed, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong_length());
    }
    Ok((seed, old))
}

/// Checks that leaf `index` with `leaf_hash` is in the tree of `size` leaves with `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(index, size, leaf_hash, proof)?;
    if &computed != root {
        return Err(ProofError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// Checks that the tree of `size1` leaves with `root1` is a prefix of the tree of `size2`
/// leaves with `root2`, by RFC 9162 §2.1.4.2 — i.e. that the log was only appended to.
///
/// Equal sizes need an empty proof and equal roots. From size 0 the proof is empty and `root1`
/// must be the empty-tree hash (stricter than some implementations, which ignore `root1` there:
/// a checkpoint of the empty tree with any other root was never honestly signed).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    let expected = ProofPlan::consistency(size1, size2)?.len();
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    if size1 == size2 {
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::NewRootMismatch)
        };
    }
    if size1 == 0 {
        return if *root1 == empty_root() {
            Ok(())
        } else {
            Err(ProofError::OldRootMismatch)
        };
    }

    // If size1 is a power of two, the old root is itself a node of the new tree and the RFC
    // prepends it to the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);

    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let wrong_length = || ProofError::WrongProofLength {
        expected,
        got: proof.len(),
    };
    let (sr, fr) = walk_path(fn_, sn, path[0], Some(path[0]), &path[1..], wrong_length)?;
    let fr = fr.expect("walk_path returns the accumulator it was given");
    if &fr != root1 {
        return Err(ProofError::OldRootMismatch);
    }
    if &sr != root2 {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::merkle::tests::reference_root as mth;
    use super::super::merkle::{MemoryTree, leaf_hash};
    use super::*;

    /// RFC 9162 §2.1.3.1 PATH, literally.
    fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
        let n = d.len();
        if n == 1 {
            return vec![];
        }
        let k = split_point(n as u64) as usize;
        if m < k {
            let mut p = path(m, &d[..k]);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// RFC 9162 §2.1.4.1 SUBPROOF, literally.
    fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![mth(d)] };
        }
        let k = split_point(n as u64) as usize;
        if m <= k {
            let mut p = subproof(m, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = subproof(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }

    fn data(n: u64) -> (MemoryTree, Vec<Hash>) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut tree = MemoryTree::new();
        for h in &leaves {
            tree.append_leaf_hash(*h);
        }
        (tree, leaves)
    }

    #[test]
    fn inclusion_proofs_match_the_rfc_definition_and_verify() {
        let (tree, leaves) = data(40);
        for size in 1..=40u64 {
            let d = &leaves[..size as usize];
            let root = mth(d);
            assert_eq!(root_at(&tree, size).unwrap(), root);
            for index in 0..size {
                let proof = inclusion_proof(&tree, index, size).unwrap();
                assert_eq!(proof, path(index as usize, d), "{index}/{size}");
                verify_inclusion(index, size, &leaves[index as usize], &proof, &root).unwrap();
                // The proof must not prove a neighbour, nor survive truncation or padding.
                if size > 1 {
                    let other = (index + 1) % size;
                    assert!(
                        verify_inclusion(other, size, &leaves[index as usize], &proof, &root)
                            .is_err()
                    );
                }
                assert!(
                    verify_inclusion(index, size, &leaves[index as usize], &[], &root).is_err()
                        || proof.is_empty()
                );
                let mut padded = proof.clone();
                padded.push(root);
                assert!(matches!(
                    verify_inclusion(index, size, &leaves[index as usize], &padded, &root),
                    Err(ProofError::WrongProofLength { .. })
                ));
            }
        }
    }

    #[test]
    fn consistency_proofs_match_the_rfc_definition_and_verify() {
        let (tree, leaves) = data(40);
        for size2 in 1..=40u64 {
            let root2 = mth(&leaves[..size2 as usize]);
            for size1 in 1..=size2 {
                let root1 = mth(&leaves[..size1 as usize]);
                let proof = consistency_proof(&tree, size1, size2).unwrap();
                let want = if size1 == size2 {
                    vec![]
                } else {
                    subproof(size1 as usize, &leaves[..size2 as usize], true)
                };
                assert_eq!(proof, want, "{size1}->{size2}");
                verify_consistency(size1, size2, &proof, &root1, &root2).unwrap();
                if size1 < size2 {
                    assert!(verify_consistency(size1, size2, &proof, &root2, &root1).is_err());
                    let mut bad = proof.clone();
                    bad[0][0] ^= 1;
                    assert!(verify_consistency(size1, size2, &bad, &root1, &root2).is_err());
                }
            }
        }
    }

    #[test]
    fn plans_need_logarithmically_many_nodes() {
        let n = 10_000_000u64;
        for index in [0, 1, 4_999_999, n - 2, n - 1] {
            let plan = ProofPlan::inclusion(index, n).unwrap();
            assert!(plan.node_ids().len() <= 2 * 64, "{index}");
        }
        let plan = ProofPlan::consistency(3_333_333, n).unwrap();
        assert!(plan.node_ids().len() <= 2 * 64);
    }

    #[test]
    fn edge_cases_are_rejected_or_trivial() {
        let (tree, _) = data(5);
        assert!(matches!(
            inclusion_proof(&tree, 5, 5),
            Err(ProofError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            inclusion_proof(&tree, 0, 6),
            Err(ProofError::SizeBeyondTree { .. })
        ));
        assert!(matches!(
            consistency_proof(&tree, 4, 3),
            Err(ProofError::InvalidConsistencySizes { .. })
        ));
        assert!(consistency_proof(&tree, 0, 5).unwrap().is_empty());
        let r = tree.root();
        verify_consistency(0, 5, &[], &empty_root(), &r).unwrap();
        assert!(verify_consistency(0, 5, &[], &r, &r).is_err());
        verify_consistency(5, 5, &[], &r, &r).unwrap();
        assert!(verify_consistency(5, 5, &[], &r, &empty_root()).is_err());
        assert!(verify_consistency(5, 5, &[r], &r, &r).is_err());
        assert!(verify_inclusion(0, 0, &r, &[], &r).is_err());
        assert_eq!(root_at(&tree, 0).unwrap(), empty_root());
    }

    #[test]
    fn assemble_reports_missing_nodes() {
        let plan = ProofPlan::inclusion(2, 5).unwrap();
        assert!(matches!(
            plan.assemble(|_| None),
            Err(ProofError::Store(TreeStoreError::Missing(_)))
        ));
    }
}
