//! The witness's own Ed25519 key, in the C2SP signer key format of `golang.org/x/mod/sumdb/note`
//! (`PRIVATE+KEY+<name>+<key id>+<base64(0x04 ‖ 32-byte seed)>`), and cosigning with it.
//!
//! The type byte is 0x04 (timestamped Ed25519 cosignature), not the log's 0x01: C2SP requires
//! a cosigner to use a key of its own for cosigning, and the type in the key id keeps a witness
//! key from ever verifying as a log key.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kruispunt_sdk::transparency::cosignature::{ALG_COSIGNATURE_V1, signature_line};
use kruispunt_sdk::transparency::note::check_key_name;
use kruispunt_sdk::transparency::{WitnessVerifier, cosignature_key_id, cosigned_message};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use zeroize::Zeroizing;

const SKEY_PREFIX: &str = "PRIVATE+KEY+";

/// A signer key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: not a witness signer key ({reason})")]
    Malformed { path: String, reason: String },
}

/// A witness's cosigning key.
pub struct WitnessKey {
    name: String,
    seed: Zeroizing<[u8; 32]>,
    pair: Ed25519KeyPair,
    verifier: WitnessVerifier,
}

/// Shows the public part only: the seed never reaches a log line.
impl std::fmt::Debug for WitnessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WitnessKey({})", self.verifier)
    }
}

impl WitnessKey {
    /// A fresh random key named `name` (a schema-less URL, e.g. `riec.example/witness`).
    pub fn generate(name: &str) -> Result<WitnessKey, String> {
        let mut seed = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(&mut seed[..])
            .map_err(|_| "the system random generator failed".to_string())?;
        WitnessKey::from_seed(name, seed)
    }

    fn from_seed(name: &str, seed: Zeroizing<[u8; 32]>) -> Result<WitnessKey, String> {
        check_key_name(name).map_err(|e| e.to_string())?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed[..])
            .map_err(|_| "not an Ed25519 seed".to_string())?;
        let verifier =
            WitnessVerifier::new(name, pair.public_key().as_ref()).map_err(|e| e.to_string())?;
        Ok(WitnessKey {
            name: name.to_string(),
            seed,
            pair,
            verifier,
        })
    }

    /// Parses the signer key text `PRIVATE+KEY+<name>+<key id>+<base64(0x04 ‖ seed)>`.
    pub fn parse(text: &str) -> Result<WitnessKey, String> {
        let rest = text
            .trim_end_matches('\n')
            .strip_prefix(SKEY_PREFIX)
            .ok_or("it does not start with PRIVATE+KEY+")?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("expected PRIVATE+KEY+<name>+<key id>+<key>".into());
        };
        let raw = Zeroizing::new(
            B64.decode(key_b64)
                .map_err(|_| "the key is not standard base64")?,
        );
        if raw.len() != 33 || raw[0] != ALG_COSIGNATURE_V1 {
            return Err(format!(
                "the key must be the type byte 0x{ALG_COSIGNATURE_V1:02x} and a 32-byte seed"
            ));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&raw[1..]);
        let key = WitnessKey::from_seed(name, seed)?;
        if id_hex != format!("{:08x}", key.verifier.key_id()) {
            return Err(format!(
                "key id {id_hex} does not match the name and key ({:08x})",
                key.verifier.key_id()
            ));
        }
        Ok(key)
    }

    /// Reads a signer key file.
    pub fn load(path: &Path) -> Result<WitnessKey, KeyFileError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|error| KeyFileError::Io {
                    path: path.display().to_string(),
                    error,
                })?,
            );
        WitnessKey::parse(&text).map_err(|reason| KeyFileError::Malformed {
            path: path.display().to_string(),
            reason,
        })
    }

    /// The signer key text (a secret).
    pub fn to_skey(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(Vec::with_capacity(33));
        raw.push(ALG_COSIGNATURE_V1);
        raw.extend_from_slice(&self.seed[..]);
        Zeroizing::new(format!(
            "{SKEY_PREFIX}{}+{:08x}+{}\n",
            self.name,
            self.verifier.key_id(),
            B64.encode(&raw[..])
        ))
    }

    /// The verifier (its vkey is `to_string()`).
    pub fn verifier(&self) -> &WitnessVerifier {
        &self.verifier
    }

    /// The cosignature line for the checkpoint `body` at `timestamp` (POSIX seconds).
    pub fn cosign(&self, body: &str, timestamp: u64) -> String {
        let sig = self.pair.sign(cosigned_message(timestamp, body).as_bytes());
        debug_assert_eq!(
            self.verifier.key_id(),
            cosignature_key_id(&self.name, self.verifier.public_key())
        );
        signature_line(&self.name, self.verifier.key_id(), timestamp, sig.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kruispunt_sdk::transparency::split_note;

    #[test]
    fn keys_round_trip_and_cosignatures_verify() {
        let k = WitnessKey::generate("witness.example/w1").unwrap();
        let again = WitnessKey::parse(&k.to_skey()).unwrap();
        assert_eq!(again.verifier(), k.verifier());
        let body = "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let line = k.cosign(body, 1_679_315_147);
        let note = format!("{body}\n{line}");
        let (_, lines) = split_note(note.as_bytes()).unwrap();
        assert_eq!(
            k.verifier().verify(body, &lines[0].signature),
            Ok(1_679_315_147)
        );
        // A key of the wrong type, a wrong id, and no prefix are refused.
        let skey = k.to_skey();
        assert!(WitnessKey::parse(&skey.replace("PRIVATE+KEY+", "")).is_err());
        let id = format!("{:08x}", k.verifier().key_id());
        assert!(WitnessKey::parse(&skey.replace(&id, "00000000")).is_err());
        let log_type = format!(
            "PRIVATE+KEY+w+{id}+{}",
            B64.encode([[1u8].as_slice(), &[0u8; 32]].concat())
        );
        assert!(WitnessKey::parse(&log_type).unwrap_err().contains("0x04"));
    }
}
