//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys.
//!
//! A note is a text ending in a newline, a blank line, and one or more signature lines
//! `— <key name> <base64(key id ‖ signature)>`. The format is shared with the Go checksum
//! database, Sigstore and the transparency-dev witnesses, so that anyone can check the broker's
//! checkpoints with tools they already trust rather than with ours.
//!
//! Parsing is strict (any deviation is [`NoteError::Malformed`]) because a lenient parser is how
//! two verifiers come to disagree on what a signed text said.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::digest;
use ring::signature::{ED25519, UnparsedPublicKey};

/// Signature type byte for Ed25519 in key ids and verifier keys (C2SP signed-note).
pub const ALG_ED25519: u8 = 0x01;

/// Most signature lines a note may carry. The spec requires accepting at least 16; 100 is what
/// the Go reference implementation allows. A cap stops a note from making us do unbounded work.
pub const MAX_SIGNATURES: usize = 100;

const ED25519_PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const ED25519_SIGNATURE_LEN: usize = 64;
/// What every signature line starts with: an em dash (U+2014) and a space.
pub const SIG_PREFIX: &str = "\u{2014} ";

/// A verifier key string could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not of the form `<name>+<8 lowercase hex>+<base64>`.
    #[error("malformed verifier key: {0}")]
    Malformed(&'static str),
    /// Key names must be non-empty and free of spaces, control characters and `+`, or the
    /// signature lines and key strings that carry them would be ambiguous.
    #[error("invalid key name {0:?}")]
    InvalidName(String),
    /// Only Ed25519 (type byte 0x01) is supported.
    #[error("unsupported signature type 0x{0:02x}")]
    UnsupportedAlgorithm(u8),
    /// An Ed25519 public key is 32 bytes.
    #[error("an Ed25519 public key has 32 bytes, not {0}")]
    WrongKeyLength(usize),
    /// The key id in the string is not the one the name and key imply: a typo or a tampered key.
    #[error("key id {given:08x} does not match name and key (expected {expected:08x})")]
    KeyIdMismatch {
        /// The id written in the key string.
        given: u32,
        /// The id computed from name and public key.
        expected: u32,
    },
}

/// A note could not be signed or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is not well formed (encoding, control characters, missing blank line, bad
    /// signature line, too many signatures …).
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// The key name used to sign is not a valid key name.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A signature from a key we trust does not verify: the note was altered, so it is rejected
    /// as a whole even if another trusted signature verifies.
    #[error("invalid signature for key {0}")]
    InvalidSignature(String),
    /// Two trusted verifiers share a name and key id, so a signature cannot be attributed.
    #[error("ambiguous key {0}")]
    AmbiguousKey(String),
    /// No signature from a trusted key: the text must not be believed.
    #[error("note has no signature from a trusted key")]
    NoTrustedSignature,
    /// The note verified, but its text is not a valid checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] super::checkpoint::CheckpointError),
}

/// Checks a key name (also used by the signer): non-empty, no Unicode white space, no control characters, no `+`.
pub fn check_key_name(name: &str) -> Result<(), KeyError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
    {
        return Err(KeyError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// The C2SP key id of an Ed25519 key: the first four bytes, big-endian, of
/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`. It only tells keys apart; trust comes from the
/// full public key in the [`Verifier`].
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    typed_key_id(name, ALG_ED25519, public_key)
}

/// `SHA-256(name ‖ "\n" ‖ type ‖ public key)[:4]`, big-endian: the key id of every signature
/// type of the signed-note specification (0x01 here, 0x04 for cosignatures).
pub(crate) fn typed_key_id(name: &str, key_type: u8, public_key: &[u8; 32]) -> u32 {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(&[b'\n', key_type]);
    ctx.update(public_key);
    let d = ctx.finish();
    let b = d.as_ref();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A named Ed25519 public key of one signature type (0x01 for a note signer, 0x04 for a
/// witness), with its key id: what [`Verifier`] and the witnesses' `WitnessVerifier` share, so
/// the key string's form and checks live in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteKey {
    name: String,
    alg: u8,
    key_id: u32,
    public_key: [u8; 32],
}

impl NoteKey {
    /// The key of type `alg` for `name` and a raw 32-byte Ed25519 public key.
    pub(crate) fn new(name: &str, alg: u8, public_key: &[u8]) -> Result<NoteKey, KeyError> {
        check_key_name(name)?;
        let public_key: [u8; 32] = public_key
            .try_into()
            .map_err(|_| KeyError::WrongKeyLength(public_key.len()))?;
        Ok(NoteKey {
            name: name.to_string(),
            alg,
            key_id: typed_key_id(name, alg, &public_key),
            public_key,
        })
    }

    /// Parses a verifier key string of type `alg`, checking that the key id matches the name
    /// and key.
    pub(crate) fn parse(s: &str, alg: u8) -> Result<NoteKey, KeyError> {
        let (name, given, got, public_key) = split_key(s)?;
        if got != alg {
            return Err(KeyError::UnsupportedAlgorithm(got));
        }
        let key = NoteKey::new(name, alg, &public_key)?;
        if key.key_id != given {
            return Err(KeyError::KeyIdMismatch {
                given,
                expected: key.key_id,
            });
        }
        Ok(key)
    }

    /// The key name, as it appears in signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }
}

/// The verifier key string `<name>+<key id, 8 hex>+<base64(type ‖ public key)>`.
impl fmt::Display for NoteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = Vec::with_capacity(1 + ED25519_PUBLIC_KEY_LEN);
        key.push(self.alg);
        key.extend_from_slice(&self.public_key);
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, B64.encode(key))
    }
}

/// A trusted Ed25519 note key (type 0x01): name, key id and public key, read through
/// [`NoteKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier(NoteKey);

impl std::ops::Deref for Verifier {
    type Target = NoteKey;

    fn deref(&self) -> &NoteKey {
        &self.0
    }
}

impl Verifier {
    /// A verifier for `name` and a raw 32-byte Ed25519 public key (e.g.
    /// `BrokerKeys::audit_public_key()`).
    pub fn new(name: &str, public_key: &[u8]) -> Result<Verifier, KeyError> {
        NoteKey::new(name, ALG_ED25519, public_key).map(Verifier)
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        sig.len() == ED25519_SIGNATURE_LEN
            && UnparsedPublicKey::new(&ED25519, &self.public_key()[..])
                .verify(msg, sig)
                .is_ok()
    }
}

/// The verifier key string `<name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>`.
impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Verifier {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Verifier, KeyError> {
        parse_verifier_key(s)
    }
}

/// The verifier key string for `name` and a raw Ed25519 public key — what `GET /v1/audit/key`
/// serves and what a verifier pins.
pub fn verifier_key(name: &str, public_key: &[u8]) -> Result<String, KeyError> {
    Ok(Verifier::new(name, public_key)?.to_string())
}

/// Parses a verifier key string, checking that the key id matches the name and key.
pub fn parse_verifier_key(s: &str) -> Result<Verifier, KeyError> {
    NoteKey::parse(s, ALG_ED25519).map(Verifier)
}

/// `<name>+<hex8>+<base64(type ‖ key)>` into its parts (no check of the id against the key).
pub(crate) fn split_key(s: &str) -> Result<(&str, u32, u8, Vec<u8>), KeyError> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(KeyError::Malformed("expected <name>+<key id>+<key>"));
    };
    check_key_name(name)?;
    if id_hex.len() != 8
        || !id_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(KeyError::Malformed("key id is not 8 lowercase hex digits"));
    }
    let given = u32::from_str_radix(id_hex, 16)
        .map_err(|_| KeyError::Malformed("key id is not 8 lowercase hex digits"))?;
    let key = B64
        .decode(key_b64)
        .map_err(|_| KeyError::Malformed("key is not standard base64"))?;
    let (&alg, public_key) = key
        .split_first()
        .ok_or(KeyError::Malformed("key is empty"))?;
    Ok((name, given, alg, public_key.to_vec()))
}

/// Checks the characters of a note or note text: ASCII control characters other than newline
/// are forbidden by the spec (they could hide text on a terminal).
fn check_chars(s: &str) -> Result<(), NoteError> {
    if s.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed("control character"));
    }
    Ok(())
}

/// Checks a note text before signing (the signer calls it): non-empty, ending in a newline, no
/// control characters.
pub fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed("text must end with a newline"));
    }
    check_chars(text)
}

/// A note whose signatures checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    /// The signed text, including its final newline.
    pub text: String,
    /// Names of the trusted keys whose signatures verified, in order of appearance.
    pub signed_by: Vec<String>,
    /// How many signature lines were from keys we do not know (and were ignored, as the spec
    /// requires — e.g. witness cosignatures).
    pub unknown_signatures: usize,
}

/// One signature line of a note: `— <name> base64(key id ‖ signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine<'a> {
    /// The key name.
    pub name: &'a str,
    /// The 32-bit key id (the first four bytes of the decoded signature).
    pub key_id: u32,
    /// The rest of the decoded bytes: the signature proper (for a cosignature, timestamp and
    /// signature).
    pub signature: Vec<u8>,
}

/// Splits a note into its text (with its final newline) and its signature lines, checking the
/// syntax only (no signature is verified). Exact duplicate lines are kept once. Shared by
/// [`open_note`] and the witness cosignature check
/// ([`super::cosignature::verify_cosigned`]), so both read a note the same way.
pub fn split_note(note: &[u8]) -> Result<(&str, Vec<SignatureLine<'_>>), NoteError> {
    let note = std::str::from_utf8(note).map_err(|_| NoteError::Malformed("not valid UTF-8"))?;
    check_chars(note)?;
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&note[..=split], &note[split + 2..]);
    let Some(sigs) = sigs.strip_suffix('\n') else {
        return Err(NoteError::Malformed(
            "signature block must be non-empty and end with a newline",
        ));
    };

    if sigs.split('\n').count() > MAX_SIGNATURES {
        return Err(NoteError::Malformed("too many signatures"));
    }
    let mut seen: Vec<SignatureLine<'_>> = Vec::new();
    for line in sigs.split('\n') {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "signature line must start with an em dash and a space",
        ))?;
        let (name, sig_b64) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("signature line has no signature"))?;
        check_key_name(name).map_err(|_| NoteError::Malformed("invalid key name"))?;
        let raw = B64
            .decode(sig_b64)
            .map_err(|_| NoteError::Malformed("signature is not standard base64"))?;
        if raw.len() < 5 {
            return Err(NoteError::Malformed("signature too short"));
        }
        let entry = SignatureLine {
            name,
            key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        };
        if !seen.contains(&entry) {
            seen.push(entry);
        }
    }
    Ok((text, seen))
}

/// Parses and verifies a signed note against trusted `verifiers`.
///
/// Signatures from unknown keys (name and id not both matching a verifier) are ignored. A
/// signature from a known key that does not verify rejects the note. At least one trusted
/// signature must verify.
pub fn open_note(
    note: impl AsRef<[u8]>,
    verifiers: &[Verifier],
) -> Result<VerifiedNote, NoteError> {
    let (text, seen) = split_note(note.as_ref())?;
    let mut signed_by: Vec<String> = Vec::new();
    let mut unknown_signatures = 0;
    for SignatureLine {
        name,
        key_id: id,
        signature: sig,
    } in &seen
    {
        let mut matching = verifiers
            .iter()
            .filter(|v| v.name() == *name && v.key_id() == *id);
        let Some(verifier) = matching.next() else {
            unknown_signatures += 1;
            continue;
        };
        if matching.any(|other| other != verifier) {
            return Err(NoteError::AmbiguousKey(format!("{name}+{id:08x}")));
        }
        if !verifier.verify(text.as_bytes(), sig) {
            return Err(NoteError::InvalidSignature(format!("{name}+{id:08x}")));
        }
        if !signed_by.iter().any(|n| n == name) {
            signed_by.push(name.to_string());
        }
    }
    if signed_by.is_empty() {
        return Err(NoteError::NoTrustedSignature);
    }
    Ok(VerifiedNote {
        text: text.to_string(),
        signed_by,
        unknown_signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_key_strings_round_trip_and_are_checked() {
        let v = Verifier::new("kruispunt/test", &[7u8; 32]).unwrap();
        let s = v.to_string();
        assert_eq!(parse_verifier_key(&s).unwrap(), v);
        // A flipped key-id digit, another algorithm byte, a short key, a bad name.
        let mut bad_id = s.clone().into_bytes();
        let pos = "kruispunt/test+".len();
        bad_id[pos] = if bad_id[pos] == b'0' { b'1' } else { b'0' };
        assert!(matches!(
            parse_verifier_key(std::str::from_utf8(&bad_id).unwrap()),
            Err(KeyError::KeyIdMismatch { .. })
        ));
        assert!(parse_verifier_key("a+00000000+AgAAAA==").is_err());
        assert!(matches!(
            Verifier::new("k", &[1u8; 31]),
            Err(KeyError::WrongKeyLength(31))
        ));
        assert!(Verifier::new("a b", &[1u8; 32]).is_err());
    }

    #[test]
    fn malformed_notes_are_rejected_before_any_signature_check() {
        let v = Verifier::new("k", &[7u8; 32]).unwrap();
        for bad in [
            "no blank line\n",
            "text\n\n",
            "text\n\n\u{2014} k\n",
            "text\n\n- k AAAAAAAA\n",
            "text\n\n\u{2014} k !!!!\n",
            "te\rxt\n\n\u{2014} k AAAAAAAA\n",
        ] {
            assert!(
                matches!(
                    open_note(bad, std::slice::from_ref(&v)),
                    Err(NoteError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        // Well formed but signed by a key nobody trusts.
        assert_eq!(
            open_note("text\n\n\u{2014} other AAAAAAAAAA==\n", &[v]),
            Err(NoteError::NoTrustedSignature)
        );
    }

    #[test]
    fn ambiguous_verifiers_are_refused_when_used() {
        let v = Verifier::new("k", &[3u8; 32]).unwrap();
        let mut clash = v.clone();
        clash.0.public_key = [9; 32]; // same name and id, different key
        let mut sig = v.key_id().to_be_bytes().to_vec();
        sig.extend_from_slice(&[0u8; ED25519_SIGNATURE_LEN]);
        let note = format!("a\n\n{SIG_PREFIX}k {}\n", B64.encode(sig));
        assert!(matches!(
            open_note(&note, &[v.clone(), clash]),
            Err(NoteError::AmbiguousKey(_))
        ));
        // An exact duplicate is not ambiguous (and here the zero signature then fails).
        assert!(matches!(
            open_note(&note, &[v.clone(), v]),
            Err(NoteError::InvalidSignature(_))
        ));
    }
}
