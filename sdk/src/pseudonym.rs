//! The pseudonym construction, exactly as `docs/PSEUDONYMS.md` states it, so that an SDK in any
//! language reproduces the same bytes:
//!
//! ```text
//! k_kind    = HKDF-SHA256(salt = "kruispunt/v1", ikm = coalition_key, info = "pseudonym/" + kind)
//! pseudonym = HMAC-SHA256(k_kind, canonical_utf8)
//! ```
//!
//! The coalition key never leaves the partners (it travels in their MLS group), which is why the
//! broker cannot run a dictionary attack over plates or KvK numbers.

use std::fmt;

use ring::{hkdf, hmac};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::identifiers::IdentifierKind;

/// Salt of the HKDF extract step; versioned so a future construction cannot collide with this one.
pub const HKDF_SALT: &[u8] = b"kruispunt/v1";
/// Length of a pseudonym in bytes (HMAC-SHA256 output).
pub const PSEUDONYM_LEN: usize = 32;

/// Errors building keys or decoding pseudonyms.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PseudonymError {
    /// A coalition key of the wrong length (in bytes).
    #[error("coalition key must be exactly 32 bytes (64 hex characters), got {0} bytes")]
    KeyLength(usize),
    /// A coalition key that is not hex.
    #[error("coalition key is not valid hex: {0}")]
    KeyHex(String),
    /// A pseudonym of the wrong length (in hex characters).
    #[error("pseudonym must be exactly 64 lowercase hex characters (32 bytes), got {0} characters")]
    PseudonymLength(usize),
    /// A pseudonym that is not hex.
    #[error("pseudonym is not valid hex: {0}")]
    PseudonymHex(String),
}

/// The 32-byte secret shared by the partners of one coalition, with its version.
///
/// Zeroized on drop and never printed: `Debug` shows only the version.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct CoalitionKey {
    bytes: [u8; 32],
    #[zeroize(skip)]
    version: u32,
}

impl CoalitionKey {
    /// Wraps 32 secret bytes as key `version`.
    pub fn new(bytes: [u8; 32], version: u32) -> Self {
        Self { bytes, version }
    }

    /// Parses a key given as 64 hex characters (as the CLI's `--key-hex` takes it).
    pub fn from_hex(hex_key: &str, version: u32) -> Result<Self, PseudonymError> {
        let mut raw =
            hex::decode(hex_key.trim()).map_err(|e| PseudonymError::KeyHex(e.to_string()))?;
        if raw.len() != 32 {
            let n = raw.len();
            raw.zeroize();
            return Err(PseudonymError::KeyLength(n));
        }
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&raw);
        raw.zeroize();
        Ok(Self { bytes, version })
    }

    /// Generates a fresh random key (what a coalition administrator does).
    pub fn generate(version: u32) -> Self {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system random generator failed");
        Self { bytes, version }
    }

    /// The key version carried with every pseudonym made under this key.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The raw secret, for sending it to coalition members over MLS. Handle with care.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Derives the per-kind key once; reuse it for many identifiers of that kind.
    pub fn pseudonymiser(&self, kind: IdentifierKind) -> Pseudonymiser {
        struct Len;
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                32
            }
        }
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT);
        let prk = salt.extract(&self.bytes);
        let info = format!("pseudonym/{}", kind.as_str());
        let info_parts = [info.as_bytes()];
        let okm = prk
            .expand(&info_parts, Len)
            .expect("HKDF output of 32 bytes is always allowed");
        let mut k = [0u8; 32];
        okm.fill(&mut k).expect("HKDF fill of 32 bytes");
        let key = hmac::Key::new(hmac::HMAC_SHA256, &k);
        k.zeroize();
        Pseudonymiser {
            key,
            kind,
            version: self.version,
        }
    }
}

impl fmt::Debug for CoalitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoalitionKey")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A per-kind HMAC key derived from a coalition key. Cheap to use from many threads.
#[derive(Clone)]
pub struct Pseudonymiser {
    key: hmac::Key,
    kind: IdentifierKind,
    version: u32,
}

impl fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonymiser")
            .field("kind", &self.kind)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Pseudonymiser {
    /// The pseudonym of an already canonical value (see [`crate::identifiers`]).
    pub fn pseudonymise_canonical(&self, canonical: &str) -> Pseudonym {
        let tag = hmac::sign(&self.key, canonical.as_bytes());
        let mut bytes = [0u8; PSEUDONYM_LEN];
        bytes.copy_from_slice(tag.as_ref());
        Pseudonym(bytes)
    }

    /// Normalises `raw` as this kind and returns its pseudonym, or the reason it is invalid.
    pub fn pseudonymise(
        &self,
        raw: &str,
    ) -> Result<Pseudonym, crate::identifiers::IdentifierError> {
        let mut buf = String::with_capacity(raw.len());
        crate::identifiers::normalise_into(self.kind, raw, &mut buf)?;
        Ok(self.pseudonymise_canonical(&buf))
    }

    /// The identifier kind this pseudonymiser normalises for (part of the derived key).
    pub fn kind(&self) -> IdentifierKind {
        self.kind
    }

    /// Version of the coalition key it was derived from; sent with every pseudonym as
    /// `key_version`.
    pub fn version(&self) -> u32 {
        self.version
    }
}

/// 32 bytes; lowercase hex on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym(pub [u8; PSEUDONYM_LEN]);

impl Pseudonym {
    /// Lowercase hex, the wire form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the wire form; refuses anything but exactly 64 hex characters.
    pub fn from_hex(s: &str) -> Result<Self, PseudonymError> {
        if s.len() != PSEUDONYM_LEN * 2 {
            return Err(PseudonymError::PseudonymLength(s.len()));
        }
        let mut bytes = [0u8; PSEUDONYM_LEN];
        hex::decode_to_slice(s, &mut bytes)
            .map_err(|e| PseudonymError::PseudonymHex(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; PSEUDONYM_LEN] {
        &self.0
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonym({})", self.to_hex())
    }
}

impl serde::Serialize for Pseudonym {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Pseudonym {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Pseudonym::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CoalitionKey {
        CoalitionKey::from_hex(&"00".repeat(32), 1).unwrap()
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = CoalitionKey::new([0xab; 32], 7);
        let shown = format!("{k:?}");
        assert!(!shown.contains("ab"), "{shown}");
        assert!(shown.contains('7'));
    }

    #[test]
    fn key_hex_must_be_32_bytes() {
        assert_eq!(
            CoalitionKey::from_hex("00", 1).unwrap_err(),
            PseudonymError::KeyLength(1)
        );
        assert!(matches!(
            CoalitionKey::from_hex("zz", 1),
            Err(PseudonymError::KeyHex(_))
        ));
    }

    #[test]
    fn kinds_are_domain_separated() {
        let k = key();
        let a = k
            .pseudonymiser(IdentifierKind::Kvk)
            .pseudonymise_canonical("12345678");
        let b = k
            .pseudonymiser(IdentifierKind::Rsin)
            .pseudonymise_canonical("12345678");
        assert_ne!(a, b);
    }

    #[test]
    fn matches_an_independent_hkdf_hmac_computation() {
        // RFC 5869 HKDF by hand with ring's HMAC only: extract then a single expand block.
        let ikm = [0u8; 32];
        let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, HKDF_SALT), &ikm);
        let mut t1_input = b"pseudonym/kenteken".to_vec();
        t1_input.push(1);
        let okm = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()), &t1_input);
        let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, okm.as_ref()), b"GB001B");
        let got = key()
            .pseudonymiser(IdentifierKind::Kenteken)
            .pseudonymise_canonical("GB001B");
        assert_eq!(got.as_bytes().as_slice(), expected.as_ref());
    }

    #[test]
    fn wire_form_round_trips_and_refuses_bad_lengths() {
        let p = key()
            .pseudonymiser(IdentifierKind::Kvk)
            .pseudonymise_canonical("00012345");
        assert_eq!(Pseudonym::from_hex(&p.to_hex()).unwrap(), p);
        assert_eq!(
            Pseudonym::from_hex("abcd"),
            Err(PseudonymError::PseudonymLength(4))
        );
        assert!(matches!(
            Pseudonym::from_hex(&"zz".repeat(32)),
            Err(PseudonymError::PseudonymHex(_))
        ));
    }
}
