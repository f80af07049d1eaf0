//! Published known answers for the audit log's Merkle tree and signed notes, checked against
//! `kruispunt_broker::audit::transparency` through its public API only.
//!
//! Sources (copied values, not recomputed):
//! * Merkle tree: github.com/transparency-dev/merkle — `testonly/constants.go` (commit
//!   582a6ad190b6848f1d26f8bf08ddef29955d9db1: `LeafInputs`, `NodeHashes`, `RootHashes`) and
//!   `proof/verify_test.go` (commit 02194e9afb6c1d95b5381350007963aa70fff472:
//!   `inclusionProofs`, `consistencyProofs`). These are the RFC 6962 test vectors that
//!   google/certificate-transparency's `merkle_tree_test.cc` introduced.
//! * Signed note: github.com/golang/mod — `sumdb/note/note_test.go` (commit
//!   02c991387e35f9e4c0a9b7ce137717055f8d716d: `TestNewVerifier`, `TestSign`, `TestOpen`),
//!   the reference implementation of c2sp.org/signed-note; and the example note in
//!   C2SP/C2SP `signed-note.md` (commit 055287621bf3cd13ff4394418a3e8efc2d5e8ed7).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kruispunt_broker::audit::sign_note;
use kruispunt_broker::audit::transparency::{
    Hash, KeyError, MemoryTree, NoteError, ProofError, TreeStore, consistency_proof, empty_root,
    inclusion_proof, leaf_hash, open_note, parse_verifier_key, root, root_at, verify_consistency,
    verify_inclusion,
};
use ring::signature::{Ed25519KeyPair, KeyPair as _};

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// transparency-dev/merkle testonly.LeafInputs().
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// testonly.RootHashes(), index = tree size.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// testonly.NodeHashes(): `[level][index]` of every complete subtree of the 8-leaf tree.
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// verify_test.go `inclusionProofs`: (leaf, size, proof). NOTE: `leaf` there is 1-based; the
/// index we pass is `leaf - 1`. The `{0, 0, nil}` entry is the invalid case, tested separately.
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        3,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        2,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// verify_test.go `consistencyProofs`: (size1, size2, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn tree() -> MemoryTree {
    MemoryTree::from_leaves(LEAVES.iter().map(|l| hex::decode(l).unwrap()))
}

fn hashes(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|s| h(s)).collect()
}

#[test]
fn roots_for_sizes_0_to_8() {
    assert_eq!(empty_root(), h(ROOTS[0]));
    let leaf_hashes: Vec<Hash> = LEAVES
        .iter()
        .map(|l| leaf_hash(&hex::decode(l).unwrap()))
        .collect();
    let t = tree();
    for (size, want) in ROOTS.iter().enumerate() {
        assert_eq!(root(&leaf_hashes[..size]), h(want), "root({size})");
        assert_eq!(
            root_at(&t, size as u64).unwrap(),
            h(want),
            "root_at({size})"
        );
    }
    assert_eq!(t.root(), h(ROOTS[8]));
}

#[test]
fn every_stored_subtree_hash() {
    let t = tree();
    for (level, row) in NODES.iter().enumerate() {
        for (index, want) in row.iter().enumerate() {
            assert_eq!(
                t.subtree_hash(level as u8, index as u64).unwrap(),
                h(want),
                "node ({level}, {index})"
            );
        }
    }
}

#[test]
fn published_inclusion_proofs_are_generated_and_verify() {
    let t = tree();
    for (leaf, size, proof) in INCLUSION {
        let index = leaf - 1;
        let want = hashes(proof);
        assert_eq!(
            inclusion_proof(&t, index, size).unwrap(),
            want,
            "inclusion({index}, {size})"
        );
        let lh = t.leaf_hash(index).unwrap();
        let r = h(ROOTS[size as usize]);
        verify_inclusion(index, size, &lh, &want, &r).unwrap();

        // Corruptions from verify_test.go's corruptInclusionProof must all fail.
        let bad = |i: u64, s: u64, leaf: &Hash, p: &[Hash], root: &Hash| {
            verify_inclusion(i, s, leaf, p, root).is_err()
        };
        if index > 0 {
            assert!(bad(index - 1, size, &lh, &want, &r));
        }
        assert!(bad(index + 1, size, &lh, &want, &r));
        if index ^ 2 < size {
            assert!(bad(index ^ 2, size, &lh, &want, &r));
        }
        assert!(bad(index, size * 2, &lh, &want, &r));
        assert!(bad(index, size / 2, &lh, &want, &r));
        assert!(bad(index, size, &leaf_hash(b"WrongLeaf"), &want, &r));
        assert!(bad(index, size, &lh, &want, &empty_root()));
        let mut trailing = want.clone();
        trailing.push(r);
        assert!(bad(index, size, &lh, &trailing, &r));
        let mut preceding = vec![r];
        preceding.extend_from_slice(&want);
        assert!(bad(index, size, &lh, &preceding, &r));
        for i in 0..want.len() {
            let mut flipped = want.clone();
            flipped[i][0] ^= 8;
            assert!(bad(index, size, &lh, &flipped, &r));
        }
        if !want.is_empty() {
            assert!(bad(index, size, &lh, &want[..want.len() - 1], &r));
        }
    }
    // The {0, 0} vector: no leaf is in the empty tree.
    assert!(matches!(
        verify_inclusion(0, 0, &empty_root(), &[], &empty_root()),
        Err(ProofError::IndexOutOfRange { .. })
    ));
}

#[test]
fn published_consistency_proofs_are_generated_and_verify() {
    let t = tree();
    for (size1, size2, proof) in CONSISTENCY {
        let want = hashes(proof);
        assert_eq!(
            consistency_proof(&t, size1, size2).unwrap(),
            want,
            "consistency({size1}, {size2})"
        );
        let (r1, r2) = (h(ROOTS[size1 as usize]), h(ROOTS[size2 as usize]));
        verify_consistency(size1, size2, &want, &r1, &r2).unwrap();
        if want.is_empty() {
            continue;
        }
        // Corruptions from verify_test.go's corruptConsistencyProof must all fail.
        let bad = |s1: u64, s2: u64, p: &[Hash], a: &Hash, b: &Hash| {
            verify_consistency(s1, s2, p, a, b).is_err()
        };
        assert!(bad(size1 - 1, size2, &want, &r1, &r2));
        assert!(bad(size1 + 1, size2, &want, &r1, &r2));
        assert!(bad(size1 ^ 2, size2, &want, &r1, &r2));
        assert!(bad(size1, size2 * 2, &want, &r1, &r2));
        assert!(bad(size1, size2 / 2, &want, &r1, &r2));
        assert!(bad(size1, size2, &want, &r2, &r1));
        assert!(bad(size1, size2, &want, &empty_root(), &r2));
        assert!(bad(size1, size2, &want, &r1, &empty_root()));
        assert!(bad(size1, size2, &[], &r1, &r2));
        for extra in [r1, r2] {
            let mut trailing = want.clone();
            trailing.push(extra);
            assert!(bad(size1, size2, &trailing, &r1, &r2));
            let mut preceding = vec![extra];
            preceding.extend_from_slice(&want);
            assert!(bad(size1, size2, &preceding, &r1, &r2));
        }
        assert!(bad(size1, size2, &want[..want.len() - 1], &r1, &r2));
        for i in 0..want.len() {
            let mut flipped = want.clone();
            flipped[i][0] ^= 16;
            assert!(bad(size1, size2, &flipped, &r1, &r2));
        }
    }
}

// ---- C2SP signed note: golang.org/x/mod/sumdb/note known answers ----

const PETER_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_PRIVATE: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_KEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

#[test]
fn peter_neumann_key_parses_and_manglings_do_not() {
    let v = parse_verifier_key(PETER_KEY).unwrap();
    assert_eq!(v.name(), "PeterNeumann");
    assert_eq!(v.key_id(), 0xc74f20a3);
    assert_eq!(v.to_string(), PETER_KEY);

    // TestNewVerifier: every proper substring, and every single-byte increment, is rejected.
    let b = PETER_KEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i != 0 || j != b.len() {
                let s = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(parse_verifier_key(s).is_err(), "{s:?}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        let s = String::from_utf8(m).unwrap();
        assert!(parse_verifier_key(&s).is_err(), "{s:?}");
    }
    // Wrong key length and unknown algorithm, each with a matching key hash.
    assert!(
        parse_verifier_key(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
        .is_err()
    );
    assert!(matches!(
        parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(KeyError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn signing_with_the_peter_neumann_key_gives_the_published_note() {
    // The private key string is `PRIVATE+KEY+<name>+<id>+base64(0x01 ‖ 32-byte Ed25519 seed)`
    // (the base64 may itself contain `+`).
    let raw = B64
        .decode(PETER_PRIVATE.splitn(5, '+').nth(4).unwrap())
        .unwrap();
    assert_eq!(raw[0], 0x01);
    let kp = Ed25519KeyPair::from_seed_unchecked(&raw[1..]).unwrap();
    let v = parse_verifier_key(PETER_KEY).unwrap();
    assert_eq!(kp.public_key().as_ref(), v.public_key());
    let note = sign_note(TEXT, "PeterNeumann", &kp).unwrap();
    assert_eq!(note, format!("{TEXT}\n{PETER_SIG}"));
}

#[test]
fn open_matches_the_reference_implementation() {
    let peter = parse_verifier_key(PETER_KEY).unwrap();
    let enoch = parse_verifier_key(ENOCH_KEY).unwrap();
    let both_sigs = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");

    // One trusted, one unknown.
    let n = open_note(&both_sigs, std::slice::from_ref(&peter)).unwrap();
    assert_eq!(n.text, TEXT);
    assert_eq!(n.signed_by, vec!["PeterNeumann".to_string()]);
    assert_eq!(n.unknown_signatures, 1);

    // Both trusted.
    let n = open_note(&both_sigs, &[peter.clone(), enoch.clone()]).unwrap();
    assert_eq!(
        n.signed_by,
        vec!["PeterNeumann".to_string(), "EnochRoot".to_string()]
    );

    // None trusted.
    assert_eq!(
        open_note(&both_sigs, &[]),
        Err(NoteError::NoTrustedSignature)
    );

    // Too many signatures: lines are counted, duplicates included, as in the Go code.
    let many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
    assert!(matches!(
        open_note(&many, std::slice::from_ref(&peter)),
        Err(NoteError::Malformed(_))
    ));
    assert!(matches!(
        open_note(&many, &[]),
        Err(NoteError::Malformed(_))
    ));
    open_note(
        format!("{TEXT}\n{}", PETER_SIG.repeat(100)),
        std::slice::from_ref(&peter),
    )
    .unwrap();

    // A valid-looking but wrong signature from a trusted key.
    let broken = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert!(matches!(
        open_note(&broken, std::slice::from_ref(&peter)),
        Err(NoteError::InvalidSignature(k)) if k == "PeterNeumann+c74f20a3"
    ));

    // Malformed encodings (TestOpen's badMsgs).
    for bad in [
        TEXT.to_string(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!(
            "{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ] {
        assert!(
            matches!(
                open_note(&bad, std::slice::from_ref(&peter)),
                Err(NoteError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
    let mut invalid_utf8 = b"\xff".to_vec();
    invalid_utf8.extend_from_slice(format!("{TEXT}\n{PETER_SIG}").as_bytes());
    assert!(matches!(
        open_note(&invalid_utf8, std::slice::from_ref(&peter)),
        Err(NoteError::Malformed(_))
    ));

    // A signature under another name, or another key id, is simply unknown.
    let misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
    assert_eq!(
        open_note(format!("{TEXT}\n{misnamed}"), std::slice::from_ref(&peter)),
        Err(NoteError::NoTrustedSignature)
    );
    let wrong_id = PETER_SIG.replace("x08g", "xxxx");
    assert_eq!(
        open_note(format!("{TEXT}\n{wrong_id}"), std::slice::from_ref(&peter)),
        Err(NoteError::NoTrustedSignature)
    );
}

#[test]
fn c2sp_example_note_is_well_formed_but_untrusted() {
    // The example in C2SP signed-note.md; its public key is not published, so the most we can
    // check is that it parses (an empty line inside the text is allowed) and is not trusted.
    let note = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    let peter = parse_verifier_key(PETER_KEY).unwrap();
    assert_eq!(
        open_note(note, &[peter]),
        Err(NoteError::NoTrustedSignature)
    );
}
