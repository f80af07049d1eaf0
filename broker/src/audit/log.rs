//! The audit trail as a verifiable log: an RFC 6962 Merkle tree over salted commitments to the
//! stored entries, kept in the database, and signed C2SP checkpoints.
//!
//! The database is the source of truth, and the tree is part of it: the transaction that
//! appends an entry also commits its leaf (a fresh random salt, `SHA-256(salt ‖ stored bytes)`)
//! and the interior nodes it completes (see [`crate::store::audit_tree`]). Entries written by any
//! route — or by another broker on the same PostgreSQL database — are covered the moment they
//! are committed; a checkpoint of size `n` covers exactly the first `n` committed entries.
//! Roots and proofs for any size read `O(log n)` stored nodes.
//!
//! This log only signs: checkpoints at most every sync interval (500 ms in `serve`) and only when
//! the tree grew, so one checkpoint covers whatever arrived meanwhile rather than one person's
//! request. It never signs a tree that is not consistent with the last checkpoint it signed,
//! which it keeps outside the database ([`crate::audit::anchor`]): a tree rewritten or
//! truncated behind the broker's back is a [`Divergence`], and the broker refuses to serve.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, RwLock};

use crate::audit::anchor::{self, Divergence, show_root};
use crate::audit::transparency::{self, Checkpoint, Frontier, Hash, NodeId, ProofPlan};
use crate::keys::BrokerKeys;
use crate::store::{Store, StoreError};

/// The signer of the stored tree's checkpoints.
pub struct AuditLog {
    origin: String,
    /// Whether this broker has checked that the stored tree covers every entry (a database from
    /// before migration 0007 is caught up once, see [`crate::store::AuditStore::audit_tree_catch_up`]).
    caught_up: AtomicBool,
    checkpoint: RwLock<Option<(u64, String)>>,
    /// When this process last replaced `checkpoint` (the metrics' checkpoint age).
    signed_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// The last checkpoint signed (by this broker, or by any broker sharing the key folder), and
    /// the file it is kept in (`None`: in memory only, for benchmarks and tests of the tree).
    /// Held while signing, so that checkpoints are checked and signed one at a time.
    last_signed: Mutex<Option<Checkpoint>>,
    anchor_path: Option<PathBuf>,
    verifier: transparency::Verifier,
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
    #[error("the stored tree is damaged: {0}")]
    Damaged(String),
    #[error("{0}")]
    Diverged(#[from] Divergence),
    #[error("cannot keep the last signed checkpoint in {path}: {error}")]
    Anchor { path: String, error: std::io::Error },
}

impl AuditLog {
    /// A log that keeps its last signed checkpoint in memory only (benchmarks, tests of the
    /// tree). `origin` is `kruispunt/<deployment>`; it is also the signing key's name.
    pub fn new(deployment: &str, keys: &BrokerKeys) -> Result<AuditLog, AuditLogError> {
        let origin = format!("kruispunt/{deployment}");
        let verifier_key = transparency::verifier_key(&origin, keys.audit_public_key())
            .map_err(|e| AuditLogError::Sign(e.to_string()))?;
        let verifier = transparency::Verifier::new(&origin, keys.audit_public_key())
            .map_err(|e| AuditLogError::Sign(e.to_string()))?;
        Ok(AuditLog {
            origin,
            caught_up: AtomicBool::new(false),
            checkpoint: RwLock::new(None),
            signed_at: std::sync::Mutex::new(None),
            last_signed: Mutex::new(None),
            anchor_path: None,
            verifier,
            verifier_key,
        })
    }

    /// The broker's log on the data directory `data_dir`: the last signed checkpoint is read
    /// from (and kept in) its key folder ([`anchor::path_in`]). An anchor that does not verify
    /// is refused. Nothing is checked against the database yet: [`AuditLog::sync`] does that
    /// before it signs anything.
    pub fn open(
        deployment: &str,
        keys: &BrokerKeys,
        data_dir: &Path,
    ) -> Result<AuditLog, AuditLogError> {
        let mut log = AuditLog::new(deployment, keys)?;
        let path = anchor::path_in(data_dir);
        *log.last_signed.get_mut() = anchor::load(&path, &log.origin, &log.verifier)?;
        log.anchor_path = Some(path);
        Ok(log)
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

    /// The latest checkpoint's tree size (0: none yet) and how long ago this process signed
    /// it, for the metrics.
    pub async fn checkpoint_size_and_age(&self) -> (u64, Option<std::time::Duration>) {
        let size = self.checkpoint.read().await.as_ref().map_or(0, |(s, _)| *s);
        let age = self
            .signed_at
            .lock()
            .ok()
            .and_then(|at| at.map(|t| t.elapsed()));
        (size, age)
    }

    /// Signs a checkpoint of the stored tree if it grew since the last one (or none was signed
    /// yet). Returns the tree size. Refuses ([`AuditLogError::Diverged`]) to sign a tree that
    /// is not consistent with the last checkpoint signed.
    pub async fn sync(&self, store: &dyn Store, keys: &BrokerKeys) -> Result<u64, AuditLogError> {
        if !self.caught_up.load(Ordering::Acquire) {
            store.audit().audit_tree_catch_up().await?;
            self.caught_up.store(true, Ordering::Release);
        }
        let size = store.audit().audit_tree_size().await?;
        let stale = self
            .checkpoint
            .read()
            .await
            .as_ref()
            .is_none_or(|(s, _)| *s != size);
        if stale {
            let (size, note) = self.sign_stored(store, keys).await?;
            let mut slot = self.checkpoint.write().await;
            // Two syncs may race; never replace a checkpoint with an older one.
            if slot.as_ref().is_none_or(|(s, _)| *s < size) {
                *slot = Some((size, note));
                if let Ok(mut at) = self.signed_at.lock() {
                    *at = Some(std::time::Instant::now());
                }
            }
        }
        Ok(size)
    }

    /// Signs a checkpoint of the stored tree as it is now, after checking it against the last
    /// checkpoint signed, and keeps it as the new anchor before anyone sees it. Answers the
    /// size and the signed note.
    pub async fn sign_stored(
        &self,
        store: &dyn Store,
        keys: &BrokerKeys,
    ) -> Result<(u64, String), AuditLogError> {
        let mut last = self.last_signed.lock().await;
        // Another broker sharing the key folder may have signed a later checkpoint meanwhile.
        if let Some(path) = &self.anchor_path
            && let Some(theirs) = anchor::load(path, &self.origin, &self.verifier)?
            && last.as_ref().is_none_or(|mine| mine.size < theirs.size)
        {
            *last = Some(theirs);
        }
        // Read under the lock: the tree only grows, so this is at least what anyone signed.
        let size = store.audit().audit_tree_size().await?;
        let root = load_frontier(store, size).await?.root();
        if let Some(signed) = last.as_ref() {
            self.check_extends(store, signed, size, &root).await?;
        }
        let note = crate::audit::sign_checkpoint(
            &self.origin,
            size,
            &root,
            &self.origin,
            keys.audit_signing_key(),
        )
        .map_err(|e| AuditLogError::Sign(e.to_string()))?;
        if let Some(path) = &self.anchor_path {
            anchor::store(path, &note).map_err(|error| AuditLogError::Anchor {
                path: path.display().to_string(),
                error,
            })?;
        }
        *last = Some(Checkpoint::new(self.origin.clone(), size, root));
        Ok((size, note))
    }

    /// Checks that the stored tree of `size` leaves with `root` is the tree `signed` was
    /// signed over, or extends it.
    async fn check_extends(
        &self,
        store: &dyn Store,
        signed: &Checkpoint,
        size: u64,
        root: &Hash,
    ) -> Result<(), AuditLogError> {
        let anchor = self
            .anchor_path
            .as_ref()
            .map_or_else(|| "memory".to_string(), |p| p.display().to_string());
        if size < signed.size {
            return Err(Divergence::Shrunk {
                signed: signed.size,
                stored: size,
                anchor,
            }
            .into());
        }
        if size == signed.size {
            if *root != signed.root {
                return Err(Divergence::RootDiffers {
                    size,
                    signed_root: show_root(&signed.root),
                    stored_root: show_root(root),
                    anchor,
                }
                .into());
            }
            return Ok(());
        }
        let inconsistent = |reason: String| Divergence::Inconsistent {
            signed: signed.size,
            stored: size,
            reason,
            anchor: anchor.clone(),
        };
        let proof = match self.consistency_proof(store, signed.size, size).await {
            Ok(p) => p,
            Err(AuditLogError::Proof(e)) => return Err(inconsistent(e.to_string()).into()),
            Err(e) => return Err(e),
        };
        transparency::verify_consistency(signed.size, size, &proof, &signed.root, root)
            .map_err(|e| inconsistent(e.to_string()))?;
        Ok(())
    }

    /// The number of leaves in the stored tree (which proofs may use).
    pub async fn tree_size(&self, store: &dyn Store) -> Result<u64, AuditLogError> {
        Ok(store.audit().audit_tree_size().await?)
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
        let nodes = store.audit().audit_tree_nodes(&ids).await?;
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
        let nodes = store.audit().audit_tree_nodes(&plan.node_ids()).await?;
        Ok(plan.assemble(|id| nodes.get(&id).copied())?)
    }
}

async fn check_size(store: &dyn Store, size: u64) -> Result<(), AuditLogError> {
    let tree_size = store.audit().audit_tree_size().await?;
    if size > tree_size {
        return Err(transparency::ProofError::SizeBeyondTree { size, tree_size }.into());
    }
    Ok(())
}

/// The right border of the stored tree of `size` leaves, from its `O(log n)` nodes.
async fn load_frontier(store: &dyn Store, size: u64) -> Result<Frontier, AuditLogError> {
    let nodes = store
        .audit()
        .audit_tree_nodes(&Frontier::node_ids(size))
        .await?;
    Ok(crate::store::audit_tree::frontier_from_nodes(size, &nodes)?)
}

/// Keeps the tree and checkpoint up to date.
pub async fn run(state: crate::state::AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match state.audit_log.sync(&*state.store, &state.keys).await {
            Ok(_) => {
                if let Some(w) = &state.witnesses {
                    w.checkpoint_signed();
                }
            }
            Err(e @ AuditLogError::Diverged(_)) => {
                tracing::error!(error = %e, "audit log tampered with; no checkpoint signed");
            }
            Err(e) => tracing::warn!(error = %e, "audit log sync failed; will retry"),
        }
    }
}
