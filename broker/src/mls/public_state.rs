//! The broker's view of one group: an openmls [`PublicGroup`] over a memory storage that is
//! snapshotted into the group's database row after every change (the same snapshot format the
//! SDK persists members with, `kruispunt_sdk::coalition::snapshot`).
//!
//! Loading from the row on each request (instead of caching) keeps brokers stateless: any
//! broker on the same PostgreSQL database sees the state the last accepted commit left.

use kruispunt_sdk::coalition::mls::{CIPHERSUITE, org_of};
use kruispunt_sdk::coalition::snapshot;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::*;
use openmls_memory_storage::MemoryStorage;
use openmls_rust_crypto::RustCrypto;

/// Why a group's public state could not be built, loaded or advanced.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{0}")]
    Invalid(String),
    #[error("stored group state is unusable: {0}")]
    Corrupt(String),
}

/// One group's public state.
pub struct PublicView {
    storage: MemoryStorage,
    group: PublicGroup,
}

impl PublicView {
    /// Starts following a group from its creator's GroupInfo (which must carry the ratchet
    /// tree): checks the GroupInfo's signature against the tree, the ciphersuite and the
    /// group id.
    pub fn from_group_info(
        crypto: &RustCrypto,
        group_info: VerifiableGroupInfo,
        group_id: &str,
    ) -> Result<PublicView, StateError> {
        if group_info.ciphersuite() != CIPHERSUITE {
            return Err(StateError::Invalid(format!(
                "group_info: ciphersuite {:?} is not the one the broker accepts ({:?})",
                group_info.ciphersuite(),
                CIPHERSUITE
            )));
        }
        if group_info.group_id().as_slice() != group_id.as_bytes() {
            return Err(StateError::Invalid(
                "group_info: its group id differs from group_id".into(),
            ));
        }
        let tree = group_info
            .extensions()
            .ratchet_tree()
            .map(|e| e.ratchet_tree().clone())
            .ok_or_else(|| {
                StateError::Invalid("group_info: the ratchet_tree extension is missing".into())
            })?;
        let storage = MemoryStorage::default();
        let (group, _) =
            PublicGroup::from_external(crypto, &storage, tree, group_info, ProposalStore::new())
                .map_err(|e| StateError::Invalid(format!("group_info: {e}")))?;
        Ok(PublicView { storage, group })
    }

    /// Loads the state stored for `group_id`.
    pub fn load(bytes: &[u8], group_id: &str) -> Result<PublicView, StateError> {
        let storage =
            snapshot::from_bytes(bytes).map_err(|e| StateError::Corrupt(e.to_string()))?;
        let group = PublicGroup::load(&storage, &GroupId::from_slice(group_id.as_bytes()))
            .map_err(|e| StateError::Corrupt(e.to_string()))?
            .ok_or_else(|| StateError::Corrupt("no public group in the snapshot".into()))?;
        Ok(PublicView { storage, group })
    }

    /// The bytes to store.
    pub fn to_bytes(&self) -> Vec<u8> {
        snapshot::to_bytes(&self.storage)
    }

    pub fn epoch(&self) -> u64 {
        self.group.group_context().epoch().as_u64()
    }

    /// Member organisations (sorted, without duplicates). Leaves whose credential names no
    /// organisation are not among them: see [`PublicView::unreadable_leaves`].
    pub fn members(&self) -> Vec<String> {
        let mut orgs: Vec<String> = self
            .group
            .members()
            .filter_map(|m| org_of(&m.credential).ok())
            .collect();
        orgs.sort();
        orgs.dedup();
        orgs
    }

    /// The leaves whose credential does not name an organisation (not a basic credential, or
    /// not a partner id): shown beside the members, never hidden — a member in the tree that
    /// nobody can name is something wrong with the group.
    pub fn unreadable_leaves(&self) -> Vec<u32> {
        self.group
            .members()
            .filter(|m| org_of(&m.credential).is_err())
            .map(|m| m.index.u32())
            .collect()
    }

    /// How many leaves the tree holds (members, readable or not).
    pub fn leaf_count(&self) -> usize {
        self.group.members().count()
    }

    /// The organisation at a leaf.
    pub fn org_at(&self, index: LeafNodeIndex) -> Option<String> {
        self.group
            .leaf(index)
            .and_then(|leaf| org_of(leaf.credential()).ok())
    }

    /// Verifies a public handshake message against the current state (signature, epoch,
    /// membership of the sender, commit validity).
    pub fn process(
        &self,
        crypto: &RustCrypto,
        message: ProtocolMessage,
    ) -> Result<ProcessedMessage, StateError> {
        self.group
            .process_message(crypto, message)
            .map_err(|e| StateError::Invalid(format!("message: {e}")))
    }

    /// How many standalone proposals wait for the epoch's commit: from organisation `org`
    /// (whichever of its leaves sent them), and in all.
    pub fn pending_proposals(&self, org: &str) -> Result<(usize, usize), StateError> {
        let queued = self
            .group
            .queued_proposals(&self.storage)
            .map_err(|e| StateError::Corrupt(e.to_string()))?;
        let mine = queued
            .iter()
            .filter(|(_, p)| match p.sender() {
                Sender::Member(leaf) => self.org_at(*leaf).as_deref() == Some(org),
                _ => false,
            })
            .count();
        Ok((mine, queued.len()))
    }

    /// Queues a verified standalone proposal for the epoch's commit.
    pub fn add_proposal(&mut self, proposal: QueuedProposal) -> Result<(), StateError> {
        self.group
            .add_proposal(&self.storage, proposal)
            .map_err(|e| StateError::Corrupt(e.to_string()))
    }

    /// Applies a verified commit.
    pub fn merge(&mut self, staged: StagedCommit) -> Result<(), StateError> {
        self.group
            .merge_commit(&self.storage, staged)
            .map_err(|e| StateError::Corrupt(e.to_string()))
    }
}
