//! The delivery service's rules, one function per request kind. Each takes the authenticated
//! principal and answers with the result or a [`DeliveryError`] (mapped to its problem type at
//! the HTTP edge, `crate::problem`); every accepted effect is stored with its audit entry in one
//! transaction, and every refusal of a commit is audited too.
//!
//! What the broker checks, and why:
//! - **Key packages**: signature, lifetime, ciphersuite, protocol version (openmls
//!   `KeyPackageIn::validate`), and that the credential names the authenticated organisation —
//!   so nobody can be invited under another's name.
//! - **Handshake messages** are public (signed) messages: the broker verifies them against its
//!   copy of the group's public state, requires that the signer is the authenticated
//!   organisation, and for a commit asks the policy (`coalition_add`) about every organisation
//!   it adds — in a case channel, the policy's `case_channel` about the registered case
//!   instead, and only its `allowed` organisations (the case's participants, see
//!   [`super::case_channel`]); every post to a case channel reads the case's state first.
//! - **Epochs**: a message must be for the group's current epoch; the first commit of an epoch
//!   wins (compare-and-set in the store on the epoch, not on proposals that came in), a later
//!   one gets 409 and its sender re-bases. A standalone proposal that raced another proposal is
//!   checked again against the state holding that one.
//! - **Application messages** are encrypted; the broker sees their size and epoch only.

use kruispunt_policy::{Action, Decision, PolicyError};
use kruispunt_sdk::coalition::mls::{CIPHERSUITE, org_of};
use kruispunt_sdk::coalition::wire::{self, GroupKind as WireKind};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_rust_crypto::RustCrypto;

use super::authorise::{self, Actor, Refusal};
use super::case_channel;
use super::key_version::NOT_COALITION_ADMIN;
use super::public_state::{PublicView, StateError};
use super::store::{
    Appended, Claim, ClaimQuota, ClaimedKeyPackage, Expect, GroupKind, GroupRow, NewKeyPackage,
    NewMessage, NewWelcome, StateChange, StoredMessage, StoredWelcome,
};
use crate::audit::entry::{AuditEntry, Operation};
use crate::audit::{action, entry};
use crate::auth::Principal;
use crate::civil::now_secs;
use crate::state::AppState;
use crate::store::StoreError;

/// Most key packages per publish request.
pub const MAX_KEY_PACKAGES: usize = 100;
/// Largest MLS message accepted (a commit adding 100 members with their key packages).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most messages or welcomes per fetch.
pub const FETCH_LIMIT: u32 = 500;
/// Most message bytes per fetch (at least one message is always returned): without it a fetch
/// could carry 500 × 1 MiB.
pub const FETCH_BYTES: usize = 4 * 1024 * 1024;
/// Most standalone proposals pending in a group from one sender until the next commit: a
/// member needs one (its own Update, or its request to leave); every stored proposal grows the
/// state read on each request and moves the group's revision, which sends the administrator's
/// commit back with 409.
pub const PROPOSALS_PER_SENDER: usize = 2;
/// Most standalone proposals pending in a group.
pub const PENDING_PROPOSALS: usize = 64;
/// Most unexpired, unclaimed key packages one organisation keeps published.
pub const LIVE_KEY_PACKAGES: u64 = 200;
/// Longest key package lifetime accepted, from now: openmls' default is 12 weeks (plus an
/// hour's margin); a package valid for years would never be purged.
pub const MAX_KEY_PACKAGE_LIFETIME: i64 = 92 * 86_400;

/// What about a request is not valid; each is one problem type of the API (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// A field is not base64.
    Base64,
    /// Not (or not the right kind of) MLS message, or one that does not fit the group.
    Message,
    /// A key package that does not validate.
    KeyPackage,
    /// Too few or too many key packages.
    KeyPackages,
    /// A group id outside the allowed form.
    GroupId,
    /// A group registration that does not hold together.
    Group,
    /// An MLS message the delivery service does not deliver.
    Unsupported,
    /// A handshake message that is not public, or an application message that is.
    WireFormat,
    /// A commit that adds without its welcome.
    MissingWelcome,
    /// A welcome for a key package not published here.
    UnknownKeyPackage,
}

/// Why the delivery service refused a request. Refusals of a commit, a case channel and a lost
/// epoch were audited before they are returned.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("{1}")]
    Invalid(Invalid, String),
    /// A message field longer than [`MAX_MESSAGE_BYTES`].
    #[error("{field}: at most {MAX_MESSAGE_BYTES} bytes")]
    MessageTooLarge { field: String },
    /// A key package or message whose credential names another organisation than the token.
    #[error("{0}")]
    CredentialMismatch(String),
    /// The principal is not a member of the group.
    #[error("{org} is not a member of group {group}")]
    NotAMember { org: String, group: String },
    /// A commit adds an organisation the registry (or the case channel) does not allow.
    #[error(
        "the commit adds {target}, which the registry does not allow in {group}; nothing was delivered"
    )]
    AddNotAllowed {
        target: String,
        group: String,
        reasons: Vec<String>,
    },
    /// A commit adds an organisation a case channel does not admit; audited. Which one, and
    /// whether its list or the policy refused it, is not said: the list follows from what was
    /// disclosed to the channel's creator, which the other members must not learn by trying.
    #[error(
        "the commit adds an organisation this case channel does not admit; nothing was delivered"
    )]
    CaseAddNotAllowed,
    /// A case channel's registration refused (see [`super::case_channel`]); audited.
    #[error("{detail}")]
    CaseRefused {
        refusal: CaseRefusal,
        reason: &'static str,
        detail: String,
    },
    /// A post to a case channel whose case is closed (`case_closed`) or not registered
    /// (`case_unknown`): nothing was delivered; audited.
    #[error(
        "the case of this channel is closed (or not registered): the channel takes no more \
         messages or commits; nothing was delivered"
    )]
    CaseChannelClosed { reason: &'static str },
    /// A coalition's group registered by someone other than the administrator the registry
    /// names (organisation and role); audited.
    #[error(
        "only {admin} with the {role} role, the administrator the registry names for {coalition}, creates its group"
    )]
    NotCoalitionAdmin {
        coalition: String,
        admin: String,
        role: String,
    },
    /// A proposal or commit the sender may not make (see [`super::authorise`]); audited.
    #[error("{}", .0.detail())]
    Unauthorised(Refusal),
    /// A claim of a key package of an organisation the claimer has no relation with; audited.
    #[error(
        "org: you share no coalition into which you may add {0}, and no case channel allowing both"
    )]
    ClaimNoRelation(String),
    /// The claimer was handed its daily share of the organisation's key packages.
    #[error("org: you were handed {CLAIMS_PER_DAY} key packages of {0} in the last 24 hours")]
    ClaimQuota(String),
    /// Re-initialising a group is its administrator's; audited.
    #[error("only the administrator of group {0} re-initialises it")]
    NotGroupAdmin(String),
    /// A bound on stored proposals or published key packages was reached.
    #[error("{0}")]
    TooMany(String),
    /// Another commit won the message's epoch.
    #[error("{0}")]
    EpochConflict(String),
    /// The group's log holds this very message already; audited.
    #[error(
        "message: the group's log holds this message already (a replay); nothing was delivered"
    )]
    Replayed,
    #[error("one of the key_packages was published before; nothing was stored")]
    KeyPackageExists,
    #[error("group_id: {0} is registered already")]
    GroupExists(String),
    /// A partner, coalition, group or key package that is not there.
    #[error("{0}")]
    NotFound(String),
    /// The group's stored public state cannot be read.
    #[error("stored group state is unusable: {0}")]
    CorruptState(String),
    /// The policy could not be evaluated: nothing was delivered.
    #[error("the policy could not be evaluated")]
    Policy(#[source] PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one reason a case channel's refused add is answered with, whatever refused it.
pub const CASE_ADD_REFUSED: &str = "not_admitted_to_case_channel";

/// The ways a case channel's registration is refused (each one problem type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseRefusal {
    /// No registered case the creator takes part in (also the answer for a case that exists
    /// but the creator does not take part in: `case-unknown`).
    Unknown,
    /// The case is closed (`case-closed`; told to participants only).
    Closed,
    /// The token lacks the registry's case role, or its organisation does not steer cases
    /// (`case-role-not-allowed`).
    RoleNotAllowed,
    /// The requested list names an organisation that does not take part in the case
    /// (`case-member-not-participant`).
    MemberNotParticipant,
}

fn invalid(what: Invalid, detail: impl Into<String>) -> DeliveryError {
    DeliveryError::Invalid(what, detail.into())
}

impl From<StateError> for DeliveryError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Invalid(m) => invalid(Invalid::Message, m),
            StateError::Corrupt(m) => DeliveryError::CorruptState(m),
        }
    }
}

/// Audits a verified message that lost its epoch at the append (another commit came first)
/// and answers 409. A message for a stale epoch is answered 409 without an entry: it cannot be
/// verified against the group's current state, so it is not known to be anyone's message.
async fn audit_epoch_conflict(
    state: &AppState,
    principal: &Principal,
    detail: serde_json::Value,
    message: String,
) -> DeliveryError {
    let mut e = entry::by(
        Some(principal),
        Operation::Refuse,
        action::MLS_EPOCH_CONFLICT,
    );
    e.reasons = vec!["epoch_conflict".into()];
    crate::audit::entry::set_detail(&mut e, detail);
    match state.store.audit().append_audit(&[e]).await {
        Ok(_) => DeliveryError::EpochConflict(message),
        Err(err) => err.into(),
    }
}

/// Audits a handshake message [`authorise`] refused and answers 403 (metadata only: the
/// group, the epoch, the kind of message and the rule).
async fn audit_unauthorised(
    state: &AppState,
    principal: &Principal,
    group: &GroupRow,
    epoch: u64,
    content_type: &str,
    refusal: Refusal,
) -> DeliveryError {
    let mut e = entry::by(
        Some(principal),
        Operation::Refuse,
        action::MLS_COMMIT_REFUSED,
    );
    e.decision = Some("deny".into());
    e.reasons = vec![refusal.reason().into()];
    crate::audit::entry::set_detail(
        &mut e,
        serde_json::json!({
            "group": group.id, "coalition": group.coalition, "epoch": epoch,
            "content_type": content_type,
        }),
    );
    match state.store.audit().append_audit(&[e]).await {
        Ok(_) => DeliveryError::Unauthorised(refusal),
        Err(err) => err.into(),
    }
}

/// The group's administrator: a coalition's is the organisation and role the registry names,
/// a case channel's the organisation that registered it.
fn admin_of(state: &AppState, group: &GroupRow) -> (String, Option<String>) {
    match group.kind {
        GroupKind::Coalition => state
            .policy
            .registry()
            .coalition(&group.coalition)
            .map(|c| (c.admin.org.clone(), Some(c.admin.role.clone())))
            // A coalition no longer in the registry has no administrator.
            .unwrap_or_default(),
        GroupKind::Case => (group.created_by.clone(), None),
    }
}

/// Whether `principal` acts as the group's administrator.
fn is_admin(principal: &Principal, admin: &(String, Option<String>)) -> bool {
    !admin.0.is_empty()
        && principal.org == admin.0
        && admin
            .1
            .as_ref()
            .is_none_or(|role| principal.roles.contains(role))
}

/// Decodes a base64 MLS message field (named `field` in errors), at most
/// [`MAX_MESSAGE_BYTES`] long: what every request carrying an MLS message goes through first.
pub fn decode(field: &str, text: &str) -> Result<(Vec<u8>, MlsMessageIn), DeliveryError> {
    let bytes = wire::unb64(field, text).map_err(|m| invalid(Invalid::Base64, m))?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DeliveryError::MessageTooLarge {
            field: field.to_string(),
        });
    }
    let msg = MlsMessageIn::tls_deserialize_exact(bytes.as_slice()).map_err(|e| {
        invalid(
            Invalid::Message,
            format!("{field}: not an MLS message: {e}"),
        )
    })?;
    Ok((bytes, msg))
}

/// The prefix of every case channel's group id.
///
/// Why a namespace of its own: a coalition's group id is the coalition id, and registry ids
/// hold no `.`; a case channel registered under a coalition's id would take that id for good
/// and keep the coalition from ever having its group.
pub const CASE_GROUP_PREFIX: &str = "case.";

/// A group id: lowercase letters, digits, `-`, `_`, `.`; 1–128 bytes.
pub fn check_group_id(id: &str) -> Result<(), DeliveryError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            Invalid::GroupId,
            "group_id: 1-128 characters from a-z, 0-9, '-', '_', '.'",
        ))
    }
}

/// The intake of one published key package (base64 in `text`, named `field` in errors): the
/// MLS message is decoded, the key package validated by openmls (signature, lifetime,
/// protocol version), its ciphersuite must be Kruispunt's, its credential must name `org` (the
/// authenticated organisation) and its lifetime must end within
/// [`MAX_KEY_PACKAGE_LIFETIME`] of `now`. Touches no storage.
pub fn check_key_package(
    crypto: &RustCrypto,
    field: &str,
    text: &str,
    org: &str,
    now: i64,
) -> Result<NewKeyPackage, DeliveryError> {
    let (bytes, msg) = decode(field, text)?;
    let MlsMessageBodyIn::KeyPackage(kp) = msg.extract() else {
        return Err(invalid(
            Invalid::KeyPackage,
            format!("{field}: not a key package"),
        ));
    };
    let kp = kp
        .validate(crypto, ProtocolVersion::Mls10)
        .map_err(|e| invalid(Invalid::KeyPackage, format!("{field}: {e}")))?;
    if kp.ciphersuite() != CIPHERSUITE {
        return Err(invalid(
            Invalid::KeyPackage,
            format!(
                "{field}: ciphersuite {:?} is not {CIPHERSUITE:?}",
                kp.ciphersuite()
            ),
        ));
    }
    let signer = org_of(kp.leaf_node().credential())
        .map_err(|e| invalid(Invalid::KeyPackage, format!("{field}: {e}")))?;
    if signer != org {
        return Err(DeliveryError::CredentialMismatch(format!(
            "{field}: the credential names another organisation than the token"
        )));
    }
    let kp_ref = kp
        .hash_ref(crypto)
        .map_err(|e| invalid(Invalid::KeyPackage, format!("{field}: {e}")))?;
    let expires_at = i64::try_from(kp.life_time().not_after()).unwrap_or(i64::MAX);
    if expires_at.saturating_sub(now) > MAX_KEY_PACKAGE_LIFETIME {
        return Err(invalid(
            Invalid::KeyPackage,
            format!(
                "{field}: its lifetime ends more than {} days from now",
                MAX_KEY_PACKAGE_LIFETIME / 86_400
            ),
        ));
    }
    Ok(NewKeyPackage {
        kp_ref: kp_ref.as_slice().to_vec(),
        data: bytes,
        last_resort: kp.last_resort(),
        expires_at,
    })
}

/// Validates and stores key packages of the authenticated organisation; returns their refs.
pub async fn publish_key_packages(
    state: &AppState,
    principal: &Principal,
    packages: &[String],
) -> Result<Vec<String>, DeliveryError> {
    if packages.is_empty() || packages.len() > MAX_KEY_PACKAGES {
        return Err(invalid(
            Invalid::KeyPackages,
            format!("key_packages: between 1 and {MAX_KEY_PACKAGES} required"),
        ));
    }
    let crypto = RustCrypto::default();
    let mut out = Vec::with_capacity(packages.len());
    for (i, text) in packages.iter().enumerate() {
        let field = format!("key_packages[{i}]");
        out.push(check_key_package(
            &crypto,
            &field,
            text,
            &principal.org,
            now_secs(),
        )?);
    }
    let live = state
        .store
        .mls()
        .live_key_packages(&principal.org, now_secs())
        .await?;
    if live + out.len() as u64 > LIVE_KEY_PACKAGES {
        return Err(DeliveryError::TooMany(format!(
            "key_packages: {} has {live} unclaimed key packages published; at most \
             {LIVE_KEY_PACKAGES} at a time",
            principal.org
        )));
    }
    let mut entry = entry::by(
        Some(principal),
        Operation::Collect,
        action::MLS_KEY_PACKAGE_PUBLISH,
    );
    crate::audit::entry::set_detail(
        &mut entry,
        serde_json::json!({
            "count": out.len(),
            "last_resort": out.iter().filter(|p| p.last_resort).count(),
        }),
    );
    match state
        .store
        .mls()
        .put_key_packages(&principal.org, &out, now_secs(), &entry)
        .await
    {
        Ok(()) => Ok(out.iter().map(|p| hex::encode(&p.kp_ref)).collect()),
        Err(StoreError::Conflict(_)) => Err(DeliveryError::KeyPackageExists),
        Err(e) => Err(e.into()),
    }
}

/// Most key packages of one organisation one claimer is handed per day (a coalition's
/// administrator inviting an organisation into a handful of groups needs a few).
pub const CLAIMS_PER_DAY: u32 = 20;

/// Whether `principal` has a reason to hold a key package of `org`: a coalition holding both
/// into which the policy lets `principal` add `org`, or a case channel `principal` registered
/// whose list allows `org`. Without
/// one, claims would let any partner drain any organisation's key packages.
async fn claim_relation(
    state: &AppState,
    principal: &Principal,
    org: &str,
) -> Result<bool, DeliveryError> {
    let registry = state.policy.registry();
    for c in registry
        .coalitions
        .iter()
        .filter(|c| c.members.iter().any(|m| m == org) && c.members.contains(&principal.org))
    {
        if may_add(state, principal, &c.id, org)?.allow {
            return Ok(true);
        }
    }
    // Only the channel's creator invites (its administrator): another member claiming a
    // key package would learn whether an organisation is on a list it must not see.
    Ok(state
        .store
        .mls()
        .case_channel_allows(&principal.org, org)
        .await?)
}

/// Hands the claimer one key package of `org`, if it has a relation with `org`
/// ([`claim_relation`]) and its quota ([`CLAIMS_PER_DAY`]) is not used up. A last-resort
/// package handed to the same claimer before is handed out again without a new audit entry.
pub async fn claim_key_package(
    state: &AppState,
    principal: &Principal,
    org: &str,
) -> Result<ClaimedKeyPackage, DeliveryError> {
    if state.policy.registry().partner(org).is_none() {
        return Err(DeliveryError::NotFound(format!(
            "org: no partner {org:?} in the registry"
        )));
    }
    if !claim_relation(state, principal, org).await? {
        let mut e = entry::by(
            Some(principal),
            Operation::Refuse,
            action::MLS_KEY_PACKAGE_CLAIM,
        );
        e.decision = Some("deny".into());
        e.reasons = vec!["no_relation".into()];
        e.source_orgs = vec![org.to_string()];
        state.store.audit().append_audit(&[e]).await?;
        return Err(DeliveryError::ClaimNoRelation(org.to_string()));
    }
    let audit = |c: &ClaimedKeyPackage| -> AuditEntry {
        let mut e = entry::by(
            Some(principal),
            Operation::Disclose,
            action::MLS_KEY_PACKAGE_CLAIM,
        );
        e.source_orgs = vec![org.to_string()];
        e.recipients = vec![principal.org.clone()];
        crate::audit::entry::set_detail(
            &mut e,
            serde_json::json!({
                "kp_ref": hex::encode(&c.kp_ref),
                "last_resort": c.last_resort,
            }),
        );
        e
    };
    let now = now_secs();
    let quota = ClaimQuota {
        since: now - 86_400,
        max: CLAIMS_PER_DAY,
    };
    match state
        .store
        .mls()
        .claim_key_package(org, &principal.org, now, quota, &audit)
        .await?
    {
        Claim::Claimed(c) | Claim::Again(c) => Ok(c),
        Claim::QuotaReached => Err(DeliveryError::ClaimQuota(org.to_string())),
        Claim::None => Err(DeliveryError::NotFound(format!(
            "org: {org} has no unexpired key package published"
        ))),
    }
}

/// The policy's answer to "may `principal` add `target` to `coalition`".
fn may_add(
    state: &AppState,
    principal: &Principal,
    coalition: &str,
    target: &str,
) -> Result<Decision, DeliveryError> {
    let mut input = principal.policy_input(Action::CoalitionAdd, "", now_secs());
    input.coalition = Some(coalition.to_string());
    input.target_org = Some(target.to_string());
    state.decide(&input).map_err(DeliveryError::Policy)
}

/// Checks every added organisation against the policy and (case channels) the allowed list;
/// a refusal is audited and answered 403.
async fn check_adds(
    state: &AppState,
    principal: &Principal,
    group: &GroupRow,
    epoch: u64,
    added: &[String],
) -> Result<(), DeliveryError> {
    // Once per organisation, however many of its key packages the commit adds.
    let mut targets: Vec<&String> = added.iter().collect();
    targets.sort();
    targets.dedup();
    // A case channel's adds are the case's (read once per commit), not the coalition's.
    let case = match group.kind {
        GroupKind::Case if !targets.is_empty() => {
            Some(case_channel::facts(state, group.case_reference.as_deref()).await?)
        }
        _ => None,
    };
    for target in targets {
        let decision = match &case {
            Some(facts) => case_channel::decide(
                state,
                principal,
                group.case_reference.as_deref(),
                facts.clone(),
                target,
            )?,
            None => may_add(state, principal, &group.coalition, target)?,
        };
        let outside_case = group
            .allowed
            .as_ref()
            .is_some_and(|allowed| !allowed.contains(target));
        if decision.allow && !outside_case {
            continue;
        }
        let mut reasons = decision.reasons.clone();
        if outside_case {
            reasons.push("target_not_in_case_channel".into());
        }
        let mut entry = entry::with_decision(
            entry::by(
                Some(principal),
                Operation::Refuse,
                action::MLS_COMMIT_REFUSED,
            ),
            &decision,
        );
        entry.decision = Some("deny".into());
        entry.reasons = reasons.clone();
        crate::audit::entry::set_detail(
            &mut entry,
            serde_json::json!({
                "group": group.id, "coalition": group.coalition, "epoch": epoch, "target_org": target,
            }),
        );
        state.store.audit().append_audit(&[entry]).await?;
        if group.kind == GroupKind::Case {
            return Err(DeliveryError::CaseAddNotAllowed);
        }
        return Err(DeliveryError::AddNotAllowed {
            target: target.clone(),
            group: group.id.clone(),
            reasons,
        });
    }
    Ok(())
}

/// Registers a new group from its creator's GroupInfo (epoch 0, the creator alone).
pub async fn create_group(
    state: &AppState,
    principal: &Principal,
    req: &wire::CreateGroup,
) -> Result<GroupRow, DeliveryError> {
    check_group_id(&req.group_id)?;
    let registry = state.policy.registry();
    let Some(coalition) = registry.coalition(&req.coalition) else {
        return Err(DeliveryError::NotFound(format!(
            "coalition: no coalition {:?} in the registry",
            req.coalition
        )));
    };
    let kind = match req.kind {
        WireKind::Coalition => {
            if req.group_id != req.coalition {
                return Err(invalid(
                    Invalid::GroupId,
                    "group_id: a coalition's group id is the coalition id",
                ));
            }
            if req.allowed.is_some() {
                return Err(invalid(Invalid::Group, "allowed: only for case channels"));
            }
            let admin = &coalition.admin;
            if principal.org != admin.org || !principal.roles.contains(&admin.role) {
                let mut e = entry::by(
                    Some(principal),
                    Operation::Refuse,
                    action::MLS_GROUP_REFUSED,
                );
                e.decision = Some("deny".into());
                e.reasons = vec![NOT_COALITION_ADMIN.into()];
                e.detail = serde_json::json!({
                    "group": req.group_id, "kind": "coalition", "coalition": req.coalition,
                });
                state.store.audit().append_audit(&[e]).await?;
                return Err(DeliveryError::NotCoalitionAdmin {
                    coalition: req.coalition.clone(),
                    admin: admin.org.clone(),
                    role: admin.role.clone(),
                });
            }
            GroupKind::Coalition
        }
        WireKind::Case => {
            if !req.group_id.starts_with(CASE_GROUP_PREFIX) {
                return Err(invalid(
                    Invalid::GroupId,
                    format!("group_id: a case channel's id starts with {CASE_GROUP_PREFIX:?}"),
                ));
            }
            if req.case_reference.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(
                    Invalid::Group,
                    "case_reference: a case channel names its case",
                ));
            }
            GroupKind::Case
        }
    };
    // A case channel: the case register and the policy decide, before the GroupInfo's ratchet
    // tree is verified (the expensive part).
    let (allowed, case_reference) = match (kind, req.case_reference.as_deref()) {
        (GroupKind::Case, Some(case)) => (
            Some(
                case_channel::allowed(
                    state,
                    principal,
                    &req.group_id,
                    case,
                    req.allowed.as_deref(),
                )
                .await?,
            ),
            Some(case.to_string()),
        ),
        _ => (None, None),
    };
    let mut row = GroupRow {
        id: req.group_id.clone(),
        coalition: req.coalition.clone(),
        kind,
        allowed,
        epoch: 0,
        revision: 0,
        epoch_revision: 0,
        next_seq: 0,
        from_seq: 0,
        members: Vec::new(),
        state: Vec::new(),
        created_by: principal.org.clone(),
        case_reference,
    };
    // The creator of a coalition's group must itself be one the policy would let in (and hold
    // the administrator role) — asked before the GroupInfo's ratchet tree is verified, the
    // expensive part. (A case channel's creator was asked about above.)
    if kind == GroupKind::Coalition {
        check_adds(
            state,
            principal,
            &row,
            0,
            std::slice::from_ref(&principal.org),
        )
        .await?;
    }
    let (_, msg) = decode("group_info", &req.group_info)?;
    let MlsMessageBodyIn::GroupInfo(info) = msg.extract() else {
        return Err(invalid(Invalid::Message, "group_info: not a GroupInfo"));
    };
    let crypto = RustCrypto::default();
    let view = PublicView::from_group_info(&crypto, info, &req.group_id)?;
    let members = view.members();
    // Counted by leaves: a leaf whose credential names no organisation is a member too.
    if members != [principal.org.clone()] || view.leaf_count() != 1 {
        return Err(invalid(
            Invalid::Group,
            "group_info: a new group holds exactly the creating organisation, in one leaf",
        ));
    }
    row.epoch = view.epoch();
    row.members = members;
    row.state = view.to_bytes();
    let mut entry = entry::by(
        Some(principal),
        Operation::Collect,
        action::MLS_GROUP_CREATE,
    );
    entry.case_reference = req.case_reference.clone();
    crate::audit::entry::set_detail(
        &mut entry,
        serde_json::json!({
            "group": row.id, "kind": kind.as_str(), "coalition": row.coalition, "epoch": row.epoch,
            "allowed": row.allowed,
        }),
    );
    match state
        .store
        .mls()
        .create_group(&row, now_secs(), &entry)
        .await
    {
        Ok(()) => Ok(row),
        Err(StoreError::Conflict(_)) => Err(DeliveryError::GroupExists(row.id)),
        Err(e) => Err(e.into()),
    }
}

/// Re-initialises group `id` under the same id: its administrator (only) registers a new
/// GroupInfo holding itself alone at epoch 0, which replaces the broker's copy of the public
/// state; the log goes on (`next_seq` is kept), and the administrator invites the members
/// again (their welcomes start after the re-initialisation). The way out of a group a member
/// broke with a commit others cannot process. Audited (`mls.group.reinit`).
pub async fn reinit_group(
    state: &AppState,
    principal: &Principal,
    id: &str,
    req: &wire::CreateGroup,
) -> Result<GroupRow, DeliveryError> {
    check_group_id(id)?;
    if req.group_id != id {
        return Err(invalid(
            Invalid::GroupId,
            "group_id: the path's group id and the body's differ",
        ));
    }
    let group = group_or_not_a_member(state, principal, id).await?;
    let admin = admin_of(state, &group);
    if !is_admin(principal, &admin) {
        let mut e = entry::by(
            Some(principal),
            Operation::Refuse,
            action::MLS_GROUP_REFUSED,
        );
        e.decision = Some("deny".into());
        e.reasons = vec!["not_group_admin".into()];
        crate::audit::entry::set_detail(
            &mut e,
            serde_json::json!({ "group": id, "kind": group.kind.as_str(), "reinit": true }),
        );
        state.store.audit().append_audit(&[e]).await?;
        // A non-member learns nothing more than from any other request.
        if !group.members.contains(&principal.org) {
            return Err(not_a_member(principal, id));
        }
        return Err(DeliveryError::NotGroupAdmin(id.to_string()));
    }
    // A closed case's channel is not started again.
    case_channel::check_open(state, principal, &group).await?;
    let kind_matches = matches!(
        (req.kind, group.kind),
        (WireKind::Coalition, GroupKind::Coalition) | (WireKind::Case, GroupKind::Case)
    );
    if !kind_matches || req.coalition != group.coalition || req.allowed.is_some() {
        return Err(invalid(
            Invalid::Group,
            "kind, coalition: as registered; allowed: not given (a case channel keeps its list)",
        ));
    }
    let (_, msg) = decode("group_info", &req.group_info)?;
    let MlsMessageBodyIn::GroupInfo(info) = msg.extract() else {
        return Err(invalid(Invalid::Message, "group_info: not a GroupInfo"));
    };
    let crypto = RustCrypto::default();
    let view = PublicView::from_group_info(&crypto, info, id)?;
    let members = view.members();
    if members != [principal.org.clone()] || view.leaf_count() != 1 || view.epoch() != 0 {
        return Err(invalid(
            Invalid::Group,
            "group_info: a re-initialised group holds exactly its administrator, in one leaf, \
             at epoch 0",
        ));
    }
    let change = StateChange {
        epoch: 0,
        members: members.clone(),
        state: view.to_bytes(),
    };
    let mut entry = entry::by(
        Some(principal),
        Operation::Collect,
        action::MLS_GROUP_REINIT,
    );
    entry.case_reference = req.case_reference.clone();
    crate::audit::entry::set_detail(
        &mut entry,
        serde_json::json!({
            "group": id, "kind": group.kind.as_str(), "coalition": group.coalition,
            "previous_epoch": group.epoch, "previous_members": group.members.len(),
            "from_seq": group.next_seq,
        }),
    );
    if !state
        .store
        .mls()
        .reinit_group(id, group.revision, &change, &entry)
        .await?
    {
        return Err(DeliveryError::EpochConflict(format!(
            "group {id} changed while it was re-initialised; try again"
        )));
    }
    Ok(GroupRow {
        epoch: 0,
        revision: group.revision + 1,
        epoch_revision: group.epoch_revision + 1,
        from_seq: group.next_seq,
        members,
        state: change.state,
        ..group
    })
}

/// The group with this id, or [`DeliveryError::NotAMember`] when there is none: the same
/// answer whether or not the group exists, because a case channel's id embeds its case number
/// and a 404 would tell an outsider that the case has a channel.
async fn group_or_not_a_member(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<GroupRow, DeliveryError> {
    check_group_id(id)?;
    state
        .store
        .mls()
        .group(id)
        .await?
        .ok_or_else(|| not_a_member(principal, id))
}

fn not_a_member(principal: &Principal, id: &str) -> DeliveryError {
    DeliveryError::NotAMember {
        org: principal.org.clone(),
        group: id.to_string(),
    }
}

/// The leaves of `group`'s tree whose credential names no organisation (shown with the
/// group's status; see [`PublicView::unreadable_leaves`]).
pub fn unreadable_leaves(group: &GroupRow) -> Result<Vec<u32>, DeliveryError> {
    Ok(PublicView::load(&group.state, &group.id)?.unreadable_leaves())
}

/// The group, if the principal is one of its members.
pub async fn member_group(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<GroupRow, DeliveryError> {
    let group = group_or_not_a_member(state, principal, id).await?;
    if !group.members.contains(&principal.org) {
        return Err(not_a_member(principal, id));
    }
    Ok(group)
}

/// What an accepted message did, for the response.
pub struct Delivered {
    pub seq: u64,
    pub epoch: u64,
}

/// How often a standalone proposal that lost its append only to another proposal (not to a
/// commit) is checked again against the state that now holds the other one.
const PROPOSAL_TRIES: usize = 8;

/// Checks and appends one message to group `id`'s log.
pub async fn post_message(
    state: &AppState,
    principal: &Principal,
    id: &str,
    req: &wire::PostMessage,
) -> Result<Delivered, DeliveryError> {
    let mut group = member_group(state, principal, id).await?;
    // Read for every post, never cached: a case closed on any broker ends its channel here.
    case_channel::check_open(state, principal, &group).await?;
    let (bytes, _) = decode("message", &req.message)?;
    for _ in 0..PROPOSAL_TRIES {
        match post_once(state, principal, group, req, &bytes).await? {
            Posted::Stored(d) => return Ok(d),
            Posted::ProposalRaced => group = member_group(state, principal, id).await?,
        }
    }
    Err(audit_epoch_conflict(
        state,
        principal,
        serde_json::json!({ "group": id, "content_type": "proposal", "size": bytes.len() }),
        format!(
            "message: other proposals kept changing group {id} first; fetch, process and retry"
        ),
    )
    .await)
}

/// What one try of [`post_message`] did.
enum Posted {
    Stored(Delivered),
    /// A standalone proposal lost its append to another proposal: check it again.
    ProposalRaced,
}

/// One try of [`post_message`] against `group` as it was just read.
async fn post_once(
    state: &AppState,
    principal: &Principal,
    group: GroupRow,
    req: &wire::PostMessage,
    bytes: &[u8],
) -> Result<Posted, DeliveryError> {
    let id = group.id.as_str();
    let bytes = bytes.to_vec();
    let msg = MlsMessageIn::tls_deserialize_exact(bytes.as_slice()).map_err(|e| {
        invalid(
            Invalid::Message,
            format!("message: not an MLS message: {e}"),
        )
    })?;
    let pm = msg.try_into_protocol_message().map_err(|e| {
        invalid(
            Invalid::Message,
            format!("message: not a group message: {e}"),
        )
    })?;
    if pm.group_id().as_slice() != id.as_bytes() {
        return Err(invalid(Invalid::Message, "message: for another group"));
    }
    let msg_epoch = pm.epoch().as_u64();
    if msg_epoch != group.epoch {
        // Not audited: a message for another epoch cannot be verified against the group's
        // state (its signature covers that epoch's group context), so nothing says who made
        // it or whether it is a message at all — and an entry per such request would let
        // anyone holding a member's token fill the audit log for free. A verified message
        // that loses its epoch at the append is audited (below).
        return Err(DeliveryError::EpochConflict(format!(
            "message: for epoch {msg_epoch}, the group is at epoch {}; fetch, process and retry",
            group.epoch
        )));
    }
    let crypto = RustCrypto::default();
    let mut welcomes = Vec::new();
    let (content_type, change, added) = match (pm.wire_format(), pm.content_type()) {
        (WireFormat::PrivateMessage, ContentType::Application) => {
            if req.welcome.is_some() {
                return Err(invalid(Invalid::Message, "welcome: only with a commit"));
            }
            ("application", None, Vec::new())
        }
        (WireFormat::PublicMessage, ContentType::Proposal | ContentType::Commit) => {
            let mut view = PublicView::load(&group.state, id)?;
            // Before the signature and the commit are verified (the expensive part): a
            // member's leaf must be the token's organisation's. Senders from outside the group
            // are refused, audited, by `authorise` once the message proved well formed.
            if let ProtocolMessage::PublicMessage(public) = &pm
                && let Sender::Member(leaf) = public.sender()
                && view.org_at(*leaf).as_deref() != Some(principal.org.as_str())
            {
                return Err(DeliveryError::CredentialMismatch(
                    "message: sent from a leaf that is not the token's organisation's".into(),
                ));
            }
            let processed = view.process(&crypto, pm)?;
            let signer = org_of(processed.credential())
                .map_err(|e| invalid(Invalid::Message, format!("message: {e}")))?;
            if signer != principal.org {
                return Err(DeliveryError::CredentialMismatch(
                    "message: signed by another organisation than the token names".into(),
                ));
            }
            let admin = admin_of(state, &group);
            let sender = authorise::member_leaf(processed.sender());
            let content = processed.into_content();
            let kind = match &content {
                ProcessedMessageContent::StagedCommitMessage(_) => "commit",
                _ => "proposal",
            };
            let verdict = sender.and_then(|leaf| {
                let actor = Actor {
                    leaf,
                    is_admin: is_admin(principal, &admin),
                    admin_org: &admin.0,
                };
                match &content {
                    ProcessedMessageContent::ProposalMessage(p) => {
                        authorise::check_proposal(&view, &actor, p)
                    }
                    ProcessedMessageContent::StagedCommitMessage(staged) => {
                        authorise::check_commit(&view, &actor, staged, |org| {
                            state.policy.registry().partner(org).is_some()
                        })
                    }
                    _ => Ok(()),
                }
            });
            if let Err(refusal) = verdict {
                return Err(
                    audit_unauthorised(state, principal, &group, msg_epoch, kind, refusal).await,
                );
            }
            match content {
                ProcessedMessageContent::ProposalMessage(p) => {
                    if matches!(p.proposal(), Proposal::Add(_)) {
                        return Err(invalid(
                            Invalid::Unsupported,
                            "message: add members by commit, not by a standalone proposal",
                        ));
                    }
                    let (mine, all) = view.pending_proposals(&principal.org)?;
                    if mine >= PROPOSALS_PER_SENDER || all >= PENDING_PROPOSALS {
                        return Err(DeliveryError::TooMany(format!(
                            "message: at most {PROPOSALS_PER_SENDER} proposals per member \
                             ({PENDING_PROPOSALS} per group) wait for the next commit"
                        )));
                    }
                    view.add_proposal(*p)?;
                    let change = StateChange {
                        epoch: view.epoch(),
                        members: view.members(),
                        state: view.to_bytes(),
                    };
                    ("proposal", Some(change), Vec::new())
                }
                ProcessedMessageContent::StagedCommitMessage(staged) => {
                    let added: Vec<String> = staged
                        .add_proposals()
                        .map(|a| org_of(a.add_proposal().key_package().leaf_node().credential()))
                        .collect::<Result<_, _>>()
                        .map_err(|e| invalid(Invalid::Message, format!("message: {e}")))?;
                    check_adds(state, principal, &group, msg_epoch, &added).await?;
                    let refs: Vec<Vec<u8>> = staged
                        .add_proposals()
                        .map(|a| {
                            a.add_proposal()
                                .key_package()
                                .hash_ref(&crypto)
                                .map(|r| r.as_slice().to_vec())
                        })
                        .collect::<Result<_, _>>()
                        .map_err(|e| invalid(Invalid::Message, format!("message: {e}")))?;
                    welcomes = route_welcome(state, req.welcome.as_deref(), &refs).await?;
                    view.merge(*staged)?;
                    let change = StateChange {
                        epoch: view.epoch(),
                        members: view.members(),
                        state: view.to_bytes(),
                    };
                    ("commit", Some(change), added)
                }
                _ => {
                    return Err(invalid(
                        Invalid::Unsupported,
                        "message: only member proposals and commits are delivered",
                    ));
                }
            }
        }
        (wf, ct) => {
            return Err(invalid(
                Invalid::WireFormat,
                format!(
                    "message: {ct:?} as {wf:?} is refused: handshake messages must be public \
                     (signed) messages and application messages encrypted"
                ),
            ));
        }
    };
    if content_type != "commit" && req.welcome.is_some() {
        return Err(invalid(
            Invalid::Message,
            "welcome: only with a commit that adds",
        ));
    }
    let new_epoch = change.as_ref().map_or(group.epoch, |c| c.epoch);
    let message = NewMessage {
        epoch: msg_epoch,
        sender: principal.org.clone(),
        content_type,
        data: bytes,
    };
    // Recipients: everyone in the group before the message (they fetch it), the sender aside,
    // plus the organisations a commit adds (they get the welcome).
    let mut recipients: Vec<String> = group
        .members
        .iter()
        .filter(|m| **m != principal.org)
        .cloned()
        .collect();
    recipients.extend(added.iter().cloned());
    let size = message.data.len();
    let welcome_count = welcomes.len();
    let audit = |seq: u64| -> AuditEntry {
        let mut e = entry::by(Some(principal), Operation::Disclose, action::MLS_DELIVER);
        e.recipients = recipients.clone();
        crate::audit::entry::set_detail(
            &mut e,
            serde_json::json!({
                "group": id, "epoch": msg_epoch, "new_epoch": new_epoch, "seq": seq,
                "content_type": content_type, "size": size, "welcomes": welcome_count,
                "added": added,
            }),
        );
        e
    };
    // A commit or an application message needs the epoch it was made for; a standalone
    // proposal joins the proposals stored so far, so it needs exactly the state it was checked
    // against (and is checked again when another proposal came first).
    let expect = if content_type == "proposal" {
        Expect::State(group.revision)
    } else {
        Expect::Epoch(group.epoch_revision)
    };
    match state
        .store
        .mls()
        .append_message(
            id,
            expect,
            &message,
            change.as_ref(),
            &welcomes,
            now_secs(),
            &audit,
        )
        .await?
    {
        Appended::Stored(seq) => Ok(Posted::Stored(Delivered {
            seq,
            epoch: new_epoch,
        })),
        Appended::Replayed => {
            let mut e = entry::by(
                Some(principal),
                Operation::Refuse,
                action::MLS_COMMIT_REFUSED,
            );
            e.decision = Some("deny".into());
            e.reasons = vec!["replayed".into()];
            crate::audit::entry::set_detail(
                &mut e,
                serde_json::json!({
                    "group": id, "epoch": msg_epoch, "content_type": content_type, "size": size,
                }),
            );
            state.store.audit().append_audit(&[e]).await?;
            Err(DeliveryError::Replayed)
        }
        Appended::Conflict
            if content_type == "proposal"
                && state
                    .store
                    .mls()
                    .group(id)
                    .await?
                    .is_some_and(|g| g.epoch_revision == group.epoch_revision) =>
        {
            Ok(Posted::ProposalRaced)
        }
        Appended::Conflict => Err(audit_epoch_conflict(
            state,
            principal,
            serde_json::json!({
                "group": id, "epoch": msg_epoch, "content_type": content_type, "size": size,
            }),
            format!(
                "message: another commit changed group {id} at epoch {msg_epoch} first; fetch, \
                 process and retry"
            ),
        )
        .await),
    }
}

/// Matches the welcome's recipients (KeyPackageRefs) to the organisations that published those
/// key packages; every added key package must be covered.
async fn route_welcome(
    state: &AppState,
    welcome: Option<&str>,
    added_refs: &[Vec<u8>],
) -> Result<Vec<NewWelcome>, DeliveryError> {
    let Some(text) = welcome else {
        if added_refs.is_empty() {
            return Ok(Vec::new());
        }
        return Err(invalid(
            Invalid::MissingWelcome,
            "welcome: a commit that adds needs its welcome",
        ));
    };
    if added_refs.is_empty() {
        return Err(invalid(Invalid::Message, "welcome: the commit adds nobody"));
    }
    let (bytes, msg) = decode("welcome", text)?;
    let MlsMessageBodyIn::Welcome(w) = msg.extract() else {
        return Err(invalid(Invalid::Message, "welcome: not a Welcome"));
    };
    let refs: Vec<Vec<u8>> = w
        .secrets()
        .iter()
        .map(|s| s.new_member().as_slice().to_vec())
        .collect();
    let mut want = added_refs.to_vec();
    want.sort();
    let mut got = refs.clone();
    got.sort();
    if want != got {
        return Err(invalid(
            Invalid::Message,
            "welcome: its recipients are not exactly the key packages the commit adds",
        ));
    }
    let mut out = Vec::with_capacity(refs.len());
    for r in &refs {
        let org = state
            .store
            .mls()
            .key_package_owner(r)
            .await?
            .ok_or_else(|| {
                invalid(
                    Invalid::UnknownKeyPackage,
                    "welcome: a key package the commit adds was not published here",
                )
            })?;
        if !out.iter().any(|w: &NewWelcome| w.org == org) {
            out.push(NewWelcome {
                org,
                data: bytes.clone(),
            });
        }
    }
    Ok(out)
}

/// Up to [`FETCH_LIMIT`] messages of group `id`'s log from sequence number `from` on. Only
/// current members read the log: a removed organisation gets nothing more.
pub async fn fetch_messages(
    state: &AppState,
    principal: &Principal,
    id: &str,
    from: u64,
) -> Result<Vec<StoredMessage>, DeliveryError> {
    member_group(state, principal, id).await?;
    let rows = read_log(state, principal, id, from).await?;
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let bytes: usize = rows.iter().map(|m| m.data.len()).sum();
        audit_fetch(
            state,
            principal,
            action::MLS_FETCH,
            serde_json::json!({
                "group": id, "from_seq": first.seq, "to_seq": last.seq, "count": rows.len(),
                "size": bytes,
            }),
        )
        .await?;
    }
    Ok(rows)
}

/// What [`fetch_messages`] hands a member (that it is one is checked there), unaudited: from
/// `from` or the member's join point, whichever is later, at most [`FETCH_LIMIT`] messages
/// and [`FETCH_BYTES`] (at least one message).
pub async fn read_log(
    state: &AppState,
    principal: &Principal,
    id: &str,
    from: u64,
) -> Result<Vec<StoredMessage>, DeliveryError> {
    // A member reads from where it joined: what was said in the group before it was invited
    // is not its to read (and it has no secrets for it anyway).
    let from = from.max(state.store.mls().join_seq(id, &principal.org).await?);
    // The sizes first (no message bytes read), then exactly the messages that fit the byte
    // budget (at least one), in one query: a log of large messages is never read 500 at a
    // time, and a log of small ones costs two queries, not one per page.
    let sizes = state
        .store
        .mls()
        .message_sizes(id, from, FETCH_LIMIT)
        .await?;
    let mut bytes = 0u64;
    let fit = sizes
        .iter()
        .take_while(|size| {
            bytes += **size;
            bytes <= FETCH_BYTES as u64
        })
        .count()
        .max(sizes.len().min(1));
    if fit == 0 {
        return Ok(Vec::new());
    }
    let limit = u32::try_from(fit).unwrap_or(FETCH_LIMIT);
    Ok(state.store.mls().messages(id, from, limit).await?)
}

/// Up to [`FETCH_LIMIT`] welcomes addressed to the principal's organisation, after id `after`.
pub async fn fetch_welcomes(
    state: &AppState,
    principal: &Principal,
    after: u64,
) -> Result<Vec<StoredWelcome>, DeliveryError> {
    let rows = state
        .store
        .mls()
        .welcomes(&principal.org, after, FETCH_LIMIT)
        .await?;
    if !rows.is_empty() {
        let groups: Vec<&str> = rows.iter().map(|w| w.group_id.as_str()).collect();
        audit_fetch(
            state,
            principal,
            action::MLS_WELCOME_FETCH,
            serde_json::json!({ "groups": groups, "count": rows.len() }),
        )
        .await?;
    }
    Ok(rows)
}

/// Audits a fetch that returned something (reading a group's log is a disclosure to the reader).
async fn audit_fetch(
    state: &AppState,
    principal: &Principal,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), DeliveryError> {
    let mut e = entry::by(Some(principal), Operation::Disclose, action);
    e.recipients = vec![principal.org.clone()];
    crate::audit::entry::set_detail(&mut e, detail);
    state.store.audit().append_audit(&[e]).await?;
    Ok(())
}
