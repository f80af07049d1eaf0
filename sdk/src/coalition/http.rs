//! A small HTTP adapter between a [`Member`](super::Member) and the broker's `/v1/mls/…`
//! endpoints, over a `reqwest::Client` the caller builds (TLS roots, client certificate, the
//! rustls `ring` provider). It moves bytes only; the MLS work stays in `Member`.

use super::wire::{
    self, ClaimKeyPackage, CreateGroup, GroupKind, GroupStatus, KeyPackageClaimed,
    KeyPackagesPublished, MessageList, MessagePosted, PostMessage, PublishKeyPackages, WelcomeList,
};
use super::{Fetched, Outgoing};

/// What went wrong talking to the broker.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request did not complete (connection, TLS, timeout).
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// The broker answered with a problem (RFC 9457); `problem_type` is its stable `type`.
    #[error("broker answered {status}: {problem_type}: {detail}")]
    Problem {
        /// The HTTP status.
        status: u16,
        /// The problem's `type` URI.
        problem_type: String,
        /// The problem's `detail`.
        detail: String,
    },
    /// A success answer whose body is not the expected JSON.
    #[error("bad answer from the broker: {0}")]
    Decode(String),
}

impl HttpError {
    /// The broker refused a commit because another commit won the epoch (HTTP 409).
    pub fn is_conflict(&self) -> bool {
        matches!(self, HttpError::Problem { status: 409, .. })
    }

    /// The HTTP status of a problem answer; `None` when there was no answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Problem { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One organisation's connection to the delivery service.
#[derive(Debug, Clone)]
pub struct BrokerMls {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl BrokerMls {
    /// `base` is `https://host:port`; `token` the organisation's bearer token.
    pub fn new(client: reqwest::Client, base: impl Into<String>, token: impl Into<String>) -> Self {
        BrokerMls {
            client,
            base: base.into(),
            token: token.into(),
        }
    }

    /// Replaces the bearer token (tokens expire).
    pub fn set_token(&mut self, token: impl Into<String>) {
        self.token = token.into();
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, HttpError> {
        let resp = req.bearer_auth(&self.token).send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        if !(200..300).contains(&status) {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            return Err(HttpError::Problem {
                status,
                problem_type: v["type"].as_str().unwrap_or_default().to_string(),
                detail: v["detail"].as_str().unwrap_or_default().to_string(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| HttpError::Decode(e.to_string()))
    }

    /// Publishes this organisation's key packages (each a serialised `MLSMessage`), so that
    /// others can invite it.
    pub async fn publish_key_packages(
        &self,
        packages: &[Vec<u8>],
    ) -> Result<KeyPackagesPublished, HttpError> {
        let body = PublishKeyPackages {
            key_packages: packages.iter().map(|p| wire::b64(p)).collect(),
        };
        self.send(
            self.client
                .post(format!("{}/v1/mls/key-packages", self.base))
                .json(&body),
        )
        .await
    }

    /// Claims one key package of `org`; returns its bytes.
    pub async fn claim_key_package(&self, org: &str) -> Result<Vec<u8>, HttpError> {
        let claimed: KeyPackageClaimed = self
            .send(
                self.client
                    .post(format!("{}/v1/mls/key-packages/claim", self.base))
                    .json(&ClaimKeyPackage { org: org.into() }),
            )
            .await?;
        wire::unb64("key_package", &claimed.key_package).map_err(HttpError::Decode)
    }

    /// Registers a group created with [`Member::create_group`](super::Member::create_group).
    pub async fn create_group(
        &self,
        group_id: &str,
        kind: GroupKind,
        coalition: &str,
        allowed: Option<Vec<String>>,
        case_reference: Option<String>,
        group_info: &[u8],
    ) -> Result<GroupStatus, HttpError> {
        let body = CreateGroup {
            allowed,
            case_reference,
            ..CreateGroup::new(group_id, kind, coalition, group_info)
        };
        self.send(
            self.client
                .post(format!("{}/v1/mls/groups", self.base))
                .json(&body),
        )
        .await
    }

    /// Re-initialises a group under the same id with a GroupInfo from
    /// [`Member::reinit_group`](super::Member::reinit_group) (`PUT /v1/mls/groups/{id}`; the
    /// group's administrator only). `kind` and `coalition` as registered.
    pub async fn reinit_group(
        &self,
        group_id: &str,
        kind: GroupKind,
        coalition: &str,
        group_info: &[u8],
    ) -> Result<GroupStatus, HttpError> {
        let body = CreateGroup::new(group_id, kind, coalition, group_info);
        self.send(
            self.client
                .put(format!("{}/v1/mls/groups/{group_id}", self.base))
                .json(&body),
        )
        .await
    }

    /// The coalition's administrator announces the current key version after a rotation
    /// (`PUT /v1/coalitions/{coalition}/key-version`); after `grace_days` (default 14) the
    /// broker erases the coalition's signals under older versions. Only the administrator the
    /// registry names (403 otherwise); 409 unless `key_version` is the current one + 1.
    pub async fn announce_key_version(
        &self,
        coalition: &str,
        key_version: u32,
        grace_days: Option<u32>,
    ) -> Result<wire::KeyVersionStatus, HttpError> {
        let body = wire::AnnounceKeyVersion {
            key_version,
            grace_days,
        };
        self.send(
            self.client
                .put(format!(
                    "{}/v1/coalitions/{coalition}/key-version",
                    self.base
                ))
                .json(&body),
        )
        .await
    }

    /// The announced current key version of a coalition this organisation is a member of.
    pub async fn key_version(&self, coalition: &str) -> Result<wire::KeyVersionStatus, HttpError> {
        self.send(self.client.get(format!(
            "{}/v1/coalitions/{coalition}/key-version",
            self.base
        )))
        .await
    }

    /// The broker's public view of a group (epoch, members, next sequence number).
    pub async fn group(&self, group_id: &str) -> Result<GroupStatus, HttpError> {
        self.send(
            self.client
                .get(format!("{}/v1/mls/groups/{group_id}", self.base)),
        )
        .await
    }

    /// Posts a commit or proposal (with its welcome, if any).
    pub async fn post(&self, group_id: &str, out: &Outgoing) -> Result<MessagePosted, HttpError> {
        self.post_raw(group_id, &out.message, out.welcome.as_deref())
            .await
    }

    /// Posts one MLS message (an application message, a proposal).
    pub async fn post_raw(
        &self,
        group_id: &str,
        message: &[u8],
        welcome: Option<&[u8]>,
    ) -> Result<MessagePosted, HttpError> {
        let body = PostMessage {
            message: wire::b64(message),
            welcome: welcome.map(wire::b64),
        };
        self.send(
            self.client
                .post(format!("{}/v1/mls/groups/{group_id}/messages", self.base))
                .json(&body),
        )
        .await
    }

    /// Fetches the group's messages from sequence number `from` on.
    pub async fn fetch(&self, group_id: &str, from: u64) -> Result<Vec<Fetched>, HttpError> {
        let list: MessageList = self
            .send(self.client.get(format!(
                "{}/v1/mls/groups/{group_id}/messages?from={from}",
                self.base
            )))
            .await?;
        list.messages
            .into_iter()
            .map(|m| {
                Ok(Fetched {
                    seq: m.seq,
                    message: wire::unb64("message", &m.message).map_err(HttpError::Decode)?,
                })
            })
            .collect()
    }

    /// Welcomes for this organisation after cursor `after`.
    pub async fn welcomes(&self, after: u64) -> Result<WelcomeList, HttpError> {
        self.send(
            self.client
                .get(format!("{}/v1/mls/welcomes?after={after}", self.base)),
        )
        .await
    }
}
