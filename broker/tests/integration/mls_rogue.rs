//! A coalition member that does what the SDK's `Member` never does: a bare openmls client with
//! the organisation's own token, signing key and leaf, which crafts the handshake messages a
//! malicious member could send (a leaf swapped to another organisation's credential, removals of
//! others, PSK, ReInit and GroupContextExtensions proposals, external commits, commits of
//! others' proposals). The broker must refuse them whatever client sent them.
#![allow(dead_code)]

use kruispunt_sdk::coalition::http::{BrokerMls, HttpError};
use kruispunt_sdk::coalition::mls::{CIPHERSUITE, MAX_PAST_EPOCHS, Provider, WIRE_FORMAT_POLICY};
use kruispunt_sdk::coalition::wire;
use kruispunt_sdk::coalition::wire::MessagePosted;
use kruispunt_test_kit::Broker;
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;

/// A credential naming `org` with `signer`'s public key.
pub fn credential(org: &str, signer: &SignatureKeyPair) -> CredentialWithKey {
    CredentialWithKey {
        credential: BasicCredential::new(org.as_bytes().to_vec()).into(),
        signature_key: signer.public().into(),
    }
}

/// The leaf parameters that swap a leaf's credential to `org`'s (same signature key).
pub fn as_org(org: &str, signer: &SignatureKeyPair) -> LeafNodeParameters {
    LeafNodeParameters::builder()
        .with_credential_with_key(credential(org, signer))
        .build()
}

/// One malicious member of one group.
pub struct Rogue {
    pub org: String,
    pub provider: Provider,
    pub signer: SignatureKeyPair,
    pub group: Option<MlsGroup>,
    pub api: BrokerMls,
    pub cursor: u64,
}

impl Rogue {
    pub fn new(b: &Broker, org: &str, roles: &[&str]) -> Rogue {
        let provider = Provider::default();
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
        signer.store(provider.storage()).unwrap();
        Rogue {
            org: org.to_string(),
            provider,
            signer,
            group: None,
            api: b.mls(org, roles),
            cursor: 0,
        }
    }

    /// Publishes one key package (as the SDK's members do, with last-resort capability).
    pub async fn publish(&self) {
        let builder = KeyPackage::builder().leaf_node_capabilities(
            Capabilities::builder()
                .extensions(vec![ExtensionType::LastResort])
                .build(),
        );
        let bytes = self.key_package(builder);
        self.api.publish_key_packages(&[bytes]).await.unwrap();
    }

    /// A key package valid for `secs` seconds from now, as MLS message bytes.
    pub fn key_package_valid_for(&self, secs: u64) -> Vec<u8> {
        self.key_package(KeyPackage::builder().key_package_lifetime(Lifetime::new(secs)))
    }

    /// The key package `builder` makes with this organisation's credential, as MLS message
    /// bytes.
    fn key_package(&self, builder: KeyPackageBuilder) -> Vec<u8> {
        let kp = builder
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.signer,
                credential(&self.org, &self.signer),
            )
            .unwrap();
        MlsMessageOut::from(kp.key_package().clone())
            .to_bytes()
            .unwrap()
    }

    /// Joins through the newest welcome addressed to this organisation.
    pub async fn join(&mut self) {
        let list = self.api.welcomes(0).await.unwrap();
        let w = list.welcomes.last().expect("a welcome");
        let bytes = wire::unb64("welcome", &w.welcome).unwrap();
        let MlsMessageBodyIn::Welcome(welcome) = MlsMessageIn::tls_deserialize_exact(&bytes)
            .unwrap()
            .extract()
        else {
            panic!("not a welcome");
        };
        let config = MlsGroupJoinConfig::builder()
            .wire_format_policy(WIRE_FORMAT_POLICY)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .use_ratchet_tree_extension(true)
            .build();
        let group = StagedWelcome::new_from_welcome(&self.provider, &config, welcome, None)
            .unwrap()
            .into_group(&self.provider)
            .unwrap();
        self.group = Some(group);
        self.cursor = w.from_seq;
    }

    pub fn group(&mut self) -> &mut MlsGroup {
        self.group.as_mut().expect("joined")
    }

    /// Fetches and processes the group's new messages (merging commits, storing proposals).
    pub async fn sync(&mut self, id: &str) {
        let fetched = self.api.fetch(id, self.cursor).await.unwrap();
        for f in fetched {
            self.cursor = f.seq + 1;
            let pm = MlsMessageIn::tls_deserialize_exact(&f.message)
                .unwrap()
                .try_into_protocol_message()
                .unwrap();
            let provider = &self.provider;
            let group = self.group.as_mut().expect("joined");
            if pm.is_handshake_message() && pm.epoch() < group.epoch() {
                continue;
            }
            let processed = group.process_message(provider, pm).unwrap();
            match processed.into_content() {
                ProcessedMessageContent::ProposalMessage(p) => group
                    .store_pending_proposal(provider.storage(), *p)
                    .unwrap(),
                ProcessedMessageContent::StagedCommitMessage(staged) => {
                    group.merge_staged_commit(provider, *staged).unwrap()
                }
                _ => {}
            }
        }
    }

    /// A standalone proposal refreshing this member's own leaf, for the current epoch (kept in
    /// its own proposal store until [`Rogue::forget`]).
    pub fn propose_update(&mut self) -> MlsMessageOut {
        let (provider, signer) = (&self.provider, &self.signer);
        self.group
            .as_mut()
            .expect("joined")
            .propose_self_update(provider, signer, LeafNodeParameters::default())
            .unwrap()
            .0
    }

    /// Posts `msg` to the group.
    pub async fn post(&self, id: &str, msg: &MlsMessageOut) -> Result<MessagePosted, HttpError> {
        self.api.post_raw(id, &msg.to_bytes().unwrap(), None).await
    }

    /// Forgets what the broker refused: the pending commit and the own proposals.
    pub fn forget(&mut self) {
        let storage = self.provider.storage();
        let group = self.group.as_mut().expect("joined");
        group.clear_pending_commit(storage).unwrap();
        group.clear_pending_proposals(storage).unwrap();
    }

    /// The leaf of `org` in the group as this member sees it.
    pub fn leaf_of(&self, org: &str) -> LeafNodeIndex {
        self.group
            .as_ref()
            .expect("joined")
            .members()
            .find(|m| m.credential.serialized_content() == org.as_bytes())
            .map(|m| m.index)
            .expect("a member")
    }

    /// A commit built by the group's commit builder with `proposals` (no update path forced).
    pub fn commit_with(&mut self, proposals: Vec<Proposal>) -> MlsMessageOut {
        let provider = &self.provider;
        let signer = &self.signer;
        let group = self.group.as_mut().expect("joined");
        group
            .commit_builder()
            .consume_proposal_store(false)
            .add_proposals(proposals)
            .load_psks(provider.storage())
            .unwrap()
            .build(provider.rand(), provider.crypto(), signer, |_| true)
            .unwrap()
            .stage_commit(provider)
            .unwrap()
            .into_commit()
    }

    /// A commit of a GroupContextExtensions proposal (no extensions).
    pub fn commit_extensions(&mut self) -> MlsMessageOut {
        let provider = &self.provider;
        let signer = &self.signer;
        let group = self.group.as_mut().expect("joined");
        group
            .commit_builder()
            .consume_proposal_store(false)
            .propose_group_context_extensions(Extensions::empty())
            .unwrap()
            .load_psks(provider.storage())
            .unwrap()
            .build(provider.rand(), provider.crypto(), signer, |_| true)
            .unwrap()
            .stage_commit(provider)
            .unwrap()
            .into_commit()
    }

    /// An external commit into the group (a second leaf for this organisation), built from the
    /// GroupInfo this member can export.
    pub fn external_commit(&mut self) -> MlsMessageOut {
        let provider = &self.provider;
        let info = self
            .group
            .as_ref()
            .expect("joined")
            .export_group_info(provider.crypto(), &self.signer, true)
            .unwrap()
            .to_bytes()
            .unwrap();
        let MlsMessageBodyIn::GroupInfo(info) = MlsMessageIn::tls_deserialize_exact(&info)
            .unwrap()
            .extract()
        else {
            panic!("not a GroupInfo");
        };
        let fresh = Provider::default();
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
        signer.store(fresh.storage()).unwrap();
        let config = MlsGroupJoinConfig::builder()
            .wire_format_policy(WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .build();
        let (_, bundle) = MlsGroup::external_commit_builder()
            .with_config(config)
            .build_group(&fresh, info, credential(&self.org, &signer))
            .unwrap()
            .load_psks(fresh.storage())
            .unwrap()
            .build(fresh.rand(), fresh.crypto(), &signer, |_| true)
            .unwrap()
            .finalize(&fresh)
            .unwrap();
        bundle.into_commit()
    }
}
