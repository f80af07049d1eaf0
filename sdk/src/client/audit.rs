//! The audit trail as the API returns it to a partner: its own entries in full, everyone
//! else's as leaf hashes — enough to recompute the Merkle root and so check that the log is
//! complete, without seeing other partners' business.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::ClientError;

/// A page of `GET /v1/audit/entries`.
///
/// ```
/// let page: kruispunt_sdk::client::AuditEntries =
///     serde_json::from_str(r#"{"entries":[{"index":0,"leaf_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}"#).unwrap();
/// assert!(page.entries[0].entry.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntries {
    /// Entries in index order.
    pub entries: Vec<AuditLeaf>,
}

/// One position of the log: the full entry (when it concerns the reader) or its leaf hash.
///
/// ```
/// # use kruispunt_sdk::client::AuditLeaf;
/// let l = AuditLeaf { index: 0, leaf: Some("e30=".into()), entry: None, leaf_hash: None };
/// // RFC 6962 leaf hash of the bytes `{}`.
/// assert_eq!(l.leaf_hash().unwrap().len(), 32);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditLeaf {
    /// Position in the log (0-based).
    pub index: u64,
    /// The stored entry bytes, base64 (own entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf: Option<String>,
    /// The decoded entry (own entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<AuditRecord>,
    /// `SHA-256(0x00 ‖ entry)`, base64 (other partners' entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_hash: Option<String>,
}

impl AuditLeaf {
    /// The RFC 6962 leaf hash of this position: computed from the entry bytes when present
    /// (so a forged `entry` cannot hide behind a correct hash), else the hash sent.
    ///
    /// ```
    /// # use kruispunt_sdk::client::AuditLeaf;
    /// let l = AuditLeaf { index: 1, leaf: None, entry: None, leaf_hash: None };
    /// assert!(l.leaf_hash().is_err());
    /// ```
    pub fn leaf_hash(&self) -> Result<[u8; 32], ClientError> {
        let bad = |what: &str| ClientError::Unexpected {
            status: 200,
            detail: format!("audit entry {}: {what}", self.index),
        };
        if let Some(leaf) = &self.leaf {
            let bytes = STANDARD
                .decode(leaf)
                .map_err(|_| bad("leaf is not base64"))?;
            return Ok(leaf_hash(&bytes));
        }
        let h = self
            .leaf_hash
            .as_deref()
            .ok_or_else(|| bad("neither leaf nor leaf_hash"))?;
        let bytes = STANDARD
            .decode(h)
            .map_err(|_| bad("leaf_hash is not base64"))?;
        bytes
            .try_into()
            .map_err(|_| bad("leaf_hash is not 32 bytes"))
    }

    /// The stored entry bytes (own entries only).
    ///
    /// ```
    /// # use kruispunt_sdk::client::AuditLeaf;
    /// let l = AuditLeaf { index: 0, leaf: Some("e30=".into()), entry: None, leaf_hash: None };
    /// assert_eq!(l.leaf_bytes().unwrap(), b"{}");
    /// ```
    pub fn leaf_bytes(&self) -> Option<Vec<u8>> {
        self.leaf.as_deref().and_then(|l| STANDARD.decode(l).ok())
    }
}

/// `SHA-256(0x00 ‖ bytes)`: the RFC 6962 hash of a log leaf.
///
/// ```
/// let h = kruispunt_sdk::client::leaf_hash(b"");
/// assert_eq!(hex::encode(h), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
/// ```
pub fn leaf_hash(bytes: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[0]);
    ctx.update(bytes);
    ctx.finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// An audit entry as the broker records it. Unknown fields are kept out of the way (ignored)
/// so that a newer broker does not break an older client; verification works on the raw
/// `leaf` bytes, never on this decoded form.
///
/// ```
/// let r: kruispunt_sdk::client::AuditRecord = serde_json::from_str(
///     r#"{"time_ms":1,"operation":"disclose","action":"match","reasons":[]}"#).unwrap();
/// assert_eq!(r.operation, "disclose");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// `collect`, `alter`, `consult`, `disclose`, `combine`, `erase` or `refuse`.
    pub operation: String,
    /// What was done (`match`, `signals.upload`, `audit.read`, `auth.refused`, …).
    pub action: String,
    /// Organisation that acted.
    #[serde(default)]
    pub actor_org: Option<String>,
    /// User that acted.
    #[serde(default)]
    pub actor_user: Option<String>,
    /// Purpose.
    #[serde(default)]
    pub purpose: Option<String>,
    /// Legal basis.
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// Case reference.
    #[serde(default)]
    pub case_reference: Option<String>,
    /// `allow` or `deny`.
    #[serde(default)]
    pub decision: Option<String>,
    /// The policy's reason codes.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Hash of the policy bundle that decided.
    #[serde(default)]
    pub policy_hash: Option<String>,
    /// At-rest pseudonyms (hex) involved.
    #[serde(default)]
    pub pseudonyms: Vec<String>,
    /// Organisations whose data were involved.
    #[serde(default)]
    pub source_orgs: Vec<String>,
    /// Organisations that received data.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Action-specific details.
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// Answer of `GET /v1/audit/proof/inclusion`.
///
/// ```
/// let p: kruispunt_sdk::client::InclusionProof = serde_json::from_str(
///     r#"{"index":0,"tree_size":1,"leaf_hash":"","proof":[]}"#).unwrap();
/// assert!(p.proof.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Leaf index.
    pub index: u64,
    /// Size of the tree the proof is for.
    pub tree_size: u64,
    /// Leaf hash, base64.
    pub leaf_hash: String,
    /// Audit path, base64 hashes from the leaf up.
    pub proof: Vec<String>,
}

/// Answer of `GET /v1/audit/proof/consistency`.
///
/// ```
/// let p: kruispunt_sdk::client::ConsistencyProof = serde_json::from_str(
///     r#"{"first":1,"second":2,"proof":["AA=="]}"#).unwrap();
/// assert_eq!(p.second, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// Older tree size.
    pub first: u64,
    /// Newer tree size.
    pub second: u64,
    /// Proof hashes, base64.
    pub proof: Vec<String>,
}
