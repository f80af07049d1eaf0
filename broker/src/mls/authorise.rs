//! Who may do what in a group: every proposal and every credential of a handshake message is
//! authorised before the message is delivered (openmls checks that a message is well formed
//! and signed; which changes are *allowed* is the application's to say — RFC 9420 §5.3.1,
//! openmls' `credentials_to_verify`).
//!
//! The rules (docs/COALITIONS.md, "Who may do what in a group"):
//! - **Senders are members.** External commits and proposals from external senders (or new
//!   members) are refused: organisations enter a group only through an Add the policy allowed.
//! - **A leaf keeps its identity.** An Update proposal or a commit's UpdatePath may refresh a
//!   leaf's keys but not change the organisation its credential names.
//! - **Every credential openmls asks about names a registry partner.**
//! - **Remove** of another member, **GroupContextExtensions**, and committing proposals others
//!   sent are the group's administrator's (a coalition's: the organisation and role the registry
//!   names; a case channel's: its creator). A member may propose its own removal.
//! - **PreSharedKey, ReInit, ExternalInit** and any other proposal are refused: Kruispunt uses
//!   no pre-shared keys, re-initialises a group through its administrator (a new registration),
//!   and has no external joins. No external senders extension either.
//!
//! Adds are checked by the policy (`coalition_add`) in [`super::delivery`], after these rules.

use kruispunt_sdk::coalition::mls::org_of;
use openmls::prelude::*;

use super::public_state::PublicView;

/// Why a handshake message is refused; each one problem type (403) and one audit reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An external commit, or a proposal from outside the group.
    ExternalCommit,
    /// An Update or UpdatePath changes the organisation a leaf's credential names.
    LeafIdentityChanged,
    /// A credential that does not name a registry partner.
    Credential,
    /// A Remove of another member by someone other than the administrator.
    Remove,
    /// GroupContextExtensions by someone other than the administrator, or external senders.
    Extensions,
    /// A proposal kind nobody may send (PreSharedKey, ReInit, ExternalInit, custom).
    Proposal,
    /// A commit of proposals others sent, by someone other than the administrator.
    CommitsOthers,
}

impl Refusal {
    /// The problem type slug (`urn:kruispunt:problem:<slug>`).
    pub fn slug(self) -> &'static str {
        match self {
            Refusal::ExternalCommit => "mls-external-commit-refused",
            Refusal::LeafIdentityChanged => "mls-leaf-identity-changed",
            Refusal::Credential => "mls-credential-refused",
            Refusal::Remove => "mls-remove-refused",
            Refusal::Extensions => "mls-extensions-refused",
            Refusal::Proposal => "mls-proposal-refused",
            Refusal::CommitsOthers => "mls-commit-others-proposals",
        }
    }

    /// The audit entry's reason.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::ExternalCommit => "external_commit_refused",
            Refusal::LeafIdentityChanged => "leaf_identity_changed",
            Refusal::Credential => "credential_refused",
            Refusal::Remove => "remove_refused",
            Refusal::Extensions => "extensions_refused",
            Refusal::Proposal => "proposal_refused",
            Refusal::CommitsOthers => "commit_others_proposals",
        }
    }

    /// What the sender is told (names no organisation).
    pub fn detail(self) -> &'static str {
        match self {
            Refusal::ExternalCommit => {
                "message: external commits and proposals from outside the group are refused; \
                 organisations join through an Add by the administrator"
            }
            Refusal::LeafIdentityChanged => {
                "message: an Update or UpdatePath may refresh a leaf's keys, not change the \
                 organisation its credential names"
            }
            Refusal::Credential => "message: a credential does not name a registry partner",
            Refusal::Remove => {
                "message: only the group's administrator removes other members; a member may \
                 propose its own removal"
            }
            Refusal::Extensions => {
                "message: only the group's administrator changes the group's extensions, and \
                 external senders are not allowed"
            }
            Refusal::Proposal => {
                "message: PreSharedKey, ReInit and ExternalInit proposals are refused; the \
                 administrator re-initialises a group by registering it again"
            }
            Refusal::CommitsOthers => {
                "message: only the group's administrator commits proposals other members sent"
            }
        }
    }
}

/// Who is acting, as the rules need to know it.
pub struct Actor<'a> {
    /// The sender's leaf (the message's signer).
    pub leaf: LeafNodeIndex,
    /// Whether the sender is the group's administrator.
    pub is_admin: bool,
    /// The administrator's organisation (to recognise its proposals in a commit).
    pub admin_org: &'a str,
}

/// The sender's leaf, if the sender is a member.
pub fn member_leaf(sender: &Sender) -> Result<LeafNodeIndex, Refusal> {
    match sender {
        Sender::Member(leaf) => Ok(*leaf),
        _ => Err(Refusal::ExternalCommit),
    }
}

/// A leaf node that must name the same organisation as leaf `at` does now.
fn same_identity(view: &PublicView, at: LeafNodeIndex, node: &LeafNode) -> Result<(), Refusal> {
    let now = view.org_at(at).ok_or(Refusal::LeafIdentityChanged)?;
    match org_of(node.credential()) {
        Ok(org) if org == now => Ok(()),
        _ => Err(Refusal::LeafIdentityChanged),
    }
}

/// Checks one proposal (standalone, or covered by a commit `actor` sends).
pub fn check_proposal(
    view: &PublicView,
    actor: &Actor<'_>,
    proposal: &QueuedProposal,
) -> Result<(), Refusal> {
    let proposer = member_leaf(proposal.sender())?;
    let own = proposer == actor.leaf;
    // A proposal by reference that someone else sent was checked when it was delivered; the
    // administrator's proposals carry its authority.
    let proposer_is_admin = if own {
        actor.is_admin
    } else {
        view.org_at(proposer).as_deref() == Some(actor.admin_org)
    };
    if !own && !actor.is_admin {
        return Err(Refusal::CommitsOthers);
    }
    match proposal.proposal() {
        // The policy decides (delivery::check_adds).
        Proposal::Add(_) => Ok(()),
        Proposal::Update(update) => same_identity(view, proposer, update.leaf_node()),
        Proposal::Remove(remove) => {
            if remove.removed() == proposer || proposer_is_admin {
                Ok(())
            } else {
                Err(Refusal::Remove)
            }
        }
        Proposal::SelfRemove => Ok(()),
        Proposal::GroupContextExtensions(gce) => {
            if !proposer_is_admin || gce.extensions().external_senders().is_some() {
                Err(Refusal::Extensions)
            } else {
                Ok(())
            }
        }
        _ => Err(Refusal::Proposal),
    }
}

/// Checks a commit `actor` sends: every proposal it covers, its UpdatePath's leaf, and every
/// credential openmls asks the application to verify.
pub fn check_commit(
    view: &PublicView,
    actor: &Actor<'_>,
    staged: &StagedCommit,
    is_partner: impl Fn(&str) -> bool,
) -> Result<(), Refusal> {
    for proposal in staged.queued_proposals() {
        check_proposal(view, actor, proposal)?;
    }
    if let Some(node) = staged.update_path_leaf_node() {
        same_identity(view, actor.leaf, node)?;
    }
    for credential in staged.credentials_to_verify() {
        match org_of(credential) {
            Ok(org) if is_partner(&org) => {}
            _ => return Err(Refusal::Credential),
        }
    }
    Ok(())
}
