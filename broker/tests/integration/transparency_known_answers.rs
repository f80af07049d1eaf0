//! Published known answers for the audit log's Merkle tree and signed notes, checked against
//! `kruispunt_broker::audit::transparency` through its public API only.
//!
//! Sources (copied values, not recomputed):
//! * Merkle tree (kept in `vectors/rfc6962.json`): github.com/transparency-dev/merkle — `testonly/constants.go` (commit
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

/// The Merkle-tree vectors (their source is named in the file).
#[derive(serde::Deserialize)]
struct Vectors {
    leaves: Vec<String>,
    roots: Vec<String>,
    nodes: Vec<Vec<String>>,
    inclusion: Vec<Inclusion>,
    consistency: Vec<Consistency>,
}

/// verify_test.go `inclusionProofs`: `leaf` is 1-based there; the index we pass is `leaf - 1`.
/// The `{0, 0, nil}` entry is the invalid case, tested separately.
#[derive(serde::Deserialize)]
struct Inclusion {
    leaf: u64,
    size: u64,
    proof: Vec<String>,
}

/// verify_test.go `consistencyProofs`.
#[derive(serde::Deserialize)]
struct Consistency {
    size1: u64,
    size2: u64,
    proof: Vec<String>,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("vectors/rfc6962.json")).unwrap()
}

fn tree(v: &Vectors) -> MemoryTree {
    MemoryTree::from_leaves(v.leaves.iter().map(|l| hex::decode(l).unwrap()))
}

fn hashes(list: &[String]) -> Vec<Hash> {
    list.iter().map(|s| h(s)).collect()
}

#[test]
fn roots_for_sizes_0_to_8() {
    let v = vectors();
    assert_eq!(empty_root(), h(&v.roots[0]));
    let leaf_hashes: Vec<Hash> = v
        .leaves
        .iter()
        .map(|l| leaf_hash(&hex::decode(l).unwrap()))
        .collect();
    let t = tree(&v);
    for (size, want) in v.roots.iter().enumerate() {
        assert_eq!(root(&leaf_hashes[..size]), h(want), "root({size})");
        assert_eq!(
            root_at(&t, size as u64).unwrap(),
            h(want),
            "root_at({size})"
        );
    }
    assert_eq!(t.root(), h(&v.roots[8]));
}

#[test]
fn every_stored_subtree_hash() {
    let v = vectors();
    let t = tree(&v);
    for (level, row) in v.nodes.iter().enumerate() {
        for (index, want) in row.iter().enumerate() {
            assert_eq!(
                t.subtree_hash(level as u8, index as u64).unwrap(),
                h(want),
                "node ({level}, {index})"
            );
        }
    }
}

/// The proof manglings of verify_test.go's `corruptInclusionProof`/`corruptConsistencyProof`
/// that every verifier must refuse: each `extra` hash appended and prepended, each hash with
/// `flip` xored into its first byte, and the last hash dropped.
fn corrupted(proof: &[Hash], extras: &[Hash], flip: u8) -> Vec<Vec<Hash>> {
    let mut out = Vec::new();
    for extra in extras {
        out.push([proof, &[*extra]].concat());
        out.push([&[*extra], proof].concat());
    }
    for i in 0..proof.len() {
        let mut flipped = proof.to_vec();
        flipped[i][0] ^= flip;
        out.push(flipped);
    }
    if let Some((_, shorter)) = proof.split_last() {
        out.push(shorter.to_vec());
    }
    out
}

#[test]
fn published_inclusion_proofs_are_generated_and_verify() {
    let v = vectors();
    let t = tree(&v);
    for Inclusion { leaf, size, proof } in &v.inclusion {
        let (index, size) = (leaf - 1, *size);
        let want = hashes(proof);
        assert_eq!(
            inclusion_proof(&t, index, size).unwrap(),
            want,
            "inclusion({index}, {size})"
        );
        let lh = t.leaf_hash(index).unwrap();
        let r = h(&v.roots[size as usize]);
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
        for corrupt in corrupted(&want, &[r], 8) {
            assert!(bad(index, size, &lh, &corrupt, &r));
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
    let v = vectors();
    let t = tree(&v);
    for Consistency {
        size1,
        size2,
        proof,
    } in &v.consistency
    {
        let (size1, size2) = (*size1, *size2);
        let want = hashes(proof);
        assert_eq!(
            consistency_proof(&t, size1, size2).unwrap(),
            want,
            "consistency({size1}, {size2})"
        );
        let (r1, r2) = (h(&v.roots[size1 as usize]), h(&v.roots[size2 as usize]));
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
        for corrupt in corrupted(&want, &[r1, r2], 16) {
            assert!(bad(size1, size2, &corrupt, &r1, &r2));
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
