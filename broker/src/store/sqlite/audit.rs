//! The audit log on SQLite: appends through the group commit, the shared reads
//! ([`crate::store::sql::audit::Reads`]) on the readers' pool, the tree's writes and erasure in
//! [`super::audit_tree`].

use super::SqliteStore;
use crate::store::audit_tree::LeafRow;
use crate::store::group_commit::{Job, appended};
use crate::store::sql::audit::Reads;
use crate::store::{AuditEntry, AuditStore, EraseAudit, StoreError};
use async_trait::async_trait;
use kruispunt_sdk::transparency::{Hash, NodeId};
use std::collections::HashMap;

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<Vec<u64>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        appended(self.commits.submit(Job::append(entries)?).await?)
    }

    async fn audit_entries(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, AuditEntry)>, StoreError> {
        Reads(&self.reader).entries(start, end).await
    }

    async fn audit_leaves(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Reads(&self.reader).leaves(start, end).await
    }

    async fn audit_len(&self) -> Result<u64, StoreError> {
        Reads(&self.reader).len().await
    }

    async fn audit_tree_size(&self) -> Result<u64, StoreError> {
        self.tree_size().await
    }

    async fn audit_tree_catch_up(&self) -> Result<(), StoreError> {
        self.tree_catch_up().await
    }

    async fn audit_erase_before(
        &self,
        before_ms: i64,
        audit_for: EraseAudit<'_>,
    ) -> Result<Option<(Vec<u64>, u64)>, StoreError> {
        self.tree_erase_before(before_ms, audit_for).await
    }

    async fn audit_tree_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
        self.tree_nodes(ids).await
    }

    async fn audit_tree_leaves(&self, start: u64, end: u64) -> Result<Vec<LeafRow>, StoreError> {
        Reads(&self.reader).tree_leaves(start, end).await
    }

    async fn audit_tree_naming(
        &self,
        pseudonym: &[u8; 32],
        limit: u64,
    ) -> Result<Vec<LeafRow>, StoreError> {
        Reads(&self.reader).tree_naming(pseudonym, limit).await
    }
}
