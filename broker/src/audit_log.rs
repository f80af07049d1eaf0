//! The audit trail as a verifiable log: an RFC 6962 Merkle tree over the stored entries (their
//! exact canonical bytes, never re-serialised) and signed C2SP checkpoints.
//!
//! The database stays the source of truth: the tree follows it by reading the leaves appended
//! since the last sync, so entries written by any route — or by another broker on the same
//! PostgreSQL database — are covered. Checkpoints are published every few seconds while
//! entries arrive, not per entry, so that one checkpoint does not map to one person's request.
//! This first version keeps the tree in memory (all perfect-subtree hashes: about 64 bytes per
//! entry) and rebuilds it from the leaves at start-up.

use std::sync::RwLock;
use std::time::Duration;

use crate::keys::BrokerKeys;
use crate::store::{Store, StoreError};
use crate::transparency::{self, Hash, MemoryTree, TreeStore};

pub struct AuditLog {
    origin: String,
    tree: RwLock<MemoryTree>,
    checkpoint: RwLock<Option<(u64, String)>>,
    verifier_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditLogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing the checkpoint failed: {0}")]
    Sign(String),
    #[error("{0}")]
    Proof(#[from] transparency::ProofError),
}

impl AuditLog {
    /// `origin` is `kruispunt/<deployment>`; it is also the signing key's name.
    pub fn new(deployment: &str, keys: &BrokerKeys) -> Result<AuditLog, AuditLogError> {
        let origin = format!("kruispunt/{deployment}");
        let verifier_key = transparency::verifier_key(&origin, keys.audit_public_key())
            .map_err(|e| AuditLogError::Sign(e.to_string()))?;
        Ok(AuditLog {
            origin,
            tree: RwLock::new(MemoryTree::new()),
            checkpoint: RwLock::new(None),
            verifier_key,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The note-format verifier key line: `<name>+<key id>+<base64(0x01 ‖ public key)>`.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// The latest signed checkpoint and its tree size.
    pub fn checkpoint(&self) -> Option<(u64, String)> {
        self.checkpoint
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn size(&self) -> u64 {
        self.tree.read().unwrap_or_else(|p| p.into_inner()).size()
    }

    /// Appends the leaves the database holds beyond the tree, then signs a checkpoint if the
    /// tree grew (or none was signed yet).
    pub async fn sync(&self, store: &dyn Store, keys: &BrokerKeys) -> Result<u64, AuditLogError> {
        let target = store.audit_len().await?;
        let mut from = self.size();
        while from < target {
            let end = (from + 10_000).min(target);
            let leaves = store.audit_leaves(from, end).await?;
            let mut tree = self.tree.write().unwrap_or_else(|p| p.into_inner());
            for (seq, bytes) in leaves {
                if seq != tree.size() {
                    break;
                }
                tree.append_leaf(&bytes);
            }
            from = tree.size();
            if from < end {
                break;
            }
        }
        let (size, root) = {
            let tree = self.tree.read().unwrap_or_else(|p| p.into_inner());
            (tree.size(), tree.root())
        };
        let stale = self.checkpoint().is_none_or(|(s, _)| s != size);
        if stale {
            let note = transparency::sign_checkpoint(
                &self.origin,
                size,
                &root,
                &self.origin,
                keys.audit_signing_key(),
            )
            .map_err(|e| AuditLogError::Sign(e.to_string()))?;
            *self.checkpoint.write().unwrap_or_else(|p| p.into_inner()) = Some((size, note));
        }
        Ok(size)
    }

    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<(Hash, Vec<Hash>), AuditLogError> {
        let tree = self.tree.read().unwrap_or_else(|p| p.into_inner());
        let proof = transparency::inclusion_proof(&*tree, index, size)?;
        let leaf = tree
            .subtree_hash(0, index)
            .map_err(transparency::ProofError::from)?;
        Ok((leaf, proof))
    }

    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, AuditLogError> {
        let tree = self.tree.read().unwrap_or_else(|p| p.into_inner());
        Ok(transparency::consistency_proof(&*tree, first, second)?)
    }
}

/// Keeps the tree and checkpoint up to date.
pub async fn run(state: crate::state::AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = state.audit_log.sync(&*state.store, &state.keys).await {
            tracing::warn!(error = %e, "audit log sync failed; will retry");
        }
    }
}
