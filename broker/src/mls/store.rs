//! Storage of the MLS delivery service, the MLS aggregate of the store
//! ([`Store::mls`](crate::store::Store::mls)): key packages, groups (the broker's copy of each group's *public* state), the ordered
//! message log per group, and welcomes per invited organisation.
//!
//! One implementation serves both databases (`crate::store::sql::mls`), on the pools of the
//! [`SqliteStore`](crate::store::sqlite::SqliteStore) and the
//! [`PostgresStore`](crate::store::postgres::PostgresStore) like the rest of the broker, because **every delivery shares its transaction with its audit entry** (no message
//! is delivered without a durable entry saying so).
//!
//! **First commit per epoch wins.** A group row carries a `revision`, bumped on every change of
//! the public state (a commit, a standalone proposal, a re-initialisation), and an
//! `epoch_revision`, bumped by commits and re-initialisations only. [`MlsStore::append_message`]
//! writes a commit or an application message only if the epoch it was validated against is
//! still the group's ([`Expect::Epoch`]: proposals in between do not matter, so a member's
//! proposals cannot keep the administrator's commits at 409), and a standalone proposal only if
//! nothing changed at all ([`Expect::State`]: it is added to the state it was checked against).
//! Otherwise it answers [`Appended::Conflict`] and nothing is stored. On PostgreSQL the
//! conditional `UPDATE` takes the row lock, so this holds across brokers.

use async_trait::async_trait;

use crate::audit::entry::AuditEntry;
use crate::store::StoreError;

/// A validated key package to publish.
#[derive(Debug, Clone)]
pub struct NewKeyPackage {
    /// KeyPackageRef (hash of the package), as the welcome names it.
    pub kp_ref: Vec<u8>,
    /// The serialised `MlsMessage` (or bare `KeyPackage`) as published.
    pub data: Vec<u8>,
    /// Kept after a claim and handed out when no other package is left.
    pub last_resort: bool,
    /// Unix seconds after which the package must not be handed out (its lifetime).
    pub expires_at: i64,
}

/// A claimed key package.
#[derive(Debug, Clone)]
pub struct ClaimedKeyPackage {
    pub kp_ref: Vec<u8>,
    pub data: Vec<u8>,
    pub last_resort: bool,
}

/// How many key packages of one organisation one claimer may be handed in a window.
#[derive(Debug, Clone, Copy)]
pub struct ClaimQuota {
    /// Start of the window (unix seconds).
    pub since: i64,
    /// Most claims in the window.
    pub max: u32,
}

/// The outcome of [`MlsStore::claim_key_package`].
#[derive(Debug, Clone)]
pub enum Claim {
    /// Handed out and audited.
    Claimed(ClaimedKeyPackage),
    /// The last-resort package the claimer was handed before: no new entry.
    Again(ClaimedKeyPackage),
    /// The claimer's quota for this organisation is used up.
    QuotaReached,
    /// No unexpired package published.
    None,
}

/// What kind of group: a coalition (pseudonym key) or a case channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    Coalition,
    Case,
}

impl GroupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Coalition => "coalition",
            GroupKind::Case => "case",
        }
    }

    pub fn parse(s: &str) -> Result<GroupKind, StoreError> {
        match s {
            "coalition" => Ok(GroupKind::Coalition),
            "case" => Ok(GroupKind::Case),
            other => Err(StoreError::Corrupt(format!("unknown group kind {other:?}"))),
        }
    }
}

/// A group row.
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub id: String,
    pub coalition: String,
    pub kind: GroupKind,
    /// Case channels: exactly the organisations that may be members.
    pub allowed: Option<Vec<String>>,
    pub epoch: u64,
    /// Bumped by every change of the public state.
    pub revision: u64,
    /// Bumped by commits and re-initialisations only.
    pub epoch_revision: u64,
    pub next_seq: u64,
    /// First sequence number of the group's current incarnation (where it was last
    /// re-initialised; 0 before): the administrator's join point.
    pub from_seq: u64,
    /// Member organisations at `epoch` (from the credentials in the public tree).
    pub members: Vec<String>,
    /// Serialised public group state (see [`crate::mls::public_state`]).
    pub state: Vec<u8>,
    pub created_by: String,
    /// Case channels: the registered case it belongs to, whose state every post reads (`None`
    /// for a coalition's group, and for a case channel registered before channels were tied
    /// to the case register: it takes no more messages).
    pub case_reference: Option<String>,
}

/// A message to append to a group's log.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub epoch: u64,
    pub sender: String,
    /// `commit`, `proposal` or `application`.
    pub content_type: &'static str,
    pub data: Vec<u8>,
}

/// A new public state to install with a message (commits and proposals change it).
#[derive(Debug, Clone)]
pub struct StateChange {
    pub epoch: u64,
    pub members: Vec<String>,
    pub state: Vec<u8>,
}

/// A welcome routed to one invited organisation.
#[derive(Debug, Clone)]
pub struct NewWelcome {
    pub org: String,
    pub data: Vec<u8>,
}

/// A stored message of a group's log.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub seq: u64,
    pub epoch: u64,
    pub sender: String,
    pub content_type: String,
    pub data: Vec<u8>,
    pub created_at: i64,
}

/// A stored welcome.
#[derive(Debug, Clone)]
pub struct StoredWelcome {
    pub id: u64,
    pub group_id: String,
    pub epoch: u64,
    /// First sequence number of the group's log the new member can read.
    pub from_seq: u64,
    pub data: Vec<u8>,
}

/// What a message must find unchanged to be appended ([`MlsStore::append_message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A commit or an application message: the group's `epoch_revision` (no commit and no
    /// re-initialisation since it was checked; standalone proposals may have come in).
    Epoch(u64),
    /// A standalone proposal: the group's `revision` (nothing changed since it was checked:
    /// the new state holds the proposals stored before it).
    State(u64),
}

/// What compacting one group's log erased ([`MlsStore::compact_logs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    pub group: String,
    /// The oldest current member's join point: messages below it were erased.
    pub below_seq: u64,
    pub messages: u64,
    pub welcomes: u64,
}

/// Builds the audit entry of a log compaction from what it erased.
pub type CompactAudit<'a> = &'a (dyn Fn(&[Compacted]) -> AuditEntry + Send + Sync);

/// The outcome of [`MlsStore::append_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored under this sequence number.
    Stored(u64),
    /// The group changed since the message was validated (another commit for this epoch won):
    /// nothing was stored.
    Conflict,
    /// The group's log holds the same bytes already (a replay): nothing was stored.
    Replayed,
}

/// Builds the audit entry of a claim from the package handed out.
pub type ClaimAudit<'a> = &'a (dyn Fn(&ClaimedKeyPackage) -> AuditEntry + Send + Sync);

/// Selects the signals of one coalition among candidates (see `crate::retention`).
pub type SignalFilter<'a> = &'a (dyn Fn(&crate::store::StoredSignal) -> bool + Send + Sync);

/// A coalition's announced current key version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersionRow {
    pub coalition: String,
    pub key_version: u32,
    /// Unix seconds from which signals under an older version are erased.
    pub grace_until: i64,
    pub announced_by: String,
    pub announced_at: i64,
}

/// The outcome of [`MlsStore::announce_key_version`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announced {
    /// Stored (with its audit entry).
    Stored,
    /// Not above the current version (returned): nothing was written.
    NotForward(u32),
}

/// A key package erased after its lifetime ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredKeyPackage {
    pub kp_ref: Vec<u8>,
    pub org: String,
    pub last_resort: bool,
    /// Whether it had been handed out (an ordinary package is handed out once).
    pub claimed: bool,
}

/// Builds the audit entry of a key package purge from the packages it erased.
pub type KeyPackagePurgeAudit<'a> = &'a (dyn Fn(&[ExpiredKeyPackage]) -> AuditEntry + Send + Sync);

/// Builds the audit entry of an append from the sequence number it got.
pub type AppendAudit<'a> = &'a (dyn Fn(u64) -> AuditEntry + Send + Sync);

#[async_trait]
pub trait MlsStore: Send + Sync {
    /// Stores validated key packages of `org` and `audit`, in one transaction. A package
    /// already published (same ref) is a [`StoreError::Conflict`].
    async fn put_key_packages(
        &self,
        org: &str,
        packages: &[NewKeyPackage],
        now: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;

    /// Hands out one unexpired key package of `org` to `claimer`: the oldest unclaimed
    /// ordinary one (marked claimed), else the newest last-resort one (kept). The claim is
    /// recorded, with the entry from `audit`, in the same transaction — unless `claimer` was
    /// handed that last-resort package before ([`Claim::Again`]: nothing new disclosed, nothing
    /// written). [`Claim::QuotaReached`] (nothing written) when `claimer` was handed
    /// `quota.max` packages of `org` since `quota.since`.
    async fn claim_key_package(
        &self,
        org: &str,
        claimer: &str,
        now: i64,
        quota: ClaimQuota,
        audit: ClaimAudit<'_>,
    ) -> Result<Claim, StoreError>;

    /// How many of `org`'s key packages are unexpired and unclaimed at `now` (ordinary ones;
    /// last-resort ones count too, they are never claimed).
    async fn live_key_packages(&self, org: &str, now: i64) -> Result<u64, StoreError>;

    /// Where `org` joined `group`'s log: the `from_seq` of the newest welcome routed to it for
    /// that group, and never before the group's current incarnation (its `from_seq`: where the
    /// administrator re-initialised it, 0 before).
    async fn join_seq(&self, group: &str, org: &str) -> Result<u64, StoreError>;

    /// Whether a case channel that `creator` registered, whose case is registered and not
    /// closed, allows `org` (its `allowed` list).
    async fn case_channel_allows(&self, creator: &str, org: &str) -> Result<bool, StoreError>;

    /// Who published the key package with this ref, if anyone.
    async fn key_package_owner(&self, kp_ref: &[u8]) -> Result<Option<String>, StoreError>;

    /// Erases every key package whose lifetime ended (`expires_at <= now`) — ordinary or
    /// last-resort, claimed or not: none of them can be handed out again, and a commit adding
    /// one fails openmls' lifetime check — with the entry `audit_for` builds, in one
    /// transaction. Returns them (empty: nothing erased, no entry).
    async fn purge_expired_key_packages(
        &self,
        now: i64,
        audit_for: KeyPackagePurgeAudit<'_>,
    ) -> Result<Vec<ExpiredKeyPackage>, StoreError>;

    /// Creates a group at its first epoch. [`StoreError::Conflict`] if the id is taken.
    async fn create_group(
        &self,
        group: &GroupRow,
        now: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;

    /// Replaces group `id`'s public state by `change` (a re-initialised group: epoch 0, the
    /// administrator alone) if its revision is still `expected_revision`, with `audit`, in one
    /// transaction; the log goes on, and the group's `from_seq` becomes its `next_seq` (the
    /// new incarnation starts there). `false` (nothing written) if the group changed meanwhile.
    async fn reinit_group(
        &self,
        id: &str,
        expected_revision: u64,
        change: &StateChange,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;

    /// The group's row, if it exists.
    async fn group(&self, id: &str) -> Result<Option<GroupRow>, StoreError>;

    /// The ids of the case channels registered under case `case_reference`, sorted: what its
    /// closure ends (recorded in the closure's audit entry).
    async fn case_channels(&self, case_reference: &str) -> Result<Vec<String>, StoreError>;

    /// Appends `message` (and `welcomes`, and the new state if any) to the log of `group` if
    /// the group is still as `expect` says and the log does not hold the same bytes already
    /// ([`Appended::Replayed`]), with the audit entry `audit` builds, in one transaction. A
    /// change with [`Expect::Epoch`] (a commit) also bumps the `epoch_revision`.
    #[allow(clippy::too_many_arguments)]
    async fn append_message(
        &self,
        group: &str,
        expect: Expect,
        message: &NewMessage,
        change: Option<&StateChange>,
        welcomes: &[NewWelcome],
        now: i64,
        audit: AppendAudit<'_>,
    ) -> Result<Appended, StoreError>;

    /// Compacts every group's logs: erases the messages below the oldest current member's
    /// join point ([`MlsStore::join_seq`]; no member can fetch them again) and the welcomes no
    /// current member can use (to organisations no longer members, and all but the newest to
    /// each member), with the entry `audit_for` builds, in one transaction. Returns what it
    /// erased per group (empty: nothing, no entry).
    async fn compact_logs(&self, audit_for: CompactAudit<'_>)
    -> Result<Vec<Compacted>, StoreError>;

    /// The sizes in bytes of the messages [`MlsStore::messages`] would return, without their
    /// bytes.
    async fn message_sizes(
        &self,
        group: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<u64>, StoreError>;

    /// Messages of `group` with `seq >= from`, in order, at most `limit`.
    async fn messages(
        &self,
        group: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// Welcomes for `org` with `id > after`, in order, at most `limit`.
    async fn welcomes(
        &self,
        org: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredWelcome>, StoreError>;

    /// Records `row` as its coalition's current key version with `audit`, in one transaction,
    /// if it is above the stored one (versions only move forward; checked under the write
    /// lock, so two announcements cannot both win).
    async fn announce_key_version(
        &self,
        row: &KeyVersionRow,
        audit: &AuditEntry,
    ) -> Result<Announced, StoreError>;

    /// The announced key version of `coalition`, if any.
    async fn key_version(&self, coalition: &str) -> Result<Option<KeyVersionRow>, StoreError>;

    /// Every announced key version whose grace period ended at `now` (`grace_until <= now`).
    async fn key_versions_past_grace(&self, now: i64) -> Result<Vec<KeyVersionRow>, StoreError>;

    /// Erases the signals with `key_version < below` that `belongs` selects, with the entry
    /// `audit_for` builds, in one transaction; returns them (empty: nothing, no entry).
    async fn purge_below_version(
        &self,
        below: u32,
        belongs: SignalFilter<'_>,
        audit_for: crate::store::PurgeAudit<'_>,
    ) -> Result<Vec<crate::store::StoredSignal>, StoreError>;
}
