//! JSON wire types of the broker's MLS delivery service (`/v1/mls/…`). MLS messages travel as
//! standard base64 of their TLS encoding (RFC 9420 `MLSMessage`). Documented in docs/API.md.

use serde::{Deserialize, Serialize};

/// `POST /v1/mls/key-packages`: key packages of the authenticated organisation, each an
/// `MLSMessage` carrying a `KeyPackage`. A package with the `last_resort` extension is kept
/// after a claim and handed out only when no ordinary one is left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishKeyPackages {
    /// Base64 `MLSMessage`s, each carrying one `KeyPackage`.
    pub key_packages: Vec<String>,
}

/// Answer to [`PublishKeyPackages`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPackagesPublished {
    /// Hex KeyPackageRefs, in input order.
    pub refs: Vec<String>,
}

/// `POST /v1/mls/key-packages/claim`: one key package of `org`, to invite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimKeyPackage {
    /// The organisation to invite (partner id from the registry).
    pub org: String,
}

/// Answer to [`ClaimKeyPackage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPackageClaimed {
    /// The organisation the key package belongs to.
    pub org: String,
    /// Base64 `MLSMessage` (KeyPackage).
    pub key_package: String,
    /// Hex KeyPackageRef.
    pub kp_ref: String,
    /// Whether it is the organisation's last-resort package (kept, and possibly handed out
    /// again, so a welcome made with it must not be the only proof of membership).
    pub last_resort: bool,
}

/// Group kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    /// A coalition's group: carries the coalition key. Its id is the coalition id.
    Coalition,
    /// A case channel: the participants of a case registered in the broker (docs/CASES.md),
    /// for the details of that case; it takes no messages once the case is closed.
    Case,
}

/// `POST /v1/mls/groups`: registers a new group with the delivery service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// The MLS group id (for a coalition group, the coalition id).
    pub group_id: String,
    /// Coalition group or case channel.
    pub kind: GroupKind,
    /// The registry coalition the group works in.
    pub coalition: String,
    /// Case channels: narrows who may be members (the creator among them) within the case's
    /// participants as registered; absent, all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// Case channels: the reference of the registered case the channel belongs to (open or in
    /// intervention, the creator among its participants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_reference: Option<String>,
    /// Base64 `MLSMessage` (GroupInfo with the ratchet_tree extension) of epoch 0.
    pub group_info: String,
}

impl CreateGroup {
    /// The body for group `group_id` of `kind` in `coalition`, of epoch 0's GroupInfo bytes,
    /// with no narrowing and no case (what a re-initialisation sends).
    pub fn new(group_id: &str, kind: GroupKind, coalition: &str, group_info: &[u8]) -> Self {
        CreateGroup {
            group_id: group_id.into(),
            kind,
            coalition: coalition.into(),
            allowed: None,
            case_reference: None,
            group_info: b64(group_info),
        }
    }
}

/// What the broker knows of a group (public state only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupStatus {
    /// The MLS group id.
    pub group_id: String,
    /// Coalition group or case channel.
    pub kind: GroupKind,
    /// The registry coalition the group works in.
    pub coalition: String,
    /// The group's current epoch (as of the last accepted commit).
    pub epoch: u64,
    /// Organisations that are members in the current epoch.
    pub members: Vec<String>,
    /// Sequence number the next message will get.
    pub next_seq: u64,
    /// Leaves of the tree whose credential names no organisation (absent when none): shown,
    /// not hidden, so members see that something is wrong with the group (its administrator
    /// removes them or re-initialises the group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable_leaves: Vec<u32>,
    // No `allowed`: a case channel's list (the case's participants, or fewer) stays with the
    // broker, which enforces it on every commit (issue 21, finding 7).
}

/// `POST /v1/mls/groups/{id}/messages`: one handshake or application message; a commit that
/// adds members carries its `welcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// Base64 `MLSMessage` (PublicMessage for proposals and commits, PrivateMessage for
    /// application messages).
    pub message: String,
    /// Base64 `MLSMessage` (Welcome) for the members a commit adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome: Option<String>,
}

/// Answer to [`PostMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagePosted {
    /// The message's sequence number in the group's log.
    pub seq: u64,
    /// The group's epoch after this message.
    pub epoch: u64,
}

/// One message of a group's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedMessage {
    /// Sequence number in the group's log.
    pub seq: u64,
    /// The epoch the message was sent in.
    pub epoch: u64,
    /// The sending organisation, as authenticated by the broker.
    pub sender: String,
    /// `commit`, `proposal` or `application`.
    pub content_type: String,
    /// Base64 `MLSMessage`, as posted.
    pub message: String,
}

/// `GET /v1/mls/groups/{id}/messages?from=SEQ`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageList {
    /// The messages from the cursor on, in log order.
    pub messages: Vec<LoggedMessage>,
    /// The cursor to pass as `from` next time.
    pub next: u64,
}

/// One welcome for the authenticated organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedWelcome {
    /// Position in the organisation's welcome list (the `after` cursor).
    pub id: u64,
    /// The group the welcome is for.
    pub group_id: String,
    /// The epoch the welcome admits to.
    pub epoch: u64,
    /// Pass to `Member::join` as the cursor: the first message of the group's log the new
    /// member can read (the one after the commit that added it).
    pub from_seq: u64,
    /// Base64 `MLSMessage` (Welcome).
    pub welcome: String,
}

/// `GET /v1/mls/welcomes?after=ID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WelcomeList {
    /// Welcomes after the cursor, oldest first.
    pub welcomes: Vec<LoggedWelcome>,
    /// The cursor to pass as `after` next time.
    pub next: u64,
}

/// Standard base64 (with padding), as every MLS field above uses.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a base64 field, naming it in the error.
pub fn unb64(field: &str, text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("{field}: not valid base64: {e}"))
}

/// `PUT /v1/coalitions/{coalition}/key-version`: the coalition's administrator announces the
/// current key version after a rotation: exactly the current version + 1. After `grace_days`
/// (default 14, at least 7, at most 365) the broker erases the coalition's signals under older versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnounceKeyVersion {
    /// The coalition key version now in force.
    pub key_version: u32,
    /// Days before signals under older versions are erased (default 14, at least 7: every
    /// partner gets a week to re-upload; at most 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_days: Option<u32>,
}

/// Answer to [`AnnounceKeyVersion`] and to `GET /v1/coalitions/{coalition}/key-version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyVersionStatus {
    /// The coalition id.
    pub coalition: String,
    /// The key version in force.
    pub key_version: u32,
    /// Unix seconds from which signals under an older version are erased.
    pub grace_until: i64,
    /// The organisation that announced it.
    pub announced_by: String,
    /// Unix seconds of the announcement.
    pub announced_at: i64,
}
