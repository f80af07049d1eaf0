//! C2SP witness cosignatures (<https://c2sp.org/tlog-cosignature>, `cosignature/v1`): a
//! witness's timestamped Ed25519 signature on a checkpoint it checked to be consistent with
//! every checkpoint of that log it cosigned before.
//!
//! A cosignature is an ordinary note signature line, `— <witness name> base64(key id ‖
//! timestamp ‖ signature)`, so a cosigned checkpoint is the log's note with the witnesses'
//! lines appended, and verifiers that do not know a witness ignore its line. What differs from
//! the log's own signature:
//!
//! * the key id hashes the signature type **0x04**: `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ key)[:4]`, so a
//!   witness key can never be mistaken for a log key of the same name and bytes;
//! * the signed message is not the note text but `cosignature/v1\ntime <T>\n` followed by the
//!   whole checkpoint body (its extension lines included), binding the time `T` at which the
//!   witness vouched for it;
//! * the signature bytes are a `timestamped_signature`: `T` as a big-endian u64, then the 64
//!   bytes of the Ed25519 signature.
//!
//! Signing is the witness's (`kruispunt_broker::witness::cosign`); this module builds the
//! message, reads and writes the lines, and verifies them.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, UnparsedPublicKey};

use super::note::{ED25519_SIGNATURE_LEN, KeyError, NoteKey, SIG_PREFIX, typed_key_id};

/// Signature type byte of a timestamped Ed25519 witness cosignature (C2SP signed-note).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Length of a `timestamped_signature`: an 8-byte timestamp and a 64-byte Ed25519 signature.
pub const TIMESTAMPED_SIGNATURE_LEN: usize = 8 + ED25519_SIGNATURE_LEN;

/// The key id of a witness's Ed25519 cosigning key: the first four bytes, big-endian, of
/// `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)`.
pub fn cosignature_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    typed_key_id(name, ALG_COSIGNATURE_V1, public_key)
}

/// The bytes a witness signs for the checkpoint `body` (the note text, with its final newline)
/// at `timestamp` (POSIX seconds): `cosignature/v1\ntime <timestamp>\n<body>`.
pub fn cosigned_message(timestamp: u64, body: &str) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// The signature line for a cosignature by the key `name` (id `key_id`) made at `timestamp`.
pub fn signature_line(name: &str, key_id: u32, timestamp: u64, signature: &[u8]) -> String {
    let mut raw = Vec::with_capacity(4 + TIMESTAMPED_SIGNATURE_LEN);
    raw.extend_from_slice(&key_id.to_be_bytes());
    raw.extend_from_slice(&timestamp.to_be_bytes());
    raw.extend_from_slice(signature);
    format!("{SIG_PREFIX}{name} {}\n", B64.encode(raw))
}

/// A cosignature did not verify or could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// Not 8 bytes of timestamp followed by a 64-byte signature.
    #[error(
        "a cosignature is {TIMESTAMPED_SIGNATURE_LEN} bytes (timestamp and signature), not {0}"
    )]
    Length(usize),
    /// The timestamp is beyond 2^63-1, which the specification forbids.
    #[error("cosignature timestamp {0} is out of range")]
    Timestamp(u64),
    /// The signature does not verify for this witness's key over this checkpoint.
    #[error("the cosignature of {0} does not verify")]
    Invalid(String),
}

/// A trusted witness: the name its cosignatures carry and its Ed25519 public key, read
/// through [`NoteKey`]. Its verifier key string is `<name>+<key id>+<base64(0x04 ‖ key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessVerifier(NoteKey);

impl std::ops::Deref for WitnessVerifier {
    type Target = NoteKey;

    fn deref(&self) -> &NoteKey {
        &self.0
    }
}

impl WitnessVerifier {
    /// A witness verifier for `name` and a raw 32-byte Ed25519 public key.
    pub fn new(name: &str, public_key: &[u8]) -> Result<WitnessVerifier, KeyError> {
        NoteKey::new(name, ALG_COSIGNATURE_V1, public_key).map(WitnessVerifier)
    }

    /// Verifies the `timestamped_signature` bytes `raw` (without the key id) over the checkpoint
    /// `body`; answers the cosignature's timestamp.
    pub fn verify(&self, body: &str, raw: &[u8]) -> Result<u64, CosignatureError> {
        let (ts, sig) = decode_timestamped(raw)?;
        let msg = cosigned_message(ts, body);
        UnparsedPublicKey::new(&ED25519, &self.public_key()[..])
            .verify(msg.as_bytes(), sig)
            .map_err(|_| {
                CosignatureError::Invalid(format!("{}+{:08x}", self.name(), self.key_id()))
            })?;
        Ok(ts)
    }
}

/// Splits a `timestamped_signature` into its timestamp and its Ed25519 signature.
pub fn decode_timestamped(raw: &[u8]) -> Result<(u64, &[u8]), CosignatureError> {
    if raw.len() != TIMESTAMPED_SIGNATURE_LEN {
        return Err(CosignatureError::Length(raw.len()));
    }
    let (ts, sig) = raw.split_at(8);
    let ts = u64::from_be_bytes(ts.try_into().expect("8 bytes"));
    if ts > i64::MAX as u64 {
        return Err(CosignatureError::Timestamp(ts));
    }
    Ok((ts, sig))
}

/// The verifier key string `<name>+<key id>+<base64(0x04 ‖ public key)>`.
impl fmt::Display for WitnessVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for WitnessVerifier {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<WitnessVerifier, KeyError> {
        parse_witness_key(s)
    }
}

/// Parses a witness's verifier key string (type byte 0x04), checking that the key id matches
/// the name and key.
pub fn parse_witness_key(s: &str) -> Result<WitnessVerifier, KeyError> {
    NoteKey::parse(s, ALG_COSIGNATURE_V1).map(WitnessVerifier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transparency::note::split_note;

    /// The cosigned checkpoint of the C2SP tlog-cosignature specification's example.
    const SPEC_NOTE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

    /// The specification's example message for that cosignature.
    const SPEC_MESSAGE: &str = "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn the_specification_example_decodes_to_its_timestamp_and_message() {
        let (text, lines) = split_note(SPEC_NOTE.as_bytes()).unwrap();
        assert_eq!(lines.len(), 2);
        let w = &lines[1];
        assert_eq!(w.name, "witness.example.com/w1");
        assert_eq!(w.key_id, 0x8d66cf3f);
        let (ts, sig) = decode_timestamped(&w.signature).unwrap();
        assert_eq!(ts, 1679315147);
        assert_eq!(sig.len(), ED25519_SIGNATURE_LEN);
        assert_eq!(cosigned_message(ts, text), SPEC_MESSAGE);
        // And the line we would write for it is byte for byte the specification's.
        let line = signature_line(w.name, w.key_id, ts, sig);
        assert_eq!(
            line,
            SPEC_NOTE[SPEC_NOTE.find("\u{2014} witness").unwrap()..]
        );
    }

    #[test]
    fn witness_keys_round_trip_and_are_typed() {
        let v = WitnessVerifier::new("witness.example/w1", &[9u8; 32]).unwrap();
        let s = v.to_string();
        assert_eq!(parse_witness_key(&s).unwrap(), v);
        // The log-key id (type 0x01) differs: a witness key is never a log key.
        assert_ne!(
            v.key_id(),
            crate::transparency::key_id("witness.example/w1", &[9u8; 32])
        );
        // A log's vkey (type 0x01) is not a witness key, and vice versa.
        let log = crate::transparency::Verifier::new("witness.example/w1", &[9u8; 32]).unwrap();
        assert_eq!(
            parse_witness_key(&log.to_string()),
            Err(KeyError::UnsupportedAlgorithm(0x01))
        );
        assert_eq!(
            crate::transparency::parse_verifier_key(&s),
            Err(KeyError::UnsupportedAlgorithm(0x04))
        );
    }

    #[test]
    fn bad_lengths_and_timestamps_are_refused() {
        assert_eq!(
            decode_timestamped(&[0; 71]),
            Err(CosignatureError::Length(71))
        );
        let mut raw = vec![0xff; 8];
        raw.extend_from_slice(&[0; 64]);
        assert!(matches!(
            decode_timestamped(&raw),
            Err(CosignatureError::Timestamp(_))
        ));
    }
}
