//! The audit trail as the API returns it to a partner, and its verification with
//! [`crate::transparency`]: the signed checkpoint against the log's published key, then every
//! line — the reader's own entries in full (salt and entry, recomputed into the leaf), everyone
//! else's as leaves — rebuilt into the Merkle tree and compared with the signed root.

use serde::{Deserialize, Serialize};

use super::{Client, ClientError};
use crate::transparency::{
    AuditEntry, Checkpoint, LogLine, LogReport, LogVerifier, open_checkpoint,
};

/// Most lines the broker returns per page of `GET /v1/audit/entries`.
pub const AUDIT_PAGE: u64 = 1000;

/// A page of `GET /v1/audit/entries`.
///
/// ```
/// let page: kruispunt_sdk::client::AuditEntries = serde_json::from_str(
///     r#"{"tree_size":1,"entries":[{"index":0,"leaf":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","withheld":"not_concerned"}]}"#,
/// ).unwrap();
/// assert!(page.entries[0].entry.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntries {
    /// Entries in the log when the page was read (may be ahead of the latest checkpoint).
    #[serde(default)]
    pub tree_size: Option<u64>,
    /// The lines, in index order.
    pub entries: Vec<LogLine>,
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

/// A log that verified: the checkpoint, the verifier's report, and every line the reader was
/// shown in full (plus embargo summaries).
#[derive(Debug, Clone)]
pub struct VerifiedLog {
    /// The signed checkpoint the log was checked against.
    pub checkpoint: Checkpoint,
    /// What the verifier checked.
    pub report: LogReport,
    /// The lines that carry an entry or an embargo summary, in index order.
    pub visible: Vec<LogLine>,
}

impl VerifiedLog {
    /// The entries shown in full, with their index.
    ///
    /// ```no_run
    /// # fn f(log: &kruispunt_sdk::client::VerifiedLog) {
    /// for (index, entry) in log.entries() {
    ///     println!("#{index} {}", entry.action);
    /// }
    /// # }
    /// ```
    pub fn entries(&self) -> impl Iterator<Item = (u64, &AuditEntry)> {
        self.visible
            .iter()
            .filter_map(|l| l.entry.as_ref().map(|e| (l.index, e)))
    }
}

impl Client {
    /// Verifies the whole audit log as this partner can see it: fetches and checks the signed
    /// checkpoint with the published key (pin the key out of band in production: compare
    /// [`Client::audit_key`] with the value your organisation recorded), reads every line up to
    /// the checkpoint's size, recomputes each shown entry's leaf and the tree's root. `trusted`
    /// is a checkpoint verified earlier: the log must extend it (append-only).
    ///
    /// Each page read is itself an audit entry (after the checkpoint, so it does not disturb
    /// this verification).
    ///
    /// ```no_run
    /// # async fn f(c: &kruispunt_sdk::client::Client) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let log = c.verify_audit_log(None).await?;
    /// println!("{} entries verified, root {}", log.report.size, hex::encode(log.report.root));
    /// # Ok(()) }
    /// ```
    pub async fn verify_audit_log(
        &self,
        trusted: Option<Checkpoint>,
    ) -> Result<VerifiedLog, ClientError> {
        let note = self.audit_checkpoint().await?;
        let key = self.audit_key().await?;
        let invalid = |e: crate::transparency::LogError| ClientError::Unexpected {
            status: 200,
            detail: format!("the audit log does not verify: {e}"),
        };
        let (checkpoint, _) = open_checkpoint(&note, &key).map_err(invalid)?;
        let mut verifier = LogVerifier::new(trusted);
        let mut visible = Vec::new();
        let mut start = 0;
        while start < checkpoint.size {
            let end = (start + AUDIT_PAGE).min(checkpoint.size);
            let page = self.audit_entries(start, end).await?;
            if page.entries.is_empty() {
                return Err(ClientError::Unexpected {
                    status: 200,
                    detail: format!("the broker returned no entries for {start}..{end}"),
                });
            }
            for line in page.entries {
                verifier.push(&line).map_err(invalid)?;
                start = line.index + 1;
                if line.entry.is_some() || line.summary.is_some() {
                    visible.push(line);
                }
            }
        }
        let report = verifier.finish(&checkpoint).map_err(invalid)?;
        Ok(VerifiedLog {
            checkpoint,
            report,
            visible,
        })
    }
}
