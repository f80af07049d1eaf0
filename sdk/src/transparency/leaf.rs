//! What a leaf of the audit log is: a salted commitment to one entry.
//!
//! `leaf = SHA-256(salt ‖ canonical entry bytes)`, 32 bytes, with a fresh random 32-byte salt
//! per entry kept beside the entry (never in the tree). The tree hashes the leaf as RFC 6962
//! says (`SHA-256(0x00 ‖ leaf)`).
//!
//! Why a commitment rather than the entry itself: an audit log must be append-only, yet the
//! law also requires erasing personal data after its retention period. Erasing an entry and its
//! salt leaves a leaf that still fits the tree (so every checkpoint stays verifiable) but that
//! links to nobody: without the salt, guessing the entry and hashing it no longer confirms
//! anything. The salt is random rather than derived from a key so that nobody, the broker's
//! operator included, can recompute it after erasure.

use ring::digest;

use super::merkle::{HASH_LEN, Hash};

/// Length of a salt in bytes.
pub const SALT_LEN: usize = 32;

/// The per-entry random salt.
pub type Salt = [u8; SALT_LEN];

/// The leaf bytes (32) for an entry's canonical bytes and its salt: `SHA-256(salt ‖ entry)`.
/// The salt has a fixed length, so the concatenation is unambiguous.
pub fn commitment(salt: &Salt, canonical_entry: &[u8]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(salt);
    ctx.update(canonical_entry);
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A fresh random salt from the operating system's generator (ring's `SystemRandom`).
pub fn new_salt() -> Result<Salt, ring::error::Unspecified> {
    use ring::rand::SecureRandom as _;
    let mut salt = [0u8; SALT_LEN];
    ring::rand::SystemRandom::new().fill(&mut salt)?;
    Ok(salt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitment_is_sha256_of_salt_then_entry() {
        // Python: hashlib.sha256(b"\0" * 32 + b"{}").hexdigest()
        assert_eq!(
            hex::encode(commitment(&[0u8; 32], b"{}")),
            "fb1634c4e6cd4b1f1afe3ce2d6ef080f7ac5d1f357d723ad4dfca782733b62db"
        );
        let c = commitment(&[0u8; 32], b"{}");
        assert_ne!(commitment(&[1u8; 32], b"{}"), c, "the salt matters");
        assert_ne!(new_salt().unwrap(), new_salt().unwrap());
    }

    /// The worked example of docs/AUDIT.md, byte for byte.
    #[test]
    fn the_documented_worked_example() {
        use crate::transparency::entry::{AuditEntry, Operation};
        use crate::transparency::merkle::leaf_hash;
        let e = AuditEntry {
            actor_org: Some("autoschade-almere".into()),
            actor_user: Some("user@autoschade-almere".into()),
            purpose: Some("autobranche-contante-aankopen".into()),
            decision: Some("allow".into()),
            pseudonyms: vec!["ab".repeat(32)],
            source_orgs: vec!["autobedrijf-de-vecht".into()],
            recipients: vec!["autoschade-almere".into()],
            detail: serde_json::json!({ "identifiers": 1, "hits": 1 }),
            ..AuditEntry::new(1_764_331_200_000, Operation::Disclose, "match")
        };
        let bytes = e.canonical_json();
        assert_eq!(bytes.len(), 461);
        let salt: Salt = std::array::from_fn(|i| i as u8 + 1);
        let leaf = commitment(&salt, &bytes);
        assert_eq!(
            hex::encode(leaf),
            "720ecd492ab07886c2cf6ded635bd9969ca9c1ae5dc3459379b30b417e5eb5f3"
        );
        assert_eq!(
            hex::encode(leaf_hash(&leaf)),
            "1cfe331ae39c8decfcc4e5bc7982ad7e206d8362cb2405e49af6ca065f957cf3"
        );
    }
}
