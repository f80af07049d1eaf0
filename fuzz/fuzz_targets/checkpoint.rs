//! Signed notes, checkpoints and verifier keys (C2SP), as `kruispunt audit verify`, the SDK
//! client and any privacy officer's tool read them.
//!
//! Mode 0 (first byte % 3): the rest is a note from an attacker, who does not hold the key: it
//! never opens, and `open_checkpoint` never accepts it. A checkpoint body that parses is its own
//! canonical text. Mode 1: the rest is a text the broker's signer signs (up to a 0xFF byte),
//! followed by signature lines someone appended: an honest signature always opens, to exactly
//! its text, and appended lines never change the text nor make it verify as another. Mode 2:
//! a verifier key string round-trips.
#![no_main]

use std::sync::LazyLock;

use kruispunt_broker::audit::sign::sign_note;
use kruispunt_sdk::transparency::{
    Checkpoint, Verifier, open_checkpoint, open_note, parse_verifier_key, verify_note,
};
use libfuzzer_sys::fuzz_target;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

const NAME: &str = "kruispunt/fuzz";

static KEY: LazyLock<(Ed25519KeyPair, Verifier)> = LazyLock::new(|| {
    let key = Ed25519KeyPair::from_seed_unchecked(&[9u8; 32]).expect("a 32-byte seed");
    let verifier = Verifier::new(NAME, key.public_key().as_ref()).expect("a verifier");
    (key, verifier)
});

fuzz_target!(|data: &[u8]| {
    let (key, verifier) = &*KEY;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            assert!(open_note(rest, std::slice::from_ref(verifier)).is_err());
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            assert!(open_checkpoint(text, &verifier.to_string()).is_err());
            if let Ok(cp) = Checkpoint::parse_body(text)
                && let Ok(body) = cp.to_body()
            {
                assert_eq!(
                    body, text,
                    "a parsed checkpoint body is its own canonical text"
                );
            }
        }
        1 => {
            let (text, extra) = match rest.iter().position(|&b| b == 0xFF) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            let (Ok(text), Ok(extra)) = (std::str::from_utf8(text), std::str::from_utf8(extra))
            else {
                return;
            };
            let Ok(note) = sign_note(text, NAME, key) else {
                return;
            };
            let opened = open_note(&note, std::slice::from_ref(verifier))
                .unwrap_or_else(|e| panic!("an honestly signed note does not open: {e}"));
            assert_eq!(opened.text, text);
            assert_eq!(opened.signed_by, [NAME]);
            if let Ok(cp) = verify_note(&note, std::slice::from_ref(verifier)) {
                assert_eq!(Checkpoint::parse_body(text), Ok(cp.clone()));
                // Refused when the origin is not the key's name, as it must be.
                if let Ok((cp2, _)) = open_checkpoint(&note, &verifier.to_string()) {
                    assert_eq!(cp2, cp);
                }
            }
            let tampered = format!("{note}{extra}");
            if let Ok(o) = open_note(&tampered, std::slice::from_ref(verifier)) {
                assert_eq!(o.text, text, "appended lines changed the signed text");
            }
        }
        _ => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(v) = parse_verifier_key(s) {
                assert_eq!(
                    v.to_string(),
                    s,
                    "a verifier key is its own canonical string"
                );
                assert_eq!(parse_verifier_key(&v.to_string()), Ok(v));
            }
        }
    }
});
