//! C2SP tlog checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed statement "the log
//! `origin` had `size` entries with Merkle root `root`".
//!
//! The body is exactly `<origin>\n<size in decimal>\n<base64 root>\n`, optionally followed by
//! extension lines, and travels inside a [signed note](super::note). Whoever keeps an old
//! checkpoint can later demand a consistency proof to the current one and so detect any
//! rewriting of history.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::merkle::{HASH_LEN, Hash};
use super::note::{NoteError, Verifier, open_note};

/// A note's text is not a valid checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Fewer than the three mandatory lines, an empty line, or no final newline.
    #[error("checkpoint must be at least three non-empty lines ending in a newline")]
    Lines,
    /// The origin must be non-empty and, for checkpoints we sign, free of spaces, control
    /// characters and `+` (so that it can double as the key name, as the spec recommends).
    #[error("invalid checkpoint origin {0:?}")]
    Origin(String),
    /// The tree size must be plain decimal without leading zeroes, and fit in 64 bits.
    #[error("invalid checkpoint tree size {0:?}")]
    Size(String),
    /// The root must be the standard base64 of exactly 32 bytes.
    #[error("invalid checkpoint root hash {0:?}")]
    Root(String),
}

/// A log's signed tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Which log this is (`kruispunt/<deployment name>`). Verifiers must check it is the log
    /// they expect: a valid signature only says *some* log of this key signed it.
    pub origin: String,
    /// Number of entries in the tree.
    pub size: u64,
    /// Merkle tree root over those entries.
    pub root: Hash,
    /// Extension lines after the root, if any (the broker writes none; kept so that a verified
    /// body is never silently shortened).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Checkpoint {
        Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text (body) of this checkpoint.
    pub fn to_body(&self) -> Result<String, CheckpointError> {
        super::note::check_key_name(&self.origin)
            .map_err(|_| CheckpointError::Origin(self.origin.clone()))?;
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for ext in &self.extensions {
            if ext.is_empty() || ext.chars().any(|c| c.is_control()) {
                return Err(CheckpointError::Lines);
            }
            body.push_str(ext);
            body.push('\n');
        }
        Ok(body)
    }

    /// Parses a checkpoint body strictly. Only call this on the text of a note whose signature
    /// verified ([`verify_note`] does both).
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::Lines)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 || lines.iter().any(|l| l.is_empty()) {
            return Err(CheckpointError::Lines);
        }
        let (origin, size, root) = (lines[0], lines[1], lines[2]);
        if origin.chars().any(|c| c.is_control()) {
            return Err(CheckpointError::Origin(origin.to_string()));
        }
        let size_ok =
            size.bytes().all(|b| b.is_ascii_digit()) && (size == "0" || !size.starts_with('0'));
        let size_val: u64 = size
            .parse()
            .ok()
            .filter(|_| size_ok)
            .ok_or_else(|| CheckpointError::Size(size.to_string()))?;
        let root_val: Hash = B64
            .decode(root)
            .ok()
            .and_then(|r| <[u8; HASH_LEN]>::try_from(r).ok())
            .ok_or_else(|| CheckpointError::Root(root.to_string()))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size: size_val,
            root: root_val,
            extensions: lines[3..].iter().map(|l| l.to_string()).collect(),
        })
    }
}

/// Verifies a signed checkpoint note against trusted `verifiers` and parses its body.
/// Unknown keys' signatures are ignored; at least one trusted signature must verify and none
/// may fail. The caller still has to check [`Checkpoint::origin`] against the log it expects.
pub fn verify_note(
    note: impl AsRef<[u8]>,
    verifiers: &[Verifier],
) -> Result<Checkpoint, NoteError> {
    let opened = open_note(note, verifiers)?;
    Ok(Checkpoint::parse_body(&opened.text)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transparency::merkle::empty_root;

    #[test]
    fn bodies_are_parsed_strictly() {
        let r = B64.encode(empty_root());
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n0\n{r}\n"))
                .unwrap()
                .size,
            0
        );
        let ext = Checkpoint::parse_body(&format!("o\n1\n{r}\nextra\n")).unwrap();
        assert_eq!(ext.extensions, vec!["extra".to_string()]);
        for bad in [
            format!("o\n1\n{r}"),                         // no final newline
            "o\n1\n".to_string(),                         // no root
            format!("\n1\n{r}\n"),                        // empty origin
            format!("o\n01\n{r}\n"),                      // leading zero
            format!("o\n+1\n{r}\n"),                      // sign
            format!("o\n-1\n{r}\n"),                      // negative
            format!("o\n18446744073709551616\n{r}\n"),    // overflow
            format!("o\n1\n{}\n", &r[..r.len() - 1]),     // bad base64
            format!("o\n1\n{}\n", B64.encode([0u8; 31])), // short hash
            format!("o\n1\n{r}\n\nx\n"),                  // empty extension line
        ] {
            assert!(Checkpoint::parse_body(&bad).is_err(), "{bad:?}");
        }
    }
}
