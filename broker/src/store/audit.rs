//! The audit aggregate: appending entries that record no other effect, reading the log, its
//! Merkle tree ([`super::audit_tree`]) and erasing old entries. (Entries recording an effect
//! are appended by the other aggregates, in the effect's transaction.)

use std::collections::HashMap;

use async_trait::async_trait;
use kruispunt_sdk::transparency::{Hash, NodeId};

use super::StoreError;
use super::audit_tree::LeafRow;
use crate::audit::entry::AuditEntry;

/// Builds the entry recording an audit erasure from the erased sequence numbers (called inside
/// the transaction, so the entry names exactly what was erased).
pub type EraseAudit<'a> = &'a (dyn Fn(&[u64]) -> AuditEntry + Send + Sync);

/// The audit log's storage ([`super::Store::audit`]).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends entries that record no other effect (refusals, audit reads), in one
    /// transaction; returns their sequence numbers (consecutive, in input order).
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<Vec<u64>, StoreError>;

    /// Entries with `start <= seq < end`, in order (fewer if the log is shorter).
    async fn audit_entries(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, AuditEntry)>, StoreError>;

    /// The stored bytes (canonical JSON) of entries `start <= seq < end` — what the Merkle log
    /// hashes; never re-serialised.
    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// Number of entries in the log (= the next sequence number).
    async fn audit_len(&self) -> Result<u64, StoreError>;

    /// Number of leaves in the audit log's Merkle tree (see [`super::audit_tree`]): every entry's leaf
    /// is committed with the entry, so this equals [`AuditStore::audit_len`] once
    /// [`AuditStore::audit_tree_catch_up`] has run on a database from before migration 0007.
    async fn audit_tree_size(&self) -> Result<u64, StoreError>;

    /// Commits leaves to the entries a log follower had not yet committed to before migration
    /// 0007, in one transaction under the sequence counter's lock; nothing when there are none.
    async fn audit_tree_catch_up(&self) -> Result<(), StoreError>;

    /// Erases the audit entries recorded before `before_ms` (Unix ms) that are not erased yet —
    /// by the time committed in each entry, not its `time_ms` column, and only an old,
    /// time-ordered part of the log (see [`super::audit_tree::erasable_before`]): their rows, their salts and their pseudonym index rows — each leaf stays, so the tree and
    /// every checkpoint still verify, but it no longer links to anybody. In the same transaction
    /// appends the entry `audit_for` builds from the erased sequence numbers (in order).
    /// Returns those numbers and the new entry's, or nothing (no entry either) if none was due.
    async fn audit_erase_before(
        &self,
        before_ms: i64,
        audit_for: EraseAudit<'_>,
    ) -> Result<Option<(Vec<u64>, u64)>, StoreError>;

    /// The hashes of the given tree nodes (level 0: leaf hashes) that exist: one look-up.
    async fn audit_tree_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError>;

    /// The tree's leaves `start <= seq < end` with their salts and entries, in order.
    async fn audit_tree_leaves(&self, start: u64, end: u64) -> Result<Vec<LeafRow>, StoreError>;

    /// The tree's leaves (with salts and entries) whose entry names the at-rest `pseudonym`, in
    /// log order, at most `limit`.
    async fn audit_tree_naming(
        &self,
        pseudonym: &[u8; 32],
        limit: u64,
    ) -> Result<Vec<LeafRow>, StoreError>;
}
