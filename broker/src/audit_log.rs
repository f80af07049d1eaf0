//! The audit trail as a verifiable log: an RFC 6962 Merkle tree over salted commitments to the
//! stored entries, kept in the database, and signed C2SP checkpoints.
//!
//! The database stays the source of truth. Routes append entries (durably, before they answer);
//! this log *follows* them: every sync reads the entries appended since the tree's size, gives
//! each a fresh random salt, computes its leaf `SHA-256(salt ‖ stored bytes)` (the bytes as
//! stored, never re-serialised) and stores leaves, salts and the interior nodes they complete
//! in one transaction (migration 0003). Entries written by any route — or by another broker on
//! the same PostgreSQL database — are covered. The broker keeps only the tree's right border
//! ([`Frontier`], at most 64 hashes) in memory; roots and proofs for any size read `O(log n)`
//! stored nodes.
//!
//! Checkpoints are signed at most every sync interval (2 s in `serve`) and only when the tree
//! grew, so one checkpoint covers whatever arrived meanwhile rather than one person's request.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{Mutex, RwLock};

use crate::audit_entry::AuditEntry;
use crate::keys::BrokerKeys;
use crate::store::audit_tree::TreeLeaf;
use crate::store::{Store, StoreError};
use crate::transparency::{
    self, Frontier, Hash, NodeId, ProofPlan, commitment, leaf_hash, new_salt,
};

/// Entries committed per database transaction while catching up.
const SYNC_BATCH: u64 = 10_000;

/// The follower: the tree's right border, as far as this broker has followed it.
pub struct AuditLog {
    origin: String,
    frontier: Mutex<Option<Frontier>>,
    checkpoint: RwLock<Option<(u64, String)>>,
    verifier_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditLogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing the checkpoint failed: {0}")]
    Sign(String),
    #[error("the system random generator failed")]
    Random,
    #[error("{0}")]
    Proof(#[from] transparency::ProofError),
    #[error("the stored tree is damaged: {0}")]
    Damaged(String),
}

impl AuditLog {
    /// `origin` is `kruispunt/<deployment>`; it is also the signing key's name.
    pub fn new(deployment: &str, keys: &BrokerKeys) -> Result<AuditLog, AuditLogError> {
        let origin = format!("kruispunt/{deployment}");
        let verifier_key = transparency::verifier_key(&origin, keys.audit_public_key())
            .map_err(|e| AuditLogError::Sign(e.to_string()))?;
        Ok(AuditLog {
            origin,
            frontier: Mutex::new(None),
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
    pub async fn checkpoint(&self) -> Option<(u64, String)> {
        self.checkpoint.read().await.clone()
    }

    /// Commits the entries the database holds beyond the tree, then signs a checkpoint if the
    /// tree grew (or none was signed yet). Returns the tree size.
    pub async fn sync(&self, store: &dyn Store, keys: &BrokerKeys) -> Result<u64, AuditLogError> {
        let mut guard = self.frontier.lock().await;
        let result = self.extend(&mut guard, store).await;
        if result.is_err() {
            // Reload from the database next time rather than trust a half-applied border.
            *guard = None;
        }
        let frontier = result?;
        let (size, root) = (frontier.size(), frontier.root());
        drop(guard);
        let stale = self
            .checkpoint
            .read()
            .await
            .as_ref()
            .is_none_or(|(s, _)| *s != size);
        if stale {
            let note = transparency::sign_checkpoint(
                &self.origin,
                size,
                &root,
                &self.origin,
                keys.audit_signing_key(),
            )
            .map_err(|e| AuditLogError::Sign(e.to_string()))?;
            *self.checkpoint.write().await = Some((size, note));
        }
        Ok(size)
    }

    async fn extend(
        &self,
        slot: &mut Option<Frontier>,
        store: &dyn Store,
    ) -> Result<Frontier, AuditLogError> {
        let stored = store.audit_tree_size().await?;
        let mut frontier = match slot.take() {
            Some(f) if f.size() == stored => f,
            _ => load_frontier(store, stored).await?,
        };
        let target = store.audit_len().await?;
        while frontier.size() < target {
            let start = frontier.size();
            let end = (start + SYNC_BATCH).min(target);
            let rows = store.audit_leaves(start, end).await?;
            let mut next = frontier.clone();
            let mut leaves = Vec::with_capacity(rows.len());
            let mut nodes = Vec::with_capacity(rows.len());
            for (seq, bytes) in rows {
                if seq != next.size() {
                    return Err(AuditLogError::Damaged(format!(
                        "audit entry {} is missing from the log",
                        next.size()
                    )));
                }
                let salt = new_salt().map_err(|_| AuditLogError::Random)?;
                let leaf = commitment(&salt, &bytes);
                next.append(leaf_hash(&leaf), |id, h| {
                    if id.level > 0 {
                        nodes.push((id, h));
                    }
                });
                let pseudonyms = named_pseudonyms(&bytes);
                leaves.push(TreeLeaf {
                    seq,
                    leaf,
                    salt,
                    pseudonyms,
                });
            }
            if leaves.is_empty() {
                break;
            }
            store.audit_tree_append(start, &leaves, &nodes).await?;
            frontier = next;
        }
        *slot = Some(frontier.clone());
        Ok(frontier)
    }

    /// The number of leaves in the stored tree (which proofs may use).
    pub async fn tree_size(&self, store: &dyn Store) -> Result<u64, AuditLogError> {
        Ok(store.audit_tree_size().await?)
    }

    /// The root of the stored tree of `size` leaves.
    pub async fn root_at(&self, store: &dyn Store, size: u64) -> Result<Hash, AuditLogError> {
        check_size(store, size).await?;
        Ok(load_frontier(store, size).await?.root())
    }

    /// Leaf hash of `index` and its inclusion proof in the tree of `size` leaves.
    pub async fn inclusion_proof(
        &self,
        store: &dyn Store,
        index: u64,
        size: u64,
    ) -> Result<(Hash, Vec<Hash>), AuditLogError> {
        let plan = ProofPlan::inclusion(index, size)?;
        check_size(store, size).await?;
        let mut ids = plan.node_ids();
        ids.push(NodeId::leaf(index));
        let nodes = store.audit_tree_nodes(&ids).await?;
        let leaf = *nodes
            .get(&NodeId::leaf(index))
            .ok_or_else(|| AuditLogError::Damaged(format!("leaf {index} is not stored")))?;
        Ok((leaf, plan.assemble(|id| nodes.get(&id).copied())?))
    }

    /// The consistency proof from the tree of `first` leaves to that of `second`.
    pub async fn consistency_proof(
        &self,
        store: &dyn Store,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, AuditLogError> {
        let plan = ProofPlan::consistency(first, second)?;
        check_size(store, second).await?;
        let nodes = store.audit_tree_nodes(&plan.node_ids()).await?;
        Ok(plan.assemble(|id| nodes.get(&id).copied())?)
    }
}

async fn check_size(store: &dyn Store, size: u64) -> Result<(), AuditLogError> {
    let tree_size = store.audit_tree_size().await?;
    if size > tree_size {
        return Err(transparency::ProofError::SizeBeyondTree { size, tree_size }.into());
    }
    Ok(())
}

/// The at-rest pseudonyms an entry names (for the disclosure index). An entry that does not
/// parse still gets its leaf — the commitment is to the bytes — but names nobody.
fn named_pseudonyms(bytes: &[u8]) -> Vec<[u8; 32]> {
    AuditEntry::from_json(bytes)
        .map(|e| {
            e.pseudonyms
                .iter()
                .filter_map(|h| hex::decode(h).ok()?.try_into().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The right border of the stored tree of `size` leaves, from its `O(log n)` nodes.
async fn load_frontier(store: &dyn Store, size: u64) -> Result<Frontier, AuditLogError> {
    let ids = Frontier::node_ids(size);
    let nodes: HashMap<NodeId, Hash> = store.audit_tree_nodes(&ids).await?;
    let hashes = ids
        .iter()
        .map(|id| {
            nodes
                .get(id)
                .copied()
                .ok_or_else(|| AuditLogError::Damaged(format!("tree node {id} is not stored")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Frontier::from_parts(size, hashes).map_err(|e| AuditLogError::Damaged(e.to_string()))
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
