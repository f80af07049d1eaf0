//! Signing C2SP signed notes and checkpoints with the broker's Ed25519 audit key (ring). The
//! formats and their verification are in [`kruispunt_sdk::transparency`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kruispunt_sdk::transparency::note::{
    ED25519_SIGNATURE_LEN, SIG_PREFIX, check_key_name, check_text, key_id,
};
use kruispunt_sdk::transparency::{Checkpoint, Hash, NoteError};
use ring::signature::{Ed25519KeyPair, KeyPair as _};

/// Signs `text` with an Ed25519 key under `key_name`, returning the complete note (text, blank
/// line, one signature line). Ed25519 is deterministic, so the same inputs give the same note.
pub fn sign_note(text: &str, key_name: &str, key: &Ed25519KeyPair) -> Result<String, NoteError> {
    check_text(text)?;
    check_key_name(key_name)?;
    let public_key: &[u8; 32] = key
        .public_key()
        .as_ref()
        .try_into()
        .expect("an Ed25519 public key has 32 bytes");
    let mut sig = Vec::with_capacity(4 + ED25519_SIGNATURE_LEN);
    sig.extend_from_slice(&key_id(key_name, public_key).to_be_bytes());
    sig.extend_from_slice(key.sign(text.as_bytes()).as_ref());
    Ok(format!(
        "{text}\n{SIG_PREFIX}{key_name} {}\n",
        B64.encode(sig)
    ))
}

/// Signs a checkpoint for the tree of `size` entries with `root`, returning the signed note as
/// served at `GET /v1/audit/checkpoint`. `key_name` should equal `origin` (C2SP recommends it).
pub fn sign_checkpoint(
    origin: &str,
    size: u64,
    root: &Hash,
    key_name: &str,
    key: &Ed25519KeyPair,
) -> Result<String, NoteError> {
    let body = Checkpoint::new(origin, size, *root).to_body()?;
    sign_note(&body, key_name, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kruispunt_sdk::transparency::{Verifier, open_note, parse_verifier_key, verify_note};

    fn keypair(seed: u8) -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
    }

    #[test]
    fn sign_then_open_round_trips() {
        let k = keypair(7);
        let note = sign_note("hello\nworld\n", "kruispunt/test", &k).unwrap();
        let v = Verifier::new("kruispunt/test", k.public_key().as_ref()).unwrap();
        let opened = open_note(&note, std::slice::from_ref(&v)).unwrap();
        assert_eq!(opened.text, "hello\nworld\n");
        assert_eq!(opened.signed_by, vec!["kruispunt/test".to_string()]);
        assert_eq!(parse_verifier_key(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn signing_rejects_bad_text_and_names() {
        let k = keypair(1);
        assert!(sign_note("", "a", &k).is_err());
        assert!(sign_note("no newline", "a", &k).is_err());
        assert!(sign_note("tab\there\n", "a", &k).is_err());
        assert!(sign_note("x\n", "a+b", &k).is_err());
        assert!(sign_note("x\n", "a b", &k).is_err());
        assert!(sign_note("x\n", "", &k).is_err());
    }

    #[test]
    fn a_wrong_signature_from_a_trusted_key_rejects_the_note() {
        let k = keypair(2);
        let v = Verifier::new("k", k.public_key().as_ref()).unwrap();
        let note = sign_note("a\n", "k", &k).unwrap();
        let forged = note.replacen("a\n", "b\n", 1);
        assert!(matches!(
            open_note(&forged, std::slice::from_ref(&v)),
            Err(NoteError::InvalidSignature(_))
        ));
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let k = Ed25519KeyPair::from_seed_unchecked(&[4; 32]).unwrap();
        let v = Verifier::new("kruispunt/test", k.public_key().as_ref()).unwrap();
        let root = [0xab; 32];
        let note = sign_checkpoint("kruispunt/test", 42, &root, "kruispunt/test", &k).unwrap();
        assert!(note.starts_with(&format!(
            "kruispunt/test\n42\n{}\n\n\u{2014} kruispunt/test ",
            B64.encode(root)
        )));
        let cp = verify_note(&note, &[v]).unwrap();
        assert_eq!(cp, Checkpoint::new("kruispunt/test", 42, root));
    }

    #[test]
    fn invalid_origins_are_not_signed() {
        let k = Ed25519KeyPair::from_seed_unchecked(&[5; 32]).unwrap();
        for origin in ["", "a b", "a+b", "a\nb"] {
            assert!(
                sign_checkpoint(origin, 1, &[0; 32], "k", &k).is_err(),
                "{origin:?}"
            );
        }
    }
}
