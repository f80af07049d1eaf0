//! Inclusion and consistency proofs (RFC 9162) and the served log lines, as the SDK client and
//! `kruispunt audit verify` check them.
//!
//! Mode 0 (first byte % 3): a tree of 1–64 leaves and a leaf / an older size chosen by the next
//! bytes; the honest proofs verify, and any change the remaining bytes make to a proof (a bit
//! flipped, a hash dropped or added, another index or size) is refused or proves the same
//! thing. Mode 1: the rest is an inclusion or consistency proof as `GET /v1/audit/proof/...`
//! serves it (JSON): checked against a 16-leaf tree it never panics, and one that verifies for
//! a leaf of that tree is the honest proof. Mode 2: the rest is served log lines (NDJSON): each
//! one round-trips through JSON, and the log verifier takes any sequence without panicking.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kruispunt_sdk::client::{ConsistencyProof, InclusionProof};
use kruispunt_sdk::transparency::{
    Checkpoint, Hash, LogLine, LogVerifier, MemoryTree, consistency_proof, empty_root,
    inclusion_proof, leaf_hash, verify_consistency, verify_inclusion,
};
use libfuzzer_sys::fuzz_target;

fn tree(n: u64) -> MemoryTree {
    MemoryTree::from_leaves((0..n).map(|i| i.to_be_bytes()))
}

fn root_of(t: &MemoryTree, size: u64) -> Hash {
    if size == 0 {
        return empty_root();
    }
    kruispunt_sdk::transparency::root_at(t, size).expect("a size within the tree")
}

fn hashes(texts: &[String]) -> Option<Vec<Hash>> {
    texts
        .iter()
        .map(|t| B64.decode(t).ok().and_then(|b| <Hash>::try_from(b).ok()))
        .collect()
}

/// Applies the change `m` selects to `proof`, or to (`a`, `b`); whether the proof's hashes
/// changed. (Another index or size is only required not to panic: RFC 9162 proofs bind the
/// shape of the path, and a few other (index, size) pairs share it.)
fn mutate(m: &[u8], proof: &mut Vec<Hash>, a: &mut u64, b: &mut u64) -> bool {
    let Some((&op, rest)) = m.split_first() else {
        return false;
    };
    let arg = rest.first().copied().unwrap_or(0);
    let bit = rest.get(1).copied().unwrap_or(1).max(1);
    match op % 5 {
        0 if !proof.is_empty() => {
            let (i, j) = (usize::from(arg) % proof.len(), usize::from(bit) % 32);
            proof[i][j] ^= bit;
            true
        }
        1 if !proof.is_empty() => {
            proof.remove(usize::from(arg) % proof.len());
            true
        }
        2 => {
            proof.push([arg; 32]);
            true
        }
        3 => {
            *a = a.wrapping_add(u64::from(arg) + 1);
            false
        }
        4 => {
            *b = b.wrapping_add(u64::from(arg) + 1);
            false
        }
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if rest.len() < 3 {
                return;
            }
            let n = u64::from(rest[0] % 64) + 1;
            let (i, m) = (u64::from(rest[1]) % n, u64::from(rest[2]) % (n + 1));
            let t = tree(n);
            let root = t.root();
            let leaf = leaf_hash(&i.to_be_bytes());
            let mut p = inclusion_proof(&t, i, n).expect("an inclusion proof within the tree");
            verify_inclusion(i, n, &leaf, &p, &root).expect("the honest inclusion proof verifies");
            let mut c = consistency_proof(&t, m, n).expect("a consistency proof within the tree");
            let old = root_of(&t, m);
            verify_consistency(m, n, &c, &old, &root)
                .expect("the honest consistency proof verifies");

            let (mut i2, mut n2) = (i, n);
            let changed = mutate(&rest[3..], &mut p, &mut i2, &mut n2);
            let ok = verify_inclusion(i2, n2, &leaf, &p, &root).is_ok();
            assert!(!(changed && ok), "a changed inclusion proof verified");
            assert!(!ok || i2 < n2);
            let (mut m2, mut n3) = (m, n);
            let changed = mutate(rest.get(6..).unwrap_or_default(), &mut c, &mut m2, &mut n3);
            let ok = verify_consistency(m2, n3, &c, &old, &root).is_ok();
            assert!(!(changed && ok), "a changed consistency proof verified");
            assert!(!ok || m2 <= n3);
        }
        1 => {
            let t = tree(16);
            let root = t.root();
            if let Ok(ip) = serde_json::from_slice::<InclusionProof>(rest) {
                let (Some(path), Some(leaf)) = (hashes(&ip.proof), hashes(&[ip.leaf_hash])) else {
                    return;
                };
                if verify_inclusion(ip.index, ip.tree_size, &leaf[0], &path, &root).is_ok()
                    && ip.tree_size == 16
                {
                    assert_eq!(leaf[0], leaf_hash(&ip.index.to_be_bytes()));
                    assert_eq!(path, inclusion_proof(&t, ip.index, 16).unwrap());
                }
            } else if let Ok(cp) = serde_json::from_slice::<ConsistencyProof>(rest) {
                let Some(path) = hashes(&cp.proof) else {
                    return;
                };
                if cp.first <= 16 && cp.second == 16 {
                    let old = root_of(&t, cp.first);
                    if verify_consistency(cp.first, 16, &path, &old, &root).is_ok() {
                        assert_eq!(path, consistency_proof(&t, cp.first, 16).unwrap());
                    }
                } else {
                    let _ = verify_consistency(cp.first, cp.second, &path, &root, &root);
                }
            }
        }
        _ => {
            let mut verifier = LogVerifier::new(None);
            let mut shadow = MemoryTree::new();
            for line in rest.split(|&b| b == b'\n') {
                let Ok(l) = serde_json::from_slice::<LogLine>(line) else {
                    continue;
                };
                let json = serde_json::to_vec(&l).expect("a line serialises");
                let again: LogLine = serde_json::from_slice(&json).expect("a served line parses");
                assert_eq!(again, l);
                if verifier.push(&l).is_err() {
                    return;
                }
                shadow.append_leaf(&l.leaf);
            }
            let size = verifier.size();
            let cp = Checkpoint::new("kruispunt/fuzz", size, shadow.root());
            let _ = verifier.finish(&cp);
        }
    }
});
