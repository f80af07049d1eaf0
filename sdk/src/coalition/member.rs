//! One partner organisation's MLS client: its signing identity, its key packages, and the
//! groups (coalitions, case channels) it is a member of — with the coalition key each group
//! carries.
//!
//! Transport-agnostic: operations return the bytes to post to the delivery service
//! ([`Outgoing`]) and take the messages fetched from it ([`Fetched`]); [`super::http`] is one
//! way to move them. A commit is **not** merged when it is created: the caller posts it and
//! calls [`Member::confirm`] when the broker accepted it, or [`Member::discard`] when the broker
//! answered 409 (another commit won the epoch), then fetches, processes and tries again.
//!
//! **The coalition key.** The group's creator (the coalition administrator) generates a 32-byte
//! key, version 1, and sends it as an application message after every commit that adds members;
//! when a commit removes a member, it generates the next version and sends that instead, in the
//! new epoch — which the removed member has no secrets for. Members keep every version they
//! received, so data under an old version can still be re-pseudonymised during the grace period.
//!
//! **Persistence.** With a state path, every change is written to disk before the method
//! returns: a temporary file in the same directory, fsynced, then renamed over the old one (a
//! crash leaves the old or the new state, never half of one). The file holds the signing key and
//! the coalition keys: it is created readable by its owner only (0600 on Unix).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use serde::{Deserialize, Serialize};

use super::mls::{CIPHERSUITE, MAX_PAST_EPOCHS, Provider, WIRE_FORMAT_POLICY, org_of};
use super::payload::Payload;
use super::snapshot;
use crate::CoalitionKey;

/// Errors of the coalition client.
#[derive(Debug, thiserror::Error)]
pub enum CoalitionError {
    /// openmls refused an operation or a message (what was being done, and its error).
    #[error("MLS: {0}")]
    Mls(String),
    /// This organisation holds no state for the group.
    #[error("not a member of group {0:?}")]
    UnknownGroup(String),
    /// A message or payload that is well formed MLS but not what the protocol allows here.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing the persisted state failed.
    #[error("state file: {0}")]
    Io(#[from] std::io::Error),
    /// The persisted state could not be read back.
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
}

fn mls<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> CoalitionError {
    move |e| CoalitionError::Mls(format!("{what}: {e}"))
}

/// Bytes to post to the delivery service for one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The MLS message (a commit or a proposal).
    pub message: Vec<u8>,
    /// The welcome for invited members (commits that add).
    pub welcome: Option<Vec<u8>>,
}

impl Outgoing {
    /// The encoded `commit` and, for commits that add members, its `welcome`: the one place
    /// a commit becomes bytes, so every operation reports an encoding failure alike.
    fn commit(
        commit: &MlsMessageOut,
        welcome: Option<&MlsMessageOut>,
    ) -> Result<Self, CoalitionError> {
        Ok(Outgoing {
            message: commit.to_bytes().map_err(mls("encode commit"))?,
            welcome: welcome
                .map(|w| w.to_bytes().map_err(mls("encode welcome")))
                .transpose()?,
        })
    }
}

/// A proposal waiting in a group for the next commit, as [`Member::pending_proposals`] and
/// [`Member::commit_pending`] report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingProposal {
    /// The proposing organisation ([`UNREADABLE_LEAF`] and its leaf when its credential names
    /// none; empty for a sender outside the group).
    pub from: String,
    /// `update`, `remove`, `self-remove`, or the MLS proposal type.
    pub kind: String,
    /// For a `remove`, the organisation it removes (marked like `from`).
    pub removes: Option<String>,
}

impl PendingProposal {
    /// What an administrator commits for its members without asking anyone: a member
    /// refreshing its own leaf (`update`) or leaving (`self-remove`, or a `remove` of its own
    /// leaf). Anything else — one member removing another, an unknown kind — is left out.
    pub fn own_change(&self) -> bool {
        match self.kind.as_str() {
            "update" | "self-remove" => !self.from.is_empty(),
            "remove" => !self.from.is_empty() && self.removes.as_deref() == Some(&self.from),
            _ => false,
        }
    }
}

/// What [`Member::commit_pending`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPending {
    /// The commit to post (then [`Member::confirm`] or [`Member::discard`]); `None` when no
    /// proposal was accepted.
    pub outgoing: Option<Outgoing>,
    /// The proposals it commits.
    pub committed: Vec<PendingProposal>,
    /// The proposals the administrator's `accept` refused: dropped, not committed.
    pub refused: Vec<PendingProposal>,
}

/// How a member whose leaf's credential names no organisation is shown
/// ([`Member::members`], [`PendingProposal`]): this prefix and the leaf index. It can never be
/// an organisation id (those hold only `a-z`, `0-9`, `-`, `_`).
pub const UNREADABLE_LEAF: &str = "?unreadable-leaf-";

/// A message fetched from a group's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Sequence number in the group's log.
    pub seq: u64,
    /// The MLS message as posted (decoded from base64).
    pub message: Vec<u8>,
}

/// What processing fetched messages did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A coalition key version arrived (and is stored).
    KeyReceived {
        /// The key version received.
        version: u32,
    },
    /// A commit changed the membership.
    MembersChanged {
        /// The epoch the commit started.
        epoch: u64,
        /// Organisations added.
        added: Vec<String>,
        /// Organisations removed.
        removed: Vec<String>,
    },
    /// A commit removed this organisation: the group is gone for it.
    RemovedFromGroup,
    /// A proposal (e.g. a member's request to leave) was stored for the next commit.
    ProposalReceived {
        /// The proposing organisation.
        from: String,
    },
    /// A message this member could not process (bad cryptography, a payload from a sender not
    /// allowed to send it, an unknown payload): skipped, so one bad message does not stop the
    /// group for good. If it was a commit, later messages of the group will be skipped too
    /// until the administrator re-initialises the group (docs/COALITIONS.md).
    Skipped {
        /// Its sequence number in the group's log.
        seq: u64,
        /// Why it was skipped.
        reason: String,
    },
    /// Case details from a case channel.
    CaseDetail {
        /// The sending organisation.
        from: String,
        /// The case the details are about.
        case_reference: String,
        /// The details, as the sender wrote them.
        text: String,
    },
}

/// What this organisation remembers of one group besides openmls' own state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct GroupMeta {
    /// Next sequence number to fetch.
    cursor: u64,
    /// This organisation created the group and distributes its key.
    admin: bool,
    /// Coalition keys by version (hex).
    keys: BTreeMap<u32, String>,
    /// The administrator's leaf and organisation, pinned at join: the group's creator sits at
    /// leaf 0 (the broker registers a group holding its creator alone, and only a coalition's
    /// administrator creates it). Key payloads from any other leaf are refused. `None` in
    /// states saved before the pin existed: leaf 0, whatever organisation.
    #[serde(default)]
    admin_leaf: Option<(u32, String)>,
    /// What the pending (posted, not yet confirmed) commit does.
    #[serde(default)]
    pending: Option<PendingCommit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum PendingCommit {
    Adds,
    Removes,
    Other,
}

/// The persisted header next to openmls' storage snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    org: String,
    signer_public: String,
    groups: BTreeMap<String, GroupMeta>,
}

const FILE_MAGIC: &[u8; 8] = b"KPMEMB01";

/// One organisation's MLS client. See the module documentation.
pub struct Member {
    org: String,
    provider: Provider,
    signer: SignatureKeyPair,
    groups: BTreeMap<String, MlsGroup>,
    meta: BTreeMap<String, GroupMeta>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("org", &self.org)
            .field("groups", &self.meta.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Member {
    /// A new identity for `org` (a fresh Ed25519 signing key), persisted at `path` if given.
    pub fn new(org: &str, path: Option<&Path>) -> Result<Member, CoalitionError> {
        let provider = Provider::default();
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm())
            .map_err(mls("signature key"))?;
        signer
            .store(provider.storage())
            .map_err(mls("store signature key"))?;
        let member = Member {
            org: org.to_string(),
            provider,
            signer,
            groups: BTreeMap::new(),
            meta: BTreeMap::new(),
            path: path.map(Path::to_path_buf),
        };
        // Check the name the way the broker will.
        org_of(&member.credential().credential)
            .map_err(|e| CoalitionError::Invalid(format!("org {org:?}: {e}")))?;
        member.save()?;
        Ok(member)
    }

    /// Restores the state saved at `path` (after a restart).
    pub fn open(path: &Path) -> Result<Member, CoalitionError> {
        let bytes = std::fs::read(path)?;
        let rest = bytes
            .strip_prefix(FILE_MAGIC.as_slice())
            .ok_or_else(|| CoalitionError::Invalid("not a member state file".into()))?;
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| CoalitionError::Invalid("truncated state file".into()))?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(CoalitionError::Invalid("truncated state file".into()));
        }
        let header: Header = serde_json::from_slice(&rest[..len])
            .map_err(|e| CoalitionError::Invalid(format!("state header: {e}")))?;
        let provider = Provider::with_storage(snapshot::from_bytes(&rest[len..])?);
        let public = hex::decode(&header.signer_public)
            .map_err(|e| CoalitionError::Invalid(format!("signer key: {e}")))?;
        let signer = SignatureKeyPair::read(
            provider.storage(),
            &public,
            CIPHERSUITE.signature_algorithm(),
        )
        .ok_or_else(|| {
            CoalitionError::Invalid("the signing key is missing from the state".into())
        })?;
        let mut groups = BTreeMap::new();
        for id in header.groups.keys() {
            let group = MlsGroup::load(provider.storage(), &GroupId::from_slice(id.as_bytes()))
                .map_err(mls("load group"))?
                .ok_or_else(|| CoalitionError::Invalid(format!("group {id:?} missing")))?;
            groups.insert(id.clone(), group);
        }
        Ok(Member {
            org: header.org,
            provider,
            signer,
            groups,
            meta: header.groups,
            path: Some(path.to_path_buf()),
        })
    }

    /// Writes the state (if this member has a path): temp file, fsync, rename, fsync dir.
    fn save(&self) -> Result<(), CoalitionError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let header = Header {
            org: self.org.clone(),
            signer_public: hex::encode(self.signer.public()),
            groups: self.meta.clone(),
        };
        let header = serde_json::to_vec(&header).expect("the header always serialises");
        let mut bytes = Vec::with_capacity(FILE_MAGIC.len() + 4 + header.len());
        bytes.extend_from_slice(FILE_MAGIC);
        bytes.extend_from_slice(&(header.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&snapshot::to_bytes(self.provider.storage()));
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = dir {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// The organisation this member state belongs to.
    pub fn org(&self) -> &str {
        &self.org
    }

    fn credential(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.org.as_bytes().to_vec()).into(),
            signature_key: self.signer.public().into(),
        }
    }

    /// `n` fresh key packages (and a last-resort one if asked), each as MLS message bytes to
    /// publish. Their private keys stay in this member's state.
    pub fn key_packages(
        &self,
        n: usize,
        last_resort: bool,
    ) -> Result<Vec<Vec<u8>>, CoalitionError> {
        let mut out = Vec::with_capacity(n + usize::from(last_resort));
        for i in 0..n + usize::from(last_resort) {
            // Every leaf declares it understands the last-resort extension, so the same
            // capabilities hold whichever package an inviter is handed.
            let mut builder = KeyPackage::builder().leaf_node_capabilities(
                Capabilities::builder()
                    .extensions(vec![ExtensionType::LastResort])
                    .build(),
            );
            if i == n {
                builder = builder.mark_as_last_resort();
            }
            let bundle = builder
                .build(CIPHERSUITE, &self.provider, &self.signer, self.credential())
                .map_err(mls("key package"))?;
            out.push(
                MlsMessageOut::from(bundle.key_package().clone())
                    .to_bytes()
                    .map_err(mls("encode key package"))?,
            );
        }
        self.save()?;
        Ok(out)
    }

    fn meta(&mut self, id: &str) -> Result<&mut GroupMeta, CoalitionError> {
        self.meta
            .get_mut(id)
            .ok_or_else(|| CoalitionError::UnknownGroup(id.to_string()))
    }

    /// The step every group operation shares: look the group up, act on it (with its
    /// metadata, the provider and the signer), and persist the state if the act succeeded —
    /// so no operation can forget to save, and a failed one leaves the file as it was.
    fn with_group<T>(
        &mut self,
        id: &str,
        act: impl FnOnce(
            &mut MlsGroup,
            &mut GroupMeta,
            &Provider,
            &SignatureKeyPair,
        ) -> Result<T, CoalitionError>,
    ) -> Result<T, CoalitionError> {
        let unknown = || CoalitionError::UnknownGroup(id.to_string());
        let group = self.groups.get_mut(id).ok_or_else(unknown)?;
        let meta = self.meta.get_mut(id).ok_or_else(unknown)?;
        let out = act(group, meta, &self.provider, &self.signer)?;
        self.save()?;
        Ok(out)
    }

    /// Creates group `id` with this organisation as its only member and administrator, and a
    /// first coalition key (version 1). Returns the GroupInfo to register with the broker.
    pub fn create_group(&mut self, id: &str) -> Result<Vec<u8>, CoalitionError> {
        if self.groups.contains_key(id) {
            return Err(CoalitionError::Invalid(format!("group {id:?} exists")));
        }
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(CIPHERSUITE)
            .wire_format_policy(WIRE_FORMAT_POLICY)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .use_ratchet_tree_extension(true)
            .build();
        let group = MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &config,
            GroupId::from_slice(id.as_bytes()),
            self.credential(),
        )
        .map_err(mls("create group"))?;
        let info = group
            .export_group_info(self.provider.crypto(), &self.signer, true)
            .map_err(mls("group info"))?
            .to_bytes()
            .map_err(mls("encode group info"))?;
        let key = CoalitionKey::generate(1);
        let mut meta = GroupMeta {
            admin: true,
            ..GroupMeta::default()
        };
        meta.keys.insert(1, hex::encode(key.expose_secret()));
        self.groups.insert(id.to_string(), group);
        self.meta.insert(id.to_string(), meta);
        self.save()?;
        Ok(info)
    }

    /// Re-initialises group `id` (administrator): a fresh group under the same id holding this
    /// organisation alone, keeping every coalition key version. Returns the GroupInfo to
    /// register with `PUT /v1/mls/groups/{id}`; then invite the members again. The way out of
    /// a group a member broke with a commit the others cannot process.
    pub fn reinit_group(&mut self, id: &str) -> Result<Vec<u8>, CoalitionError> {
        let meta = self.meta(id)?;
        if !meta.admin {
            return Err(CoalitionError::Invalid(
                "only the group's administrator re-initialises it".into(),
            ));
        }
        let (keys, cursor) = (meta.keys.clone(), meta.cursor);
        let mut old = self
            .groups
            .remove(id)
            .ok_or_else(|| CoalitionError::UnknownGroup(id.to_string()))?;
        self.meta.remove(id);
        old.delete(self.provider.storage())
            .map_err(mls("delete group"))?;
        let info = self.create_group(id)?;
        let meta = self.meta(id)?;
        // Every version stays (data under them is re-pseudonymised during the grace period);
        // the log goes on where this member read it.
        meta.keys = keys;
        meta.cursor = cursor;
        self.save()?;
        Ok(info)
    }

    /// A commit adding the organisations whose claimed key packages are given, with the
    /// welcome. Post it, then [`Member::confirm`] or [`Member::discard`].
    pub fn invite(
        &mut self,
        id: &str,
        key_packages: &[Vec<u8>],
    ) -> Result<Outgoing, CoalitionError> {
        let mut kps = Vec::with_capacity(key_packages.len());
        for bytes in key_packages {
            let msg = MlsMessageIn::tls_deserialize_exact(bytes.as_slice())
                .map_err(mls("decode key package"))?;
            let MlsMessageBodyIn::KeyPackage(kp) = msg.extract() else {
                return Err(CoalitionError::Invalid("not a key package".into()));
            };
            kps.push(
                kp.validate(self.provider.crypto(), ProtocolVersion::Mls10)
                    .map_err(mls("key package"))?,
            );
        }
        self.with_group(id, |group, meta, provider, signer| {
            let (commit, welcome, _) = group
                .add_members(provider, signer, &kps)
                .map_err(mls("add members"))?;
            meta.pending = Some(PendingCommit::Adds);
            Outgoing::commit(&commit, Some(&welcome))
        })
    }

    /// A commit removing `org`. Post it, then [`Member::confirm`] (which rotates the key).
    pub fn remove(&mut self, id: &str, org: &str) -> Result<Outgoing, CoalitionError> {
        self.with_group(id, |group, meta, provider, signer| {
            let leaves: Vec<LeafNodeIndex> = group
                .members()
                .filter(|m| org_of(&m.credential).is_ok_and(|o| o == org))
                .map(|m| m.index)
                .collect();
            if leaves.is_empty() {
                return Err(CoalitionError::Invalid(format!(
                    "{org} is not a member of {id}"
                )));
            }
            let (commit, _, _) = group
                .remove_members(provider, signer, &leaves)
                .map_err(mls("remove members"))?;
            meta.pending = Some(PendingCommit::Removes);
            Outgoing::commit(&commit, None)
        })
    }

    /// The proposals waiting in group `id` for the next commit (sending organisation, kind,
    /// whom a `remove` removes): what [`Member::commit_pending`] decides on. Look before
    /// committing what others proposed.
    pub fn pending_proposals(&self, id: &str) -> Vec<PendingProposal> {
        let Some(group) = self.groups.get(id) else {
            return Vec::new();
        };
        group
            .pending_proposals()
            .map(|p| describe(group, p))
            .collect()
    }

    /// A commit to the proposals received (e.g. members asking to leave) that `accept`
    /// accepts — the administrator's policy; [`PendingProposal::own_change`] accepts members
    /// refreshing or removing their own leaf. The others are dropped from the group's pending
    /// proposals, not committed. Says what it commits and what it refused; no commit when it
    /// accepted nothing.
    pub fn commit_pending(
        &mut self,
        id: &str,
        accept: impl Fn(&PendingProposal) -> bool,
    ) -> Result<CommitPending, CoalitionError> {
        self.with_group(id, |group, meta, provider, signer| {
            let mut committed = Vec::new();
            let mut refused = Vec::new();
            let mut drop = Vec::new();
            let mut removes = false;
            for p in group.pending_proposals() {
                let d = describe(group, p);
                if accept(&d) {
                    removes |= matches!(p.proposal(), Proposal::Remove(_) | Proposal::SelfRemove);
                    committed.push(d);
                } else {
                    drop.push(p.proposal_reference_ref().clone());
                    refused.push(d);
                }
            }
            for r in &drop {
                group
                    .remove_pending_proposal(provider.storage(), r)
                    .map_err(mls("drop proposal"))?;
            }
            if committed.is_empty() {
                return Ok(CommitPending {
                    outgoing: None,
                    committed,
                    refused,
                });
            }
            let (commit, welcome, _) = group
                .commit_to_pending_proposals(provider, signer)
                .map_err(mls("commit proposals"))?;
            meta.pending = Some(if removes {
                PendingCommit::Removes
            } else {
                PendingCommit::Other
            });
            Ok(CommitPending {
                outgoing: Some(Outgoing::commit(&commit, welcome.as_ref())?),
                committed,
                refused,
            })
        })
    }

    /// A commit that only refreshes this member's own keys (post-compromise security).
    pub fn self_update(&mut self, id: &str) -> Result<Outgoing, CoalitionError> {
        self.with_group(id, |group, meta, provider, signer| {
            // Only this member's own leaf: committing proposals others sent is the
            // administrator's (the broker refuses it from anyone else).
            let commit = group
                .commit_builder()
                .consume_proposal_store(false)
                .force_self_update(true)
                .load_psks(provider.storage())
                .map_err(mls("self update"))?
                .build(provider.rand(), provider.crypto(), signer, |_| false)
                .map_err(mls("self update"))?
                .stage_commit(provider)
                .map_err(mls("self update"))?
                .into_commit();
            meta.pending = Some(PendingCommit::Other);
            Outgoing::commit(&commit, None)
        })
    }

    /// The broker accepted the pending commit: merge it. Returns the application messages to
    /// post next, in the new epoch: the administrator sends the current coalition key after
    /// adds, and a new key version after removals.
    pub fn confirm(&mut self, id: &str) -> Result<Vec<Vec<u8>>, CoalitionError> {
        let (admin, pending) = self.with_group(id, |group, meta, provider, _| {
            group
                .merge_pending_commit(provider)
                .map_err(mls("merge commit"))?;
            Ok((meta.admin, meta.pending.take()))
        })?;
        // Each follow-up persists itself.
        Ok(match (admin, pending) {
            (true, Some(PendingCommit::Adds)) => vec![self.key_message(id)?],
            (true, Some(PendingCommit::Removes)) => vec![self.rotate_key(id)?],
            _ => Vec::new(),
        })
    }

    /// The broker refused the pending commit (409: another commit won the epoch): drop it.
    /// Fetch and process the winner, then try again.
    pub fn discard(&mut self, id: &str) -> Result<(), CoalitionError> {
        self.with_group(id, |group, meta, provider, _| {
            group
                .clear_pending_commit(provider.storage())
                .map_err(mls("clear pending commit"))?;
            meta.pending = None;
            Ok(())
        })
    }

    /// Drops group `id` and all its state — for a group the broker refused to register (a case
    /// channel under a case the creator does not take part in, say), so the same id can be
    /// created again.
    pub fn discard_group(&mut self, id: &str) -> Result<(), CoalitionError> {
        let mut group = self
            .groups
            .remove(id)
            .ok_or_else(|| CoalitionError::UnknownGroup(id.to_string()))?;
        self.meta.remove(id);
        group
            .delete(self.provider.storage())
            .map_err(mls("delete group"))?;
        self.save()
    }

    /// The current coalition key as an application message (administrator).
    pub fn key_message(&mut self, id: &str) -> Result<Vec<u8>, CoalitionError> {
        let key = self
            .coalition_key(id)
            .ok_or_else(|| CoalitionError::Invalid(format!("no coalition key for {id}")))?;
        self.application(
            id,
            &Payload::CoalitionKey {
                version: key.version(),
                key: super::wire::b64(key.expose_secret()),
            },
        )
    }

    /// Generates the next key version and returns it as an application message
    /// (administrator; done by [`Member::confirm`] after a removal).
    pub fn rotate_key(&mut self, id: &str) -> Result<Vec<u8>, CoalitionError> {
        let meta = self.meta(id)?;
        if !meta.admin {
            return Err(CoalitionError::Invalid(
                "only the group's administrator rotates its key".into(),
            ));
        }
        let next = meta
            .keys
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or_else(|| CoalitionError::Invalid("no key version after u32::MAX".into()))?;
        let key = CoalitionKey::generate(next);
        meta.keys.insert(next, hex::encode(key.expose_secret()));
        self.save()?;
        self.key_message(id)
    }

    /// Case details as an application message of a case channel.
    pub fn case_detail(
        &mut self,
        id: &str,
        case_reference: &str,
        text: &str,
    ) -> Result<Vec<u8>, CoalitionError> {
        self.application(
            id,
            &Payload::CaseDetail {
                case_reference: case_reference.into(),
                text: text.into(),
            },
        )
    }

    fn application(&mut self, id: &str, payload: &Payload) -> Result<Vec<u8>, CoalitionError> {
        self.with_group(id, |group, _, provider, signer| {
            group
                .create_message(provider, signer, &payload.to_bytes())
                .map_err(mls("application message"))?
                .to_bytes()
                .map_err(mls("encode application message"))
        })
    }

    /// A proposal to leave group `id`, for its administrator to commit.
    pub fn leave(&mut self, id: &str) -> Result<Vec<u8>, CoalitionError> {
        self.with_group(id, |group, _, provider, signer| {
            group
                .leave_group(provider, signer)
                .map_err(mls("leave"))?
                .to_bytes()
                .map_err(mls("encode proposal"))
        })
    }

    /// Joins group `group_id` through a welcome the delivery service routed for it; returns
    /// the id. Process the group's messages from `cursor` on (the welcome's `from_seq`) to get
    /// the key. A welcome for another group than the delivery service says, or for a group
    /// this member is in already, is refused (a welcome must not replace a group's state).
    pub fn join(
        &mut self,
        group_id: &str,
        welcome: &[u8],
        cursor: u64,
    ) -> Result<String, CoalitionError> {
        let msg = MlsMessageIn::tls_deserialize_exact(welcome).map_err(mls("decode welcome"))?;
        let MlsMessageBodyIn::Welcome(welcome) = msg.extract() else {
            return Err(CoalitionError::Invalid("not a welcome".into()));
        };
        let config = MlsGroupJoinConfig::builder()
            .wire_format_policy(WIRE_FORMAT_POLICY)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .use_ratchet_tree_extension(true)
            .build();
        // A group held already is replaced only by its pinned administrator's welcome (a
        // re-initialised group).
        let held = self.meta.get(group_id).map(|m| {
            m.admin_leaf
                .as_ref()
                .map(|(_, org)| org.clone())
                .unwrap_or_default()
        });
        let processed = ProcessedWelcome::new_from_welcome(&self.provider, &config, welcome)
            .map_err(mls("welcome"))?;
        let mut builder = JoinBuilder::new(&self.provider, processed);
        if held.is_some() {
            builder = builder.replace_old_group();
        }
        let staged = builder.build().map_err(mls("welcome"))?;
        if staged.group_context().group_id().as_slice() != group_id.as_bytes() {
            return Err(CoalitionError::Invalid(format!(
                "the welcome is for another group than {group_id:?}"
            )));
        }
        if let Some(admin) = &held {
            let sender = staged
                .welcome_sender()
                .map_err(mls("welcome"))
                .and_then(|leaf| {
                    org_of(leaf.credential()).map_err(|e| CoalitionError::Invalid(e.to_string()))
                })?;
            if admin.is_empty() || sender != *admin || self.meta[group_id].admin {
                return Err(CoalitionError::Invalid(format!(
                    "already a member of group {group_id:?}; only its administrator's welcome \
                     re-initialises it"
                )));
            }
        }
        let group = staged.into_group(&self.provider).map_err(mls("join"))?;
        let id = group_id.to_string();
        let keys = self
            .meta
            .get(group_id)
            .map(|m| m.keys.clone())
            .unwrap_or_default();
        let admin = group
            .member(LeafNodeIndex::new(0))
            .and_then(|c| org_of(c).ok())
            .ok_or_else(|| {
                CoalitionError::Invalid("the welcome's group has no administrator at leaf 0".into())
            })?;
        self.groups.insert(id.clone(), group);
        self.meta.insert(
            id.clone(),
            GroupMeta {
                cursor,
                admin_leaf: Some((0, admin)),
                keys,
                ..GroupMeta::default()
            },
        );
        self.save()?;
        Ok(id)
    }

    /// Processes messages fetched from group `id`'s log, in order. Messages before the cursor
    /// are skipped (already processed); so are this member's own handshake messages, which
    /// it merged when the broker accepted them.
    ///
    /// A message that cannot be processed is skipped and reported ([`Event::Skipped`]); the
    /// cursor moves past it. Errors are about the call itself: an unknown group, a group this
    /// member was removed from, a state that cannot be saved.
    pub fn process(&mut self, id: &str, fetched: &[Fetched]) -> Result<Vec<Event>, CoalitionError> {
        if !self
            .groups
            .get(id)
            .ok_or_else(|| CoalitionError::UnknownGroup(id.to_string()))?
            .is_active()
        {
            return Err(CoalitionError::Invalid(format!(
                "{} is no longer a member of {id}",
                self.org
            )));
        }
        let mut events = Vec::new();
        for f in fetched {
            if f.seq < self.meta(id)?.cursor {
                continue;
            }
            match self.process_one(id, &f.message) {
                Ok(Some(e)) => events.push(e),
                Ok(None) => {}
                Err(e) => events.push(Event::Skipped {
                    seq: f.seq,
                    reason: e.to_string(),
                }),
            }
            self.meta(id)?.cursor = f.seq + 1;
            if events.last() == Some(&Event::RemovedFromGroup) {
                break;
            }
        }
        self.save()?;
        Ok(events)
    }

    fn process_one(&mut self, id: &str, bytes: &[u8]) -> Result<Option<Event>, CoalitionError> {
        let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(mls("decode message"))?;
        let pm = msg
            .try_into_protocol_message()
            .map_err(mls("not a group message"))?;
        let provider = &self.provider;
        let group = self
            .groups
            .get_mut(id)
            .ok_or_else(|| CoalitionError::UnknownGroup(id.to_string()))?;
        if !group.is_active() {
            return Err(CoalitionError::Invalid(format!(
                "{} is no longer a member of {id}",
                self.org
            )));
        }
        // Own handshake messages from an epoch already left behind were merged on confirm.
        if pm.is_handshake_message() && pm.epoch() < group.epoch() {
            return Ok(None);
        }
        let processed = group
            .process_message(provider, pm)
            .map_err(mls("process message"))?;
        let from = org_of(processed.credential()).unwrap_or_default();
        let sender = match processed.sender() {
            Sender::Member(leaf) => Some(leaf.u32()),
            _ => None,
        };
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => {
                match Payload::from_bytes(&app.into_bytes()) {
                    Ok(Payload::CoalitionKey { version, key }) => {
                        let meta = self.meta(id)?;
                        let from_admin = !meta.admin
                            && match &meta.admin_leaf {
                                Some((leaf, org)) => sender == Some(*leaf) && from == *org,
                                None => sender == Some(0),
                            };
                        if !from_admin {
                            return Err(CoalitionError::Invalid(format!(
                                "a coalition key from {from}, which is not the group's \
                                 administrator: refused"
                            )));
                        }
                        store_key(meta, version, &key)?;
                        Ok(Some(Event::KeyReceived { version }))
                    }
                    Ok(Payload::CaseDetail {
                        case_reference,
                        text,
                    }) => Ok(Some(Event::CaseDetail {
                        from,
                        case_reference,
                        text,
                    })),
                    Err(e) => Err(CoalitionError::Invalid(format!("unknown payload: {e}"))),
                }
            }
            ProcessedMessageContent::ProposalMessage(p) => {
                group
                    .store_pending_proposal(provider.storage(), *p)
                    .map_err(mls("store proposal"))?;
                Ok(Some(Event::ProposalReceived { from }))
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                let added: Vec<String> = staged
                    .add_proposals()
                    .filter_map(|a| {
                        org_of(a.add_proposal().key_package().leaf_node().credential()).ok()
                    })
                    .collect();
                let removed_leaves: Vec<LeafNodeIndex> = staged
                    .remove_proposals()
                    .map(|r| r.remove_proposal().removed())
                    .collect();
                let removed: Vec<String> = removed_leaves
                    .iter()
                    .filter_map(|i| group.member(*i).and_then(|c| org_of(c).ok()))
                    .collect();
                let self_removed = staged.self_removed();
                group
                    .merge_staged_commit(provider, *staged)
                    .map_err(mls("merge commit"))?;
                if self_removed {
                    return Ok(Some(Event::RemovedFromGroup));
                }
                Ok(Some(Event::MembersChanged {
                    epoch: group.epoch().as_u64(),
                    added,
                    removed,
                }))
            }
            ProcessedMessageContent::OwnPendingCommit => {
                group
                    .merge_pending_commit(provider)
                    .map_err(mls("merge own commit"))?;
                Ok(None)
            }
            ProcessedMessageContent::OwnPrivateMessage => Ok(None),
            _ => Ok(None),
        }
    }

    /// The newest coalition key of group `id`.
    pub fn coalition_key(&self, id: &str) -> Option<CoalitionKey> {
        let (v, k) = self.meta.get(id)?.keys.iter().next_back()?;
        key_from_hex(k, *v)
    }

    /// A given version of group `id`'s coalition key, if this member received it.
    pub fn coalition_key_version(&self, id: &str, version: u32) -> Option<CoalitionKey> {
        key_from_hex(self.meta.get(id)?.keys.get(&version)?, version)
    }

    /// Next sequence number to fetch for group `id`.
    pub fn cursor(&self, id: &str) -> Option<u64> {
        self.meta.get(id).map(|m| m.cursor)
    }

    /// The epoch this member is at in group `id`.
    pub fn epoch(&self, id: &str) -> Option<u64> {
        self.groups.get(id).map(|g| g.epoch().as_u64())
    }

    /// The members of group `id` as this member sees it, one per leaf: the organisation, or
    /// [`UNREADABLE_LEAF`] and the leaf index for a leaf whose credential names none — shown,
    /// not hidden, so that something wrong with the group is seen.
    pub fn members(&self, id: &str) -> Vec<String> {
        self.groups
            .get(id)
            .map(|g| {
                g.members()
                    .map(|m| leaf_name(&m.credential, m.index))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The ids of the groups this member holds, sorted.
    pub fn groups(&self) -> Vec<String> {
        self.meta.keys().cloned().collect()
    }

    /// Whether this member is (still) in group `id`.
    pub fn is_member(&self, id: &str) -> bool {
        self.groups.get(id).is_some_and(MlsGroup::is_active)
    }
}

/// The organisation a leaf's credential names, or [`UNREADABLE_LEAF`] and the leaf index.
fn leaf_name(credential: &Credential, leaf: LeafNodeIndex) -> String {
    org_of(credential).unwrap_or_else(|_| format!("{UNREADABLE_LEAF}{}", leaf.u32()))
}

/// A pending proposal as [`PendingProposal`] tells it.
fn describe(group: &MlsGroup, p: &QueuedProposal) -> PendingProposal {
    let at = |leaf: LeafNodeIndex| {
        group
            .member(leaf)
            .map(|c| leaf_name(c, leaf))
            .unwrap_or_default()
    };
    let from = match p.sender() {
        Sender::Member(leaf) => at(*leaf),
        _ => String::new(),
    };
    let (kind, removes) = match p.proposal() {
        Proposal::Update(_) => ("update".to_string(), None),
        Proposal::Remove(r) => ("remove".to_string(), Some(at(r.removed()))),
        Proposal::SelfRemove => ("self-remove".to_string(), None),
        other => (format!("{:?}", other.proposal_type()), None),
    };
    PendingProposal {
        from,
        kind,
        removes,
    }
}

/// Stores a coalition key the administrator sent: version 1 or above, 32 bytes, and never over
/// another key under the same version (the same key again — sent after every add — is fine).
fn store_key(meta: &mut GroupMeta, version: u32, key: &str) -> Result<(), CoalitionError> {
    if version == 0 {
        return Err(CoalitionError::Invalid(
            "coalition key version 0: versions start at 1".into(),
        ));
    }
    let raw = super::wire::unb64("key", key).map_err(CoalitionError::Invalid)?;
    if raw.len() != 32 {
        return Err(CoalitionError::Invalid(
            "coalition key of wrong length".into(),
        ));
    }
    let hex = hex::encode(raw);
    match meta.keys.get(&version) {
        Some(held) if *held == hex => Ok(()),
        Some(_) => Err(CoalitionError::Invalid(format!(
            "coalition key version {version} is held with another key: not overwritten"
        ))),
        None => {
            meta.keys.insert(version, hex);
            Ok(())
        }
    }
}

fn key_from_hex(k: &str, version: u32) -> Option<CoalitionKey> {
    CoalitionKey::from_hex(k, version).ok()
}
